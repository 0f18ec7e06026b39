"""Subtitle sync on synthetic episodes with a known offset and drift: recovery, cue-edge refinement, refusal of
subtitles that belong to another episode, and the invariants of the API."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiorole.intervals import union
from audiorole.segments import subsync
from audiorole.errors import InputError

CASES = [(1.5, 500.0), (0.0, 0.0), (-7.3, -800.0), (12.0, 0.0)]


def speech_turns(rng: np.random.Generator, minutes: float) -> np.ndarray:
    """True speech turns: 0.5–6 s long, 0.2–0.8 s apart, with occasional 3–8 s gaps (music)."""
    t, turns = 2.0, []
    while t < minutes * 60:
        d = rng.uniform(0.5, 6.0)
        turns.append((t, t + d))
        t += d + (rng.uniform(3.0, 8.0) if rng.random() < 0.08 else rng.uniform(0.2, 0.8))
    return np.array(turns)


def subtitles_for(turns: np.ndarray, offset: float, drift_ppm: float, rng: np.random.Generator):
    """(cues in subtitle time, their true spans in audio time): 5% of the turns without a cue, ~3% of neighbouring
    turns merged into one cue, every edge jittered by ±0.3 s, then offset and drift applied."""
    kept = np.flatnonzero(rng.random(len(turns)) > 0.05)
    true, k = [], 0
    while k < len(kept):
        i = kept[k]
        if k + 1 < len(kept) and kept[k + 1] == i + 1 and rng.random() < 0.03:
            true.append((turns[i, 0], turns[i + 1, 1]))
            k += 2
        else:
            true.append(tuple(turns[i]))
            k += 1
    true = np.array(true)
    jittered = true + rng.uniform(-0.3, 0.3, true.shape)
    jittered[:, 1] = np.maximum(jittered[:, 1], jittered[:, 0] + 0.3)
    return jittered * (1 + drift_ppm * 1e-6) + offset, true


def vad_of(turns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a VAD reports: edges off by up to ±30 ms, 30% of the turns under 1 s missed, a few spurious blips."""
    short = turns[:, 1] - turns[:, 0] < 1.0
    found = turns[~(short & (rng.random(len(turns)) < 0.3))]
    found = found + rng.uniform(-0.03, 0.03, found.shape)
    n = max(3, len(turns) // 50)
    blips = rng.uniform(0, turns.max(), n)
    return np.sort(np.vstack([found, np.c_[blips, blips + rng.uniform(0.2, 0.5, n)]]), axis=0)


def synthetic(seed: int, minutes: float, offset: float, drift_ppm: float):
    rng = np.random.default_rng(seed)
    turns = speech_turns(rng, minutes)
    cues, true = subtitles_for(turns, offset, drift_ppm, rng)
    return cues, true, vad_of(turns, rng), float(turns.max() + 5)


# recovery --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("offset, drift", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_full_episode_recovers_offset_within_50ms_and_drift_within_50ppm(offset, drift, seed):
    cues, true, speech, duration = synthetic(seed, 45, offset, drift)  # ~600 cues
    r = subsync.estimate_sync(cues, speech, duration_s=duration)
    assert r.status == "synced" and r.n_cues == len(cues)
    assert r.offset_s == pytest.approx(offset, abs=0.05)
    assert r.drift_ppm == pytest.approx(drift, abs=50)
    assert r.score >= r.baseline_score and r.score > 0.85
    assert r.n_matched > 0.85 * len(cues) and r.residual_ms < 250
    subsync.check_sync(r, path="ok.srt")  # does not raise
    refined = subsync.refine_cue_edges(subsync.apply_sync(cues, r), speech)
    assert np.median(np.abs(refined[:, 0] - true[:, 0])) <= 0.1


@pytest.mark.parametrize("offset, drift", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_short_episode_cues_land_within_100ms_after_refinement(offset, drift, seed):
    """3.5 minutes with ±0.3 s jitter cannot pin the drift to 50 ppm (≈ 280 ppm rms is the noise floor), but the
    corrected cues are right within the jitter and refinement puts their starts on the speech onsets."""
    cues, true, speech, duration = synthetic(seed + 10, 3.5, offset, drift)
    r = subsync.estimate_sync(cues, speech, duration_s=duration)
    subsync.check_sync(r, path="short.srt")
    mapped = subsync.apply_sync(cues, r)
    assert np.median(np.abs(mapped[:, 0] - true[:, 0])) <= 0.2  # the jitter alone gives 0.15
    refined = subsync.refine_cue_edges(mapped, speech)
    assert np.median(np.abs(refined[:, 0] - true[:, 0])) <= 0.1
    assert np.all(refined[:, 1] > refined[:, 0])


@pytest.mark.parametrize("seed", range(6))
def test_correction_never_lowers_the_score(seed):
    rng = np.random.default_rng(seed)
    offset, drift = rng.uniform(-3, 3) * (seed % 2), rng.uniform(-1000, 1000) * (seed % 3 > 0)
    cues, _, speech, duration = synthetic(seed + 20, 3.5, offset, drift)
    for c in (cues, np.round(cues, 1), cues[::2]):
        r = subsync.estimate_sync(c, speech, duration_s=duration)
        assert r.score >= r.baseline_score
        if not r.corrected:
            assert r.offset_s == 0 and r.drift_ppm == 0


# refusal ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("minutes, seed", [(3.5, 0), (3.5, 1), (3.5, 2), (20, 3)])
def test_subtitles_of_another_episode_are_refused(minutes, seed):
    _, _, speech, duration = synthetic(seed, minutes, 0.0, 0.0)
    other, _, _, _ = synthetic(seed + 100, minutes, 1.5, 500.0)
    r = subsync.estimate_sync(other, speech, duration_s=duration)
    with pytest.raises(subsync.SyncError) as exc:
        subsync.check_sync(r, path="/media/show/e2.srt")
    msg = str(exc.value)
    assert msg.startswith("/media/show/e2.srt: subtitles do not match the speech in the audio")
    assert "%" in msg and "wrong episode" in msg
    assert isinstance(exc.value, InputError) and exc.value.path == "/media/show/e2.srt"


@pytest.mark.parametrize("seed", [0, 1])
def test_random_cues_are_refused(seed):
    rng = np.random.default_rng(seed)
    _, _, speech, duration = synthetic(seed, 3.5, 0.0, 0.0)
    starts = np.sort(rng.uniform(0, duration - 5, 50))
    r = subsync.estimate_sync(np.c_[starts, starts + rng.uniform(1, 4, 50)], speech, duration_s=duration)
    with pytest.raises(subsync.SyncError, match="random.srt: subtitles do not match"):
        subsync.check_sync(r, path="random.srt")


def test_low_overlap_is_refused_with_the_numbers():
    speech = np.array([[i * 10.0, i * 10.0 + 2.0] for i in range(30)])  # 20% speech
    cues = np.array([[i * 10.0 + 4.0, i * 10.0 + 8.0] for i in range(30)])  # always in the silences
    r = subsync.estimate_sync(cues, speech, duration_s=300, max_offset_s=1.0)
    with pytest.raises(subsync.SyncError) as exc:
        subsync.check_sync(r, path="e9.srt", min_score=0.6)
    assert f"best overlap {r.score:.0%} < 60%" in str(exc.value) and str(exc.value).startswith("e9.srt: ")


def test_too_few_cues_are_used_as_given():
    """The documented choice: < MIN_CUES cues → identity with status too_few_cues; check_sync lets them pass (a
    2-line file can be neither calibrated nor judged, and failing the episode would lose its audio)."""
    cues = np.array([[1.0, 2.0], [3.0, 4.0]])
    r = subsync.estimate_sync(cues, np.array([[5.0, 9.0]]), duration_s=10)
    assert r.status == "too_few_cues" and not r.calibrated and (r.offset_s, r.drift_ppm) == (0.0, 0.0)
    subsync.check_sync(r, path="two.srt")
    assert np.array_equal(subsync.apply_sync(cues, r), cues)


def test_speech_without_pauses_is_judged_by_overlap_only():
    speech = np.array([[0.0, 60.0]])  # one long region: no onsets to calibrate on
    cues = np.array([[i * 5.0 + 0.2, i * 5.0 + 4.0] for i in range(10)])
    r = subsync.estimate_sync(cues, speech, duration_s=60)
    assert r.status == "no_onsets" and r.offset_s == 0 and r.score == pytest.approx(1.0)
    subsync.check_sync(r)
    off_speech = subsync.estimate_sync(cues + 100, speech, duration_s=200)
    with pytest.raises(subsync.SyncError, match="best overlap 0% < 60%"):
        subsync.check_sync(off_speech, path="x.srt")
    no_speech = subsync.estimate_sync(cues, np.zeros((0, 2)), duration_s=60)
    with pytest.raises(subsync.SyncError):
        subsync.check_sync(no_speech, path="x.srt")


# API -------------------------------------------------------------------------------------------------------------
def test_to_audio_time_inverts_the_model_and_to_dict_is_json():
    r = subsync.SyncResult(offset_s=1.5, drift_ppm=500.0, score=0.9, baseline_score=0.7, residual_ms=float("nan"),
                           n_cues=10, n_matched=0)
    true = np.array([0.0, 100.0, 2000.0])
    assert np.allclose(r.to_audio_time(true * (1 + 500e-6) + 1.5), true)
    assert isinstance(r.to_audio_time(1.5), float) and r.to_audio_time(1.5) == pytest.approx(0.0)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["offset_s"] == 1.5 and d["residual_ms"] is None and d["status"] == "synced"


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        subsync.estimate_sync(np.zeros((5, 3)), np.zeros((5, 2)))


def test_refine_never_crosses_the_next_cue_or_inverts():
    speech = np.array([[1.0, 2.0], [2.05, 4.0]])
    cues = np.array([[0.8, 2.1], [1.9, 3.8]])
    out = subsync.refine_cue_edges(cues, speech, max_shift_s=0.5)
    assert out[0, 0] == 1.0 and out[1, 0] == 2.05 and out[1, 1] == 4.0
    assert np.all(out[:, 1] > out[:, 0]) and out[1, 0] > out[0, 0]
    # disjoint cues stay disjoint: the first end may not reach the offset beyond the second cue's start
    out = subsync.refine_cue_edges(np.array([[1.0, 1.7], [1.8, 3.0]]), np.array([[1.0, 1.95], [2.0, 3.0]]))
    assert out[0, 1] <= out[1, 0] and out[0, 1] == 1.7 and out[1, 0] == 2.0
    # an edge with no boundary within reach is kept
    out = subsync.refine_cue_edges(np.array([[10.0, 12.0]]), np.array([[0.0, 1.0]]))
    assert np.array_equal(out, [[10.0, 12.0]])


@pytest.mark.parametrize("seed", range(8))
def test_refine_invariants_on_random_cues(seed):
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.uniform(0, 120, 60))
    cues = np.c_[starts, starts + rng.uniform(0.05, 4.0, 60)]  # some overlap their neighbours
    rng.shuffle(cues)
    s = np.sort(rng.uniform(0, 120, 80))
    speech = np.c_[s, s + rng.uniform(0.1, 3.0, 80)]
    out = subsync.refine_cue_edges(cues, speech, max_shift_s=0.5)
    merged = union(speech)
    assert out.shape == cues.shape and np.all(out[:, 1] > out[:, 0])
    moved_s, moved_e = out[:, 0] != cues[:, 0], out[:, 1] != cues[:, 1]
    assert np.all(np.abs(out - cues) <= 0.5 + 1e-9)
    assert np.all(np.isin(out[moved_s, 0], merged[:, 0])) and np.all(np.isin(out[moved_e, 1], merged[:, 1]))
    order = np.argsort(cues[:, 0], kind="stable")
    before, after = cues[order], out[order]
    assert np.all(np.diff(after[:, 0]) >= 0), "starts keep their order"
    disjoint = before[:-1, 1] <= before[1:, 0]
    assert np.all(after[:-1, 1][disjoint] <= after[1:, 0][disjoint]), "disjoint neighbours stay disjoint"
