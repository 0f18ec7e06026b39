"""Label quality against ground truth: who spoke (DER, purity), when (sync error), what (CER).

Ground truth per episode (the demo writes it; any labelled recording can be put in the same form):
``<stem>.rttm`` (true speech turns) and ``<stem>.lines.jsonl`` (one object per spoken line with ``character``,
``text``, ``start_s``, ``end_s`` and ``subtitle_cue_index``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiorole.intervals import total_seconds, union
from audiorole.segments.asr import normalize_text

#: A kept segment is "pure" when other true speakers cover at most this much of it (the DER collar).
PURITY_TOLERANCE_S = 0.25


@dataclass
class TruthLine:
    character: str
    text: str
    start_s: float
    end_s: float
    subtitle_cue_index: int | None = None


def load_truth_lines(path: str | Path) -> list[TruthLine]:
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if raw.strip():
            d = json.loads(raw)
            lines.append(TruthLine(d["character"], d["text"], float(d["start_s"]), float(d["end_s"]),
                                   d.get("subtitle_cue_index")))
    return lines


def load_rttm(path: str | Path):
    """The single annotation of an RTTM file (pyannote ``Annotation``)."""
    from pyannote.database.util import load_rttm as _load

    annotations = _load(str(path))
    if len(annotations) != 1:
        raise ValueError(f"{path}: expected one recording in the RTTM, found {len(annotations)}")
    return next(iter(annotations.values()))


def der(reference, turns, *, collar: float = 0.25) -> dict:
    """Diarization error rate (pyannote.metrics) of ``turns`` against a reference Annotation, with components.
    ``collar`` is pyannote's: the whole width of the no-score zone, centred on each reference boundary (0.25 =
    ±0.125 s; md-eval's "-c 0.25" is ±0.25 s, pyannote's 0.5)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    from audiorole.segments.diarization import turns_to_annotation

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    detail = metric(reference, turns_to_annotation(turns, uri=reference.uri), detailed=True)
    total = detail["total"] or 1.0
    return {
        "der": float(detail["diarization error rate"]),
        "missed": detail["missed detection"] / total,
        "false_alarm": detail["false alarm"] / total,
        "confusion": detail["confusion"] / total,
    }


def _frames(intervals, n: int, step: float = 0.01) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s, e in intervals:
        mask[max(0, int(round(s / step))): max(0, int(round(e / step)))] = True
    return mask


def _frame_masks(truth: list, hyp: list) -> tuple[np.ndarray, np.ndarray]:
    """Both interval lists as boolean masks of 10 ms frames over a common length."""
    n = int(max([e for _, e in truth + hyp], default=0.0) / 0.01) + 2
    return _frames(truth, n), _frames(hyp, n)


def speech_detection(reference, speech: np.ndarray) -> dict:
    """Speech activity against the true turns (10 ms frames, no collar): ``vad_missed`` = true speech not in
    ``speech``, ``vad_false_alarm`` = detected non-speech, both as shares of the true speech time."""
    truth = [(seg.start, seg.end) for seg in reference.get_timeline().support()]
    hyp = [(float(s), float(e)) for s, e in np.asarray(speech, dtype=float).reshape(-1, 2)]
    t, h = _frame_masks(truth, hyp)
    total = max(1, int(t.sum()))
    return {"vad_missed": float((t & ~h).sum() / total), "vad_false_alarm": float((h & ~t).sum() / total)}


def overlap_detection(reference, turns) -> dict:
    """Overlapped speech (two or more speakers at once) found by the turns against the true turns, on 10 ms
    frames without collar: precision, recall, and the true and found overlap in seconds."""
    from audiorole.segments.build import overlap_regions

    truth = [(seg.start, seg.end) for seg in reference.get_overlap()]
    t, h = _frame_masks(truth, [tuple(r) for r in overlap_regions(turns)])
    tp = float((t & h).sum())
    return {"overlap_precision": tp / h.sum() if h.sum() else None, "overlap_recall": tp / t.sum() if t.sum() else None,
            "overlap_true_s": round(float(t.sum()) * 0.01, 2), "overlap_found_s": round(float(h.sum()) * 0.01, 2)}


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def segment_truth(seg: dict, truth: list[TruthLine]) -> dict[str, float]:
    """Seconds of each true character's speech inside a segment."""
    cover: dict[str, float] = {}
    for line in truth:
        ov = _overlap(seg["start_s"], seg["end_s"], line.start_s, line.end_s)
        if ov > 0:
            cover[line.character] = cover.get(line.character, 0.0) + ov
    return cover


