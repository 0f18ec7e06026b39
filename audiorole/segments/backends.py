"""Diarizer backends the ``speaker_turns`` stage runs: the offline default (speaker-embedding pieces, subtitle cues
as hints, overlap from the audio) and a pyannote pipeline from a local folder; and the identities that go into the
stages' fingerprints (known without loading a model)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from audiorole.segments.diarization import DiarizationConfig, PyannoteDiarizer, diarize
from audiorole.segments.overlap import detector_id


def default_diarizer_id(embedder_name: str, config: DiarizationConfig, overlap_id: str = "overlap:off") -> str:
    """``overlap_id``: ``audiorole.segments.overlap.detector_id(...)`` of the overlap detector the diarizer uses."""
    return f"default:{embedder_name}:{json.dumps(asdict(config), sort_keys=True)}:{overlap_id}"


def pyannote_diarizer_id(pipeline_dir: str) -> str:
    return f"pyannote:{Path(pipeline_dir).resolve()}"


def asr_model_id(model_dir, config) -> str:
    return f"{Path(model_dir).resolve()}:{json.dumps(asdict(config), sort_keys=True)}"


class DefaultDiarizer:
    """The offline default: VAD + speaker-embedding pieces + clustering, subtitle cues as hints, and overlapped
    speech found in the audio (``overlap_detector``: ``audiorole.segments.overlap.OverlapDetector``) given two speakers.

    ``overlap_mode``: "auto" runs the detector on episodes without subtitles only, "on" on every episode, "off"
    never. Where subtitles exist they mark overlap themselves and overlap is rare, so the detector's false alarms
    outweighed what it found; on subtitle-less far-field speech, where overlap is common, it is the only evidence
    (``benchmarks/diarization_quality.py``, measured: overlap_mode)."""

    def __init__(self, embedder, config: DiarizationConfig = DiarizationConfig(), overlap_detector=None,
                 overlap_mode: str = "auto"):
        if overlap_mode not in ("auto", "on", "off"):
            raise ValueError(f"overlap detection must be auto, on or off, not {overlap_mode!r}")
        self.embedder, self.config = embedder, config
        self.overlap_detector = overlap_detector if overlap_mode != "off" else None
        self.overlap_mode = overlap_mode if self.overlap_detector else "off"
        overlap_id = "overlap:off" if self.overlap_detector is None else \
            f"{self.overlap_mode}:{detector_id(overlap_detector.config, overlap_detector.weights)}"
        self.backend_id = default_diarizer_id(embedder.name, config, overlap_id)

    def __call__(self, wav, speech, cue_spans, cue_tags=None, *, raw=None):
        """``raw``: the standardized (not enhanced) audio, or a callable that loads it; the overlap detector reads
        it (default: ``wav``). The detector was trained on unprocessed mixtures, and DeepFilterNet's output reads to
        it as a second talker: on enhanced far-field speech its precision fell and DER rose
        (``benchmarks/diarization_quality.py``, measured: raw)."""
        use = self.overlap_mode == "on" or (self.overlap_mode == "auto" and (cue_spans is None or not len(cue_spans)))
        if use:
            raw = wav if raw is None else raw() if callable(raw) else raw
        overlap = self.overlap_detector.regions(raw, speech) if use else None
        return diarize(wav, speech, self.embedder, cue_spans=cue_spans, cue_tags=cue_tags, overlap=overlap,
                       config=self.config)


class PyannoteBackend:
    def __init__(self, pipeline_dir: str, device: str = "cpu"):
        self.pipeline = PyannoteDiarizer(pipeline_dir, device)
        self.backend_id = pyannote_diarizer_id(pipeline_dir)

    def __call__(self, wav, speech, cue_spans, cue_tags=None, *, raw=None):
        return self.pipeline(wav)
