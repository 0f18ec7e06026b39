"""Per-episode alignment stages: speech activity → enhancement → subtitle sync → diarization → transcript →
aligned segments. Same pattern as ``audiorole.ingest``: ``run_<stage>`` writes artifacts atomically then a stamp;
``<stage>_fingerprint`` tells whether the stage is current without running it.

Models are passed in (loaded once per process by the Dagster resources or the caller).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiorole import subsync
from audiorole.audio import load_audio
from audiorole.diarization import DiarizationConfig, Turn, diarize, write_rttm
from audiorole.discovery import EpisodeSource
from audiorole.ingest import StageResult, read_row, upstream_stamp
from audiorole.io import write_json_atomic, write_parquet_atomic
from audiorole.schema import CUE_SCHEMA, TURN_SCHEMA
from audiorole.segments import SegmentConfig, add_embeddings, build_segments, segments_table
from audiorole.store import DataStore, fingerprint

SPEECH_VERSION = "1"
ENHANCE_VERSION = "7"  # 7: auto leaves episodes without subtitles as they are
SYNC_VERSION = "2"
# 2: the overlap detector reads the standardized audio, not the enhanced; 3: a brief voice the subtitles name is not
# folded into another named one
DIARIZATION_VERSION = "3"
TRANSCRIPT_VERSION = "1"
SEGMENTS_VERSION = "6"  # 6: a one-letter ASR slip still anchors the cut of a talked-over line

SPEECH_OUTPUTS = ["speech.parquet"]
ENHANCE_OUTPUTS = ["enhancement.json"]
SYNC_OUTPUTS = ["synced_cues.parquet", "sync.json"]
DIARIZATION_OUTPUTS = ["turns.parquet", "turns.rttm"]
TRANSCRIPT_OUTPUTS = ["words.parquet"]
SEGMENTS_OUTPUTS = ["segments.parquet"]

INTERVAL_SCHEMA = pa.schema([("start_s", pa.float64()), ("end_s", pa.float64())])
WORD_SCHEMA = pa.schema(
    [("start_s", pa.float64()), ("end_s", pa.float64()), ("word", pa.string()), ("probability", pa.float32())]
)


def _stamp_fp(store: DataStore, key: str, stage: str) -> str:
    return upstream_stamp(store, key, stage)["fingerprint"]


def _intervals(path: Path) -> np.ndarray:
    t = pq.read_table(path)
    return np.stack([t.column("start_s").to_numpy(), t.column("end_s").to_numpy()], axis=1).reshape(-1, 2)


def _write_intervals(path: Path, intervals: np.ndarray) -> None:
    iv = np.asarray(intervals, dtype=float).reshape(-1, 2)
    write_parquet_atomic(path, pa.table({"start_s": iv[:, 0], "end_s": iv[:, 1]}, schema=INTERVAL_SCHEMA))


def analysis_audio_path(store: DataStore, key: str) -> Path:
    """The audio later stages analyse: the enhanced audio where enhancement ran, else the standardized audio."""
    enhanced = store.path(key, "enhanced.flac")
    info = store.path(key, "enhancement.json")
    if info.exists() and json.loads(info.read_text()).get("enhanced_regions", 0) > 0 and enhanced.exists():
        return enhanced
    return store.path(key, "audio.flac")


# speech activity -------------------------------------------------------------------------------------------------
def speech_fingerprint(ep: EpisodeSource, store: DataStore, vad_config) -> str:
    return fingerprint("speech", SPEECH_VERSION, _stamp_fp(store, ep.key, "audio"), asdict(vad_config))


def run_speech_activity(ep: EpisodeSource, store: DataStore, vad, *, force: bool = False) -> StageResult:
    fp = speech_fingerprint(ep, store, vad.config)
    if not force and store.is_current(ep.key, "speech", fp, SPEECH_OUTPUTS):
        return StageResult("speech", ep.key, fp, store.read_stamp(ep.key, "speech"), True)
    t0 = time.perf_counter()
    wav = load_audio(store.path(ep.key, "audio.flac"))
    regions = vad.speech_regions(wav)
    duration = len(wav) / 16000
    speech_s = float((regions[:, 1] - regions[:, 0]).sum()) if len(regions) else 0.0
    _write_intervals(store.path(ep.key, "speech.parquet"), regions)
    row = {"n_regions": int(len(regions)), "speech_s": round(speech_s, 2), "duration_s": round(duration, 2),
           "speech_share": round(speech_s / duration, 4) if duration else 0.0}
    store.write_stamp(ep.key, "speech", fp, **row)
    return StageResult("speech", ep.key, fp, row, seconds=time.perf_counter() - t0)


# enhancement -----------------------------------------------------------------------------------------------------
def enhance_fingerprint(ep: EpisodeSource, store: DataStore, mode: str, below_snr_db: float, streams: int = 2,
                        atten_lim_db: float = 100.0) -> str:
    from audiorole.enhance import BACKGROUND_SNR_CEILING_DB

    return fingerprint("enhance", ENHANCE_VERSION, _stamp_fp(store, ep.key, "speech"),
                       _stamp_fp(store, ep.key, "subtitles"), mode, below_snr_db, streams, atten_lim_db,
                       BACKGROUND_SNR_CEILING_DB)


def run_enhancement(ep: EpisodeSource, store: DataStore, enhancer_factory, *, mode: str = "auto",
                    below_snr_db: float = 8.0, streams: int = 2, atten_lim_db: float = 100.0,
                    force: bool = False) -> StageResult:
    """DeepFilterNet3 where it pays. ``mode``: "off" (never), "on" (every speech region) or "auto" (the speech
    regions whose blind WADA-SNR is below ``below_snr_db`` and whose SNR against the episode's background is below
    ``enhance.BACKGROUND_SNR_CEILING_DB``: reverberant but clean speech reads low on WADA alone, see
    ``enhance.choose_regions``; episodes without subtitles are left as they are, see below). The chosen spans are
    shared among ``streams`` model states that run concurrently (see ``enhance_regions``). ``atten_lim_db`` is
    the enhancer's (the factory's) attenuation cap, recorded so that changing it re-runs the stage. The choice and
    what it did are recorded. The enhanced audio feeds diarization and speaker embeddings; ASR and segment measures
    read the standardized audio.

    Why ``auto`` skips episodes without subtitles: there, enhancement never helped diarization, and on far-field
    speech it hurt. DER with the enhanced audio against the standardized audio (``benchmarks/diarization_quality.py
    --audio``): TV demo diarized without its subtitles 0.103/0.117/0.075 against 0.103/0.115/0.075, the real pyannote
    recording 0.176 both (nothing chosen); hard profile, where its quiet talkers (5-10 dB over the room noise) are
    chosen, S01E03 0.377 against 0.251 and S01E04 0.292 against 0.208 (enhanced by enhancement v6, which chose the
    same regions in subtitle-less episodes as v7 does in subtitled ones). With subtitles it helps: TV S01E02 0.037
    against 0.138."""
    fp = enhance_fingerprint(ep, store, mode, below_snr_db, streams, atten_lim_db)
    if not force and store.is_current(ep.key, "enhance", fp, ENHANCE_OUTPUTS):
        return StageResult("enhance", ep.key, fp, json.loads(store.path(ep.key, "enhancement.json").read_text()), True)
    if mode not in ("off", "on", "auto"):
        raise ValueError(f"enhancement mode must be off, on or auto, not {mode!r}")
    if int(streams) != streams or streams < 1:
        raise ValueError(f"enhancement streams must be a whole number >= 1, not {streams!r}")
    t0 = time.perf_counter()
    regions = _intervals(store.path(ep.key, "speech.parquet"))
    chosen = np.zeros((0, 2))
    snrs: list[float] = []
    if mode != "off" and len(regions):
        wav = load_audio(store.path(ep.key, "audio.flac"))
        if mode == "on":
            chosen = regions
        elif not _has_cues(store, ep.key):
            chosen = np.zeros((0, 2))
        else:
            from audiorole.enhance import choose_regions

            mask, snrs, _ = choose_regions(wav, 16000, regions, below_snr_db)
            chosen = regions[mask]
        if len(chosen):
            from audiorole.enhance import enhance_regions
            from audiorole.io import atomic_path

            with enhancer_factory() as enhancer:
                out = enhance_regions(wav, 16000, chosen, enhancer, streams=streams)
            import soundfile as sf

            with atomic_path(store.path(ep.key, "enhanced.flac"), suffix=".flac") as tmp:
                sf.write(str(tmp), out, 16000, format="FLAC", subtype="PCM_16")
    if not len(chosen):
        store.path(ep.key, "enhanced.flac").unlink(missing_ok=True)
    row = {
        "mode": mode, "below_snr_db": below_snr_db, "streams": int(streams), "atten_lim_db": float(atten_lim_db),
        "speech_regions": int(len(regions)),
        "enhanced_regions": int(len(chosen)),
        "enhanced_s": round(float((chosen[:, 1] - chosen[:, 0]).sum()) if len(chosen) else 0.0, 2),
        "median_region_snr_db": round(float(np.nanmedian(snrs)), 1) if snrs else None,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_json_atomic(store.path(ep.key, "enhancement.json"), row)
    store.write_stamp(ep.key, "enhance", fp, enhanced_regions=row["enhanced_regions"])
    return StageResult("enhance", ep.key, fp, row, seconds=time.perf_counter() - t0)


def _has_cues(store: DataStore, key: str) -> bool:
    path = store.path(key, "cues.parquet")
    return path.exists() and pq.read_metadata(path).num_rows > 0


# subtitle sync ---------------------------------------------------------------------------------------------------
def sync_fingerprint(ep: EpisodeSource, store: DataStore, min_score: float) -> str:
    return fingerprint("sync", SYNC_VERSION, _stamp_fp(store, ep.key, "speech"), _stamp_fp(store, ep.key, "subtitles"),
                       min_score)


def run_sync(ep: EpisodeSource, store: DataStore, *, min_score: float = 0.6, force: bool = False) -> StageResult:
    """Estimate offset + drift of the cues against speech activity, apply, refine cue edges; record the residual.
    Subtitles that do not match the audio raise ``subsync.SyncError`` (the partition fails loudly)."""
    fp = sync_fingerprint(ep, store, min_score)
    if not force and store.is_current(ep.key, "sync", fp, SYNC_OUTPUTS):
        return StageResult("sync", ep.key, fp, json.loads(store.path(ep.key, "sync.json").read_text()), True)
    t0 = time.perf_counter()
    cues = pq.read_table(store.path(ep.key, "cues.parquet"))
    info = read_row(store.path(ep.key, "subtitles.parquet"))
    speech = _intervals(store.path(ep.key, "speech.parquet"))
    duration = read_row(store.path(ep.key, "audio.parquet"))["audio_duration_s"]
    if cues.num_rows == 0:
        row = {"status": "no_subtitles", "n_cues": 0}
        synced = CUE_SCHEMA.empty_table()
    else:
        spans = np.stack([cues.column("start_s").to_numpy(), cues.column("end_s").to_numpy()], axis=1)
        first = cues.column("part").to_numpy() == 0
        result = subsync.estimate_sync(spans[first], speech, duration_s=duration)
        subsync.check_sync(result, path=info["subtitle_path"], min_score=min_score)
        mapped = subsync.apply_sync(spans, result)
        refined = mapped.copy()
        refined[first] = subsync.refine_cue_edges(mapped[first], speech)
        # parts of a dash cue share their cue's refined span
        idx = cues.column("cue_index").to_numpy()
        span_of = {i: refined[k] for k, i in enumerate(idx) if first[k]}
        refined = np.stack([span_of.get(i, refined[k]) for k, i in enumerate(idx)])
        synced = cues.set_column(cues.schema.get_field_index("start_s"), "start_s", pa.array(refined[:, 0]))
        synced = synced.set_column(synced.schema.get_field_index("end_s"), "end_s", pa.array(refined[:, 1]))
        row = {"status": "synced", "n_cues": int(first.sum()), "subtitle_path": info["subtitle_path"],
               **result.to_dict()}
    write_parquet_atomic(store.path(ep.key, "synced_cues.parquet"), synced)
    write_json_atomic(store.path(ep.key, "sync.json"), row)
    store.write_stamp(ep.key, "sync", fp, status=row["status"])
    return StageResult("sync", ep.key, fp, row, seconds=time.perf_counter() - t0)


# diarization -----------------------------------------------------------------------------------------------------
def diarization_fingerprint(ep: EpisodeSource, store: DataStore, backend_id: str) -> str:
    return fingerprint("diarization", DIARIZATION_VERSION, _stamp_fp(store, ep.key, "enhance"),
                       _stamp_fp(store, ep.key, "sync"), backend_id)


def read_turns(path: Path) -> list[Turn]:
    return [Turn(r["start_s"], r["end_s"], r["speaker"], r["overlap"], r["confidence"])
            for r in pq.read_table(path).to_pylist()]


def cue_hints(store: DataStore, key: str) -> tuple[np.ndarray, list[str | None]]:
    """The synchronized cues as diarization hints: (m, 2) spans of the cues' first parts, and the speaker tag of
    each single-speaker cue, normalized ("MAGGIE" and "Maggie" are the same person), else None."""
    synced = pq.read_table(store.path(key, "synced_cues.parquet"))
    first = synced.filter(pa.compute.equal(synced.column("part"), 0))
    cue_spans = np.stack([first.column("start_s").to_numpy(), first.column("end_s").to_numpy()], axis=1).reshape(-1, 2)
    tags = [t.strip().upper() if t and n == 1 else None
            for t, n in zip(first.column("speaker_tag").to_pylist(), first.column("n_parts").to_pylist())]
    return cue_spans, tags


def run_diarization(ep: EpisodeSource, store: DataStore, diarizer, *, force: bool = False) -> StageResult:
    """``diarizer``: an object with ``backend_id`` and ``__call__(wav, speech, cue_spans, cue_tags) -> list[Turn]``."""
    fp = diarization_fingerprint(ep, store, diarizer.backend_id)
    if not force and store.is_current(ep.key, "diarization", fp, DIARIZATION_OUTPUTS):
        turns = read_turns(store.path(ep.key, "turns.parquet"))
        return StageResult("diarization", ep.key, fp, _turn_summary(turns), True)
    t0 = time.perf_counter()
    analysis = analysis_audio_path(store, ep.key)
    wav = load_audio(analysis)
    standardized = store.path(ep.key, "audio.flac")
    raw = wav if analysis == standardized else lambda: load_audio(standardized)
    speech = _intervals(store.path(ep.key, "speech.parquet"))
    cue_spans, tags = cue_hints(store, ep.key)
    turns = diarizer(wav, speech, cue_spans, tags, raw=raw)
    rows = [{"episode_key": ep.key, "start_s": t.start, "end_s": t.end, "speaker": t.speaker, "overlap": t.overlap,
             "confidence": t.confidence} for t in turns]
    write_parquet_atomic(store.path(ep.key, "turns.parquet"), pa.Table.from_pylist(rows, schema=TURN_SCHEMA))
    write_rttm(turns, store.path(ep.key, "turns.rttm"), uri=Path(ep.episode).name.replace(" ", "_"))
    row = _turn_summary(turns)
    store.write_stamp(ep.key, "diarization", fp, **row)
    return StageResult("diarization", ep.key, fp, row, seconds=time.perf_counter() - t0)


def _turn_summary(turns: list[Turn]) -> dict:
    return {"n_turns": len(turns), "n_speakers": len({t.speaker for t in turns}),
            "n_overlap_turns": sum(t.overlap for t in turns), "overlap_s": _overlap_seconds(turns)}


def _overlap_seconds(turns: list[Turn]) -> float:
    """Seconds where two or more speakers talk (a stretch three people talk in counts once)."""
    from audiorole.segments import _union, overlap_regions

    regions = _union(overlap_regions(turns))
    return round(float((regions[:, 1] - regions[:, 0]).sum()), 2) if len(regions) else 0.0


def default_diarizer_id(embedder_name: str, config: DiarizationConfig, overlap_id: str = "overlap:off") -> str:
    """``overlap_id``: ``audiorole.overlap.detector_id(...)`` of the overlap detector the diarizer uses."""
    return f"default:{embedder_name}:{json.dumps(asdict(config), sort_keys=True)}:{overlap_id}"


def pyannote_diarizer_id(pipeline_dir: str) -> str:
    return f"pyannote:{Path(pipeline_dir).resolve()}"


def asr_model_id(model_dir, config) -> str:
    return f"{Path(model_dir).resolve()}:{json.dumps(asdict(config), sort_keys=True)}"


class DefaultDiarizer:
    """The offline default: VAD + speaker-embedding pieces + clustering, subtitle cues as hints, and overlapped
    speech found in the audio (``overlap_detector``: ``audiorole.overlap.OverlapDetector``) given two speakers.

    ``overlap_mode``: "auto" runs the detector on episodes without subtitles only, "on" on every episode, "off"
    never. Where subtitles exist they mark overlap themselves, and overlap is rare (1–2% of the TV demo's speech):
    there the detector's false alarms outweighed what it found (frame precision 5–18% at AUC 0.92–0.98; DER
    6–8% → 19–27%), while on subtitle-less far-field speech with 15–20% overlap it is the only evidence."""

    def __init__(self, embedder, config: DiarizationConfig = DiarizationConfig(), overlap_detector=None,
                 overlap_mode: str = "auto"):
        from audiorole.overlap import detector_id

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
        it as a second talker: on the hard profile with its quiet talkers enhanced, overlap precision fell from
        0.64-0.69 to 0.43-0.45 and DER rose by 0.12 (S01E03 0.377 -> 0.499, S01E04 0.292 -> 0.418)."""
        use = self.overlap_mode == "on" or (self.overlap_mode == "auto" and (cue_spans is None or not len(cue_spans)))
        if use:
            raw = wav if raw is None else raw() if callable(raw) else raw
        overlap = self.overlap_detector.regions(raw, speech) if use else None
        return diarize(wav, speech, self.embedder, cue_spans=cue_spans, cue_tags=cue_tags, overlap=overlap,
                       config=self.config)


