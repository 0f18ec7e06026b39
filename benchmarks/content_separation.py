"""Does a Content Personalization scorer separate real characters' unseen lines? AUC per scorer.

    .venv/bin/python benchmarks/content_separation.py --demo-dir DIR [--min-lines 30] [--scorers tfidf,minilm,knn]
        [--unit turn|line]

Reads a built series' ground truth (``<demo-dir>/truth/<series>/*.lines.jsonl``: who said what, per episode; the
demo or a recipe, e.g. ``audiorole recipe amazon-queen --out DIR``), leaves one episode out at a time (the ARP test
split is by episode), fits each scorer on the other episodes' lines of the characters with ``--min-lines`` lines,
and scores every held-out reply against every character present in its episode. A reply is what ARP-Eval's test set
holds: a character's whole turn (its consecutive lines in a scene, ``audiorole.dataset.dialogues.merge_turns``; or
one line with ``--unit line``) of at least ``MIN_REPLY_WORDS`` words. AUC: a character's score of its
own unseen line against its score of another character's unseen line (over all folds; three ways, below); 0.5
is chance. Scorers:
- ``tfidf``: ARP-Eval's CP today (``evaluation.metrics.content``: word and character n-gram TF-IDF, logistic
  regression);
- ``minilm``: the packaged all-MiniLM-L6-v2 sentence embedding (English), logistic regression;
- ``knn``: mean cosine of the 5 nearest train lines of each character in that embedding, softmax over characters;
- ``tfidf+minilm``: the geometric mean of the two's probabilities;
- ``lm``: the base LM's likelihood of the line after 30 of the character's train lines (the packaged Gemma 3 270M,
  multilingual; the prompt's state computed once per character and fold), softmax over characters. Slow: about
  13 minutes on 2 cores for Amazon Queen's six folds.

Three figures per scorer: ``pooled`` ranks every character's scores together, as ARP-Eval's ALL row does;
``lift`` divides each probability by the character's share of the train lines first (a lead's column is high for
every line, a guest's low, and pooling mixes the two scales); ``per character`` is the AUC within each character's
own column, weighted by its own lines: the comparison ARP-Eval's normalized CP makes (per character, against that
character's anchors), which no per-character rescaling changes.

Measured (2026-12-05; recipes built with ``--minutes 8``, 6 episodes unless noted), pooled:

    scorer     Amazon Queen (en)   Amazon Queen, 12 episodes   Fish Fillets (cs)   default demo (line pools)
    tfidf      0.643               0.718                       0.530               0.927
    minilm     0.644               -                           0.481               0.924
    knn        0.659               -                           0.527               0.920
    lm         0.624               -                           -                   -

Measured (2026-12-06) on the whole recipes as ``audiorole recipe NAME --out DIR`` builds them by default (10-minute
episodes: Amazon Queen 22, Fish Fillets 9), ``tfidf``: Amazon Queen pooled 0.745, lift 0.747, per character 0.693
(5,599 own lines); Fish Fillets 0.548, 0.548, 0.547 (its two fish, 1,474). A complement naive Bayes on the same
n-grams (a one-off) read 0.748 / 0.708 per character on Amazon Queen and 0.545 on Fish Fillets: no better.

Those figures scored single lines. Scored as ARP-Eval's replies are since the dialogues stage makes turns (2026-12-06,
``--unit turn``, the same whole recipes, ``tfidf``): Amazon Queen pooled **0.815**, lift 0.800, per character 0.787
(2,703 own turns); Fish Fillets 0.569, 0.569, 0.568 (867); the 3-episode default demo (``--min-lines 10``) 0.995 either
way (its lines seldom follow their own speaker's). Half of Amazon Queen's lines follow a line of the same character
(a partner's answer over several clips), so a turn is about twice a line, and twice the evidence. Fitted on single
lines and scored on turns, as ARP-Eval fits its scorer on the train split's segments: pooled 0.815, per character
0.772 (a one-off). The sentence embedding on the same turns (2026-12-07): ``minilm`` pooled 0.792, lift 0.735, per
character 0.712; ``tfidf+minilm`` 0.813, 0.795, 0.782: it adds nothing to the n-grams (9 minutes on 2 cores for the
three scorers).

On single lines, none reaches the 0.80 the issue asks on real characters (the LM's in-context likelihood does no better than
word n-grams): one game line says little about who says it (most are
plot: "Where's the key?"), the English sentence embedding does not read Czech, and more train lines move the
TF-IDF scorer from 0.64 (6 episodes) to 0.72 (12) and 0.745 (22), while the per-character figure stays near 0.69.
The demo's 0.93 is its 17-line pools, which test lines repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def series_lines(demo_dir: Path) -> dict[str, dict[str, list[dict]]]:
    """Series folder name -> episode stem -> truth lines, for every series with a truth ``series.json``."""
    out = {}
    for folder in sorted((demo_dir / "truth").iterdir()):
        if (folder / "series.json").exists():
            out[folder.name] = {f.name.split(".")[0]: [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
                                for f in sorted(folder.glob("*.lines.jsonl"))}
    return out


def as_replies(lines: list[dict], unit: str = "turn") -> list[dict]:
    """An episode's truth lines as ARP-Eval's replies: turns (``audiorole.dataset.dialogues.merge_turns``, within
    each truth scene) or single lines (``unit="line"``), those under ``MIN_REPLY_WORDS`` words left out."""
    from audiorole.dataset.dialogues import MIN_REPLY_WORDS, merge_turns, n_words

    rows = [{**x, "segment_id": str(x.get("line_id", i)), "keep": True}
            for i, x in enumerate(sorted(lines, key=lambda x: x["start_s"]))]
    if unit == "turn":
        scenes: dict = {}
        for x in rows:
            scenes.setdefault(x.get("scene"), []).append(x)
        rows = [t for scene in scenes.values() for t in merge_turns(scene)]
    return [x for x in rows if n_words(x["text"]) >= MIN_REPLY_WORDS]


class _Embedded:
    """Sentence embeddings of the packaged MiniLM: logistic regression, or k nearest train lines per character."""

    embed = None

    def __init__(self, knn: int = 0):
        self.knn = knn

    def fit(self, texts, characters):
        from sklearn.linear_model import LogisticRegression

        if _Embedded.embed is None:
            from evaluation.metrics.relevance import SentenceEmbedder
            _Embedded.embed = SentenceEmbedder()
        self.x, self.y = _Embedded.embed(texts), np.array(characters)
        self.classes = sorted(set(characters))
        if not self.knn:
            self.model = LogisticRegression(C=10.0, max_iter=5000).fit(self.x, self.y)
        return self

    def proba(self, texts):
        e = _Embedded.embed(texts)
        if not self.knn:
            return self.model.predict_proba(e)
        sim = e @ self.x.T
        near = np.stack([np.sort(sim[:, self.y == c], axis=1)[:, -self.knn:].mean(axis=1) for c in self.classes], 1)
        z = np.exp(20.0 * (near - near.max(axis=1, keepdims=True)))
        return z / z.sum(axis=1, keepdims=True)


class _Tfidf:
    def fit(self, texts, characters):
        from evaluation.metrics.content import ContentPersonalization

        self.cp = ContentPersonalization().fit(texts, characters)
        self.classes = self.cp.classes
        return self

    def proba(self, texts):
        return self.cp.model.predict_proba(texts)


class _LMLikelihood:
    """log P(line | 30 of the character's train lines) under the base LM, softmax over characters."""

    model = tokenizer = None
    examples, batch = 30, 32

    def fit(self, texts, characters):
        import random

        import torch

        if _LMLikelihood.model is None:
            from audiorole.segments.asr import default_cache_dir
            from training.lm.base import PACKAGED_BASE, load_base, resolve_base_dir

            _LMLikelihood.model, _LMLikelihood.tokenizer = load_base(resolve_base_dir(PACKAGED_BASE,
                                                                                      default_cache_dir() / "lm"))
            _LMLikelihood.model.eval()
        self.classes, rng, self.prompts = sorted(set(characters)), random.Random(0), {}
        for c in self.classes:
            lines = [t for t, k in zip(texts, characters) if k == c]
            rng.shuffle(lines)
            ids = self.tokenizer("Lines one character says in a story, one per line:\n"
                                 + "\n".join(lines[:self.examples]) + "\n", return_tensors="pt").input_ids
            with torch.no_grad():
                out = self.model(ids, use_cache=True)
            self.prompts[c] = (out.past_key_values, ids.shape[1], torch.log_softmax(out.logits[0, -1].float(), -1))
        return self

    def proba(self, texts):
        import copy

        import torch

        lines = [self.tokenizer(t + "\n", add_special_tokens=False).input_ids for t in texts]
        ll = np.zeros((len(texts), len(self.classes)))
        for j, c in enumerate(self.classes):
            cache, n_prompt, first = self.prompts[c]
            for s in range(0, len(lines), self.batch):
                part = lines[s:s + self.batch]
                width = max(len(x) for x in part)
                ids = torch.tensor([x + [0] * (width - len(x)) for x in part])
                mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in part])
                kv = copy.deepcopy(cache)  # the forward pass appends to it
                kv.batch_repeat_interleave(len(part))
                with torch.no_grad():
                    logits = self.model(ids, past_key_values=kv, use_cache=True, attention_mask=torch.cat(
                        [torch.ones(len(part), n_prompt, dtype=torch.long), mask], 1)).logits
                logp = torch.log_softmax(logits.float(), -1)[:, :-1].gather(2, ids[:, 1:, None])[..., 0]
                ll[s:s + len(part), j] = (first[ids[:, 0]] + (logp * mask[:, 1:]).sum(1)).numpy()
        z = np.exp(ll - ll.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


class _Mean:
    """The geometric mean of several scorers' probabilities, renormalized (their classes are the same sorted names)."""

    def __init__(self, *parts):
        self.parts = parts

    def fit(self, texts, characters):
        self.parts = [p().fit(texts, characters) for p in self.parts]
        self.classes = self.parts[0].classes
        assert all(list(p.classes) == list(self.classes) for p in self.parts)
        return self

    def proba(self, texts):
        logp = np.mean([np.log(np.maximum(p.proba(texts), 1e-12)) for p in self.parts], axis=0)
        z = np.exp(logp - logp.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


SCORERS = {"tfidf": _Tfidf, "minilm": _Embedded, "knn": lambda: _Embedded(knn=5), "lm": _LMLikelihood,
           "tfidf+minilm": lambda: _Mean(_Tfidf, _Embedded)}


def separation_auc(episodes: dict[str, list[dict]], make, min_lines: int = 30) -> dict:
    """Leave-one-episode-out separation of own vs another character's unseen line: ``pooled`` (every character's
    scores in one ranking, as the raw probability), ``lift`` (the same with each probability divided by the
    character's share of the train lines, so a lead's column is not high for every line) and ``per_character``
    (the AUC within each character's own column, averaged with each character's own pairs as weights: the
    comparison ARP-Eval makes, whose normalized CP is per character); ``own_pairs`` counts the own lines."""
    from sklearn.metrics import roc_auc_score

    counts = Counter(x["character"] for lines in episodes.values() for x in lines)
    cast = {c for c, n in counts.items() if n >= min_lines}
    raw, lift = ([], []), ([], [])
    by_character: dict[str, tuple[list, list]] = {}
    for held in episodes:
        train = [x for e, lines in episodes.items() if e != held for x in lines if x["character"] in cast]
        known = {x["character"] for x in train}
        test = [x for x in episodes[held] if x["character"] in known]
        if len(known) < 2 or not test:
            continue
        scorer = make().fit([x["text"] for x in train], [x["character"] for x in train])
        proba, col = scorer.proba([x["text"] for x in test]), {c: i for i, c in enumerate(scorer.classes)}
        share = Counter(x["character"] for x in train)
        for c in {x["character"] for x in test}:
            mine = by_character.setdefault(c, ([], []))
            for i, x in enumerate(test):
                side = 0 if x["character"] == c else 1
                p = proba[i, col[c]]
                raw[side].append(p)
                lift[side].append(p * len(train) / share[c])
                mine[side].append(p)

    def auc(own, other):
        if not own or not other:
            return float("nan")
        return float(roc_auc_score([1] * len(own) + [0] * len(other), list(own) + list(other)))

    per = {c: (auc(*v), len(v[0])) for c, v in by_character.items() if v[0] and v[1]}
    weight = sum(n for _, n in per.values())
    return {"pooled": auc(*raw), "lift": auc(*lift), "own_pairs": len(raw[0]),
            "per_character": sum(a * n for a, n in per.values()) / weight if weight else float("nan"),
            "by_character": {c: round(a, 3) for c, (a, _) in sorted(per.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, required=True)
    ap.add_argument("--min-lines", type=int, default=30)
    ap.add_argument("--scorers", default="tfidf,minilm,knn")
    ap.add_argument("--unit", choices=("turn", "line"), default="turn",
                    help="what a reply is: a character's whole turn, as the dialogues stage makes it, or one line")
    args = ap.parse_args()
    results = []
    for series, by_episode in series_lines(args.demo_dir).items():
        episodes = {e: as_replies(lines, args.unit) for e, lines in by_episode.items()}
        for name in args.scorers.split(","):
            r = separation_auc(episodes, SCORERS[name], args.min_lines)
            results.append({"series": series, "scorer": name, "unit": args.unit,
                            **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}})
            print(f"{series}: {name:7s} AUC own vs another character's unseen {args.unit}: pooled {r['pooled']:.3f}, "
                  f"lift {r['lift']:.3f}, per character {r['per_character']:.3f} ({r['own_pairs']} own pairs)")
    (args.demo_dir / "content_separation.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
