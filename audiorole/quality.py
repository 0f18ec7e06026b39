"""Acoustic integrity measures of a speech segment: clipping, level, and a blind SNR estimate."""

from __future__ import annotations

import numpy as np

#: WADA-SNR lookup (Kim & Stern, 2008): the expected G = E|x|·... statistic of speech (Gamma-distributed
#: amplitude, shape 0.4) in Gaussian noise, tabulated over SNR. Computed once from the model below.
_SNR_GRID_DB = np.arange(-20.0, 101.0, 1.0)


def _wada_table(shape: float = 0.4, n: int = 200_000, seed: int = 0) -> np.ndarray:
    """Expected log(E|x|) - E log|x| of Gamma-amplitude speech plus Gaussian noise, for each SNR on the grid."""
    rng = np.random.default_rng(seed)
    speech = rng.gamma(shape, 1.0, n) * rng.choice([-1.0, 1.0], n)
    speech /= np.sqrt(np.mean(speech**2))
    noise = rng.standard_normal(n)
    out = []
    for snr in _SNR_GRID_DB:
        x = speech * 10 ** (snr / 20) + noise
        a = np.abs(x) + 1e-20
        out.append(np.log(a.mean()) - np.log(a).mean())
    return np.asarray(out)


_G_TABLE: np.ndarray | None = None


def wada_snr_db(wav: np.ndarray) -> float:
    """Blind SNR estimate (dB) of a speech clip in additive noise (WADA-SNR). NaN for silence."""
    global _G_TABLE
    x = np.asarray(wav, dtype=np.float64)
    if len(x) == 0 or np.max(np.abs(x)) < 1e-6:
        return float("nan")
    if _G_TABLE is None:
        _G_TABLE = _wada_table()
    a = np.abs(x / np.max(np.abs(x))) + 1e-20
    g = np.log(a.mean()) - np.log(a).mean()
    return float(np.interp(g, _G_TABLE, _SNR_GRID_DB, left=_SNR_GRID_DB[0], right=_SNR_GRID_DB[-1]))


def clipping_ratio(wav: np.ndarray, *, threshold: float = 0.999) -> float:
    """Share of samples in runs of ≥ 2 consecutive samples at or beyond ``threshold`` of full scale."""
    x = np.abs(np.asarray(wav, dtype=np.float64))
    if len(x) < 2:
        return 0.0
    hot = x >= threshold
    runs = hot[1:] & hot[:-1]
    clipped = np.zeros(len(x), dtype=bool)
    clipped[1:] |= runs
    clipped[:-1] |= runs
    return float(clipped.mean())


def rms_dbfs(wav: np.ndarray) -> float:
    x = np.asarray(wav, dtype=np.float64)
    rms = np.sqrt(np.mean(x**2)) if len(x) else 0.0
    return float(20 * np.log10(max(rms, 1e-10)))
