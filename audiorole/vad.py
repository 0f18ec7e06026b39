"""Speech activity detection with Silero VAD (ONNX weights shipped in the ``silero-vad`` wheel)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiorole.audio import SAMPLE_RATE


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5  # speech probability above which a frame is speech
    min_speech_ms: int = 200  # shorter bursts are dropped ("Yeah." lasts ~300 ms)
    min_silence_ms: int = 120  # a pause this long splits two regions (turn gaps are >= 200 ms)
    speech_pad_ms: int = 30  # padding added to both sides of a region


class SileroVAD:
    """Loads the ONNX model once; ``speech_regions`` returns (n, 2) [start, end] seconds."""

    def __init__(self, config: VadConfig = VadConfig()):
        from silero_vad import load_silero_vad

        self.config = config
        self.model = load_silero_vad(onnx=True)

    def speech_regions(self, wav: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        from silero_vad.utils_vad import get_speech_timestamps_from_probs

        if len(wav) == 0:
            return np.zeros((0, 2))
        c = self.config
        wav = np.ascontiguousarray(wav, dtype=np.float32)
        stamps = get_speech_timestamps_from_probs(
            list(self.speech_probs(wav, sr)), sampling_rate=sr, threshold=c.threshold,
            min_speech_duration_ms=c.min_speech_ms, min_silence_duration_ms=c.min_silence_ms,
            speech_pad_ms=c.speech_pad_ms, return_seconds=False, audio_length_samples=len(wav),
        )
        return np.asarray([(s["start"] / sr, s["end"] / sr) for s in stamps], dtype=float).reshape(-1, 2)

    def speech_probs(self, wav: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """Speech probability of each 512-sample window (16 kHz), as ``silero_vad.get_speech_timestamps``
        computes them, but with the ONNX session (the model is always loaded as ONNX) driven directly from numpy:
        the same inputs (64 samples of context + the window, the recurrent state carried over) without the
        wrapper's per-window torch conversions."""
        if sr != 16000:
            raise ValueError(f"Silero VAD runs on 16 kHz audio here, not {sr} Hz")
        win, ctx = 512, 64
        n = -(-len(wav) // win)
        x = np.zeros(ctx + n * win, dtype=np.float32)
        x[ctx : ctx + len(wav)] = wav
        state = np.zeros((2, 1, 128), dtype=np.float32)
        rate = np.array(sr, dtype=np.int64)
        probs = np.empty(n, dtype=np.float32)
        run = self.model.session.run
        for i in range(n):
            out, state = run(None, {"input": x[None, i * win : i * win + win + ctx], "state": state, "sr": rate})
            probs[i] = out[0, 0]
        return probs