class PyannoteBackend:
    def __init__(self, pipeline_dir: str, device: str = "cpu"):
        from audiorole.diarization import PyannoteDiarizer

        self.pipeline = PyannoteDiarizer(pipeline_dir, device)
        self.backend_id = pyannote_diarizer_id(pipeline_dir)

    def __call__(self, wav, speech, cue_spans, cue_tags=None, *, raw=None):
        return self.pipeline(wav)


# transcript ------------------------------------------------------------------------------------------------------
def transcript_fingerprint(ep: EpisodeSource, store: DataStore, model_id: str) -> str:
    return fingerprint("transcript", TRANSCRIPT_VERSION, _stamp_fp(store, ep.key, "speech"), model_id)


def run_transcript(ep: EpisodeSource, store: DataStore, asr, *, force: bool = False) -> StageResult:
    fp = transcript_fingerprint(ep, store, asr_model_id(asr.model_dir, asr.config))
    if not force and store.is_current(ep.key, "transcript", fp, TRANSCRIPT_OUTPUTS):
        return StageResult("transcript", ep.key, fp, store.read_stamp(ep.key, "transcript"), True)
    t0 = time.perf_counter()
    # Whisper reads the standardized audio: enhancement artifacts raise its error rate (measured on the demo)
    wav = load_audio(store.path(ep.key, "audio.flac"))
    speech = _intervals(store.path(ep.key, "speech.parquet"))
    words = asr.transcribe(wav, speech, language=ep.series.language)
    table = pa.table(
        {"start_s": [w.start for w in words], "end_s": [w.end for w in words], "word": [w.text for w in words],
         "probability": [w.probability for w in words]}, schema=WORD_SCHEMA)
    write_parquet_atomic(store.path(ep.key, "words.parquet"), table)
    row = {"n_words": len(words), "mean_word_probability": round(float(np.mean([w.probability for w in words])), 3)
           if words else None, "model": str(asr.model_dir)}
    store.write_stamp(ep.key, "transcript", fp, **row)
    return StageResult("transcript", ep.key, fp, row, seconds=time.perf_counter() - t0)


