"""Score every system on every sample of the test set, then aggregate per character × system × metric.

Per sample and metric a *raw* value (metrics/), then a *normalized* one: (raw − m_other) / (m_own − m_other), where
m_own and m_other are the character's mean raw values of the two anchors (its own real replies, another character's
real replies) over the same samples — so 0 is "sounds / speaks like someone else", 1 is "like the character's own
held-out lines". CER stays raw (lower is better): both anchors are real speech.

A sample whose reply is missing, silent, corrupt or empty counts as a failure: it takes the metric's floor
(``metrics.FAILURE_RAW``) and is listed with its problem — never dropped. A sample the metric itself cannot score
(AP of a character whose only held-out speech is this very reply) is *unscored*: listed, left out of the means.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiorole.embeddings import l2_normalize
from evaluation import stats
from evaluation.metrics import FAILURE_RAW, METRICS, NORMALIZED, REPETITION
from evaluation.systems import ANCHORS, ARP_MODEL, OTHER_CHARACTER, REAL_REPLY, read_reply

ALL = "ALL"  # the row over every character
HELD_OUT = "held_out"  # the set of the AUC rows over every held-out reply (``held_out_separation``)
AUC_SYSTEM = f"{REAL_REPLY} vs {OTHER_CHARACTER}"
#: an AUC of one character's held-out replies against one other character's (``held_out_separation``)
PAIR_KIND = "auc_pair"
MIN_PAIR_REPLIES = 5  # replies on each side a pair's AUC needs
#: what the measures must reach to be trusted: AUC own real reply vs another character's, over the held-out replies
#: (a metric that cannot tell a character's own real reply from another character's cannot judge a model)
MIN_AUC = {"AP": 0.95, "CP": 0.80}


def score_system(name: str, folder: Path, samples: list[dict], scorers: dict) -> list[dict]:
    """SAMPLE_SCORE_SCHEMA rows (normalized left empty) of one system."""
    replies = {s["sample_id"]: read_reply(folder, s["sample_id"]) for s in samples}
    rows: list[dict] = []

    def add(s, metric, raw, status, problem, reply, transcript=None):
        rows.append({"series_key": s["series_key"], "sample_id": s["sample_id"], "set": s["set"],
                     "character": s["character"], "character_key": s["character_key"], "system": name,
                     "metric": metric, "raw": float(raw) if raw is not None else None, "normalized": None,
                     "status": status, "problem": problem, "reply_text": reply.text, "transcript": transcript})

    audio_ok = [s for s in samples if replies[s["sample_id"]].problem is None]
    embs = scorers["AP"].embed([replies[s["sample_id"]].wav for s in audio_ok])
    ap, no_ref = {}, {}
    for s, e in zip(audio_ok, embs):
        try:
            own = s.get("reply_segment_ids") or [s["reply_segment_id"]]
            ap[s["sample_id"]] = float(scorers["AP"].score_embeddings(e[None], s["character_key"], own)[0])
        except ValueError as err:  # no held-out speech of the character besides this very reply
            no_ref[s["sample_id"]] = str(err)
    text_ok = [s for s in samples if replies[s["sample_id"]].text]
    texts = [replies[s["sample_id"]].text for s in text_ok]
    ids = [s["sample_id"] for s in text_ok]
    cp = dict(zip(ids, scorers["CP"].score(texts, [s["character_key"] for s in text_ok])))
    rel = dict(zip(ids, scorers["relevance"].score(texts, ids)))
    repeats = {"train_sim": dict(zip(ids, scorers["repetition"].train_sim(texts)))}
    if name != OTHER_CHARACTER:  # the anchor says one character's reply for several samples: no repetition of its own
        turns = ["|".join(s.get("reply_segment_ids") or [s["reply_segment_id"]]) for s in text_ok]
        own, cross = scorers["repetition"].among(texts, [s["character_key"] for s in text_ok], turns)
        repeats.update(self_sim=dict(zip(ids, own)), cross_sim=dict(zip(ids, cross)))
    audible = [sid for sid, r in replies.items() if r.problem is None and r.text]
    heard = dict(zip(audible, scorers["CER"].score_many([(replies[sid].wav, replies[sid].text) for sid in audible])))
    for s in samples:
        sid, r = s["sample_id"], replies[s["sample_id"]]
        status = "missing" if r.missing else "failed"
        if sid in ap:
            add(s, "AP", ap[sid], "ok", None, r)
        elif sid in no_ref:
            add(s, "AP", None, "unscored", no_ref[sid], r)
        else:
            add(s, "AP", FAILURE_RAW["AP"], status, r.problem, r)
        for metric, values in (("CP", cp), ("relevance", rel)):
            if sid in values and np.isfinite(values[sid]):
                add(s, metric, values[sid], "ok", None, r)
            else:
                add(s, metric, FAILURE_RAW[metric], status, r.problem or "empty reply text", r)
        for metric, values in repeats.items():
            if sid not in values:  # no text: nothing repeated, nothing new either (no floor)
                add(s, metric, None, status, r.problem or "empty reply text", r)
            elif np.isfinite(values[sid]):  # (NaN: no other reply to compare with; no row, as for the anchor)
                add(s, metric, values[sid], "ok", None, r)
        if sid in heard:
            value, hyp = heard[sid]
            add(s, "CER", value if value is not None else FAILURE_RAW["CER"], "ok", None, r, hyp)
        else:
            add(s, "CER", FAILURE_RAW["CER"], status, r.problem or "empty reply text", r)
    return rows


def normalize_rows(rows: list[dict]) -> list[dict]:
    """Fill ``normalized`` per character and metric from the anchors' means."""
    anchor = {}
    for sys in ANCHORS:
        for key in {r["character_key"] for r in rows}:
            for m in NORMALIZED:
                vals = [r["raw"] for r in rows if r["system"] == sys and r["character_key"] == key and r["metric"] == m
                        and r["raw"] is not None]
                anchor[(sys, key, m)] = float(np.mean(vals)) if vals else float("nan")
    for r in rows:
        if r["raw"] is None:
            r["normalized"] = None
        elif r["metric"] in NORMALIZED:
            own, other = anchor[(REAL_REPLY, r["character_key"], r["metric"])], anchor[(OTHER_CHARACTER, r["character_key"], r["metric"])]
            v = stats.normalize(np.array([r["raw"]]), own, other)[0]
            r["normalized"] = float(v) if np.isfinite(v) else None
        else:
            r["normalized"] = r["raw"]
    return rows


