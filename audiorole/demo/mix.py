"""A deterministic music bed made with numpy (chords, a bass line, a melody, hi-hats) plus a little room noise."""

from __future__ import annotations

import numpy as np

SR = 48_000
#: chord roots (Hz) of a I–vi–IV–V progression, and the major/minor triads on them
_PROGRESSION = [(261.63, (0, 4, 7)), (220.00, (0, 3, 7)), (174.61, (0, 4, 7)), (196.00, (0, 4, 7))]


def _tone(freq: float, n: int, harmonics=(1.0, 0.5, 0.25)) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(a * np.sin(2 * np.pi * freq * (h + 1) * t) for h, a in enumerate(harmonics)).astype(np.float32)


def _envelope(n: int, attack: float = 0.02, release: float = 0.3) -> np.ndarray:
    env = np.ones(n, dtype=np.float32)
    a, r = min(n, int(attack * SR)), min(n, int(release * SR))
    env[:a] = np.linspace(0, 1, a)
    env[n - r:] *= np.linspace(1, 0, r)
    return env


def music_bed(seconds: float, rng: np.random.Generator, bpm: float = 96.0) -> np.ndarray:
    """Unit-RMS music of the given length: one chord per bar, bass on beats, a random melody, hi-hats."""
    n = int(seconds * SR)
    out = np.zeros(n, dtype=np.float32)
    beat = int(60 / bpm * SR)
    bar = 4 * beat
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    for b, start in enumerate(range(0, n, bar)):
        root, triad = _PROGRESSION[b % len(_PROGRESSION)]
        m = min(bar, n - start)
        env = _envelope(m, 0.05, 0.4)
        for semis in triad:
            out[start:start + m] += 0.25 * _tone(root * 2 ** (semis / 12), m) * env
        for k in range(4):
            s = start + k * beat
            if s >= n:
                break
            mb = min(beat, n - s)
            out[s:s + mb] += 0.4 * _tone(root / 2, mb, (1.0, 0.3)) * _envelope(mb, 0.005, 0.2)
            note = root * 2 * 2 ** (scale[int(rng.integers(len(scale)))] / 12)
            out[s:s + mb] += 0.2 * _tone(note, mb, (1.0, 0.2)) * _envelope(mb, 0.01, 0.15)
            h = min(int(0.03 * SR), n - s - beat // 2) if s + beat // 2 < n else 0
            if h > 0:
                out[s + beat // 2:s + beat // 2 + h] += 0.15 * rng.standard_normal(h).astype(np.float32) * np.linspace(1, 0, h)
    return out / (float(np.sqrt(np.mean(out**2))) or 1.0)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS 1/f noise (spectral shaping of white noise)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec))
    spec[1:] /= np.sqrt(f[1:])
    noise = np.fft.irfft(spec, n).astype(np.float32)
    return noise / (float(np.sqrt(np.mean(noise**2))) or 1.0)
