"""Subtitle sync recovers a known offset and drift, refines cue edges, and refuses subtitles of another episode."""

from __future__ import annotations

import numpy as np
import pytest

from audiorole import subsync


def synthetic_turns(seed: int, minutes: float) -> np.ndarray:
    """Speech turns of 0.5–6 s, 0.2–0.8 s apart, with occasional 3–8 s music gaps."""
    rng = np.random.default_rng(seed)
    t, turns = 2.0, []
    while t < minutes * 60:
        d = rng.uniform(0.5, 6.0)
        turns.append((t, t + d))
        t += d + (rng.uniform(3, 8) if rng.random() < 0.08 else rng.uniform(0.2, 0.8))
    return np.array(turns)


def subtitles_for(turns: np.ndarray, offset: float, drift_ppm: float, seed: int, jitter: float = 0.3):
    """Cues from turns with offset/drift, ± jitter on edges, 5% missing; returns (cues, true turns kept)."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(turns)) > 0.05
    true = turns[keep]
    cues = true * (1 + drift_ppm * 1e-6) + offset + rng.uniform(-jitter, jitter, true.shape)
    return cues, true


def noisy_vad(turns: np.ndarray, seed: int) -> np.ndarray:
    """VAD output: a few short turns missed, a few spurious blips."""
    rng = np.random.default_rng(seed)
    kept = turns[(turns[:, 1] - turns[:, 0] > 1.0) | (rng.random(len(turns)) > 0.3)]
    blips = rng.uniform(0, turns.max(), 5)
    return np.sort(np.vstack([kept, np.c_[blips, blips + 0.3]]), axis=0)


@pytest.mark.parametrize("offset, drift", [(1.5, 500.0), (0.0, 0.0), (-7.3, -800.0), (12.0, 0.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_recovers_offset_and_drift(offset, drift, seed):
    turns = synthetic_turns(seed, 20)  # 20 minutes pin the drift down despite ±0.3 s jitter
    cues, _ = subtitles_for(turns, offset, drift, seed + 10)
    r = subsync.estimate_sync(cues, noisy_vad(turns, seed), duration_s=turns.max())
    assert r.calibrated and r.score > 0.85
    assert r.offset_s == pytest.approx(offset, abs=0.05)
    assert r.drift_ppm == pytest.approx(drift, abs=50)
    subsync.check_sync(r, path="ok.srt")  # does not raise


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_short_drifted_episode_cues_land_within_100_ms(seed):
    turns = synthetic_turns(seed, 3.5)
    cues, true = subtitles_for(turns, 1.5, 500.0, seed + 20)
    r = subsync.estimate_sync(cues, turns, duration_s=turns.max())
    refined = subsync.refine_cue_edges(subsync.apply_sync(cues, r), turns)
    assert np.median(np.abs(refined[:, 0] - true[:, 0])) <= 0.1
    assert np.all(refined[:, 1] > refined[:, 0])


def test_subtitles_of_another_episode_are_refused():
    turns = synthetic_turns(0, 3.5)
    other, _ = subtitles_for(synthetic_turns(99, 3.5), 0.0, 0.0, 5)
    r = subsync.estimate_sync(other, turns, duration_s=turns.max())
    with pytest.raises(subsync.SyncError) as exc:
        subsync.check_sync(r, path="/media/show/e2.srt")
    assert "/media/show/e2.srt" in str(exc.value) and "do not match" in str(exc.value)


def test_continuous_speech_is_judged_by_coverage_not_onsets():
    speech = np.array([[0.0, 60.0]])  # one long region: no onsets to calibrate on
    cues = np.array([[i * 5.0 + 0.2, i * 5.0 + 4.0] for i in range(10)])
    r = subsync.estimate_sync(cues, speech, duration_s=60)
    assert not r.calibrated and r.offset_s == 0 and r.coverage == pytest.approx(1.0)
    subsync.check_sync(r)
    off_speech = subsync.estimate_sync(cues + 100, speech, duration_s=200)
    with pytest.raises(subsync.SyncError):
        subsync.check_sync(off_speech)


def test_refine_never_crosses_the_next_cue_or_inverts():
    speech = np.array([[1.0, 2.0], [2.05, 4.0]])
    cues = np.array([[0.8, 2.1], [1.9, 3.8]])
    out = subsync.refine_cue_edges(cues, speech, max_shift_s=0.5)
    assert out[0, 0] == 1.0 and out[1, 0] == 2.05
    assert np.all(out[:, 1] > out[:, 0]) and out[1, 0] > out[0, 0]
