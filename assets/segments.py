"""Per-episode segments: speech activity → enhanced audio → synced subtitles → speaker turns → transcript →
aligned segments (one row per utterance, kept or rejected with a reason)."""

import dagster as dg

from assets._common import (
    EPISODE_BACKFILL_POLICY, GPU_STEP, SEGMENTS, check_result, config_class, for_each_partition, run_keys, stage_asset,
)
from assets.partitions import episode_partitions
from audiorole.segments import stages as segments
from audiorole.segments.build import SegmentConfig
from resources import DataStoreResource, MediaRootResource
from resources.models import (
    AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource,
)

#: Run config of ``aligned_segments``: the filter thresholds, with SegmentConfig's documented defaults.
SegmentFilterConfig = config_class("SegmentFilterConfig", SegmentConfig)

_EPISODE = dict(partitions_def=episode_partitions, group_name=SEGMENTS, backfill_policy=EPISODE_BACKFILL_POLICY)

#: Dagster pools of the heavy model steps: a big backfill queues on these instead of starting every model at once
#: (their limits: the instance's dagster.yaml, ``concurrency: pools``).
ENHANCEMENT_POOL, DIARIZATION_POOL, ASR_POOL = "enhancement", "diarization", "asr"


@stage_asset(segments.SPEECH_ACTIVITY, **_EPISODE, kinds={"silero"},
             description="Speech regions (Silero VAD) of the standardized audio.")
def speech_activity(context: dg.AssetExecutionContext, media_root: MediaRootResource,
                    data_store: DataStoreResource, vad: VadResource) -> dg.MaterializeResult:
    return for_each_partition(context, lambda key, force: segments.run_speech_activity(
        media_root.resolve(key), data_store.store, vad.get(), force=force))


@stage_asset(segments.ENHANCED_AUDIO, **_EPISODE, kinds={"deepfilternet"}, pool=ENHANCEMENT_POOL, op_tags=GPU_STEP,
             description="DeepFilterNet3 enhancement where it pays (by default: speech regions with a low SNR).")
def enhanced_audio(context: dg.AssetExecutionContext, media_root: MediaRootResource,
                   data_store: DataStoreResource, enhancement: EnhancementResource) -> dg.MaterializeResult:
    e = enhancement
    return for_each_partition(context, lambda key, force: segments.run_enhancement(
        media_root.resolve(key), data_store.store, e.enhancer, mode=e.mode, below_snr_db=e.below_snr_db,
        streams=e.streams, atten_lim_db=e.atten_lim_db, force=force))


@stage_asset(segments.SYNCED_SUBTITLES, **_EPISODE, description=(
    "Subtitle cues moved onto the audio: global offset and linear drift estimated against speech activity, then cue "
    "edges refined. Subtitles that do not match the audio fail loudly."))
def synced_subtitles(context: dg.AssetExecutionContext, media_root: MediaRootResource,
                     data_store: DataStoreResource) -> dg.MaterializeResult:
    return for_each_partition(context, lambda key, force: segments.run_sync(
        media_root.resolve(key), data_store.store, force=force), catalog=data_store)


@stage_asset(segments.SPEAKER_TURNS, **_EPISODE, kinds={"pyannote"}, pool=DIARIZATION_POOL, op_tags=GPU_STEP,
             description="Episode-local speaker turns (who speaks when), overlaps marked; RTTM.")
def speaker_turns(context: dg.AssetExecutionContext, media_root: MediaRootResource, data_store: DataStoreResource,
                  diarization: DiarizationResource, speaker_embedding: SpeakerEmbeddingResource) -> dg.MaterializeResult:
    store = data_store.store
    return for_each_partition(context, lambda key, force: segments.run_diarization(
        media_root.resolve(key), store, diarization.get(speaker_embedding.get()), force=force),
        extra=lambda key: {"rttm": dg.MetadataValue.path(str(store.path(key, "turns.rttm")))}, catalog=data_store)


@stage_asset(segments.TRANSCRIPT, **_EPISODE, kinds={"whisper"}, pool=ASR_POOL, op_tags=GPU_STEP,
             description="Word-timestamped ASR (faster-whisper) of the speech regions of the standardized audio.")
def transcript(context: dg.AssetExecutionContext, media_root: MediaRootResource, data_store: DataStoreResource,
               asr: AsrResource) -> dg.MaterializeResult:
    def stage(key: str, force: bool):
        ep = media_root.resolve(key)
        return segments.run_transcript(ep, data_store.store, asr.for_language(ep.series.language), force=force)

    return for_each_partition(context, stage)


@stage_asset(segments.ALIGNED_SEGMENTS, **_EPISODE, description=(
    "One row per utterance: times, speaker, subtitle text, ASR text and CER, language, SNR, clipping, overlap, and "
    "keep / reject_reason; speaker embeddings of the kept ones."))
def aligned_segments(context: dg.AssetExecutionContext, config: SegmentFilterConfig, media_root: MediaRootResource,
                     data_store: DataStoreResource, asr: AsrResource,
                     speaker_embedding: SpeakerEmbeddingResource) -> dg.MaterializeResult:
    def stage(key: str, force: bool):
        ep = media_root.resolve(key)
        return segments.run_segments(ep, data_store.store, speaker_embedding.get(),
                                     config=SegmentConfig(**config.model_dump()),
                                     audio_language=asr.audio_language_for(ep.series.language),
                                     asr=asr.for_language(ep.series.language), force=force)

    return for_each_partition(context, stage, catalog=data_store)


@dg.asset_check(asset=synced_subtitles, partitions_def=episode_partitions,
                description="After calibration the cue starts sit on speech onsets, or on their words for text-synced cues (median residual ≤ 250 ms, the cue-edge jitter of typical subtitles).")
def sync_residual_small(context: dg.AssetCheckExecutionContext, data_store: DataStoreResource) -> dg.AssetCheckResult:
    import json

    rows = {}
    for key in run_keys(context):
        info = json.loads(data_store.store.path(key, "sync.json").read_text())
        # text-synced cues (split lines start mid-speech) are judged by their words' residual, the others by onsets
        residual = info.get("text_residual_ms") if info["status"] == "text" else info.get("residual_ms")
        rows[key] = ({"status": info["status"], "passed": True} if info["status"] not in ("synced", "text") else
                     {"status": info["status"], "residual_ms": residual, "score": info["score"],
                      "offset_s": info["offset_s"], "drift_ppm": info["drift_ppm"], "passed": residual <= 250.0})
    return check_result(rows)


@dg.asset_check(asset=aligned_segments, partitions_def=episode_partitions,
                description="A healthy episode keeps most of its speech (≥ 50% of VAD speech time in kept segments).")
def speech_kept_share(context: dg.AssetCheckExecutionContext, data_store: DataStoreResource) -> dg.AssetCheckResult:
    rows = {}
    for key in run_keys(context):
        stamp = segments.ALIGNED_SEGMENTS.read_stamp(data_store.store, key) or {}
        share = stamp.get("kept_speech_share", 0.0)
        rows[key] = {"kept_speech_share": share, "n_kept": stamp.get("n_kept", 0),
                     "n_segments": stamp.get("n_segments", 0), "passed": share >= 0.5}
    return check_result(rows, severity=dg.AssetCheckSeverity.WARN)


segment_assets = [speech_activity, enhanced_audio, synced_subtitles, speaker_turns, transcript, aligned_segments]
segment_checks = [sync_residual_small, speech_kept_share]
