"""Per-episode segments stages: speech activity → enhancement → subtitle sync → diarization → transcript →
aligned segments, each declared once (``audiorole.stage.Stage``) and run by ``run_<stage>``; ``<stage>_inputs`` are
its fingerprint's inputs besides its upstream stamps.

Models are passed in (loaded once per process by the Dagster resources or the caller); the stages read them only
through the identities in their inputs (``backend_id``, ``asr_model_id``, configs), known without loading them. The
one exception: without a multilingual ASR model, aligned segments load the packaged multilingual Whisper base for
the language of English segments in doubt (``packaged_language_id`` in its inputs).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiorole.audio import load_audio
from audiorole.discovery import EpisodeSource
from audiorole.ingest.stages import read_row
from audiorole.intervals import read_intervals, total_seconds, union, write_intervals
from audiorole.io import atomic_path, write_json_atomic, write_parquet_atomic
from audiorole.schema import CUE_SCHEMA, TURN_SCHEMA
from audiorole.segments import subsync
from audiorole.segments.asr import WhisperASR, Word
from audiorole.segments.backends import asr_model_id
from audiorole.segments.build import SegmentConfig, add_embeddings, build_segments, overlap_regions, segments_table
from audiorole.segments.diarization import Turn, write_rttm
from audiorole.segments.enhance import BACKGROUND_SNR_CEILING_DB, choose_regions, enhance_regions
from audiorole.segments.language import packaged_language_id, packaged_language_probabilities_for
from audiorole.stage import Stage, StageResult
from audiorole.store import DataStore

_EPISODE = dict(scope="episode", folder="episode")
SPEECH_ACTIVITY = Stage("speech_activity", stamp="speech", version="1", **_EPISODE, outputs=("speech.parquet",),
                        upstream=("standardized_audio",))
# 7: auto leaves episodes without subtitles as they are
ENHANCED_AUDIO = Stage("enhanced_audio", stamp="enhance", version="7", **_EPISODE, outputs=("enhancement.json",),
                       upstream=("speech_activity", "parsed_subtitles"))
TRANSCRIPT = Stage("transcript", stamp="transcript", version="1", **_EPISODE, outputs=("words.parquet",),
                   upstream=("speech_activity",))
# 3: where the cue starts do not sit on speech onsets (long lines split over cues), the cues' text is aligned to the
# transcript's words instead
SYNCED_SUBTITLES = Stage("synced_subtitles", stamp="sync", version="3", **_EPISODE,
                         outputs=("synced_cues.parquet", "sync.json"),
                         upstream=("speech_activity", "parsed_subtitles", "transcript"))
# 2: the overlap detector reads the standardized audio, not the enhanced; 3: a brief voice the subtitles name is not
# folded into another named one
SPEAKER_TURNS = Stage("speaker_turns", stamp="diarization", version="3", **_EPISODE,
                      outputs=("turns.parquet", "turns.rttm"), upstream=("enhanced_audio", "synced_subtitles"))
# 6: a one-letter ASR slip still anchors the cut of a talked-over line; 7: without a multilingual ASR model, the audio
# of segments whose language is in doubt is checked by the packaged multilingual Whisper base; 8: a subtitle the ASR
# heard otherwise is kept when the audio supports its words (``WhisperASR.text_evidence``)
ALIGNED_SEGMENTS = Stage("aligned_segments", stamp="segments", version="8", **_EPISODE, outputs=("segments.parquet",),
                         upstream=("speaker_turns", "transcript"))

WORD_SCHEMA = pa.schema(
    [("start_s", pa.float64()), ("end_s", pa.float64()), ("word", pa.string()), ("probability", pa.float32())]
)


def analysis_audio_path(store: DataStore, key: str) -> Path:
    """The audio later stages analyse: the enhanced audio where enhancement ran, else the standardized audio."""
    enhanced = store.path(key, "enhanced.flac")
    info = store.path(key, "enhancement.json")
    if info.exists() and json.loads(info.read_text()).get("enhanced_regions", 0) > 0 and enhanced.exists():
        return enhanced
    return store.path(key, "audio.flac")


# speech activity -------------------------------------------------------------------------------------------------
def speech_inputs(vad_config) -> list:
    """The VAD settings; the opt-in decay tails only when on, so data dirs built before they existed stay current."""
    settings = asdict(vad_config)
    if settings.get("tail_margin_db") is None:
        settings = {k: v for k, v in settings.items() if not k.startswith("tail_")}
    return [settings]


def run_speech_activity(ep: EpisodeSource, store: DataStore, vad, *, force: bool = False) -> StageResult:
    def compute(folder: Path) -> dict:
        wav = load_audio(folder / "audio.flac")
        regions = vad.speech_regions(wav)
        duration, speech_s = len(wav) / 16000, total_seconds(regions)
        write_intervals(folder / "speech.parquet", regions)
        return {"n_regions": int(len(regions)), "speech_s": round(speech_s, 2), "duration_s": round(duration, 2),
                "speech_share": round(speech_s / duration, 4) if duration else 0.0}

    return SPEECH_ACTIVITY.run(store, ep.key, speech_inputs(vad.config), compute, force=force)


# enhancement -----------------------------------------------------------------------------------------------------
ENHANCE_MODES = ("off", "on", "auto")


def enhance_inputs(mode: str, below_snr_db: float, streams: int = 2, atten_lim_db: float = 100.0) -> list:
    return [mode, below_snr_db, streams, atten_lim_db, BACKGROUND_SNR_CEILING_DB]


def run_enhancement(ep: EpisodeSource, store: DataStore, enhancer_factory, *, mode: str = "auto",
                    below_snr_db: float = 8.0, streams: int = 2, atten_lim_db: float = 100.0,
                    force: bool = False) -> StageResult:
    """DeepFilterNet3 where it pays. ``mode``: "off" (never), "on" (every speech region) or "auto" (the speech
    regions whose blind WADA-SNR is below ``below_snr_db`` and whose SNR against the episode's background is below
    ``enhance.BACKGROUND_SNR_CEILING_DB``, see ``enhance.choose_regions``; never in an episode without subtitles:
    there it did not help diarization, and on far-field speech it hurt — ``benchmarks/diarization_quality.py
    --audio`` measures it). The chosen spans are shared among ``streams`` model states that run concurrently.
    ``atten_lim_db`` is the enhancer's attenuation cap, recorded so that changing it re-runs the stage. The
    enhanced audio feeds diarization and speaker embeddings; ASR and segment measures read the standardized audio."""
    if mode not in ENHANCE_MODES:
        raise ValueError(f"enhancement mode must be off, on or auto, not {mode!r}")
    if int(streams) != streams or streams < 1:
        raise ValueError(f"enhancement streams must be a whole number >= 1, not {streams!r}")

    def compute(folder: Path) -> dict:
        regions = read_intervals(folder / "speech.parquet")
        chosen, snrs = np.zeros((0, 2)), []
        if mode != "off" and len(regions):
            wav = load_audio(folder / "audio.flac")
            if mode == "on":
                chosen = regions
            elif _has_cues(folder):
                mask, snrs, _ = choose_regions(wav, 16000, regions, below_snr_db)
                chosen = regions[mask]
            if len(chosen):
                _write_enhanced(folder / "enhanced.flac", wav, chosen, enhancer_factory, streams)
        if not len(chosen):
            (folder / "enhanced.flac").unlink(missing_ok=True)
        row = {
            "mode": mode, "below_snr_db": below_snr_db, "streams": int(streams), "atten_lim_db": float(atten_lim_db),
            "speech_regions": int(len(regions)), "enhanced_regions": int(len(chosen)),
            "enhanced_s": round(total_seconds(chosen), 2),
            "median_region_snr_db": round(float(np.nanmedian(snrs)), 1) if len(snrs) else None,
        }
        write_json_atomic(folder / "enhancement.json", row)
        return row

    return ENHANCED_AUDIO.run(store, ep.key, enhance_inputs(mode, below_snr_db, streams, atten_lim_db), compute,
                              force=force)


def _write_enhanced(path: Path, wav: np.ndarray, chosen: np.ndarray, enhancer_factory, streams: int) -> None:
    import soundfile as sf

    with enhancer_factory() as enhancer:
        out = enhance_regions(wav, 16000, chosen, enhancer, streams=streams)
    with atomic_path(path, suffix=".flac") as tmp:
        sf.write(str(tmp), out, 16000, format="FLAC", subtype="PCM_16")


def _has_cues(folder: Path) -> bool:
    path = folder / "cues.parquet"
    return path.exists() and pq.read_metadata(path).num_rows > 0


# subtitle sync ---------------------------------------------------------------------------------------------------
def sync_inputs(min_score: float) -> list:
    return [min_score]


def run_sync(ep: EpisodeSource, store: DataStore, *, min_score: float = 0.6, force: bool = False) -> StageResult:
    """Estimate offset + drift of the cues, apply, refine cue edges; record the residual and the method. From the
    speech onsets first (the cue starts), else from the cues' text aligned to the transcript's words: real
    subtitles split a long line over cues whose starts fall mid-speech, and then onsets cannot show the alignment
    the words do. Subtitles that match neither raise ``subsync.SyncError`` (the partition fails loudly)."""
    def compute(folder: Path) -> dict:
        cues = pq.read_table(folder / "cues.parquet")
        info = read_row(folder / "subtitles.parquet")
        speech = read_intervals(folder / "speech.parquet")
        duration = read_row(folder / "audio.parquet")["audio_duration_s"]
        if cues.num_rows == 0:
            row, synced = {"status": "no_subtitles", "n_cues": 0}, CUE_SCHEMA.empty_table()
        else:
            words = read_words(folder / "words.parquet")
            synced, result, n_first = _sync_cues(cues, speech, duration, words, info["subtitle_path"], min_score)
            row = {"status": "synced", "n_cues": n_first, "subtitle_path": info["subtitle_path"], **result.to_dict()}
        write_parquet_atomic(folder / "synced_cues.parquet", synced)
        write_json_atomic(folder / "sync.json", row)
        return row

    return SYNCED_SUBTITLES.run(store, ep.key, sync_inputs(min_score), compute, force=force)


def _sync_cues(cues: pa.Table, speech: np.ndarray, duration: float, words: list, path: str, min_score: float):
    """(synced cues, the sync estimate, number of cues): the parts of a dash cue share their cue's refined span."""
    spans = np.stack([cues.column("start_s").to_numpy(), cues.column("end_s").to_numpy()], axis=1)
    first = cues.column("part").to_numpy() == 0
    result = subsync.estimate_sync(spans[first], speech, duration_s=duration)
    try:
        subsync.check_sync(result, path=path, min_score=min_score)
    except subsync.SyncError as onsets_err:
        texts: dict[int, list[str]] = {}
        for i, text in zip(cues.column("cue_index").to_pylist(), cues.column("text").to_pylist()):
            texts.setdefault(i, []).append(text or "")
        order = [i for i, f in zip(cues.column("cue_index").to_pylist(), first) if f]
        by_text = subsync.estimate_sync_from_words(spans[first], [" ".join(texts[i]) for i in order], words,
                                                   speech=speech, duration_s=duration)
        try:
            subsync.check_sync(by_text, path=path, min_score=min_score)
        except subsync.SyncError as text_err:
            raise subsync.SyncError(path, f"{onsets_err.problem}; from the transcript's words: {text_err.problem}") \
                from text_err
        result = by_text
    mapped = subsync.apply_sync(spans, result)
    refined = mapped.copy()
    if result.status != "text":  # text-synced cues may start mid-speech: snapping them to onsets would undo that
        refined[first] = subsync.refine_cue_edges(mapped[first], speech)
    idx = cues.column("cue_index").to_numpy()
    span_of = {i: refined[k] for k, i in enumerate(idx) if first[k]}
    refined = np.stack([span_of.get(i, refined[k]) for k, i in enumerate(idx)])
    synced = cues.set_column(cues.schema.get_field_index("start_s"), "start_s", pa.array(refined[:, 0]))
    synced = synced.set_column(synced.schema.get_field_index("end_s"), "end_s", pa.array(refined[:, 1]))
    return synced, result, int(first.sum())


