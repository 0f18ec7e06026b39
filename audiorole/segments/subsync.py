"""Subtitle synchronization: estimate the global offset and linear drift between subtitle cues and the speech in
the audio, apply it, then snap each cue's edges onto speech boundaries.

Model: ``sub_time = audio_time * (1 + drift_ppm * 1e-6) + offset_s`` — a constant shift plus a frame-rate
mismatch — with a few hundred ms of jitter on every cue edge, cues missing, speech without cues (SDH removed,
untranslated lines) and VAD errors (missed short turns, spurious blips).

Method (plain numpy; a 45-minute episode with ~600 cues takes ~25 ms on one core):

1. Search on edges, not activity masks. Cue starts are paired with speech onsets and cue ends with speech
   offsets; the histogram of ``cue_edge - speech_edge * (1 + drift)`` over all pairs within ``max_offset_s``,
   blurred by a Gaussian (σ = 200 ms, about matched to the cue-edge jitter), *is* the cross-correlation of the
   two blurred edge trains — computed from ~30 k pairs instead of FFTs of a 10 ms raster of the whole episode
   per drift. Edges rather than masks because the overlap of masks is nearly flat in offset when speech fills
   most of the time (a sitcom is ~80% speech, so any subtitles overlap it ~80%), while edges give a peak as
   narrow as the jitter. All drifts of a grid (step: the drift that moves the last cue by 100 ms, 10..100 ppm)
   are scored in one pass; the best (drift, offset) cell is the coarse estimate, and its height over the best
   peak more than 1 s away (same drift) is ``peak_ratio``: how distinct the alignment is.
2. Precise fit. Each cue start is paired with the nearest speech onset (each end with the nearest offset) within
   600 ms of the current mapping, and ``sub = a·audio + b`` is fitted by Huber IRLS — one slope, separate
   intercepts for starts and ends (real cue ends lag the speech by a reading margin; the start intercept is the
   offset), per-kind robust scales — so missed onsets, VAD blips and merged cues are down-weighted, not fitted.
   A weak Gaussian prior on the drift (σ = 1000 ppm) keeps a short episode, whose drift the data cannot pin
   down, near 0 ppm instead of a noisy slope; over a full episode it weighs nothing. Pairs are rebuilt around
   the fitted line and the fit repeated (3 rounds). With ±0.3 s uniform jitter the error is ~8 ms / 5 ppm rms
   for 45 minutes, ~19 ms / 20 ppm for 20 minutes; in 3.5 minutes the drift is not identifiable (~280 ppm rms,
   the Cramér–Rao scale of that much jitter) but the mapped cues are still right within the jitter.
3. Scores. ``score`` is the share of corrected cue time over speech, ``baseline_score`` the same for the cues as
   given; a correction that would lower it is not returned (the identity is, with ``corrected=False``). As
   overlap alone cannot tell another episode apart in dense dialogue, ``check_sync`` also requires a distinct
   alignment: ``peak_ratio`` ≥ 1.4 and ``onset_score`` (share of corrected cue starts within 350 ms of a speech
   onset) well above ``chance_score`` (what randomly placed starts reach). On synthetic episodes no right file
   was refused and no wrong one accepted from 2 minutes (40 cues) up; with 8-10 cues (~40 s) about 2% of wrong
   files pass by luck.

Too few cues (< ``MIN_CUES``): ``estimate_sync`` returns the identity with ``status="too_few_cues"`` and
``check_sync`` lets it pass — a 2-line subtitle file can neither be calibrated nor judged, and failing the
episode for it would lose its audio; downstream uses such cues as given. Speech without pauses (too few
onsets to calibrate on, ``status="no_onsets"``): the identity, judged by overlap only.

Text (``estimate_sync_from_words``, ``status="text"``). Real subtitles split a long line over several cues, so most
cue starts fall mid-speech, not on an onset: a right file with a small offset can fail the onset test (an episode
with only 16% of its cue starts on onsets although 78% of its cue time was over speech, offset -0.38 s). The ASR
words of the episode say where each cue's text was spoken instead:

1. Tokens: ``text_tokens`` on both sides (lower case, punctuation and SDH notes dropped, numbers spelled out); a
   cue token's subtitle time is interpolated inside its cue by character position.
2. Coarse search: pairs of equal word bigrams (single words if bigrams are too few) within ``max_offset_s`` vote,
   each cue position's vote shared among its candidates (a phrase said five times in reach votes 1/5 for each),
   into a blurred histogram of ``cue_time - word_time·(1 + drift)`` over a drift grid; the best cell is the coarse
   line. The same structure as the onset search, from text matches instead of edges.
3. Alignment: each cue's tokens are aligned in order (``difflib.SequenceMatcher``, longest blocks first) with the
   ASR tokens within 2 s, then 0.7 s, of its span mapped by the current line; a cue with at least 2 matched tokens
   (and a third of a long cue's) gives a start anchor (its first matched token vs that word's start) and an end
   anchor (last token's end vs that word's end); matched tokens that imply an offset > 1 s from the cue's median
   are stray common words and are left out first.
4. Fit: as ``_fit`` — Huber IRLS, one slope, separate start and end intercepts (the offset is the start
   intercept, so the two estimators mean the same thing by it: cue ends lag the speech by a reading margin), a
   weak drift prior (σ = 1%, so a 0.5% stretch of a one-minute clip is kept; over an episode it weighs nothing).
   The drift range is ±1% by default (±5% for a 25 ↔ 23.976 fps speed-up: ``max_drift_ppm=50_000``).
5. Scores: ``text_matched_share`` = cues found (enough matched tokens, start anchor within 0.5 s of the line) over
   cues with text; ``text_residual_ms`` = median |start anchor - line|; ``text_chance_share`` = the share found when
   every cue carries another cue's text (rotated by half the file) at the same times: what common words reach by
   luck. A 45-minute episode (~830 cues, ~5100 words) takes ~0.15 s; on synthetic episodes with split cues the
   offset is within 15 ms and the drift within 5 ppm where ``check_sync`` refuses the onset-based result
   (``benchmarks/subtitle_sync.py``; TED captions shifted by ±2 s and stretched by ±0.5% come back within 42-46 ms
   median of where the published captions sit on the speech).

``check_sync`` accepts a text result when ``text_matched_share`` ≥ ``needed_text_share`` (40%, and 20 points above
``text_chance_share``) with at least ``MIN_CUES`` cues found, and ``text_residual_ms`` ≤ 250 ms. Why: a found cue
means its words were heard there, in order, within 0.5 s of one line shared by the whole file — far stronger
evidence than overlap or onsets; on synthetic episodes the right file finds 97-99% (chance 0-3%), the words of
another episode of the same series (same line pools) 1-3%, another language 0%. 40% leaves room for a weak ASR (the
tiny model on music, accents) and for cues the ASR skipped. The residual bound is about twice what a right file
shows (the ASR's word-time error and the cues' own jitter: ~75 ms synthetic, ~130 ms with tiny.en on the TED talk);
matches by luck scatter over the ±0.7 s window. The overlap ``min_score`` is not required: the words themselves
were heard at those times, and a VAD that misses speech under music would otherwise veto a file the text proves.
No match at all (another language, no words) is refused with its own message.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from audiorole.errors import InputError
from audiorole.intervals import as_intervals, union as union_of

MIN_CUES = 5  # fewer cues than this cannot pin down offset and drift (nor show that they belong to the audio)
STEP_S = 0.01  # histogram bin of the offset search
BLUR_S = 0.2  # σ of the Gaussian blur of the edge trains: about matched to a few hundred ms of cue-edge jitter
PEAK_EXCLUDE_S = 1.0  # "elsewhere" for the distinct-peak test: more than this from the best offset
PAIR_S = 0.6  # a cue edge is paired with a speech edge within this of the mapped edge
MATCH_S = 0.35  # a corrected cue start within this of a speech onset is "on" it
DRIFT_PRIOR_PPM = 1000.0  # σ of the prior on the drift (frame-rate mismatches are a few hundred ppm)
MIN_PEAK_RATIO = 1.4  # a real alignment's correlation peak stands this far above any other offset...
ONSET_LIFT = (0.15, 0.3)  # ... and puts more cue starts on onsets than random cues: 2.5 binomial σ, within this
MIN_ONSET_SCORE = 0.5  # ... and at least half of them
_MAX_CHUNK = 4_000_000  # (pairs × drifts) per histogram chunk, bounds memory for large max_offset_s


class SyncError(InputError):
    """The subtitles do not match the speech in the audio (wrong episode, wrong cut, another language...)."""


@dataclass
class SyncResult:
    offset_s: float
    drift_ppm: float
    score: float  # share of corrected cue time that lies over speech, 0..1
    baseline_score: float  # the same share for the cues as given
    residual_ms: float  # median |corrected cue start - its speech onset| over matched cues (nan: none)
    n_cues: int
    n_matched: int  # cues whose corrected start lies within MATCH_S of a speech onset
    onset_score: float = float("nan")  # n_matched / n_cues
    chance_score: float = float("nan")  # onset_score expected from cue starts placed at random
    peak_ratio: float = float("nan")  # correlation peak / best peak > 1 s away (inf: nothing else; nan: no search)
    status: str = "synced"  # "synced" | "text" | "too_few_cues" | "no_onsets" (the last two: identity, not calibrated)
    corrected: bool = True  # False: the best correction would have lowered the score; the identity is kept
    # text-based results (``estimate_sync_from_words``, status "text"); defaults elsewhere
    n_words: int = 0  # ASR words the cue texts were aligned to
    n_text_cues: int = 0  # cues with at least one word of text
    n_text_matched: int = 0  # cues found in the ASR words: enough matched tokens, anchor within TEXT_INLIER_S
    text_matched_share: float = float("nan")  # n_text_matched / n_text_cues
    text_chance_share: float = float("nan")  # the same share for other cues' texts at the same times (luck)
    text_residual_ms: float = float("nan")  # median |anchor - fitted line| over the cues with enough matched tokens

    @property
    def calibrated(self) -> bool:
        """Offset and drift were estimated from the audio (the identity may still have been kept)."""
        return self.status == "synced" or (self.status == "text" and self.corrected)

    def to_audio_time(self, t_sub):
        """Subtitle time → audio time (the inverse of the model)."""
        out = (np.asarray(t_sub, dtype=float) - self.offset_s) / (1.0 + self.drift_ppm * 1e-6)
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict:
        """JSON-ready: floats rounded, nan/inf as None."""
        out = {}
        for k, v in asdict(self).items():
            if isinstance(v, (bool, str)):
                out[k] = v
            elif isinstance(v, (int, np.integer)):
                out[k] = int(v)
            else:
                out[k] = round(float(v), 4) if math.isfinite(v) else None
        return out


def _covered(union: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Speech time in [-inf, t] for each t (union: disjoint sorted intervals)."""
    if not len(union):
        return np.zeros_like(t)
    lengths = union[:, 1] - union[:, 0]
    cum = np.r_[0.0, np.cumsum(lengths)]
    k = np.searchsorted(union[:, 0], t, side="right") - 1
    kk = np.clip(k, 0, len(union) - 1)
    inside = np.clip(t - union[kk, 0], 0.0, lengths[kk])
    return np.where(k >= 0, cum[kk] + inside, 0.0)


