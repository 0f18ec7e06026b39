"""Subtitle synchronization: estimate the global offset and linear drift between subtitle cues and the speech
in the audio, apply it, then refine each cue's edges onto speech boundaries.

Model: ``sub_time = audio_time * (1 + drift_ppm * 1e-6) + offset_s`` (a constant shift plus a frame-rate
mismatch). Method:

1. Speech onsets and cue starts become Gaussian-blurred impulse trains at 20 ms (a cue starts when a line
   does; overlap of masks is nearly flat when speech fills most of the time, onsets are not).
2. For each drift on a coarse grid (100 ppm), the best offset is the peak of the FFT cross-correlation of the
   two trains; the best (drift, offset) is refined on a 10 ppm grid around it.
3. Cue starts are paired with the nearest speech onsets and cue ends with the nearest speech offsets (within
   0.6 s), and sub = a·audio + b is fitted with iteratively trimmed least squares (outliers: missed onsets,
   cues over music) for the precise drift and offset.
4. The score is the share of corrected cue starts within 350 ms of a speech onset. Subtitles of another
   episode score near chance and are refused by ``check_sync`` instead of being aligned to garbage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from audiorole.errors import InputError

STEP_S = 0.02  # raster resolution of the search
BLUR_S = 0.15  # onsets are blurred by a Gaussian this wide: cue edges jitter by a few hundred ms
MATCH_S = 0.35  # a cue start within this of a speech onset (after correction) is "on" it
MIN_CUES = 5  # fewer cues than this cannot pin down offset and drift


class SyncError(InputError):
    """The subtitles do not match the speech in the audio (wrong episode, wrong cut, not this language...)."""


@dataclass
class SyncResult:
    offset_s: float
    drift_ppm: float
    score: float  # share of cue starts on a speech onset after correction
    baseline_score: float  # the same share for the cues as given
    chance_score: float  # the share expected from cues placed at random
    residual_ms: float  # median |corrected cue start - its speech onset| over matched cues
    n_cues: int
    n_matched: int
    coverage: float = float("nan")  # share of corrected cue time that lies over speech
    calibrated: bool = True  # False: too few speech onsets to calibrate; the cues are used as given

    def to_audio_time(self, t_sub):
        return (np.asarray(t_sub, dtype=float) - self.offset_s) / (1.0 + self.drift_ppm * 1e-6)

    def to_dict(self) -> dict:
        return {k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v if isinstance(v, bool) else int(v))
                for k, v in asdict(self).items()}


def coverage(cues_audio: np.ndarray, speech: np.ndarray) -> float:
    """Share of cue time that lies over speech."""
    cues_audio = np.asarray(cues_audio, dtype=float).reshape(-1, 2)
    total = float(np.sum(cues_audio[:, 1] - cues_audio[:, 0]))
    if total <= 0:
        return 0.0
    inside = sum(max(0.0, min(e, b) - max(s, a)) for s, e in cues_audio for a, b in speech if b > s and a < e)
    return inside / total


def _train(times: np.ndarray, n: int) -> np.ndarray:
    """Impulses at ``times`` blurred by a Gaussian: a smooth onset train for cross-correlation."""
    train = np.zeros(n, dtype=np.float64)
    idx = np.round(np.asarray(times) / STEP_S).astype(int)
    np.add.at(train, idx[(idx >= 0) & (idx < n)], 1.0)
    sigma = BLUR_S / STEP_S
    k = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
    return np.convolve(train, np.exp(-0.5 * (k / sigma) ** 2), mode="same")


def _best_shift(ref_fft: np.ndarray, times: np.ndarray, n: int, size: int, max_shift: int) -> tuple[float, int]:
    """(correlation peak, k): the train of ``times`` moved by +k steps best matches the reference train."""
    corr = np.fft.irfft(ref_fft * np.conj(np.fft.rfft(_train(times, n), size)), size)
    lags = np.r_[0 : max_shift + 1, size - max_shift : size]
    i = int(np.argmax(corr[lags]))
    k = int(lags[i]) if lags[i] <= max_shift else int(lags[i] - size)
    return float(corr[lags][i]), k


def _nearest(sorted_points: np.ndarray, x: np.ndarray) -> np.ndarray:
    idx = np.clip(np.searchsorted(sorted_points, x), 1, max(len(sorted_points) - 1, 1))
    lo, hi = sorted_points[idx - 1], sorted_points[np.minimum(idx, len(sorted_points) - 1)]
    return np.where(np.abs(lo - x) <= np.abs(hi - x), lo, hi)


def match_rate(starts_audio: np.ndarray, onsets: np.ndarray) -> float:
    """Share of cue starts within MATCH_S of a speech onset."""
    if not len(starts_audio) or not len(onsets):
        return 0.0
    return float(np.mean(np.abs(_nearest(np.sort(onsets), starts_audio) - starts_audio) <= MATCH_S))


def _robust_fit(x: np.ndarray, y: np.ndarray, iters: int = 6) -> tuple[float, float, np.ndarray]:
    """y = a·x + b, refitted on the points within 2.5 × the median absolute residual."""
    keep = np.ones(len(x), dtype=bool)
    a, b = 1.0, 0.0
    for _ in range(iters):
        if keep.sum() < 3:
            break
        a, b = np.polyfit(x[keep], y[keep], 1)
        res = np.abs(y - (a * x + b))
        keep = res <= max(2.5 * np.median(res[keep]), 0.05)
    return float(a), float(b), keep


def estimate_sync(cues: np.ndarray, speech: np.ndarray, *, duration_s: float | None = None,
                  max_offset_s: float = 30.0, max_drift_ppm: float = 2000.0) -> SyncResult:
    """Offset and drift that map ``cues`` (n, 2, subtitle time) onto ``speech`` (m, 2, audio time)."""
    cues = np.asarray(cues, dtype=float).reshape(-1, 2)
    speech = np.asarray(speech, dtype=float).reshape(-1, 2)
    onsets, offsets = np.sort(speech[:, 0]), np.sort(speech[:, 1])
    span = max(duration_s or 0.0, cues[:, 1].max(initial=0.0), speech[:, 1].max(initial=0.0))
    chance = min(1.0, 2 * MATCH_S * len(onsets) / span) if span else 0.0
    baseline = match_rate(cues[:, 0], onsets)
    if len(cues) < MIN_CUES or len(onsets) < max(MIN_CUES, len(cues) // 2):
        # continuous speech (few pauses) or very few cues: nothing to calibrate on; judge the cues as given
        return SyncResult(0.0, 0.0, baseline, baseline, chance, float("nan"), len(cues), 0,
                          coverage(cues, speech), calibrated=False)

    n = int(np.ceil((span + max_offset_s) / STEP_S)) + 1
    size = 1 << int(np.ceil(np.log2(2 * n)))
    ref_fft = np.fft.rfft(_train(onsets, n), size)
    max_shift = int(max_offset_s / STEP_S)

    def search(drifts):
        best = (-1.0, 0.0, 0.0)
        for d in drifts:
            scale = 1.0 + d * 1e-6
            peak, k = _best_shift(ref_fft, cues[:, 0] / scale, n, size, max_shift)
            if peak > best[0]:
                # starts moved by k steps line up: audio = sub/scale + k·STEP, so offset = -k·STEP·scale
                best = (peak, float(d), -k * STEP_S * scale)
        return best

    _, drift, offset = search(np.arange(-max_drift_ppm, max_drift_ppm + 1, 100.0))
    _, drift, offset = search(np.arange(drift - 100, drift + 101, 10.0))

    # precise fit: cue starts against the onsets they land on, cue ends against the offsets
    mapped = (cues - offset) / (1.0 + drift * 1e-6)
    x = np.r_[_nearest(onsets, mapped[:, 0]), _nearest(offsets, mapped[:, 1])]
    y = np.r_[cues[:, 0], cues[:, 1]]
    close = np.abs(x - np.r_[mapped[:, 0], mapped[:, 1]]) < 0.6
    if close.sum() >= 2 * MIN_CUES:
        a, b, _ = _robust_fit(x[close], y[close])
        if abs(a - 1) * 1e6 <= 1.5 * max_drift_ppm and abs(b) <= 1.5 * max_offset_s:
            offset, drift = b, (a - 1) * 1e6
    result = SyncResult(offset, drift, 0.0, baseline, chance, float("nan"), len(cues), 0)
    starts = result.to_audio_time(cues[:, 0])
    dist = np.abs(_nearest(onsets, starts) - starts)
    result.score = float(np.mean(dist <= MATCH_S))
    result.n_matched = int((dist <= MATCH_S).sum())
    result.residual_ms = float(np.median(dist[dist <= MATCH_S]) * 1000) if result.n_matched else float("nan")
    if result.score < baseline:  # never make things worse than the subtitles as given
        result = SyncResult(0.0, 0.0, baseline, baseline, chance, result.residual_ms, len(cues), result.n_matched)
    result.coverage = coverage(apply_sync(cues, result), speech)
    return result


def check_sync(result: SyncResult, *, path=None, min_score: float = 0.6) -> None:
    """Refuse subtitles that do not belong to this audio (instead of aligning them to garbage): after the best
    correction, at least ``min_score`` of the cue starts must sit on speech onsets, and clearly more than
    cues placed at random would."""
    if result.n_cues < MIN_CUES:
        return  # too few cues to judge: they are used as given
    if not result.calibrated:
        if result.coverage < min_score:
            raise SyncError(path, f"subtitles do not match the speech in the audio: only {result.coverage:.0%} of "
                                  f"the cue time lies over speech (needs {min_score:.0%}) — wrong subtitle file?")
        return
    if result.score < min_score or result.score < result.chance_score + 0.25:
        raise SyncError(
            path,
            f"subtitles do not match the speech in the audio: after the best correction (offset "
            f"{result.offset_s:+.2f} s, drift {result.drift_ppm:+.0f} ppm) only {result.score:.0%} of "
            f"{result.n_cues} cue starts fall on speech onsets (needs {min_score:.0%}; random cues: "
            f"{result.chance_score:.0%}) — wrong episode or wrong subtitle file?",
        )


def apply_sync(cues: np.ndarray, result: SyncResult) -> np.ndarray:
    """Cues (subtitle time) mapped to audio time."""
    return result.to_audio_time(np.asarray(cues, dtype=float).reshape(-1, 2))


def refine_cue_edges(cues_audio: np.ndarray, speech: np.ndarray, *, max_shift_s: float = 0.5) -> np.ndarray:
    """Snap each cue's start to the nearest speech onset and its end to the nearest speech offset within
    ``max_shift_s``; never past the neighbouring cue's (refined) start, never making end <= start."""
    cues = np.asarray(cues_audio, dtype=float).reshape(-1, 2).copy()
    speech = np.asarray(speech, dtype=float).reshape(-1, 2)
    if not len(speech) or not len(cues):
        return cues
    onsets, offsets = speech[:, 0], speech[:, 1]
    out = cues.copy()
    order = np.argsort(cues[:, 0])
    for rank, i in enumerate(order):
        s, e = cues[i]
        j = int(np.argmin(np.abs(onsets - s)))
        if abs(onsets[j] - s) <= max_shift_s:
            s = onsets[j]
        k = int(np.argmin(np.abs(offsets - e)))
        if abs(offsets[k] - e) <= max_shift_s and offsets[k] > s:
            e = offsets[k]
        if rank > 0:
            s = max(s, out[order[rank - 1], 0] + 0.01)
        if e > s:
            out[i] = (s, e)
    return out
