"""Episode ingest: probed media → standardized audio, parsed subtitles (per episode partition)."""

import dagster as dg

from assets._common import EPISODE_BACKFILL_POLICY, INGEST, check_result, for_each_partition, run_keys, stage_asset
from assets.partitions import episode_partitions
from audiorole.ingest import stages as ingest
from resources import DataStoreResource, MediaRootResource

_EPISODE = dict(partitions_def=episode_partitions, group_name=INGEST, backfill_policy=EPISODE_BACKFILL_POLICY)


@stage_asset(ingest.PROBE, **_EPISODE, kinds={"ffmpeg"},
             description="The episode's media file as found: container, duration, streams, codecs, sha256 checksum.")
def probed_media(context: dg.AssetExecutionContext, media_root: MediaRootResource,
                 data_store: DataStoreResource) -> dg.MaterializeResult:
    return for_each_partition(context, lambda key, force: ingest.run_probe(media_root.resolve(key), data_store.store,
                                                                           force=force),
                              extra=lambda key: {"streams_json": None}, catalog=data_store)


@stage_asset(ingest.STANDARDIZED_AUDIO, **_EPISODE, kinds={"ffmpeg"},
             description="16 kHz mono FLAC, loudness-normalized to -23 LUFS: the audio every later stage reads.")
def standardized_audio(context: dg.AssetExecutionContext, media_root: MediaRootResource,
                       data_store: DataStoreResource) -> dg.MaterializeResult:
    return for_each_partition(context, lambda key, force: ingest.run_standardize_audio(
        media_root.resolve(key), data_store.store, force=force), catalog=data_store)


@stage_asset(ingest.PARSED_SUBTITLES, **_EPISODE, kinds={"pysubs2"}, description=(
    "Subtitle cues from a sidecar (.srt/.ass/.vtt) or an embedded text stream: encoding detected, markup and SDH cues "
    "stripped, speaker tags and two-speaker dash cues kept as structure. Missing or unreadable subtitles leave the "
    "episode with no cues (and a warning), never a failure."))
def parsed_subtitles(context: dg.AssetExecutionContext, media_root: MediaRootResource,
                     data_store: DataStoreResource) -> dg.MaterializeResult:
    return for_each_partition(context, lambda key, force: ingest.run_parse_subtitles(
        media_root.resolve(key), data_store.store, force=force), catalog=data_store)


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
