"""The data half of the DAG on one page: which stages run per episode, per series and per character, in order, and
what decides whether each is current (``audiorole.stage.stale``) — known from the stamps and the configured
parameters, without loading a model or running anything.

    episode    probed_media → standardized_audio, parsed_subtitles → speech_activity → enhanced_audio,
               transcript → synced_subtitles → speaker_turns → aligned_segments
    series     characters (all its episodes' segments) → dialogues → dataset_card
    character  character_shards (its series' dialogues)

The model half declares its chains beside its stages (``training.stages.MODEL_STAGES``, ``evaluation.stages``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from audiorole.dataset import stages as dataset
from audiorole.dataset.characters import CharacterConfig
from audiorole.dataset.dialogues import DialogueConfig
from audiorole.dataset.shards import ShardConfig
from audiorole.discovery import EpisodeSource, SeriesSpec
from audiorole.ingest import stages as ingest
from audiorole.segments import stages as segments
from audiorole.segments.backends import default_diarizer_id
from audiorole.segments.build import SegmentConfig
from audiorole.segments.diarization import DiarizationConfig
from audiorole.segments.vad import VadConfig
from audiorole.stage import Stage, stale
from audiorole.store import DataStore, file_identity, fingerprint

EPISODE_STAGES: tuple[Stage, ...] = (
    ingest.PROBE, ingest.STANDARDIZED_AUDIO, ingest.PARSED_SUBTITLES, segments.SPEECH_ACTIVITY,
    segments.ENHANCED_AUDIO, segments.TRANSCRIPT, segments.SYNCED_SUBTITLES, segments.SPEAKER_TURNS,
    segments.ALIGNED_SEGMENTS,
)
SERIES_STAGES: tuple[Stage, ...] = (dataset.CHARACTERS, dataset.DIALOGUES, dataset.DATASET_CARD)
CHARACTER_STAGES: tuple[Stage, ...] = (dataset.CHARACTER_SHARDS,)


@dataclass(frozen=True)
class EpisodeParams:
    """What the episode stages' fingerprints read besides the stamps: configs and model identities (the
    deployment's resources give them: ``resources.models.episode_params``)."""

    vad: VadConfig = field(default_factory=VadConfig)
    enhance_mode: str = "auto"
    enhance_below_snr_db: float = 8.0
    enhance_streams: int = 2
    enhance_atten_lim_db: float = 100.0
    sync_min_score: float = 0.6
    diarizer_id: str = default_diarizer_id("resemblyzer", DiarizationConfig())
    asr_id: str = ""
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    embedder_name: str = "resemblyzer"
    #: the ASR model's identity for a series language (the deployment picks a model per language); default asr_id
    asr_id_for: Callable[[str], str] | None = field(default=None, compare=False)

    def asr_id_of(self, language: str) -> str:
        return self.asr_id_for(language) if self.asr_id_for else self.asr_id


def episode_inputs(ep: EpisodeSource, p: EpisodeParams) -> dict[str, list]:
    """Each episode stage's inputs (besides its upstream stamps), by stage name."""
    return {
        "probed_media": ingest.probe_inputs(ep),
        "standardized_audio": ingest.audio_inputs(),
        "parsed_subtitles": ingest.subtitles_inputs(ep),
        "speech_activity": segments.speech_inputs(p.vad),
        "enhanced_audio": segments.enhance_inputs(p.enhance_mode, p.enhance_below_snr_db, p.enhance_streams,
                                                  p.enhance_atten_lim_db),
        "synced_subtitles": segments.sync_inputs(p.sync_min_score),
        "speaker_turns": segments.diarization_inputs(p.diarizer_id),
        "transcript": segments.transcript_inputs(p.asr_id_of(ep.series.language)),
        "aligned_segments": segments.segments_inputs(ep, p.segments, p.embedder_name),
    }


def stale_episode(ep: EpisodeSource, store: DataStore, params: EpisodeParams = EpisodeParams()) -> list[str]:
    """The episode's stages that would run, in DAG order."""
    inputs = functools.cache(lambda: episode_inputs(ep, params))  # once, and only if a stage is checked
    return stale(store, [(stage, ep.key, lambda s=stage: inputs()[s.name]) for stage in EPISODE_STAGES])


@dataclass(frozen=True)
class SeriesParams:
    characters: CharacterConfig = field(default_factory=CharacterConfig)
    dialogues: DialogueConfig = field(default_factory=DialogueConfig)
    shards: ShardConfig = field(default_factory=ShardConfig)
    embedder_name: str = "resemblyzer"

    @classmethod
    def from_run_config(cls, config: dict, embedder_name: str = "resemblyzer") -> "SeriesParams":
        """From run config by asset name (``{"characters": {...}, "character_shards": {...}}``)."""
        return cls(CharacterConfig(**config.get("characters", {})), DialogueConfig(**config.get("dialogues", {})),
                   ShardConfig(**config.get("character_shards", {})), embedder_name)


def stale_series(spec: SeriesSpec, episodes: list[EpisodeSource], store: DataStore,
                 params: SeriesParams = SeriesParams()) -> list[str]:
    """The series stages that would run, in DAG order."""
    return stale(store, [
        (dataset.CHARACTERS, spec.key, lambda: dataset.characters_inputs(spec, store, episodes, params.characters,
                                                                         params.embedder_name)),
        (dataset.DIALOGUES, spec.key, lambda: dataset.dialogues_inputs(spec, params.dialogues)),
        (dataset.DATASET_CARD, spec.key, lambda: dataset.card_inputs(spec)),
    ])


def stale_shards(key: str, store: DataStore, params: SeriesParams = SeriesParams()) -> list[str]:
    """``key``: ``<series>/<character key>``."""
    return stale(store, [(dataset.CHARACTER_SHARDS, key, lambda: dataset.shards_inputs(key, params.shards))])


def source_fingerprint(ep: EpisodeSource) -> str:
    """Fingerprint of what the curator dropped in for this episode (media + sidecars)."""
    return fingerprint(file_identity(ep.media_path), [file_identity(p) for p in ep.subtitle_paths])
