"""Speech activity detection with Silero VAD (ONNX weights shipped in the ``silero-vad`` wheel).

Silero's decisions depend on the absolute level: it misses much of a quiet, far talker's speech in a
loudness-normalized episode. The standardized audio cannot fix that: its gain is one number per episode, and
the peak limit binds where loud talkers are. So the VAD also reads a level-normalized copy, in which every 32 ms
window is brought to ``level_target_dbfs`` by a slow gain (the loudest window within ``level_span_s`` sets it,
so the gain does not pump inside words), at most ``level_max_gain_db``. Where the audio is quiet — below
``level_gate_dbfs``, or ``level_gate_relative_db`` below the episode's loud speech — a window's speech
probability is the larger of the two streams' (run at once, see ``SileroVAD.speech_probs``); elsewhere it is the
audio's own: the copy brings back most of the quiet talkers' speech, and gated to quiet audio where it is sure
(``level_min_prob``) it adds few false alarms (missed speech and false alarms per setting:
``benchmarks/vad_quality.py``, measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audiorole.audio import SAMPLE_RATE

WINDOW = 512  # Silero's window at 16 kHz (32 ms)


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5  # speech probability above which a frame is speech
    min_speech_ms: int = 200  # shorter bursts are dropped ("Yeah." lasts ~300 ms)
    min_silence_ms: int = 120  # a pause this long splits two regions (turn gaps are >= 200 ms)
    speech_pad_ms: int = 30  # padding added to both sides of a region
    #: level of the copy the VAD reads (dBFS RMS per window); None: the audio as it is
    level_target_dbfs: float | None = -20.0
    #: the loudest window within this span sets the gain (seconds): short enough that a quiet talker right
    #: after a loud one gets its own gain
    level_span_s: float = 0.5
    #: never amplify by more than this (dB): digital silence and hum stay quiet
    level_max_gain_db: float = 40.0
    #: the copy's probability counts only where the running level is below this (dBFS) or more than
    #: ``level_gate_relative_db`` below the episode's loud speech (its 95th percentile): Silero is level-limited
    #: only there, and louder non-speech (a TV music bed) turned up is a false alarm
    level_gate_dbfs: float = -40.0
    level_gate_relative_db: float = -18.0
    #: and only where the copy is this sure of speech
    level_min_prob: float = 0.8
    #: a region's end follows its sound's decay (``decay_tails``): on while the audio stays this many dB above the
    #: background around it, at most ``tail_max_s``; None (default): Silero's ends, where the voice stops. Opt-in:
    #: it helps where a line's echo counts as the line (3 dB on the Fish Fillets recipe: missed speech 19.7% -> 13.6%)
    #: and adds false alarms where it does not (the hard profile's rooms: 6.0% -> 10.1%)
    tail_margin_db: float | None = None
    tail_max_s: float = 0.8
    #: the background is the median level of the non-speech within this many seconds of the end
    tail_context_s: float = 5.0

    def __post_init__(self):
        if self.tail_margin_db is not None and not (math.isfinite(self.tail_margin_db) and self.tail_margin_db >= 0):
            raise ValueError(f"tail_margin_db={self.tail_margin_db!r}: the dB a line's echo must stay above the "
                             "background, a number >= 0 (None: regions end where the voice stops)")
        if not (self.tail_max_s > 0 and self.tail_context_s > 0):
            raise ValueError(f"tail_max_s={self.tail_max_s!r}, tail_context_s={self.tail_context_s!r}: seconds > 0")


def running_level(wav: np.ndarray, span_s: float = 1.0) -> np.ndarray:
    """Per 512-sample window: the running maximum of the window RMS over ``span_s``, smoothed over the same span
    (linear amplitude; one value per whole window)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    n = len(wav) // WINDOW
    if n == 0:
        return np.zeros(0)
    rms = np.sqrt(np.mean(np.asarray(wav[: n * WINDOW], dtype=np.float64).reshape(n, WINDOW) ** 2, axis=1) + 1e-12)
    k = max(1, int(round(span_s * SAMPLE_RATE / WINDOW)))
    return uniform_filter1d(maximum_filter1d(rms, k, mode="nearest"), k, mode="nearest")


def level_normalize(wav: np.ndarray, target_dbfs: float, span_s: float = 1.0, max_gain_db: float = 40.0) -> np.ndarray:
    """A copy of ``wav`` whose level is ``target_dbfs`` everywhere: a per-window gain from ``running_level``,
    capped at ``max_gain_db`` (louder audio is turned down). The result is clipped to [-1, 1]."""
    wav = np.asarray(wav, dtype=np.float32)
    env = running_level(wav, span_s)
    if len(env) == 0:
        return wav.copy()
    gain = np.minimum(10 ** (target_dbfs / 20) / np.maximum(env, 1e-9), 10 ** (max_gain_db / 20))
    per_sample = np.repeat(gain, WINDOW)
    per_sample = np.concatenate([per_sample, np.full(len(wav) - len(per_sample), gain[-1])])
    return np.clip(wav * per_sample, -1.0, 1.0).astype(np.float32)


