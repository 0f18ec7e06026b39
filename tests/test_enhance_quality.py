"""DeepFilterNet3 enhancement (the real packaged model) and the acoustic quality measures."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from audiorole import quality
from audiorole.enhance import DeepFilterEnhancer, enhance_regions


@pytest.fixture(scope="module")
def speech16k(tmp_path_factory) -> np.ndarray:
    """Real synthetic speech (espeak-ng), 16 kHz mono."""
    import soundfile as sf
    import soxr

    path = tmp_path_factory.mktemp("tts") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "The quick brown fox jumps over the lazy dog while the radio "
                    "plays an old song in the kitchen."], check=True)
    wav, sr = sf.read(str(path), dtype="float32")
    return soxr.resample(wav, sr, 16000).astype(np.float32)


def _mix(clean: np.ndarray, snr_db: float, seed: int = 0, kind: str = "white") -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "white":
        noise = rng.standard_normal(len(clean))
    else:  # tonal "music"
        t = np.arange(len(clean)) / 16000
        noise = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330))
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
    return (clean + noise).astype(np.float32)


def _snr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - est) ** 2)))


def test_deepfilternet_improves_snr_and_stays_aligned(speech16k):
    noisy = _mix(speech16k, 5.0)
    with DeepFilterEnhancer() as enhancer:
        out = enhancer.enhance(noisy, 16000)
    assert len(out) == len(noisy)
    assert _snr(speech16k, out) > _snr(speech16k, noisy) + 5.0
    lags = range(-160, 161, 8)  # ±10 ms at 16 kHz
    best = max(lags, key=lambda lag: float(np.dot(np.roll(out, -lag), speech16k)))
    assert abs(best) <= 16, f"output lags the input by {best} samples"


def test_enhance_regions_touches_only_the_regions(speech16k):
    noisy = _mix(speech16k, 5.0)
    with DeepFilterEnhancer() as enhancer:
        out = enhance_regions(noisy, 16000, np.array([[1.0, 2.0]]), enhancer, pad_s=0.1)
    a, b = int(0.9 * 16000), int(2.1 * 16000)
    assert np.array_equal(out[:a], noisy[:a]) and np.array_equal(out[b:], noisy[b:])
    assert not np.array_equal(out[a:b], noisy[a:b])


def test_wrong_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="DeepFilterNet model not found"):
        DeepFilterEnhancer(model_path=tmp_path / "missing.tar.gz")


@pytest.mark.parametrize("kind", ["white", "music"])
def test_wada_snr_tracks_the_true_snr(speech16k, kind):
    estimates = [quality.wada_snr_db(_mix(speech16k, snr, kind=kind)) for snr in (0, 10, 20)]
    assert estimates == sorted(estimates), "monotonic in the true SNR"
    assert all(abs(e - t) <= 4.0 for e, t in zip(estimates, (0, 10, 20))), estimates


def test_wada_snr_of_silence_is_nan():
    assert np.isnan(quality.wada_snr_db(np.zeros(1600)))


def test_clipping_ratio_and_rms():
    t = np.arange(16000) / 16000
    sine = 0.5 * np.sin(2 * np.pi * 100 * t)
    assert quality.clipping_ratio(sine) == 0.0
    assert quality.clipping_ratio(np.clip(4 * sine, -1, 1)) > 0.5
    assert quality.rms_dbfs(sine) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
