"""Is an episode current? The stage fingerprints, checked in DAG order, without running anything.

Used by ``audiorole run`` (skip current partitions), the media-root sensor (run keys) and the staleness schedule.
"""

from __future__ import annotations

from audiorole import ingest
from audiorole.discovery import EpisodeSource
from audiorole.store import DataStore

#: Episode stages in DAG order: name, fingerprint function, outputs.
EPISODE_STAGES = [
    ("probe", lambda ep, store: ingest.probe_fingerprint(ep), ingest.PROBE_OUTPUTS),
    ("audio", lambda ep, store: ingest.audio_fingerprint(ep, store), ingest.AUDIO_OUTPUTS),
    ("subtitles", lambda ep, store: ingest.subtitles_fingerprint(ep, store), ingest.SUBTITLE_OUTPUTS),
]


def stale_stages(ep: EpisodeSource, store: DataStore) -> list[str]:
    """Names of the stages that are not current (a stage whose upstream is stale is stale too)."""
    stale: list[str] = []
    for name, fp_fn, outputs in EPISODE_STAGES:
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
    from audiorole.store import file_identity, fingerprint

    return fingerprint(file_identity(ep.media_path), [file_identity(p) for p in ep.subtitle_paths])
