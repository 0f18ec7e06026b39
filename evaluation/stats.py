"""Normalization between the anchors, bootstrap intervals, paired differences, AUC."""

from __future__ import annotations

import numpy as np


def normalize(raw: np.ndarray, own: float, other: float) -> np.ndarray:
    """0 = another character's real reply, 1 = the character's own real reply (anchor means of the same samples).
    NaN where the anchors do not differ (the metric cannot tell them apart, so it cannot scale)."""
    raw = np.asarray(raw, np.float64)
    if not np.isfinite(own) or not np.isfinite(other) or abs(own - other) < 1e-9:
        return np.full_like(raw, np.nan)
    return (raw - other) / (own - other)


def bootstrap_mean(x, n_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean over samples (scipy.stats.bootstrap).
    With fewer than two values the interval is NaN; identical values give a zero-width interval."""
    from scipy import stats

    x = np.asarray([v for v in x if v is not None and np.isfinite(v)], np.float64)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    if np.ptp(x) == 0:
        return mean, mean, mean
    res = stats.bootstrap((x,), np.mean, n_resamples=n_resamples, confidence_level=level, method="percentile",
                          random_state=np.random.default_rng(seed), vectorized=True)
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_difference(a: dict[str, float], b: dict[str, float], **kw) -> tuple[float, float, float, int]:
    """Mean of a − b over the samples both have, with its bootstrap interval, and n."""
    keys = sorted(k for k in a if k in b and np.isfinite(a[k]) and np.isfinite(b[k]))
    mean, lo, hi = bootstrap_mean([a[k] - b[k] for k in keys], **kw)
    return mean, lo, hi, len(keys)


def auc(positive, negative) -> float:
    """ROC AUC of scores telling ``positive`` (own real replies) from ``negative`` (other characters' replies)."""
    from sklearn.metrics import roc_auc_score

    pos = [v for v in positive if np.isfinite(v)]
    neg = [v for v in negative if np.isfinite(v)]
    if not pos or not neg:
        return float("nan")
    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg))


def auc_interval(positive, negative, n_resamples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``auc``: the positives and the negatives resampled each on their own (the
    two groups' sizes kept). 16 own replies against 16 others leave an AUC of 0.6 anywhere from chance to 0.8, and
    the interval says so. NaN without two of each."""
    pos = np.asarray([v for v in positive if np.isfinite(v)], np.float64)
    neg = np.asarray([v for v in negative if np.isfinite(v)], np.float64)
    if len(pos) < 2 or len(neg) < 2:
        return float("nan"), float("nan")
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    p = pos[rng.integers(0, len(pos), (n_resamples, len(pos)))]  # (R, P)
    q = neg[rng.integers(0, len(neg), (n_resamples, len(neg)))]  # (R, N)
    # Mann-Whitney from the ranks (ties at their mean rank, so a tied pair counts half): the share of (own, other)
    # pairs in order, in memory R × (P + N) rather than R × P × N (thousands of held-out replies in a real series)
    ranks = rankdata(np.hstack([p, q]), axis=1)
    n_pos, n_neg = len(pos), len(neg)
    wins = (ranks[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(wins, [tail, 100 - tail])
    return float(low), float(high)