# diarization -----------------------------------------------------------------------------------------------------
def diarization_inputs(backend_id: str) -> list:
    return [backend_id]


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
    def compute(folder: Path) -> dict:
        analysis = analysis_audio_path(store, ep.key)
        wav = load_audio(analysis)
        standardized = folder / "audio.flac"
        raw = wav if analysis == standardized else lambda: load_audio(standardized)
        cue_spans, tags = cue_hints(store, ep.key)
        turns = diarizer(wav, read_intervals(folder / "speech.parquet"), cue_spans, tags, raw=raw)
        rows = [{"episode_key": ep.key, "start_s": t.start, "end_s": t.end, "speaker": t.speaker,
                 "overlap": t.overlap, "confidence": t.confidence} for t in turns]
        write_parquet_atomic(folder / "turns.parquet", pa.Table.from_pylist(rows, schema=TURN_SCHEMA))
        write_rttm(turns, folder / "turns.rttm", uri=Path(ep.episode).name.replace(" ", "_"))
        return _turn_summary(turns)

    return SPEAKER_TURNS.run(store, ep.key, diarization_inputs(diarizer.backend_id), compute, force=force)


def _turn_summary(turns: list[Turn]) -> dict:
    """Turns, speakers, overlapped turns and the seconds where two or more talk (a stretch three talk in counts
    once)."""
    return {"n_turns": len(turns), "n_speakers": len({t.speaker for t in turns}),
            "n_overlap_turns": sum(t.overlap for t in turns),
            "overlap_s": round(total_seconds(union(overlap_regions(turns))), 2)}


