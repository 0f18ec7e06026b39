"""Language of a segment, from its text (py3langid, model shipped in the wheel) and from its audio (Whisper's
language identification).

A subtitle may be an English translation of foreign speech, so the text alone cannot tell what was spoken. The audio
decides where the language is in doubt (``needs_audio_check``): everywhere but where the series-language ASR heard
the subtitle's series-language text closely. An English-only model writes no translation of foreign speech: on the
prompts of ``benchmarks/language_purity.py`` (four seeds), tiny.en's transcripts of foreign speech under English
subtitles are 0.52-1.0 CER from them. The audio names another language only when Whisper finds it clearly more
probable than the series' language (``audio_verdict``): on short or non-lexical clips ("Mm-hmm.", "Sloth hair!") the
packaged multilingual base spreads its belief over many languages and its top guess alone is often wrong.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

#: Texts with fewer letters than this are too short to identify ("Yeah.", "What?"): language "und".
MIN_LETTERS = 12
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
#: a subtitle in the series' language (or too short to identify) that the series-language ASR heard with at most
#: this CER was spoken in that language: its audio is not checked
CONFIRMED_MAX_CER = 0.25
#: series languages whose single lines the packaged multilingual Whisper base identifies well enough to judge them.
#: English: its top guess was English for 223 of the 229 segments of the 3-episode demo and 291 of 300 Amazon Queen
#: segments; with the rules below it rejects no kept line of the demo (37 segments in doubt) and 6 of the 2511 kept
#: lines of the 12 Amazon Queen episodes (340 in doubt): five English lines of 0.6-1.4 s ("Hang in there.", "That's
#: it.") and one in the game's invented tribal language. Not Czech: on 300 Fish Fillets segments its median
#: probability of Czech was 0.17; among the 101 in doubt it would have rejected 29 kept lines
PACKAGED_LANGUAGES = frozenset({"en"})
#: the audio names another language only when Whisper finds it at least this many times as probable as the series'
#: language. Among the segments in doubt of the 3-episode demo and of 300 Amazon Queen segments, its top guess alone
#: named another language for a demo backchannel ("Mm-hmm.": 0.16 German, 0.12 English) and 4 Amazon Queen lines
#: (2 in the game's invented tribal language); a ratio of 2 for none of the demo's and 2 of those ("Chunga tuwanga
#: ungola tusani.", "rashes..."), at a recall on the prompts of ``benchmarks/language_purity.py`` of 0.971 (top guess
#: alone: 0.986)
AUDIO_MIN_RATIO = 2.0
#: where the text names another language with at least ``TEXT_HINT_PROB``, the audio keeps the segment in the series'
#: language only when it gives that language at least ``AUDIO_BACKING``. Below 0.3 py3langid is guessing: on the 12
#: Amazon Queen episodes any hint rejected "AMAZONS' DUNGEON!" (0.07 Luxembourgish) and "But I am an adult." (0.23
#: Pidgin); the Spanish prompts it reads 0.40-0.78 Spanish, the game's invented tribal lines 0.35-0.36
AUDIO_BACKING = 0.5
TEXT_HINT_PROB = 0.3


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_code(language: str | None) -> str:
    """The ISO 639-1 code of a series language: ``en-US``, ``EN``, `` en`` -> ``en``; empty: ``en`` (the default)."""
    return (language or "en").strip().lower()[:2]


def language_inputs(language: str | None) -> list[str]:
    """A stage's language input: none for English (so a stage keeps the state it had before it read the language),
    the ISO 639-1 code for any other."""
    code = language_code(language)
    return [] if code == "en" else [code]


def text_language(text: str, *, min_letters: int = MIN_LETTERS) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of a text; ("und", 0.0) when the text is too short to tell."""
    if len(_LETTER.findall(text or "")) < min_letters:
        return "und", 0.0
    lang, prob = _identifier().classify(text)
    return lang, float(prob)


