"""What a reply's words repeat: a line the model trained on, its own replies to other contexts, or what it said as
another character. The content measures (CP, relevance) reward a reply that is a train line said again, and say
nothing of a model that gives every context, or every character, the same words.

Three similarities per reply, each in [0, 1]: rapidfuzz's normalized Indel similarity (``fuzz.ratio``) of the two
texts as CER reads them (``audiorole.segments.asr.normalize_text``: lower case, accents folded, no punctuation); 1 is
word for word. Lower is newer; the real replies give the series' own
level (a real character reuses their turns of phrase, and a game or a sitcom its lines).
- ``train_sim``: to the nearest train-split line of the series (1: the reply is a line the model learned);
- ``self_sim``: to the nearest reply of the same system for the same character to another turn;
- ``cross_sim``: to the nearest reply of the same system for another character.
A test sample's single- and multi-turn contexts ask for the same real turn: replies to one turn are not compared
with each other.
"""

from __future__ import annotations

import numpy as np

from audiorole.segments.asr import normalize_text

#: the share of replies counted as a train line word for word: those whose ``train_sim`` is this (1.0)
VERBATIM = 1.0


def _similarity(a: list[str], b: list[str]) -> np.ndarray:
    from rapidfuzz import fuzz, process

    if not a or not b:
        return np.zeros((len(a), len(b)))
    return process.cdist(a, b, scorer=fuzz.ratio, dtype=np.float32, workers=1) / 100.0


class Repetition:
    def __init__(self):
        self.train: list[str] = []

    def fit(self, train_lines: list[str]) -> "Repetition":
        """``train_lines``: the texts of the series' train split (what the model learned from)."""
        self.train = sorted({t for t in map(normalize_text, train_lines) if t})
        return self

    def train_sim(self, texts: list[str]) -> np.ndarray:
        """Each text's similarity to its nearest train line (0 with no train line)."""
        from rapidfuzz import fuzz, process

        out = np.zeros(len(texts))
        for i, t in enumerate(map(normalize_text, texts)):
            if t and self.train:
                out[i] = process.extractOne(t, self.train, scorer=fuzz.ratio)[1] / 100.0
        return out

    @staticmethod
    def among(texts: list[str], characters: list[str], turns: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(self_sim, cross_sim) of each of one system's replies: the nearest of its replies for the same character,
        and for another character, to another real turn (``turns``: the turn each reply answers). NaN where there
        is none to compare with."""
        norm = [normalize_text(t) for t in texts]
        sim = _similarity(norm, norm)
        chars, turn = np.asarray(characters, object), np.asarray(turns, object)
        other_turn = turn[:, None] != turn[None, :]
        same_char = chars[:, None] == chars[None, :]
        out = []
        for mask in (other_turn & same_char, other_turn & ~same_char):
            m = np.where(mask, sim, -np.inf).max(axis=1) if len(norm) else np.zeros(0)
            out.append(np.where(np.isfinite(m), m, np.nan))
        return out[0], out[1]
