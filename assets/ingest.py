"""Episode ingest: probed media → standardized audio, parsed subtitles (per episode partition)."""


import dagster as dg

from assets._common import (
    EPISODE_BACKFILL_POLICY, INGEST, check_result, for_each_partition, is_forced, run_keys, run_stage, stage_asset,
)
from audiorole.ingest import stages as ingest
from assets.partitions import episode_partitions
from resources import DataStoreResource, MediaRootResource


@stage_asset(
    ingest.PROBE, partitions_def=episode_partitions, group_name=INGEST, backfill_policy=EPISODE_BACKFILL_POLICY,
    kinds={"ffmpeg"},
    description="The episode's media file as found: container, duration, streams, codecs, sha256 checksum.",
)
def probed_media(
    context: dg.AssetExecutionContext, media_root: MediaRootResource, data_store: DataStoreResource
) -> dg.MaterializeResult:
    store = data_store.store

    def stage(key: str):
        result = run_stage(context, lambda: ingest.run_probe(media_root.resolve(key), store, force=is_forced(context)))
        row = result.row
        return result, dict(source=dg.MetadataValue.path(row["source_path"]), duration_s=row["duration_s"],
                            container=row["container"], audio_codec=row["audio_codec"], has_video=row["has_video"],
                            n_subtitle_streams=row["n_subtitle_streams"], sha256=row["sha256"])

    out = for_each_partition(context, stage)
    data_store.refresh_catalog()
    return out


@stage_asset(
    ingest.STANDARDIZED_AUDIO, partitions_def=episode_partitions, group_name=INGEST,
    backfill_policy=EPISODE_BACKFILL_POLICY, kinds={"ffmpeg"},
    description="16 kHz mono FLAC, loudness-normalized to -23 LUFS: the audio every later stage reads.",
)
def standardized_audio(
    context: dg.AssetExecutionContext, media_root: MediaRootResource, data_store: DataStoreResource
) -> dg.MaterializeResult:
    store = data_store.store

    def stage(key: str):
        result = run_stage(context, lambda: ingest.run_standardize_audio(media_root.resolve(key), store,
                                                                         force=is_forced(context)))
        row = result.row
        return result, dict(audio_path=dg.MetadataValue.path(row["audio_path"]),
                            audio_duration_s=row["audio_duration_s"], sample_rate=row["sample_rate"],
                            loudnorm=row["loudnorm"], source_loudness_lufs=row["loudness_lufs"], gain_db=row["gain_db"])

    out = for_each_partition(context, stage)
    data_store.refresh_catalog()
    return out


@stage_asset(
    ingest.PARSED_SUBTITLES, partitions_def=episode_partitions, group_name=INGEST,
    backfill_policy=EPISODE_BACKFILL_POLICY, kinds={"pysubs2"},
    description=(
        "Subtitle cues from a sidecar (.srt/.ass/.vtt) or an embedded text stream: encoding detected, markup and "
        "SDH cues stripped, speaker tags and two-speaker dash cues kept as structure. Missing or unreadable "
        "subtitles leave the episode with no cues (and a warning), never a failure."
    ),
)
def parsed_subtitles(
    context: dg.AssetExecutionContext, media_root: MediaRootResource, data_store: DataStoreResource
) -> dg.MaterializeResult:
    store = data_store.store

    def stage(key: str):
        result = run_stage(context, lambda: ingest.run_parse_subtitles(media_root.resolve(key), store,
                                                                       force=is_forced(context)))
        row = result.row
        return result, dict(subtitle_source=row["subtitle_source"], subtitle_path=row["subtitle_path"],
                            encoding=row["encoding"], n_cues=row["n_cues"], n_dropped=row["n_dropped"],
                            n_speaker_tags=row["n_speaker_tags"], n_dash_cues=row["n_dash_cues"])

    out = for_each_partition(context, stage)
    data_store.refresh_catalog()
    return out


@dg.asset_check(asset=standardized_audio, partitions_def=episode_partitions, blocking=True,
                description="The decoded audio lasts as long as the container says (catches truncated files).")
def audio_duration_matches_container(
    context: dg.AssetCheckExecutionContext, data_store: DataStoreResource
) -> dg.AssetCheckResult:
    store = data_store.store
    rows = {}
    for key in run_keys(context):
        probe = ingest.read_row(store.path(key, "probe.parquet"))
        audio = ingest.read_row(store.path(key, "audio.parquet"))
        declared, decoded = probe["duration_s"], audio["audio_duration_s"]
        gap = abs(declared - decoded)
        rows[key] = {"container_duration_s": declared, "decoded_duration_s": decoded, "gap_s": round(gap, 3),
                     "passed": gap <= max(1.0, 0.01 * declared)}
    return check_result(rows)


ingest_assets = [probed_media, standardized_audio, parsed_subtitles]
ingest_checks = [audio_duration_matches_container]