def is_foreign(lang: str, prob: float, series_language: str, *, min_prob: float = 0.9) -> bool:
    """A confident identification of another language than the series'. Unknown ("und") is never foreign."""
    return lang != "und" and prob >= min_prob and lang != language_code(series_language)


def audio_is_foreign(audio_lang: str | None, series_language: str) -> bool:
    """The audio's language (None: not checked, "und": not settled) is another than the series'."""
    return audio_lang not in (None, "und") and audio_lang != language_code(series_language)


def needs_audio_check(text_lang: str, cer: float | None, series_language: str, *,
                      max_cer: float = CONFIRMED_MAX_CER) -> bool:
    """Whether a segment's spoken language is in doubt: anything but a subtitle in the series' language (or too short
    to identify) that the series-language ASR heard with a CER of at most ``max_cer``. Segments with ASR text only
    (``cer`` None) are in doubt: speech no subtitle covers is often speech the subtitler did not translate."""
    return not (cer is not None and cer <= max_cer and text_lang in ("und", language_code(series_language)))


def audio_verdict(probs: dict[str, float], series_language: str, *, text_lang: str | None = None,
                  text_prob: float = 1.0, min_ratio: float = AUDIO_MIN_RATIO, backing: float = AUDIO_BACKING,
                  text_hint_prob: float = TEXT_HINT_PROB) -> tuple[str, float]:
    """(language, probability) that Whisper's language probabilities of a clip settle, with the language its text was
    identified as (``text_lang`` with ``text_prob``; "und" or None: none):

    * another language than the series' (the most probable other one), when it is at least ``min_ratio`` times as
      probable as the series', or when the text names another language too (with at least ``text_hint_prob``) and
      the audio gives the series' less than ``backing``: two independent guesses agree it is not the series'
      language, however unsure each is and whichever other language each names (the packaged base hears Allison's
      "Usted es el cliente numero" as 0.33 English, 0.21 Hindi; py3langid reads it 0.78 Spanish);
    * the series' language, when it is the most probable;
    * ("und", 0.0) otherwise, and without probabilities (a clip too short, an English-only model)."""
    if not probs:
        return "und", 0.0
    series = language_code(series_language)
    p_series = probs.get(series, 0.0)
    other = max((lang for lang in probs if lang != series), key=probs.get, default=None)
    if other is not None and (probs[other] >= min_ratio * p_series
                              or (text_lang not in (None, "und", series) and text_prob >= text_hint_prob
                                  and p_series < backing)):
        return other, float(probs[other])
    if other is None or p_series >= probs[other]:
        return series, float(p_series)
    return "und", 0.0


@lru_cache(maxsize=1)
def packaged_language_id() -> str:
    """The identity of the packaged language identifier (the multilingual Whisper base's cache folder, which names
    its wheels' version), for the fingerprint of the stage that uses it; nothing is loaded or assembled.
    "whisper-base:missing" without the wheels (the check then fails when a segment needs it, naming them)."""
    from audiorole.segments.asr import ModelPackageMissing, multilingual_model_cache_path

    try:
        return multilingual_model_cache_path().name
    except ModelPackageMissing:
        return "whisper-base:missing"


@lru_cache(maxsize=1)
def _packaged_model():
    from audiorole.segments.asr import WhisperASR, packaged_multilingual_model_dir

    return WhisperASR(packaged_multilingual_model_dir())


def packaged_language_probabilities(clip: np.ndarray) -> dict[str, float]:
    """Language -> probability of a 16 kHz clip by the packaged multilingual Whisper base (loaded, and on first use
    assembled from its wheels, at the first call, once per process). About 0.55 s a clip on 2 idle cores: Whisper
    encodes a full 30 s window whatever the clip's length."""
    return _packaged_model().language_probabilities(clip)


def packaged_language_probabilities_for(series_language: str):
    """``packaged_language_probabilities`` for a series whose language the packaged base identifies reliably
    (``PACKAGED_LANGUAGES``), else None: there purity rests on the subtitle text's language."""
    return packaged_language_probabilities if language_code(series_language) in PACKAGED_LANGUAGES else None
