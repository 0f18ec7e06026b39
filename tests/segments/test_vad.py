"""Region ends that follow a line's decay (``vad.decay_tails``), on a synthetic decay and on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from audiorole.segments.vad import VadConfig, decay_tails

SR = 16000


def _noise(seconds: float, level: float, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_an_end_moves_on_while_its_decay_is_above_the_background_and_no_further():
    """A 1 s burst whose sound decays by 60 dB per 0.6 s over a background 40 dB down: the end moves to where the
    decay meets the background + 3 dB (0.37 s on), not into the next region, and a dry burst's end stays."""
    bg = _noise(12.0, 0.001, seed=1)
    burst = _noise(1.0, 0.1, seed=2)
    t = np.arange(int(0.9 * SR)) / SR
    tail = _noise(0.9, 0.1, seed=3) * 10 ** (-100 * t / 20)  # -100 dB/s: 60 dB in 0.6 s
    wav = bg.copy()
    wav[2 * SR:3 * SR] += burst
    wav[3 * SR:3 * SR + len(tail)] += tail
    wav[7 * SR:8 * SR] += burst  # dry: ends at once
    out = decay_tails(np.array([[2.0, 3.0], [7.0, 8.0]]), wav, SR)
    expected = 3.0 + (40 - 3) / 100  # where 100 dB/s from 40 dB above the background reaches 3 dB above it
    assert abs(out[0, 1] - expected) < 0.05, out
    assert out[1, 1] - 8.0 < 0.03, out
    assert out[:, 0].tolist() == [2.0, 7.0]
    # the next region starts before the decay is over: the end stops at its start, never past it
    close = decay_tails(np.array([[2.0, 3.0], [3.2, 4.0]]), wav, SR)
    assert close[0, 1] <= 3.2
    # nothing moves back, and a recording that is all speech has no background to measure: unchanged
    assert (out[:, 1] >= [3.0, 8.0]).all()
    assert decay_tails(np.array([[0.0, 12.0]]), wav, SR).tolist() == [[0.0, 12.0]]
    assert decay_tails(np.zeros((0, 2)), wav, SR).shape == (0, 2)


def test_on_real_speech_ends_follow_reverberation_and_stay_put_when_dry(pyannote_sample):
    """With the opt-in tails (``VadConfig.tail_margin_db``), the real two-speaker recording, dry and through a
    synthetic hall (a 0.8 s exponential decay, 60 dB over it) under a background 35 dB down: in the hall Silero ends
    lines as the voice stops, and the tails carry the ends on by a median of over 100 ms (0.15 s measured); dry, the
    ends hardly move (median under 30 ms; 2 ms measured), so dry speech gets no false alarm from it."""
    from scipy.signal import fftconvolve

    from audiorole.audio import load_audio
    from audiorole.segments.vad import SileroVAD, VadConfig

    wav = load_audio(pyannote_sample / "sample.wav")
    level = float(np.sqrt(np.mean(wav ** 2)))
    t = np.arange(int(0.8 * SR)) / SR
    ir = np.random.default_rng(0).standard_normal(len(t)) * 10 ** (-75 * t / 20)
    ir[0] = 4.0  # the direct sound
    hall = fftconvolve(wav, ir)[: len(wav)]
    hall = (hall * level / np.sqrt(np.mean(hall ** 2))).astype(np.float32)
    bed = _noise(len(wav) / SR, level * 10 ** (-35 / 20), seed=4)[: len(wav)]

    def moved(x):
        plain = SileroVAD(VadConfig(tail_margin_db=None)).speech_regions(x)
        tails = SileroVAD(VadConfig(tail_margin_db=3.0)).speech_regions(x)
        assert len(plain) == len(tails) and np.allclose(plain[:, 0], tails[:, 0])
        return float(np.median(tails[:, 1] - plain[:, 1]))

    assert moved(hall + bed) > 0.10
    assert moved(wav + bed) < 0.03


def test_decay_tail_settings_that_mean_nothing_are_refused_by_name():
    assert VadConfig(tail_margin_db=0.0).tail_margin_db == 0.0  # at the background: a setting, if a loose one
    for bad in (-3.0, float("nan")):
        with pytest.raises(ValueError, match="tail_margin_db"):
            VadConfig(tail_margin_db=bad)
    with pytest.raises(ValueError, match="tail_max_s"):
        VadConfig(tail_margin_db=3.0, tail_max_s=0.0)
