"""Acoustic Personalization: does the reply sound like the character?

The score is the cosine between the reply's speaker embedding and the centroid of the character's held-out real
speech in the encoder's space, plus ``series_space_weight`` times the same cosine in the *series' speaker space*: a
linear discriminant analysis (scikit-learn, shrinkage ``auto``) learned from the train split's segments of the
series' characters. The encoder knows voices at large; the series space knows what tells this series' characters
apart, which a general encoder blurs where their voices are close (one actor's two voices, the men around a lead in
an 11 kHz game). The series space alone rewards a voice for sounding like none of the others (a voice of no
character lands between the characters, nearer each than they are to one another), so it only adds to the
encoder's cosine. Measured (``benchmarks/ap_spaces.py``) by the AUC own vs another character's held-out reply and by
where the Base system's plain TTS voice lands.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable

import numpy as np

from audiorole.embeddings import l2_normalize

#: a character needs this many train segments to be a class of the series space
MIN_SPACE_SEGMENTS = 5
BATCH = 64  # train clips embedded at a time


class AcousticPersonalization:
    """``fit`` on the character's held-out real utterances (segment id → 16 kHz clip), and with
    ``series_space_weight`` > 0 on the train split's segments (clips and their characters) for the series space;
    ``score`` a reply's waveform against the centroid of the held-out utterances, leaving out the ones the sample's
    own real reply is made of (a reply is a turn: one or more segments)."""

    def __init__(self, embedder, series_space_weight: float = 0.0):
        if not (np.isfinite(series_space_weight) and series_space_weight >= 0):
            raise ValueError(f"series_space_weight={series_space_weight!r}: a weight >= 0 (0: the encoder alone)")
        self.embedder = embedder
        self.weight = float(series_space_weight)
        self.refs: dict[str, dict[str, np.ndarray]] = {}  # character key → segment id → unit embedding
        self.space = None  # the fitted discriminant analysis (its characters: ``space.classes_``), or None

    def fit(self, clips: dict[str, dict[str, np.ndarray]], train: tuple[Iterable[np.ndarray], list[str]] | None = None,
            ) -> "AcousticPersonalization":
        """``train``: the train split's clips (any iterable: they are embedded ``BATCH`` at a time, never all held)
        and their characters, in the same order."""
        for key, by_segment in clips.items():
            ids = sorted(by_segment)
            embs = self.embed([by_segment[i] for i in ids])
            self.refs[key] = dict(zip(ids, embs))
        if self.weight > 0 and train is not None:
            wavs, characters = iter(train[0]), list(train[1])
            parts = [self.embed(list(itertools.islice(wavs, BATCH))) for _ in range(0, len(characters), BATCH)]
            self.fit_space(np.concatenate(parts) if parts else np.zeros((0, 0), np.float32), characters)
        return self

    def fit_space(self, embs: np.ndarray, characters: list[str]) -> None:
        """The series space from train-split embeddings and their characters (those with ``MIN_SPACE_SEGMENTS``
        segments or more); none where fewer than two such characters are left."""
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        counts = Counter(characters)
        keep = np.array([counts[c] >= MIN_SPACE_SEGMENTS for c in characters], bool)
        if len({c for c, k in zip(characters, keep) if k}) < 2:
            self.space = None
            return
        self.space = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(
            np.asarray(embs, np.float32)[keep], np.array(characters, dtype=object)[keep])

    def embed(self, wavs: list[np.ndarray]) -> np.ndarray:
        if not wavs:
            return np.zeros((0, 0), np.float32)
        return l2_normalize(np.asarray(self.embedder.embed_many(list(wavs)), np.float32))

    def project(self, embs: np.ndarray) -> np.ndarray:
        """Unit vectors of the series space (``fit_space``)."""
        return l2_normalize(self.space.transform(np.atleast_2d(np.asarray(embs, np.float32))).astype(np.float32))

    def _refs(self, character_key: str, leave_out: str | Collection[str] | None) -> list[np.ndarray]:
        out = {leave_out} if isinstance(leave_out, str) else set(leave_out or ())
        return [v for k, v in self.refs.get(character_key, {}).items() if k not in out]

    def has_reference(self, character_key: str, leave_out: str | Collection[str] | None = None) -> bool:
        """Whether the character has held-out speech to compare with, ``leave_out`` segments left out."""
        return bool(self._refs(character_key, leave_out))

    def score_embeddings(self, embs: np.ndarray, character_key: str,
                         leave_out: str | Collection[str] | None = None) -> np.ndarray:
        refs = self._refs(character_key, leave_out)
        if not refs:
            raise ValueError(f"{character_key}: no held-out real speech to compare with")
        embs = np.atleast_2d(np.asarray(embs, np.float32))
        score = embs @ l2_normalize(np.mean(np.stack(refs), axis=0))
        if self.space is not None and self.weight > 0:
            centre = l2_normalize(np.mean(self.project(np.stack(refs)), axis=0))
            score = score + self.weight * (self.project(embs) @ centre)
        return score