def speaker_purity(kept: list[dict], truth: list[TruthLine], tolerance_s: float = PURITY_TOLERANCE_S) -> float:
    """Share of kept segments in which other true speakers than the dominant one cover ≤ ``tolerance_s``."""
    if not kept:
        return float("nan")
    pure = 0
    for seg in kept:
        cover = segment_truth(seg, truth)
        if cover and sum(cover.values()) - max(cover.values()) <= tolerance_s:
            pure += 1
    return pure / len(kept)


def kept_speech_share(kept: list[dict], truth: list[TruthLine]) -> float:
    """Share of the true speech time that lies inside kept segments."""
    speech = [(t.start_s, t.end_s) for t in truth]
    total = total_seconds(union(speech))
    if total == 0:
        return float("nan")
    inside = [(max(t0, s["start_s"]), min(t1, s["end_s"])) for t0, t1 in speech for s in kept
              if _overlap(t0, t1, s["start_s"], s["end_s"]) > 0]
    return total_seconds(union(inside)) / total


def sync_errors(synced_cues: list[dict], truth: list[TruthLine]) -> np.ndarray:
    """|synced cue start - true line start| (s) for every line that has a subtitle cue (first part of a cue)."""
    starts = {int(c["cue_index"]): float(c["start_s"]) for c in synced_cues if int(c["part"]) == 0}
    firsts: dict[int, float] = {}
    for t in truth:
        if t.subtitle_cue_index is not None:
            firsts[t.subtitle_cue_index] = min(firsts.get(t.subtitle_cue_index, np.inf), t.start_s)
    return np.array([abs(starts[i] - firsts[i]) for i in firsts if i in starts])


def kept_cer(kept: list[dict], truth: list[TruthLine]) -> float:
    """Corpus CER of kept segments' text against the true text of the lines they cover (by line midpoint)."""
    import jiwer

    refs, hyps = [], []
    for seg in kept:
        lines = [t for t in truth if seg["start_s"] <= (t.start_s + t.end_s) / 2 < seg["end_s"]]
        ref = normalize_text(" ".join(t.text for t in sorted(lines, key=lambda t: t.start_s)))
        hyp = normalize_text(seg.get("text") or "")
        if ref or hyp:
            refs.append(ref or "-")
            hyps.append(hyp or "-")
    return float(jiwer.cer(refs, hyps)) if refs else float("nan")


@dataclass
class EpisodeQuality:
    episode_key: str
    der: float
    der_missed: float
    der_false_alarm: float
    der_confusion: float
    purity: float
    kept_speech_share: float
    kept_cer: float
    sync_median_ms: float | None
    n_segments: int
    n_kept: int

    def to_dict(self) -> dict:
        return asdict(self)


def score_episode(episode_key: str, turns, segments: list[dict], synced_cues: list[dict] | None,
                  rttm: str | Path, lines: str | Path) -> EpisodeQuality:
    ref = load_rttm(rttm)
    truth = load_truth_lines(lines)
    d = der(ref, turns)
    kept = [s for s in segments if s["keep"]]
    errs = sync_errors(synced_cues or [], truth)
    return EpisodeQuality(
        episode_key, d["der"], d["missed"], d["false_alarm"], d["confusion"], speaker_purity(kept, truth),
        kept_speech_share(kept, truth), kept_cer(kept, truth),
        float(np.median(errs) * 1000) if len(errs) else None, len(segments), len(kept),
    )


# characters -------------------------------------------------------------------------------------------------------
def character_attribution(kept: list[dict], truth: list[TruthLine], truth_label_of: dict[str, str],
                          main_labels: set[str]) -> dict:
    """Attribution of kept segments (dicts with start_s, end_s, character) against the true speaker.

    A segment is right when its character's true label (``truth_label_of``: character name -> truth label) is the
    dominant true speaker, or when it is "other" and the dominant true speaker is not a main character.
    Returns accuracy, n and the confusions (predicted, true) -> count.
    """
    right, n, confusions = 0, 0, {}
    for seg in kept:
        cover = segment_truth(seg, truth)
        if not cover:
            continue
        true = max(cover, key=cover.get)
        pred = seg.get("character")
        ok = truth_label_of.get(pred) == true or (pred == "other" and true not in main_labels)
        n += 1
        right += ok
        if not ok:
            confusions[(pred, true)] = confusions.get((pred, true), 0) + 1
    return {"accuracy": right / n if n else float("nan"), "n": n, "confusions": confusions}