def _overlap_share(cues: np.ndarray, union: np.ndarray) -> float:
    """Share of the cue time that lies over speech (overlapping cues count their common time twice)."""
    s, e = cues[:, 0], np.maximum(cues[:, 1], cues[:, 0])
    total = float(np.sum(e - s))
    if total <= 0:
        return 0.0
    return float(np.sum(_covered(union, e) - _covered(union, s)) / total)


def _nearest(sorted_points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The point of ``sorted_points`` (non-empty) nearest to each x."""
    idx = np.clip(np.searchsorted(sorted_points, x), 1, max(len(sorted_points) - 1, 1))
    lo = sorted_points[idx - 1]
    hi = sorted_points[np.minimum(idx, len(sorted_points) - 1)]
    return np.where(np.abs(lo - x) <= np.abs(hi - x), lo, hi)


def _chance(onsets: np.ndarray, span: float) -> float:
    """Share of [0, span] within MATCH_S of an onset: the onset_score of cue starts placed at random."""
    if span <= 0 or not len(onsets):
        return 0.0
    near = union_of(np.c_[np.maximum(onsets - MATCH_S, 0.0), np.minimum(onsets + MATCH_S, span)])
    return float(min(1.0, np.sum(near[:, 1] - near[:, 0]) / span))


# search ----------------------------------------------------------------------------------------------------------
def _pairs(sub: np.ndarray, audio: np.ndarray, max_off: float, scale_lo: float, scale_hi: float):
    """Index pairs (i, j) with ``sub[i] - audio[j]·scale`` within ±max_off for some scale (audio sorted)."""
    lo_t = np.minimum((sub - max_off) / scale_lo, (sub - max_off) / scale_hi)
    hi_t = np.maximum((sub + max_off) / scale_lo, (sub + max_off) / scale_hi)
    lo = np.searchsorted(audio, lo_t, side="left")
    counts = np.searchsorted(audio, hi_t, side="right") - lo
    i = np.repeat(np.arange(len(sub)), counts)
    j = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
    return i, j


def _gauss_rows(h: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Each row convolved with a unit-peak Gaussian (zero padding), via FFT."""
    half = int(math.ceil(4 * sigma_bins))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_bins) ** 2)
    n = h.shape[1] + 2 * half
    size = 1 << int(math.ceil(math.log2(n)))
    out = np.fft.irfft(np.fft.rfft(h, size, axis=1) * np.fft.rfft(k, size), size, axis=1)
    return out[:, half : half + h.shape[1]]


