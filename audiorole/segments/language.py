"""Language of a segment, from its text (py3langid, model shipped in the wheel) and, when the ASR model is
multilingual, from its audio (Whisper's language detection)."""

from __future__ import annotations

import re
from functools import lru_cache

#: Texts with fewer letters than this are too short to identify ("Yeah.", "What?"): language "und".
MIN_LETTERS = 12
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def text_language(text: str, *, min_letters: int = MIN_LETTERS) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of a text; ("und", 0.0) when the text is too short to tell."""
    if len(_LETTER.findall(text or "")) < min_letters:
        return "und", 0.0
    lang, prob = _identifier().classify(text)
    return lang, float(prob)


def is_foreign(lang: str, prob: float, series_language: str, *, min_prob: float = 0.9) -> bool:
    """A confident identification of another language than the series'. Unknown ("und") is never foreign."""
    return lang != "und" and prob >= min_prob and lang != series_language.lower()[:2]
