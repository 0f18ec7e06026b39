"""Acoustic Personalization: does the reply sound like the character?"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from audiorole.embeddings import l2_normalize


class AcousticPersonalization:
    """``fit`` on the character's held-out real utterances (segment id → 16 kHz clip); ``score`` a reply's
    waveform against the centroid of those utterances, leaving out the ones the sample's own real reply is made of
    (a reply is a turn: one or more segments)."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.refs: dict[str, dict[str, np.ndarray]] = {}  # character key → segment id → unit embedding

    def fit(self, clips: dict[str, dict[str, np.ndarray]]) -> "AcousticPersonalization":
        for key, by_segment in clips.items():
            ids = sorted(by_segment)
            embs = self.embed([by_segment[i] for i in ids])
            self.refs[key] = dict(zip(ids, embs))
        return self

    def embed(self, wavs: list[np.ndarray]) -> np.ndarray:
        if not wavs:
            return np.zeros((0, 0), np.float32)
        return l2_normalize(np.asarray(self.embedder.embed_many(list(wavs)), np.float32))

    def centroid(self, character_key: str, leave_out: str | Collection[str] | None = None) -> np.ndarray | None:
        out = {leave_out} if isinstance(leave_out, str) else set(leave_out or ())
        refs = {k: v for k, v in self.refs.get(character_key, {}).items() if k not in out}
        if not refs:
            return None
        return l2_normalize(np.mean(np.stack(list(refs.values())), axis=0))

    def score_embeddings(self, embs: np.ndarray, character_key: str,
                         leave_out: str | Collection[str] | None = None) -> np.ndarray:
        c = self.centroid(character_key, leave_out)
        if c is None:
            raise ValueError(f"{character_key}: no held-out real speech to compare with")
        return np.asarray(embs, np.float32) @ c