def read_words(path: Path):
    from audiorole.asr import Word

    return [Word(r["start_s"], r["end_s"], r["word"], r["probability"]) for r in pq.read_table(path).to_pylist()]


# aligned segments ------------------------------------------------------------------------------------------------
def segments_fingerprint(ep: EpisodeSource, store: DataStore, config: SegmentConfig, embedder_name: str) -> str:
    return fingerprint("segments", SEGMENTS_VERSION, _stamp_fp(store, ep.key, "diarization"),
                       _stamp_fp(store, ep.key, "transcript"), asdict(config), embedder_name, ep.series.language)


def run_segments(ep: EpisodeSource, store: DataStore, embedder, *, config: SegmentConfig = SegmentConfig(),
                 audio_language=None, force: bool = False) -> StageResult:
    fp = segments_fingerprint(ep, store, config, embedder.name)
    if not force and store.is_current(ep.key, "segments", fp, SEGMENTS_OUTPUTS):
        return StageResult("segments", ep.key, fp, store.read_stamp(ep.key, "segments"), True)
    t0 = time.perf_counter()
    wav = load_audio(store.path(ep.key, "audio.flac"))  # SNR, clipping, language: the audio as it is
    speech = _intervals(store.path(ep.key, "speech.parquet"))
    turns = read_turns(store.path(ep.key, "turns.parquet"))
    words = read_words(store.path(ep.key, "words.parquet"))
    cues = pq.read_table(store.path(ep.key, "synced_cues.parquet")).to_pylist()
    rows = build_segments(ep.key, wav, speech, turns, words, cues, series_language=ep.series.language,
                          config=config, audio_language=audio_language)
    n_emb = add_embeddings(rows, load_audio(analysis_audio_path(store, ep.key)), embedder)  # enhanced where it ran
    write_parquet_atomic(store.path(ep.key, "segments.parquet"), segments_table(rows))
    row = summarize_segments(rows, speech)
    row["n_embedded"] = n_emb
    store.write_stamp(ep.key, "segments", fp, **row)
    return StageResult("segments", ep.key, fp, row, seconds=time.perf_counter() - t0)


def summarize_segments(rows: list[dict], speech: np.ndarray) -> dict:
    kept = [r for r in rows if r["keep"]]
    speech_s = float((speech[:, 1] - speech[:, 0]).sum()) if len(speech) else 0.0
    kept_s = sum(r["end_s"] - r["start_s"] for r in kept)
    reasons: dict[str, int] = {}
    for r in rows:
        if not r["keep"]:
            reasons[r["reject_reason"]] = reasons.get(r["reject_reason"], 0) + 1
    return {
        "n_segments": len(rows), "n_kept": len(kept), "kept_s": round(kept_s, 2),
        "kept_speech_share": round(kept_s / speech_s, 4) if speech_s else 0.0,
        "n_speakers_kept": len({r["speaker"] for r in kept}),
        "median_cer": round(float(np.median([r["cer"] for r in kept if r["cer"] is not None])), 4)
        if any(r["cer"] is not None for r in kept) else None,
        "reject_reasons": reasons,
    }