def decay_tails(regions: np.ndarray, wav: np.ndarray, sr: int = SAMPLE_RATE, *, margin_db: float = 3.0,
                max_s: float = 0.8, context_s: float = 5.0) -> np.ndarray:
    """``regions`` with each end moved on to where its sound has decayed into the background.

    Silero ends a region where its speech probability drops, which is where the voice stops; in a reverberant room
    (a hall, a game's underwater echo) the line goes on sounding for a few hundred milliseconds. Where that echo
    counts as the line (the Fish Fillets recipe's truth: each clip down to 40 dB under its peak), each end
    moves on, 10 ms at a time (levels smoothed over 30 ms), while the audio stays more than ``margin_db`` above the
    background: the median level of the non-speech frames within ``context_s`` of the end (of the whole recording
    where fewer than 0.2 s of it lie near). It stops at ``max_s``, at the next region's start, or at once where the
    audio is already at the background (dry speech: nothing moves). Measured per setting on the recipes and the
    demo: ``benchmarks/vad_quality.py``."""
    from scipy.ndimage import uniform_filter1d

    regions = np.asarray(regions, dtype=float).reshape(-1, 2)
    hop = sr // 100
    n = len(wav) // hop
    if not len(regions) or n == 0:
        return regions.copy()
    rms = np.sqrt(np.mean(np.asarray(wav[: n * hop], dtype=np.float64).reshape(n, hop) ** 2, axis=1))
    level = 20 * np.log10(uniform_filter1d(rms, 3, mode="nearest") + 1e-9)
    speech = np.zeros(n, dtype=bool)
    for s, e in regions:
        speech[int(s * 100):int(np.ceil(e * 100))] = True
    if (~speech).sum() < 20:
        return regions.copy()
    everywhere = float(np.median(level[~speech]))
    out, ctx = regions.copy(), int(context_s * 100)
    for i, (_, e) in enumerate(regions):
        t = min(n, int(np.ceil(e * 100)))
        lo, hi = max(0, t - ctx), min(n, t + ctx)
        near = level[lo:hi][~speech[lo:hi]]
        floor = float(np.median(near)) if len(near) >= 20 else everywhere
        stop = min(n, t + int(round(max_s * 100)))
        if i + 1 < len(regions):
            stop = min(stop, int(regions[i + 1][0] * 100))
        above = np.flatnonzero(level[t:stop] <= floor + margin_db)
        end = t + (int(above[0]) if len(above) else max(0, stop - t))
        out[i, 1] = max(e, end / 100)
    return out


class SileroVAD:
    """Loads the ONNX model once; ``speech_regions`` returns (n, 2) [start, end] seconds."""

    def __init__(self, config: VadConfig = VadConfig(), threads: int = 2):
        from silero_vad import load_silero_vad

        self.config = config
        self.model = load_silero_vad(onnx=True, sequence=True)  # SileroVADSequence, see ``speech_probs``
        self.threads = threads

    def speech_regions(self, wav: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        from silero_vad.utils_vad import get_speech_timestamps_from_probs

        if len(wav) == 0:
            return np.zeros((0, 2))
        c = self.config
        wav = np.ascontiguousarray(wav, dtype=np.float32)
        if c.level_target_dbfs is None:
            probs = self.speech_probs(wav, sr)
        else:
            raw, normalized = self.speech_probs_batch(
                [wav, level_normalize(wav, c.level_target_dbfs, c.level_span_s, c.level_max_gain_db)], sr)
            quiet = np.zeros(len(raw), dtype=bool)
            level = running_level(wav, c.level_span_s)
            gate = 10 ** (c.level_gate_dbfs / 20)
            if len(level):
                gate = max(gate, float(np.percentile(level, 95)) * 10 ** (c.level_gate_relative_db / 20))
            quiet[: len(level)] = level < gate
            probs = np.where(quiet & (normalized >= c.level_min_prob), np.maximum(raw, normalized), raw)
        stamps = get_speech_timestamps_from_probs(
            list(probs), sampling_rate=sr, threshold=c.threshold,
            min_speech_duration_ms=c.min_speech_ms, min_silence_duration_ms=c.min_silence_ms,
            speech_pad_ms=c.speech_pad_ms, return_seconds=False, audio_length_samples=len(wav),
        )
        regions = np.asarray([(s["start"] / sr, s["end"] / sr) for s in stamps], dtype=float).reshape(-1, 2)
        if c.tail_margin_db is None:
            return regions
        return decay_tails(regions, wav, sr, margin_db=c.tail_margin_db, max_s=c.tail_max_s, context_s=c.tail_context_s)

    def speech_probs(self, wav: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """Speech probability of each 512-sample window (16 kHz), bit for bit what ``silero_vad.get_speech_timestamps``
        computes window by window (``tests/test_diarization.py``), from the package's sequence model
        (``silero_vad_16k_sequence.onnx``): one ONNX call per 512 windows, the recurrent state carried between
        calls, instead of one call per window; the raw and level-normalized streams run on two threads. About twice
        as fast as both streams batched window by window (``benchmarks/pipeline_speed.py``, measured: vad)."""
        return self.speech_probs_batch([wav], sr)[0]

    def speech_probs_batch(self, wavs: list[np.ndarray], sr: int = SAMPLE_RATE) -> np.ndarray:
        """``speech_probs`` of several equally long signals, on ``threads`` threads (ONNX Runtime releases the GIL
        inside the model): (len(wavs), windows)."""
        if sr != 16000:
            raise ValueError(f"Silero VAD runs on 16 kHz audio here, not {sr} Hz")
        if len({len(w) for w in wavs}) != 1:
            raise ValueError("speech_probs_batch needs signals of one length")

        def one(w: np.ndarray) -> np.ndarray:
            return self.model.audio_forward(np.ascontiguousarray(w, dtype=np.float32), sr)

        if self.threads > 1 and len(wavs) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.threads, len(wavs))) as pool:
                return np.stack(list(pool.map(one, wavs)))
        return np.stack([one(w) for w in wavs])