def _search(cues: np.ndarray, onsets: np.ndarray, offsets: np.ndarray, max_offset_s: float,
            max_drift_ppm: float) -> tuple[float, float, float]:
    """(drift_ppm, offset_s, peak_ratio): the best cell of the blurred pair-difference histogram over a drift grid.

    The histogram of ``cue_edge - speech_edge·scale`` over all start/onset and end/offset pairs is the
    cross-correlation of the two edge trains at that drift, evaluated only where edges exist."""
    extent = float(np.ptp(cues)) if len(cues) else 0.0
    step = float(np.clip(1e6 * 0.1 / max(extent, 1.0), 10.0, 100.0))  # neighbours move the last cue by ≤ 100 ms
    n = int(math.ceil(max_drift_ppm / step)) if max_drift_ppm > 0 else 0
    drifts = np.clip(np.arange(-n, n + 1) * step, -max_drift_ppm, max_drift_ppm)
    scales = 1.0 + drifts * 1e-6
    half = int(round(max_offset_s / STEP_S))
    nb = 2 * half + 1
    hist = np.zeros(len(drifts) * nb)
    for sub, audio in ((cues[:, 0], onsets), (cues[:, 1], offsets)):
        i, j = _pairs(sub, audio, max_offset_s, scales.min(), scales.max())
        if not len(i):
            continue
        s, a = sub[i], audio[j]
        rows_per_chunk = max(1, _MAX_CHUNK // len(i))
        for r0 in range(0, len(drifts), rows_per_chunk):
            sc = scales[r0 : r0 + rows_per_chunk, None]
            b = np.rint((s[None, :] - a[None, :] * sc) / STEP_S).astype(np.int64) + half
            ok = (b >= 0) & (b < nb)
            flat = (b + (np.arange(len(sc))[:, None] + r0) * nb)[ok]
            hist += np.bincount(flat, minlength=hist.size)
    h = _gauss_rows(hist.reshape(len(drifts), nb), BLUR_S / STEP_S)
    best = float(h.max())
    if best <= 1e-9:  # no pair of edges within reach at all
        return 0.0, 0.0, 0.0
    # ties (a short episode cannot tell drifts apart) go to the smallest |drift|, then the smallest |offset|
    order = np.argsort(np.abs(drifts), kind="stable")
    cand = np.argwhere(h[order] >= best * (1 - 1e-9))
    r_sorted, c = min(cand.tolist(), key=lambda rc: (rc[0], abs(rc[1] - half)))
    row = h[order[r_sorted]]
    far = np.abs(np.arange(nb) - c) > int(round(PEAK_EXCLUDE_S / STEP_S))
    second = float(row[far].max()) if far.any() else 0.0
    ratio = best / second if second > 1e-9 else float("inf")
    return float(drifts[order[r_sorted]]), (c - half) * STEP_S, ratio


def _huber_line(x: np.ndarray, y: np.ndarray, kind: np.ndarray, a: float, b_start: float, b_end: float, *,
                prior_ppm: float, min_scale: float, max_iter: int, tol: float) -> tuple[np.ndarray, float, bool]:
    """Huber IRLS of ``y = a·x + b``: one slope, an intercept per kind (0: starts; 1: ends, used with 2 or more),
    per-kind robust scales (at least ``min_scale``), a Gaussian prior of sd ``prior_ppm`` on the drift, started at
    (a, b_start, b_end). Returns (slope and intercepts about ``xc``, ``xc``, whether ends were used)."""
    use_end = (kind == 1).sum() >= 2
    if not use_end:
        x, y, kind = x[kind == 0], y[kind == 0], kind[kind == 0]
    xc = float(np.mean(x))
    design = np.c_[x - xc, kind == 0, kind == 1][:, : 3 if use_end else 2].astype(float)
    prior = 1.0 / (prior_ppm * 1e-6)
    w, scale = np.ones(len(x)), np.full(2, 0.1)
    params = np.array([a, b_start + a * xc, b_end + a * xc])[: design.shape[1]]
    for _ in range(max_iter):
        # weighted least squares with the prior as one extra row: (a - 1)·prior ≈ 0
        sw = np.sqrt(w) / scale[kind]
        lhs = np.vstack([design * sw[:, None], np.r_[prior, np.zeros(design.shape[1] - 1)]])
        new = np.linalg.lstsq(lhs, np.r_[y * sw, prior], rcond=None)[0]
        res = y - design @ new
        for k in (0, 1):
            if (kind == k).sum() >= 2:
                scale[k] = max(1.4826 * float(np.median(np.abs(res[kind == k]))), min_scale)
        u = np.abs(res) / scale[kind]
        w = np.where(u <= 1.345, 1.0, 1.345 / np.maximum(u, 1e-12))
        done = np.allclose(new, params, rtol=0, atol=tol)
        params = new
        if done:
            break
    return params, xc, use_end


# precise fit -----------------------------------------------------------------------------------------------------
def _fit(cues: np.ndarray, onsets: np.ndarray, offsets: np.ndarray, drift_ppm: float, offset_s: float,
         max_drift_ppm: float) -> tuple[float, float] | None:
    """Huber IRLS of cue edges (subtitle time) on their nearest speech edges (audio time): one slope, separate
    intercepts for starts and ends, per-kind robust scales, Gaussian prior on the drift. ``None``: too few pairs."""
    a, b_start, b_end = 1.0 + drift_ppm * 1e-6, offset_s, offset_s
    for _ in range(3):  # re-pair around the fitted line
        xs, ys, kinds = [], [], []
        for kind, (sub, audio, b) in enumerate(((cues[:, 0], onsets, b_start), (cues[:, 1], offsets, b_end))):
            mapped = (sub - b) / a
            near = _nearest(audio, mapped)
            ok = np.abs(near - mapped) <= PAIR_S
            xs.append(near[ok]), ys.append(sub[ok]), kinds.append(np.full(int(ok.sum()), kind))
        x, y, kind = np.concatenate(xs), np.concatenate(ys), np.concatenate(kinds)
        n_kind = np.bincount(kind, minlength=2)
        if len(x) < MIN_CUES or n_kind[0] < 2:
            return None
        params, xc, use_end = _huber_line(x, y, kind, a, b_start, b_end, prior_ppm=DRIFT_PRIOR_PPM, min_scale=0.02,
                                          max_iter=30, tol=1e-7)
        a = float(np.clip(params[0], 1 - max_drift_ppm * 1e-6, 1 + max_drift_ppm * 1e-6))
        b_start = float(params[1] - a * xc)
        b_end = float(params[2] - a * xc) if use_end else b_start
    return (a - 1.0) * 1e6, b_start


# public API ------------------------------------------------------------------------------------------------------
def _judge(result: SyncResult, cues: np.ndarray, union: np.ndarray) -> SyncResult:
    """Fill score, onset share, n_matched and residual for the result's mapping."""
    mapped = result.to_audio_time(cues) if len(cues) else cues
    result.score = _overlap_share(mapped, union) if len(cues) else 0.0
    if len(union) and len(cues):
        dist = np.abs(_nearest(union[:, 0], mapped[:, 0]) - mapped[:, 0])
        on = dist <= MATCH_S
        result.n_matched = int(on.sum())
        result.residual_ms = float(np.median(dist[on]) * 1000) if on.any() else float("nan")
    else:
        result.n_matched, result.residual_ms = 0, float("nan")
    result.onset_score = result.n_matched / len(cues) if len(cues) else 0.0
    return result


def estimate_sync(cues: np.ndarray, speech: np.ndarray, *, duration_s: float | None = None,
                  max_offset_s: float = 30.0, max_drift_ppm: float = 2000.0) -> SyncResult:
    """Offset and drift that map ``cues`` ((n, 2) subtitle time) onto ``speech`` ((m, 2) VAD regions, audio time).

    Never raises on a mismatch — it measures; ``check_sync`` judges. Fewer than ``MIN_CUES`` cues or too few
    speech onsets give the identity with ``status`` saying why."""
    cues = as_intervals(cues, "cues")
    union = union_of(as_intervals(speech, "speech"))
    onsets, offsets = union[:, 0], union[:, 1]
    span = max(float(duration_s or 0.0), float(cues[:, 1].max(initial=0.0)), float(union[:, 1].max(initial=0.0)))
    identity = SyncResult(0.0, 0.0, 0.0, 0.0, float("nan"), len(cues), 0, chance_score=_chance(onsets, span),
                          corrected=False)
    identity = _judge(identity, cues, union)
    identity.baseline_score = identity.score
    if len(cues) < MIN_CUES:
        identity.status = "too_few_cues"
        return identity
    if len(onsets) < max(MIN_CUES, len(cues) // 3):
        identity.status = "no_onsets"  # speech without pauses (or none): nothing to calibrate on
        return identity

    drift, offset, ratio = _search(cues, onsets, offsets, max_offset_s, max_drift_ppm)
    fit = _fit(cues, onsets, offsets, drift, offset, max_drift_ppm)
    if fit is not None and abs(fit[1]) <= max_offset_s + 1.0:
        drift, offset = fit
    result = SyncResult(offset, drift, 0.0, identity.baseline_score, float("nan"), len(cues), 0,
                        chance_score=identity.chance_score, peak_ratio=ratio)
    result = _judge(result, cues, union)
    if result.score < identity.baseline_score:  # never worse than the cues as given
        identity.peak_ratio = ratio
        return identity
    return result


def needed_onset_score(chance: float, n_cues: int) -> float:
    """The onset share a calibrated result must reach: chance plus 2.5 binomial standard deviations (what a wrong
    file reaches by luck shrinks as 1/√n), kept within ``ONSET_LIFT`` above chance, and at least
    ``MIN_ONSET_SCORE``."""
    sd = math.sqrt(max(chance * (1 - chance), 1e-6) / max(n_cues, 1))
    return min(1.0, max(MIN_ONSET_SCORE, chance + float(np.clip(2.5 * sd, *ONSET_LIFT))))


def check_sync(result: SyncResult, *, path=None, min_score: float = 0.6) -> None:
    """Raise ``SyncError`` (naming ``path`` and the numbers) when the subtitles do not belong to this audio.

    Calibrated results must have ``score`` ≥ ``min_score`` (share of corrected cue time over speech) *and* a
    distinct alignment: a correlation peak ≥ ``MIN_PEAK_RATIO``× any peak more than 1 s away, and an onset share
    ≥ ``needed_onset_score`` (≥ 50%, and chance + 15..30 points). In dense dialogue any subtitles overlap speech
    about as much as speech fills the episode, so a wrong episode is caught by the last two. ``no_onsets``:
    judged by overlap only. ``too_few_cues``: passes (see the module docstring). ``text`` (from
    ``estimate_sync_from_words``): enough cues found in the ASR words, close to the fitted line — the rule and why
    in the module docstring, "Text"; ``min_score`` does not apply."""
    if result.status == "too_few_cues":
        return
    if result.status == "text":
        _check_text(result, path)
        return
    if result.status == "no_onsets":
        where = f"cues as given: too few pauses in the speech to calibrate on; {result.n_cues} cues"
    elif not result.corrected:
        where = f"no correction improved on the cues as given; {result.n_cues} cues"
    else:
        where = f"offset {result.offset_s:+.2f} s, drift {result.drift_ppm:+.0f} ppm; {result.n_cues} cues"
    if result.score < min_score:
        raise SyncError(path, f"subtitles do not match the speech in the audio: best overlap {result.score:.0%} < "
                              f"{min_score:.0%} of the cue time over speech ({where}) — wrong episode or wrong "
                              f"subtitle file?")
    if result.status != "synced":
        return
    needed = needed_onset_score(result.chance_score, result.n_cues)
    weak = []
    if not result.onset_score >= needed:
        weak.append(f"only {result.onset_score:.0%} of the cue starts fall on speech onsets (random cues: "
                    f"{result.chance_score:.0%}; needs {needed:.0%})")
    if not result.peak_ratio >= MIN_PEAK_RATIO:  # nan fails too
        weak.append(f"the correlation peak is only {result.peak_ratio:.2f}× the best one elsewhere (needs "
                    f"{MIN_PEAK_RATIO:.1f}×)")
    if weak:
        raise SyncError(path, f"subtitles do not match the speech in the audio: no distinct alignment — "
                              f"{' and '.join(weak)}, although {result.score:.0%} of the cue time is over speech "
                              f"({where}) — wrong episode or wrong subtitle file?")


def apply_sync(cues: np.ndarray, result: SyncResult) -> np.ndarray:
    """Cues (subtitle time, (n, 2)) mapped to audio time."""
    return np.asarray(result.to_audio_time(np.asarray(cues, dtype=float).reshape(-1, 2)), dtype=float)


def refine_cue_edges(cues_audio: np.ndarray, speech: np.ndarray, *, max_shift_s: float = 0.5) -> np.ndarray:
    """Snap each cue's start to the nearest speech onset and its end to the nearest speech offset within
    ``max_shift_s``; an edge with no such boundary is kept.

    Constraints (cues in start order): a start never moves past a neighbouring cue's start, nor before the
    previous cue's end when the two did not overlap; an end never moves past the next cue's start when they did
    not overlap; an end stays > its start (by 10 ms). When the nearest boundary breaks a constraint, the nearest
    one that does not is taken, if any is within reach. Row order of the input is kept."""
    cues = np.asarray(cues_audio, dtype=float).reshape(-1, 2)
    out = cues.copy()
    union = union_of(as_intervals(speech, "speech"))
    if not len(union) or not len(cues):
        return out
    onsets, offsets = union[:, 0], union[:, 1]
    eps = 0.01
    order = np.argsort(cues[:, 0], kind="stable")
    prev = None  # index of the previous cue (refined in ``out``)
    for rank, i in enumerate(order):
        s0, e0 = cues[i]
        lo = -math.inf
        if prev is not None:
            lo = out[prev, 0] + eps
            if s0 >= cues[prev, 1]:  # disjoint from the previous cue: stay after its refined end
                lo = max(lo, out[prev, 1])
        hi_start, hi_end = e0 - eps, math.inf
        if rank + 1 < len(order):
            nxt = order[rank + 1]
            hi_start = min(hi_start, cues[nxt, 0] - eps)  # starts keep their order
            if e0 <= cues[nxt, 0]:
                hi_end = cues[nxt, 0]
        s = _snap(onsets, s0, max_shift_s, lo, hi_start) if s0 < e0 else s0
        e = _snap(offsets, e0, max_shift_s, s + eps, hi_end) if s0 < e0 else e0
        out[i] = (s, e)
        prev = i
    return out


def _snap(points: np.ndarray, t: float, reach: float, lo: float, hi: float) -> float:
    """The point nearest to t within ``reach`` and inside [lo, hi]; t itself when there is none."""
    a = np.searchsorted(points, max(t - reach, lo), side="left")
    b = np.searchsorted(points, min(t + reach, hi), side="right")
    if b <= a:
        return t
    cand = points[a:b]
    return float(cand[np.argmin(np.abs(cand - t))])


# text-based sync -------------------------------------------------------------------------------------------------
MIN_TEXT_SHARE = 0.4  # check_sync: at least this share of the cues must be found in the ASR words...
TEXT_LIFT = 0.2  # ... and this far above the share other cues' texts reach at the same times (common words, luck)
MAX_TEXT_RESIDUAL_MS = 250.0  # ... with the cue starts this close to the fitted line (median)
TEXT_STEP_S = 0.05  # histogram bin of the coarse text search
TEXT_BLUR_S = 0.3  # its Gaussian blur: about the error of a time interpolated inside a cue
TEXT_WINDOWS_S = (2.0, 0.7)  # per round, ASR words within this of a cue's mapped span are aligned to its text
TEXT_INLIER_S = 0.5  # a cue whose start anchor lies within this of the fitted line is "found"
TEXT_DRIFT_PRIOR_PPM = 10_000.0  # σ of the weak drift prior of the text fit (module docstring, "Text", 4)
_NUM_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
             "seventeen eighteen nineteen").split()
_NUM_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth"}
_ALIASES = {"ok": "okay", "mr": "mister", "mrs": "missus", "dr": "doctor", "vs": "versus"}
_TEXT_DROP = re.compile(r"\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|<[^>]*>|[♪♫#]")
_TEXT_LABEL = re.compile(r"(^|\n|-)\s*[A-Z][A-Z0-9 .'-]*:\s")
_TEXT_SPLIT = re.compile(r"[\W_]+", re.UNICODE)
_TEXT_ORD = re.compile(r"^(\d{1,9})(st|nd|rd|th)$")


def _number_words(n: int) -> list[str]:
    """English words of 0 ≤ n < 10⁹; four-digit years 1100–1999 are read as pairs ("nineteen ninety")."""
    if n < 20:
        return [_NUM_ONES[n]]
    if n < 100:
        return [_NUM_TENS[n // 10]] + ([_NUM_ONES[n % 10]] if n % 10 else [])
    if 1100 <= n < 2000 and n % 100:
        return _number_words(n // 100) + (["oh"] if n % 100 < 10 else []) + _number_words(n % 100)
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            return _number_words(n // size) + [name] + (_number_words(n % size) if n % size else [])
    return [str(n)]


def text_tokens(text: str) -> list[str]:
    """The words of a subtitle line or an ASR word as they are compared: bracketed SDH notes (``[door slams]``),
    music signs and upper-case speaker labels dropped, accents folded, lower case, apostrophes removed ("I've" →
    "ive"), split at punctuation, numbers spelled out ("42" → "forty two", "1st" → "first"), a few abbreviations
    expanded ("Mr" → "mister", "OK" → "okay")."""
    return list(_text_tokens(text or ""))


@lru_cache(maxsize=1 << 16)
def _text_tokens(text: str) -> tuple[str, ...]:
    text = _TEXT_LABEL.sub(" ", _TEXT_DROP.sub(" ", text))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"['’‘`´]", "", text).replace("&", " and ").replace("%", " percent ")
    out: list[str] = []
    for tok in _TEXT_SPLIT.split(text):
        if not tok:
            continue
        ordinal = _TEXT_ORD.match(tok)
        if tok.isdigit() and len(tok) <= 9:
            out.extend(_number_words(int(tok)))
        elif ordinal:
            words = _number_words(int(ordinal.group(1)))
            last = words[-1]
            words[-1] = _ORDINAL.get(last, last[:-1] + "ieth" if last.endswith("y") else last + "th")
            out.extend(words)
        else:
            out.append(_ALIASES.get(tok, tok))
    return tuple(out)


@dataclass
class _Tokens:
    """A token stream: token strings, their ids (a vocabulary shared by the cue and ASR streams), start and end."""
    text: list[str]
    ids: np.ndarray
    start: np.ndarray
    end: np.ndarray


def _cue_tokens(spans: np.ndarray, texts: list[str], vocab: dict) -> tuple[_Tokens, list[np.ndarray]]:
    """The cues' tokens in cue start order, each timed by interpolating its character position (token length + 1
    for the space) over its cue's span, and each cue's token indices (in row order)."""
    text: list[str] = []
    start: list[float] = []
    end: list[float] = []
    by_start = np.argsort(spans[:, 0], kind="stable")
    per_cue: list[np.ndarray] = [np.zeros(0, np.int64)] * len(spans)
    for c in by_start:
        toks = _text_tokens(texts[c])
        s, e = float(spans[c, 0]), float(spans[c, 1])
        total = max(sum(len(x) + 1 for x in toks) - 1, 1)
        pos = 0
        per_cue[c] = np.arange(len(text), len(text) + len(toks))
        for x in toks:
            start.append(s + (e - s) * pos / total)
            end.append(s + (e - s) * min((pos + len(x)) / total, 1.0))
            pos += len(x) + 1
        text.extend(toks)
    ids = np.array([vocab.setdefault(x, len(vocab)) for x in text], dtype=np.int64)
    return _Tokens(text, ids, np.array(start, float), np.array(end, float)), per_cue


def _word_tokens(words, vocab: dict) -> tuple[_Tokens, int]:
    """ASR tokens in time order, and the number of words (with finite times); a word that gives several tokens
    ("twenty-one") has its span shared among them by character length."""
    rows = []
    for w in words:
        s, e, x = (w.start, w.end, w.text) if hasattr(w, "text") else (w[0], w[1], w[2])
        s, e = float(s), float(e)
        if math.isfinite(s) and math.isfinite(e):
            rows.append((s, max(e, s), str(x)))
    rows.sort(key=lambda r: r[0])
    text: list[str] = []
    start: list[float] = []
    end: list[float] = []
    for s, e, x in rows:
        toks = _text_tokens(x)
        if len(toks) == 1:
            text.append(toks[0]), start.append(s), end.append(e)
            continue
        total, pos = max(sum(len(t) for t in toks), 1), 0
        for tok in toks:
            text.append(tok), start.append(s + (e - s) * pos / total)
            pos += len(tok)
            end.append(s + (e - s) * pos / total)
    ids = np.array([vocab.setdefault(x, len(vocab)) for x in text], dtype=np.int64)
    return _Tokens(text, ids, np.array(start, float), np.array(end, float)), len(rows)


def _ngram_ids(ids: np.ndarray, n: int, size: int) -> np.ndarray:
    """Id of the n-gram that starts at each position (-1 where it would run past the end)."""
    out = np.full(len(ids), -1, dtype=np.int64)
    if len(ids) >= n:
        g = ids[: len(ids) - n + 1].copy()
        for k in range(1, n):
            g = g * size + ids[k : len(ids) - n + 1 + k]
        out[: len(g)] = g
    return out


def _equal_pairs(gi: np.ndarray, y: np.ndarray, gj: np.ndarray, x: np.ndarray, max_off: float, scale_lo: float,
                 scale_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with ``gi[i] == gj[j] >= 0`` and ``y[i] - x[j]·scale`` within ±max_off for some scale: a
    join on (n-gram, time), so the work grows with the matches, not with the words in reach."""
    ranks, inv = np.unique(np.r_[gi, gj], return_inverse=True)
    ri, rj = inv[: len(gi)], inv[len(gi):]
    span = float(max(np.ptp(x) if len(x) else 0.0, 1.0)) * 4 + 4 * max_off + 10.0  # > any window's extent
    x0 = float(x.min()) if len(x) else 0.0
    key_j = rj * span + (x - x0)
    order = np.argsort(key_j, kind="stable")
    key_j = key_j[order]
    lo_t = np.minimum((y - max_off) / scale_lo, (y - max_off) / scale_hi) - x0
    hi_t = np.maximum((y + max_off) / scale_lo, (y + max_off) / scale_hi) - x0
    lo = np.searchsorted(key_j, ri * span + np.clip(lo_t, -1.0, span - 1.0), side="left")
    hi = np.searchsorted(key_j, ri * span + np.clip(hi_t, -1.0, span - 1.0), side="right")
    counts = np.where(gi >= 0, np.maximum(hi - lo, 0), 0)
    i = np.repeat(np.arange(len(gi)), counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
    return i, order[k]


def _text_search(cue: _Tokens, asr: _Tokens, size: int, max_offset_s: float,
                 max_drift_ppm: float) -> tuple[float, float] | None:
    """(drift_ppm, offset_s): the best cell of the blurred histogram of ``cue_token_time - word_time·scale`` over the
    pairs of equal word bigrams (single words when bigrams give fewer than ``MIN_CUES`` votes) within
    ``max_offset_s``, over a drift grid; each cue position's vote is shared among its candidates, so a phrase said
    five times in reach votes 1/5 for each. ``None``: not one pair."""
    extent = float(np.ptp(cue.start)) if len(cue.start) else 0.0
    step = float(np.clip(1e6 * 0.1 / max(extent, 1.0), 10.0, 1000.0))  # neighbours move the last cue by ≤ 100 ms
    n = int(math.ceil(max_drift_ppm / step)) if max_drift_ppm > 0 else 0
    drifts = np.clip(np.arange(-n, n + 1) * step, -max_drift_ppm, max_drift_ppm)
    scales = 1.0 + drifts * 1e-6
    for ngram in (2, 1):
        i, j = _equal_pairs(_ngram_ids(cue.ids, ngram, size), cue.start, _ngram_ids(asr.ids, ngram, size),
                            asr.start, max_offset_s, scales.min(), scales.max())
        if len(i) and (ngram == 1 or len(np.unique(i)) >= MIN_CUES):
            break
    if not len(i):
        return None
    weight = 1.0 / np.bincount(i, minlength=len(cue.start))[i]
    half = int(round(max_offset_s / TEXT_STEP_S))
    nb = 2 * half + 1
    y, x = cue.start[i], asr.start[j]
    hist = np.zeros(len(drifts) * nb)
    rows_per_chunk = max(1, _MAX_CHUNK // len(i))
    for r0 in range(0, len(drifts), rows_per_chunk):
        sc = scales[r0 : r0 + rows_per_chunk, None]
        b = np.rint((y[None, :] - x[None, :] * sc) / TEXT_STEP_S).astype(np.int64) + half
        ok = (b >= 0) & (b < nb)
        flat = (b + (np.arange(len(sc))[:, None] + r0) * nb)[ok]
        hist += np.bincount(flat, weights=np.broadcast_to(weight, b.shape)[ok], minlength=hist.size)
    h = _gauss_rows(hist.reshape(len(drifts), nb), TEXT_BLUR_S / TEXT_STEP_S)
    best = float(h.max())
    if best <= 1e-9:
        return None
    by_drift = np.argsort(np.abs(drifts), kind="stable")  # ties: smallest |drift|, then smallest |offset|
    cand = np.argwhere(h[by_drift] >= best * (1 - 1e-9))
    r, c = min(cand.tolist(), key=lambda rc: (rc[0], abs(rc[1] - half)))
    return float(drifts[by_drift[r]]), (c - half) * TEXT_STEP_S


def _align_cues(cue: _Tokens, per_cue: list[np.ndarray], spans: np.ndarray, asr: _Tokens, drift_ppm: float,
                offset_s: float, window_s: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per cue: (its matched token indices, the ASR token indices they matched) — the cue's tokens aligned, in
    order, with the ASR tokens that start within ``window_s`` of its span mapped to audio time
    (``difflib.SequenceMatcher``: longest common blocks first, so a cue's phrase beats a stray common word)."""
    a = 1.0 + drift_ppm * 1e-6
    lo = np.searchsorted(asr.start, (spans[:, 0] - offset_s) / a - window_s, side="left")
    hi = np.searchsorted(asr.start, (spans[:, 1] - offset_s) / a + window_s, side="right")
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    out = []
    for c, idx in enumerate(per_cue):
        if not len(idx) or hi[c] <= lo[c]:
            out.append(none)
            continue
        sm = difflib.SequenceMatcher(None, cue.text[idx[0] : idx[-1] + 1], asr.text[lo[c] : hi[c]], autojunk=False)
        ks: list[int] = []
        js: list[int] = []
        for blk in sm.get_matching_blocks():
            ks.extend(range(blk.a, blk.a + blk.size))
            js.extend(range(blk.b, blk.b + blk.size))
        out.append((idx[0] + np.array(ks, dtype=np.int64), lo[c] + np.array(js, dtype=np.int64)) if ks else none)
    return out


def _needed_tokens(n_tokens: int) -> int:
    """Matched tokens a cue needs to count as found: 2 (1 for a one-word cue), and a third of a long cue's words."""
    return max(min(2, n_tokens), int(math.ceil(n_tokens / 3)))


def _anchors(cue: _Tokens, per_cue: list[np.ndarray], matches, asr: _Tokens, drift_ppm: float):
    """(cue rows, audio times x, subtitle times y, kind) of the cues with enough matched tokens: a start anchor
    (kind 0: the first matched token's time interpolated inside the cue vs its word's start) and an end anchor
    (kind 1: the last matched token's end vs its word's end). Matched tokens whose implied offset lies more than
    1 s from the cue's median are stray matches of a common word near the window's edge and are left out first."""
    a = 1.0 + drift_ppm * 1e-6
    rows: list[int] = []
    xs: list[float] = []
    ys: list[float] = []
    kinds: list[int] = []
    for c, (ks, js) in enumerate(matches):
        need = _needed_tokens(len(per_cue[c]))
        if not len(ks) or len(ks) < need:
            continue
        d = cue.start[ks] - a * asr.start[js]
        keep = np.abs(d - sorted(d.tolist())[len(d) // 2]) <= 2 * TEXT_INLIER_S
        if keep.sum() < need:
            continue
        ks, js = ks[keep], js[keep]
        rows += [c, c]
        kinds += [0, 1]
        xs += [asr.start[js[0]], asr.end[js[-1]]]
        ys += [cue.start[ks[0]], cue.end[ks[-1]]]
    return (np.array(rows, dtype=np.int64), np.array(xs, float), np.array(ys, float),
            np.array(kinds, dtype=np.int64))


def _fit_text(x: np.ndarray, y: np.ndarray, kind: np.ndarray, drift_ppm: float, offset_s: float,
              max_drift_ppm: float) -> tuple[float, float]:
    """(drift_ppm, offset_s): Huber IRLS of ``y = a·x + b`` — one slope, separate intercepts for start (kind 0)
    and end anchors (kind 1; cue ends lag the speech by a reading margin), per-kind robust scales, a weak Gaussian
    prior on the drift — over the anchors near the current line (starts within ``TEXT_INLIER_S``, ends within
    twice that of their median lag). The offset is the start intercept, as in ``_fit``."""
    a0 = 1.0 + drift_ppm * 1e-6
    lag = y[kind == 1] - (a0 * x[kind == 1] + offset_s)
    b_end = offset_s + (float(np.median(lag)) if len(lag) else 0.0)
    res0 = np.abs(y - (a0 * x + np.where(kind == 0, offset_s, b_end)))
    near = res0 <= np.where(kind == 0, TEXT_INLIER_S, 2 * TEXT_INLIER_S)
    if (near & (kind == 0)).sum() < 2:
        return drift_ppm, offset_s
    params, xc, _ = _huber_line(x[near], y[near], kind[near], a0, offset_s, b_end, prior_ppm=TEXT_DRIFT_PRIOR_PPM,
                                min_scale=0.03, max_iter=50, tol=1e-8)
    a = float(np.clip(params[0], 1 - max_drift_ppm * 1e-6, 1 + max_drift_ppm * 1e-6))
    return (a - 1.0) * 1e6, float(params[1] - a * xc)


def _found(cue: _Tokens, per_cue: list[np.ndarray], spans: np.ndarray, asr: _Tokens, drift_ppm: float,
           offset_s: float) -> tuple[int, int, np.ndarray]:
    """(cues with text, cues found, |start anchor - line| of the cues with enough matched tokens) for a mapping."""
    matches = _align_cues(cue, per_cue, spans, asr, drift_ppm, offset_s, TEXT_WINDOWS_S[-1])
    _, x, y, kind = _anchors(cue, per_cue, matches, asr, drift_ppm)
    res = np.abs(y[kind == 0] - ((1.0 + drift_ppm * 1e-6) * x[kind == 0] + offset_s))
    return sum(len(p) > 0 for p in per_cue), int((res <= TEXT_INLIER_S).sum()), res


def estimate_sync_from_words(cue_spans: np.ndarray, cue_texts: list[str], words, *, speech: np.ndarray | None = None,
                             duration_s: float | None = None, max_offset_s: float = 30.0,
                             max_drift_ppm: float = 10_000.0) -> SyncResult:
    """Offset and drift that map the cues ((n, 2) subtitle time, with their texts) onto the ASR ``words``
    ((start, end, text) in audio time, or objects with those attributes such as ``asr.Word``), read from the text.
    A cue's text should be all the text shown over its span (for a dash cue, the whole ``raw_text``: speaker labels
    and dashes are dropped by ``text_tokens``), as token times are interpolated over the span.

    Never raises on a mismatch — it measures; ``check_sync`` judges (see the module docstring, "Text"). The result
    has ``status="text"`` and the text fields; the speech fields (``score``, ``baseline_score``, ``onset_score``,
    ``chance_score``, ``n_matched``, ``residual_ms``) are filled only when ``speech`` (VAD regions) is given.
    Fewer than ``MIN_CUES`` cues: the identity, ``status="too_few_cues"``, as ``estimate_sync``.
    ``max_drift_ppm`` (default 1%) can be raised to 50 000 for a 25 ↔ 23.976 fps speed-up; the drift prior
    (σ = 1%) only weighs in a clip of a minute or two."""
    cues = np.asarray(cue_spans, dtype=float)
    if cues.size == 0:
        cues = np.zeros((0, 2))
    if cues.ndim != 2 or cues.shape[1] != 2:
        raise ValueError(f"cues must have shape (n, 2) [start, end], got {cues.shape}")
    texts = ["" if x is None else str(x) for x in cue_texts]
    if len(texts) != len(cues):
        raise ValueError(f"{len(cues)} cue spans but {len(texts)} cue texts")
    ok = np.isfinite(cues).all(axis=1)
    cues, texts = cues[ok], [x for x, keep in zip(texts, ok) if keep]
    vocab: dict[str, int] = {}
    cue, per_cue = _cue_tokens(cues, texts, vocab)
    asr, n_words = _word_tokens(words, vocab)
    result = SyncResult(0.0, 0.0, float("nan"), float("nan"), float("nan"), len(cues), 0, status="text",
                        corrected=False, n_words=n_words, n_text_cues=sum(len(p) > 0 for p in per_cue),
                        text_matched_share=0.0)
    union = None
    if speech is not None:
        union = union_of(as_intervals(speech, "speech"))
        span = max(float(duration_s or 0.0), float(cues[:, 1].max(initial=0.0)), float(union[:, 1].max(initial=0.0)))
        result.chance_score = _chance(union[:, 0], span)
        result = _judge(result, cues, union)
        result.baseline_score = result.score
    if len(cues) < MIN_CUES:
        result.status = "too_few_cues"
        return result
    coarse = None
    if len(asr.text) and len(cue.text):
        coarse = _text_search(cue, asr, max(len(vocab), 1), max_offset_s, max_drift_ppm)
    if coarse is None:
        return result  # not one word of the cues within reach: nothing found (check_sync refuses)
    drift, offset = coarse
    for window in TEXT_WINDOWS_S:
        matches = _align_cues(cue, per_cue, cues, asr, drift, offset, window)
        _, x, y, kind = _anchors(cue, per_cue, matches, asr, drift)
        if len(x):
            drift, offset = _fit_text(x, y, kind, drift, offset, max_drift_ppm)
    n_text, n_found, res = _found(cue, per_cue, cues, asr, drift, offset)
    result.offset_s, result.drift_ppm, result.corrected = offset, drift, True
    result.n_text_matched = n_found
    result.text_matched_share = n_found / max(n_text, 1)
    result.text_residual_ms = float(np.median(res) * 1000) if len(res) else float("nan")
    # luck: the same share for the cue texts rotated by half the file, at the same times and with the same mapping
    half = max(1, len(texts) // 2)
    other, other_per_cue = _cue_tokens(cues, texts[half:] + texts[:half], vocab)
    n_other, n_lucky, _ = _found(other, other_per_cue, cues, asr, drift, offset)
    result.text_chance_share = n_lucky / max(n_other, 1)
    if union is not None:
        result = _judge(result, cues, union)
    return result


def needed_text_share(chance: float) -> float:
    """The share of cues a text-based result must find: ``MIN_TEXT_SHARE``, and ``TEXT_LIFT`` above what other
    cues' texts reach at the same times."""
    return min(1.0, max(MIN_TEXT_SHARE, (chance if math.isfinite(chance) else 0.0) + TEXT_LIFT))


def _check_text(result: SyncResult, path) -> None:
    """``check_sync`` for ``status="text"`` (the rule: the module docstring, "Text")."""
    where = (f"offset {result.offset_s:+.2f} s, drift {result.drift_ppm:+.0f} ppm; {result.n_cues} cues, "
             f"{result.n_words} ASR words")
    if result.n_text_cues == 0:
        raise SyncError(path, f"subtitles cannot be aligned on the ASR words: none of the {result.n_cues} cues has "
                              f"any text")
    if result.n_text_matched == 0:
        raise SyncError(path, f"subtitles do not match the speech in the audio: the cue text is not in the ASR "
                              f"words — none of the {result.n_text_cues} cues was found among the {result.n_words} "
                              f"words heard — subtitles in another language than the audio (or its ASR), or the "
                              f"wrong episode?")
    needed = needed_text_share(result.text_chance_share)
    weak = []
    if not (result.text_matched_share >= needed and result.n_text_matched >= MIN_CUES):
        chance = (f"other cues' text at those times: {result.text_chance_share:.0%}; "
                  if math.isfinite(result.text_chance_share) else "")
        weak.append(f"only {result.text_matched_share:.0%} of the cues ({result.n_text_matched} of "
                    f"{result.n_text_cues}) are found in the ASR words at the fitted times ({chance}needs {needed:.0%}"
                    f"{f' and {MIN_CUES} cues' if result.n_text_matched < MIN_CUES else ''})")
    if not result.text_residual_ms <= MAX_TEXT_RESIDUAL_MS:
        weak.append(f"their starts are {result.text_residual_ms:.0f} ms from the fitted line in the median (needs "
                    f"≤ {MAX_TEXT_RESIDUAL_MS:.0f} ms)")
    if weak:
        raise SyncError(path, f"subtitles do not match the speech in the audio: the cue text does not line up with "
                              f"the ASR words — {' and '.join(weak)} ({where}) — another language, the wrong episode "
                              f"or the wrong subtitle file?")
