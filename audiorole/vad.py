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
        import torch
        from silero_vad import get_speech_timestamps

        if len(wav) == 0:
            return np.zeros((0, 2))
        c = self.config
        stamps = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), self.model, sampling_rate=sr,
            threshold=c.threshold, min_speech_duration_ms=c.min_speech_ms, min_silence_duration_ms=c.min_silence_ms,
            speech_pad_ms=c.speech_pad_ms, return_seconds=False,
        )
        self.model.reset_states()
        return np.asarray([(s["start"] / sr, s["end"] / sr) for s in stamps], dtype=float).reshape(-1, 2)
