"""Content Personalization: does the reply say what this character would say?

A character-attribution model (word and character n-gram TF-IDF → multinomial logistic regression, scikit-learn)
trained on every kept train-split line of the series' main characters; CP is the probability it gives the target
character. Chance level is 1 / number of characters.
"""

from __future__ import annotations

import numpy as np


class ContentPersonalization:
    def __init__(self, C: float = 10.0, seed: int = 0):
        self.C, self.seed = C, seed
        self.model = None
        self.classes: list[str] = []

    def fit(self, texts: list[str], characters: list[str]) -> "ContentPersonalization":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        if len(set(characters)) < 2:
            raise ValueError("content personalization needs train-split lines of at least two characters")
        features = make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=True),
        )
        self.model = make_pipeline(features, LogisticRegression(C=self.C, max_iter=5000, random_state=self.seed))
        self.model.fit([t or "" for t in texts], characters)
        self.classes = list(self.model.classes_)
        return self

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(texts, ``classes``): P(character | text) of every character, each text read once."""
        return self.model.predict_proba([t or "" for t in texts])

    def score(self, texts: list[str], character_keys: list[str]) -> np.ndarray:
        """P(target character | text) for each (text, target)."""
        if not texts:
            return np.zeros(0)
        proba = self.probabilities(texts)
        col = {c: i for i, c in enumerate(self.classes)}
        return np.array([proba[i, col[k]] if k in col else 0.0 for i, k in enumerate(character_keys)])
