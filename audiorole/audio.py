"""Reading the standardized audio (16 kHz mono) and cutting it by time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000


def load_audio(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples of a standardized audio file (which is already at ``sr``)."""
    import soundfile as sf

    wav, file_sr = sf.read(str(path), dtype="float32", always_2d=False)
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    if file_sr != sr:
        import soxr

        wav = soxr.resample(wav, file_sr, sr).astype(np.float32)
    return np.ascontiguousarray(wav)


def cut(wav: np.ndarray, start_s: float, end_s: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    a = max(0, int(round(start_s * sr)))
    b = min(len(wav), int(round(end_s * sr)))
    return wav[a:b]