def _value(r: dict) -> float:
    v = r["normalized"]
    return float(v) if v is not None else float("nan")


def aggregate(rows: list[dict], *, baselines: list[str], n_bootstrap: int = 2000, seed: int = 0) -> list[dict]:
    """EVAL_RESULT_SCHEMA rows: scores, paired differences (ARP-Model − each baseline) and the anchors' AUCs,
    per character (and ALL) and per set (all, single_turn, multi_turn)."""
    out = []
    series = rows[0]["series_key"] if rows else ""
    names = {r["character_key"]: r["character"] for r in rows}
    systems = sorted({r["system"] for r in rows})
    kw = dict(n_resamples=n_bootstrap, seed=seed)
    for set_ in ("all", "single_turn", "multi_turn"):
        in_set = [r for r in rows if set_ == "all" or r["set"] == set_]
        for key in sorted(names) + [ALL]:
            mine = [r for r in in_set if key == ALL or r["character_key"] == key]
            if not mine:
                continue
            name = names.get(key, ALL)
            for sys in systems:
                for m in METRICS:
                    sel = [r for r in mine if r["system"] == sys and r["metric"] == m]
                    if not sel:
                        continue
                    values = [_value(r) for r in sel]
                    mean, lo, hi = stats.bootstrap_mean(values, **kw)
                    raws = [r["raw"] for r in sel if r["raw"] is not None]
                    out.append({"series_key": series, "character": name, "character_key": key, "set": set_,
                                "kind": "score", "system": sys, "metric": m, "value": mean, "ci_low": lo, "ci_high": hi,
                                "n": int(np.isfinite(values).sum()),
                                "raw": float(np.mean(raws)) if raws else None,
                                "n_failed": sum(r["status"] == "failed" for r in sel),
                                "n_missing": sum(r["status"] == "missing" for r in sel)})
            if ARP_MODEL in systems:
                for b in [b for b in baselines if b in systems]:
                    for m in METRICS:
                        a = {r["sample_id"]: _value(r) for r in mine if r["system"] == ARP_MODEL and r["metric"] == m}
                        c = {r["sample_id"]: _value(r) for r in mine if r["system"] == b and r["metric"] == m}
                        mean, lo, hi, n = stats.paired_difference(a, c, **kw)
                        if n:
                            out.append({"series_key": series, "character": name, "character_key": key, "set": set_,
                                        "kind": "difference", "system": f"{ARP_MODEL} - {b}", "metric": m,
                                        "value": mean, "ci_low": lo, "ci_high": hi, "n": n, "raw": None,
                                        "n_failed": None, "n_missing": None})
            for m in ("AP", "CP"):
                pos = [r["raw"] for r in mine if r["system"] == REAL_REPLY and r["metric"] == m and r["raw"] is not None]
                neg = [r["raw"] for r in mine if r["system"] == OTHER_CHARACTER and r["metric"] == m
                       and r["raw"] is not None]
                if pos and neg:
                    lo, hi = stats.auc_interval(pos, neg, **kw)
                    out.append({"series_key": series, "character": name, "character_key": key, "set": set_,
                                "kind": "auc", "system": AUC_SYSTEM, "metric": m, "value": stats.auc(pos, neg),
                                "ci_low": lo, "ci_high": hi, "n": len(pos) + len(neg), "raw": None,
                                "n_failed": None, "n_missing": None})
    return out


