"""Is an episode current? The stage fingerprints, checked in DAG order, without running anything.

Used by ``audiorole run`` (skip current partitions) and the staleness schedule. A stage's fingerprint depends on
its upstream stamps, its code version and its parameters (``StageParams``: configs and model identities, all
known without loading a model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from audiorole import alignment, ingest
from audiorole.diarization import DiarizationConfig
from audiorole.discovery import EpisodeSource
from audiorole.segments import SegmentConfig
from audiorole.store import DataStore, file_identity, fingerprint
from audiorole.vad import VadConfig


@dataclass(frozen=True)
class StageParams:
    vad: VadConfig = field(default_factory=VadConfig)
    enhance_mode: str = "auto"
    enhance_below_snr_db: float = 8.0
    enhance_streams: int = 2
    enhance_atten_lim_db: float = 100.0
    sync_min_score: float = 0.6
    diarizer_id: str = alignment.default_diarizer_id("resemblyzer", DiarizationConfig())
    asr_id: str = ""
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    embedder_name: str = "resemblyzer"


def episode_stages(p: StageParams = StageParams()) -> list[tuple[str, Callable, list[str]]]:
    """Episode stages in DAG order: (stamp name, fingerprint(ep, store), outputs)."""
    return [
        ("probe", lambda ep, st: ingest.probe_fingerprint(ep), ingest.PROBE_OUTPUTS),
        ("audio", ingest.audio_fingerprint, ingest.AUDIO_OUTPUTS),
        ("subtitles", ingest.subtitles_fingerprint, ingest.SUBTITLE_OUTPUTS),
        ("speech", lambda ep, st: alignment.speech_fingerprint(ep, st, p.vad), alignment.SPEECH_OUTPUTS),
        ("enhance", lambda ep, st: alignment.enhance_fingerprint(ep, st, p.enhance_mode, p.enhance_below_snr_db,
                                                                 p.enhance_streams, p.enhance_atten_lim_db),
         alignment.ENHANCE_OUTPUTS),
        ("sync", lambda ep, st: alignment.sync_fingerprint(ep, st, p.sync_min_score), alignment.SYNC_OUTPUTS),
        ("diarization", lambda ep, st: alignment.diarization_fingerprint(ep, st, p.diarizer_id),
         alignment.DIARIZATION_OUTPUTS),
        ("transcript", lambda ep, st: alignment.transcript_fingerprint(ep, st, p.asr_id), alignment.TRANSCRIPT_OUTPUTS),
        ("segments", lambda ep, st: alignment.segments_fingerprint(ep, st, p.segments, p.embedder_name),
         alignment.SEGMENTS_OUTPUTS),
    ]


def stale_stages(ep: EpisodeSource, store: DataStore, params: StageParams = StageParams()) -> list[str]:
    """Names of the stages that are not current (a stage whose upstream is stale is stale too)."""
    stale: list[str] = []
    for name, fp_fn, outputs in episode_stages(params):
        if stale:  # downstream of a stale stage: its fingerprint cannot be known yet
            stale.append(name)
            continue
        try:
            current = store.is_current(ep.key, name, fp_fn(ep, store), outputs)
        except (RuntimeError, FileNotFoundError, OSError):
            current = False
        if not current:
            stale.append(name)
    return stale


def source_fingerprint(ep: EpisodeSource) -> str:
    """Fingerprint of what the curator dropped in for this episode (media + sidecars)."""
    return fingerprint(file_identity(ep.media_path), [file_identity(p) for p in ep.subtitle_paths])