# transcript ------------------------------------------------------------------------------------------------------
def transcript_inputs(model_id: str) -> list:
    return [model_id]


def run_transcript(ep: EpisodeSource, store: DataStore, asr, *, force: bool = False) -> StageResult:
    def compute(folder: Path) -> dict:
        # Whisper reads the standardized audio: enhancement artifacts raise its error rate (measured on the demo)
        wav = load_audio(folder / "audio.flac")
        language = ep.series.language.lower().split("-")[0]  # Whisper takes "cs", not "cs-CZ"
        words = asr.transcribe(wav, read_intervals(folder / "speech.parquet"), language=language)
        table = pa.table(
            {"start_s": [w.start for w in words], "end_s": [w.end for w in words], "word": [w.text for w in words],
             "probability": [w.probability for w in words]}, schema=WORD_SCHEMA)
        write_parquet_atomic(folder / "words.parquet", table)
        return {"n_words": len(words), "model": str(asr.model_dir),
                "mean_word_probability": round(float(np.mean([w.probability for w in words])), 3) if words else None}

    return TRANSCRIPT.run(store, ep.key, transcript_inputs(asr_model_id(asr.model_dir, asr.config)), compute,
                          force=force)


def read_words(path: Path):
    return [Word(r["start_s"], r["end_s"], r["word"], r["probability"]) for r in pq.read_table(path).to_pylist()]