def under_target(row: dict, min_auc: dict[str, float] = MIN_AUC) -> bool:
    """An AUC row whose value is under its metric's target."""
    return row["metric"] in min_auc and bool(np.isfinite(row["value"])) and row["value"] < min_auc[row["metric"]]


def pairs_under_target(results: list[dict], min_auc: dict[str, float] = MIN_AUC) -> list[dict]:
    """The held-out pairs (``auc_pair`` rows) whose AUC is under the metric's target: {character, versus, metric,
    auc}, lowest first."""
    rows = [{"character": r["character"], "versus": r["system"], "metric": r["metric"], "auc": round(r["value"], 3)}
            for r in results if r["kind"] == PAIR_KIND and under_target(r, min_auc)]
    return sorted(rows, key=lambda r: (r["metric"], r["auc"], r["character"], r["versus"]))


#: the printed table's columns: normalized AP, CP and relevance, CER, and the repetition similarities (raw)
TABLE_COLUMNS = ("character", "system", "AP", "CP", "relevance", "CER", *REPETITION, "n", "failed")


def table(results: list[dict], set_: str = "all") -> list[dict]:
    """One row per character × system: normalized AP and CP with intervals, relevance, CER, repetition (the printed
    table)."""
    by = {}
    for r in results:
        if r["set"] != set_ or r["kind"] != "score":
            continue
        row = by.setdefault((r["character"], r["system"]), {"character": r["character"], "system": r["system"]})
        if r["metric"] in ("AP", "CP"):
            row[r["metric"]] = _fmt(r["value"], r["ci_low"], r["ci_high"])
        else:
            row[r["metric"]] = f"{r['value']:.2f}" if np.isfinite(r["value"]) else "n/a"
        if r["metric"] not in REPETITION:  # (n of the replies with text: not every sample's)
            row["n"] = r["n"]
        row["failed"] = max(row.get("failed", 0), (r["n_failed"] or 0) + (r["n_missing"] or 0))
    order = {s: i for i, s in enumerate((REAL_REPLY, OTHER_CHARACTER, ARP_MODEL, "base", "one-shot"))}
    rows = [{c: r.get(c, "n/a") for c in TABLE_COLUMNS} for r in by.values()]
    return sorted(rows, key=lambda r: (r["character"] == ALL, r["character"], order.get(r["system"], 9), r["system"]))


def _fmt(v, lo, hi) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    if lo is None or not np.isfinite(lo):
        return f"{v:.2f}"
    return f"{v:.2f} [{lo:.2f}, {hi:.2f}]"


