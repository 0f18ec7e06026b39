"""Time intervals: (n, 2) float arrays of [start, end] seconds — speech regions, cues, turns, segments.

The one place for their set algebra and their parquet form (``start_s``, ``end_s``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([("start_s", pa.float64()), ("end_s", pa.float64())])


def as_intervals(a, name: str = "intervals") -> np.ndarray:
    """``a`` as an (n, 2) float array, rows with a non-finite time dropped; ValueError naming ``name`` otherwise."""
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return np.zeros((0, 2))
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2) [start, end], got {a.shape}")
    return a[np.isfinite(a).all(axis=1)]


def union(intervals) -> np.ndarray:
    """Disjoint, sorted union (overlapping and touching intervals merged; empty ones dropped)."""
    s = as_intervals(intervals)
    s = s[s[:, 1] > s[:, 0]]
    if not len(s):
        return np.zeros((0, 2))
    s = s[np.argsort(s[:, 0], kind="stable")]
    ends = np.maximum.accumulate(s[:, 1])
    first = np.flatnonzero(np.r_[True, s[1:, 0] > ends[:-1]])
    last = np.r_[first[1:] - 1, len(s) - 1]
    return np.c_[s[first, 0], ends[last]]


def complement(intervals, duration_s: float) -> np.ndarray:
    """The gaps between sorted, non-overlapping intervals within [0, duration]."""
    gaps, t = [], 0.0
    for s, e in np.asarray(intervals, dtype=float).reshape(-1, 2):
        if s > t:
            gaps.append((t, min(s, duration_s)))
        t = max(t, e)
    if t < duration_s:
        gaps.append((t, duration_s))
    return np.asarray(gaps, dtype=float).reshape(-1, 2)


def total_seconds(intervals) -> float:
    """Summed length of the intervals as given (take the ``union`` first to count overlapping time once)."""
    iv = as_intervals(intervals)
    return float((iv[:, 1] - iv[:, 0]).sum()) if len(iv) else 0.0


def read_intervals(path: str | Path) -> np.ndarray:
    t = pq.read_table(path, columns=["start_s", "end_s"])
    return np.stack([t.column("start_s").to_numpy(), t.column("end_s").to_numpy()], axis=1).reshape(-1, 2)


def write_intervals(path: str | Path, intervals) -> None:
    from audiorole.io import write_parquet_atomic

    iv = np.asarray(intervals, dtype=float).reshape(-1, 2)
    write_parquet_atomic(path, pa.table({"start_s": iv[:, 0], "end_s": iv[:, 1]}, schema=SCHEMA))