# aligned segments ------------------------------------------------------------------------------------------------
def segments_inputs(ep: EpisodeSource, config: SegmentConfig, embedder_name: str) -> list:
    return [asdict(config), embedder_name, ep.series.language, packaged_language_id()]


def run_segments(ep: EpisodeSource, store: DataStore, embedder, *, config: SegmentConfig = SegmentConfig(),
                 audio_language=None, asr: WhisperASR | None = None, force: bool = False) -> StageResult:
    """``audio_language``: a multilingual ASR model's language identification, asked for every segment; None (an
    English-only or the packaged ASR model): the packaged multilingual Whisper base's, asked only where a segment's
    language is in doubt, in series whose language it identifies reliably (``audiorole.segments.language``).
    ``asr``: the series' ASR model, the transcript's (whose identity the transcript's stamp holds), which weighs the
    audio's evidence for a subtitle it heard otherwise (``WhisperASR.text_evidence``); None: such subtitles are
    rejected on their CER alone."""
    evidence = None if asr is None else partial(asr.text_evidence, language=ep.series.language)

    def compute(folder: Path) -> dict:
        wav = load_audio(folder / "audio.flac")  # SNR, clipping, language: the audio as it is
        speech = read_intervals(folder / "speech.parquet")
        rows = build_segments(ep.key, wav, speech, read_turns(folder / "turns.parquet"),
                              read_words(folder / "words.parquet"),
                              pq.read_table(folder / "synced_cues.parquet").to_pylist(),
                              series_language=ep.series.language, config=config,
                              audio_language=audio_language, language_probabilities=None if audio_language
                              else packaged_language_probabilities_for(ep.series.language), text_evidence=evidence)
        n_emb = add_embeddings(rows, load_audio(analysis_audio_path(store, ep.key)), embedder)  # enhanced where it ran
        write_parquet_atomic(folder / "segments.parquet", segments_table(rows))
        return {**summarize_segments(rows, speech), "n_embedded": n_emb}

    return ALIGNED_SEGMENTS.run(store, ep.key, segments_inputs(ep, config, embedder.name), compute, force=force)


def summarize_segments(rows: list[dict], speech: np.ndarray) -> dict:
    kept = [r for r in rows if r["keep"]]
    speech_s = total_seconds(speech)
    kept_s = sum(r["end_s"] - r["start_s"] for r in kept)
    reasons: dict[str, int] = {}
    for r in rows:
        if not r["keep"]:
            reasons[r["reject_reason"]] = reasons.get(r["reject_reason"], 0) + 1
    return {
        "n_segments": len(rows), "n_kept": len(kept), "kept_s": round(kept_s, 2),
        "kept_speech_share": round(kept_s / speech_s, 4) if speech_s else 0.0,
        "n_speakers_kept": len({r["speaker"] for r in kept}),
        "n_audio_language_checked": sum(r["audio_language"] is not None for r in rows),
        "median_cer": round(float(np.median([r["cer"] for r in kept if r["cer"] is not None])), 4)
        if any(r["cer"] is not None for r in kept) else None,
        "reject_reasons": reasons,
    }