def held_out_separation(replies: list[dict], scorers: dict, *, series_key: str, n_bootstrap: int = 2000,
                        seed: int = 0) -> list[dict]:
    """The measures measured on every held-out reply, not only the test set's samples: EVAL_RESULT_SCHEMA AUC rows
    (set ``held_out``) per character and ALL, with bootstrap intervals.

    ``replies``: the validation and test splits' replies of the main characters (``character_key``, ``character``,
    ``text``, ``segment_ids``). For each character c, its own replies' raw metric (AP: the reply's voice against c's
    held-out centroid, its own segments left out; CP: P(c | the reply's text)) against the same metric of every
    other main character's reply — what the test set's anchors compare, over a few hundred replies instead of a few
    dozen (Amazon Queen's test episode gives Joe alone 16 samples). A reply's voice is the mean of its segments'
    embeddings in the AP reference (``AcousticPersonalization.refs``); a reply whose segments are not there (its
    character has no reference) has no AP; a character without train-split lines has no CP of its own (its replies
    still count as others'). ALL pools every character's own and other scores.

    Also one ``auc_pair`` row per ordered pair of characters with ``MIN_PAIR_REPLIES`` scored replies each (``system``
    = the other character): c's own replies against that one character's, in c's column. A pooled AUC under target
    can be one pair the measure cannot tell apart, or every pair a little; these rows tell which. On a 4-episode
    Amazon Queen build, AP's pooled 0.910 is Joe against Sparky (0.648 in Joe's column, 0.930 in Sparky's: voices
    as alike as one actor's), while each against Faye is 0.96-1.00."""
    ap, cp = scorers["AP"], scorers["CP"]
    voice = {}
    for i, r in enumerate(replies):
        embs = [ap.refs.get(r["character_key"], {}).get(s) for s in r["segment_ids"]]
        if embs and all(e is not None for e in embs):
            voice[i] = l2_normalize(np.mean(embs, axis=0))
    proba = cp.probabilities([r["text"] for r in replies])  # every character's column, each text read once
    names = {r["character_key"]: r["character"] for r in replies}
    # metric -> own character -> (own scores, [(other reply's character, score)])
    scored: dict[str, dict[str, tuple[list, list]]] = {"AP": {}, "CP": {}}
    for key in sorted(names):
        own = [i for i, r in enumerate(replies) if r["character_key"] == key]
        other = [i for i, r in enumerate(replies) if r["character_key"] != key]
        if not own or not other:
            continue
        if key in cp.classes:  # a character without train-split lines has no column to score (nor a model)
            probs = proba[:, cp.classes.index(key)]
            scored["CP"][key] = ([float(probs[i]) for i in own], [(replies[i]["character_key"], float(probs[i]))
                                                                   for i in other])
        if ap.has_reference(key):
            pos = [float(ap.score_embeddings(voice[i], key, replies[i]["segment_ids"])[0]) for i in own
                   if i in voice and ap.has_reference(key, replies[i]["segment_ids"])]
            mine = [i for i in other if i in voice]
            theirs = ap.score_embeddings(np.stack([voice[i] for i in mine]), key) if mine else []
            neg = [(replies[i]["character_key"], float(v)) for i, v in zip(mine, theirs)]
            if pos and neg:
                scored["AP"][key] = (pos, neg)
    out = []

    def row(key: str, name: str, kind: str, system: str, metric: str, pos: list, neg: list) -> dict:
        lo, hi = stats.auc_interval(pos, neg, n_resamples=n_bootstrap, seed=seed)
        return {"series_key": series_key, "character": name, "character_key": key, "set": HELD_OUT, "kind": kind,
                "system": system, "metric": metric, "value": stats.auc(pos, neg), "ci_low": lo, "ci_high": hi,
                "n": len(pos) + len(neg), "raw": None, "n_failed": None, "n_missing": None}

    for metric, by_key in scored.items():
        pooled = ([v for p, _ in by_key.values() for v in p], [v for _, n in by_key.values() for _, v in n])
        for key, (pos, neg) in sorted(by_key.items()):
            out.append(row(key, names[key], "auc", AUC_SYSTEM, metric, pos, [v for _, v in neg]))
            if len(pos) < MIN_PAIR_REPLIES:
                continue
            for other in sorted({k for k, _ in neg}):
                theirs = [v for k, v in neg if k == other]
                if len(theirs) >= MIN_PAIR_REPLIES:
                    out.append(row(key, names[key], PAIR_KIND, names[other], metric, pos, theirs))
        if by_key:
            out.append(row(ALL, ALL, "auc", AUC_SYSTEM, metric, *pooled))
    return out
