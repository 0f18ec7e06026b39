"""Language purity decisions on crafted inputs (no model is loaded): when a segment's audio is asked for its
language, what Whisper's probabilities settle, and that a subtitle translating foreign speech is rejected on the
audio's word while confirmed series-language lines never reach the audio check."""

from __future__ import annotations

import numpy as np

from audiorole.intervals import union
from audiorole.segments import build as S
from audiorole.segments.asr import Word
from audiorole.segments.diarization import Turn
from audiorole.segments.language import (
    audio_is_foreign,
    audio_verdict,
    is_foreign,
    language_code,
    needs_audio_check,
    packaged_language_probabilities,
    packaged_language_probabilities_for,
    text_language,
)


def test_series_language_codes_compare_case_and_region_blind():
    assert language_code("en-US") == language_code("EN") == language_code(None) == "en"
    assert not is_foreign("en", 0.99, "EN-gb")
    assert is_foreign("es", 0.95, "en") and not is_foreign("es", 0.85, "en") and not is_foreign("und", 0.0, "en")
    assert not audio_is_foreign("en", "EN") and audio_is_foreign("ru", "en-US")
    assert not audio_is_foreign(None, "en") and not audio_is_foreign("und", "en")


def test_only_a_confirmed_series_language_subtitle_skips_the_audio_check():
    assert not needs_audio_check("en", 0.1, "en")  # English text, tiny.en heard it
    assert not needs_audio_check("und", 0.0, "en")  # "Thank you." heard as such
    assert needs_audio_check("en", 0.7, "en")  # an English subtitle the English ASR did not hear: a translation?
    assert needs_audio_check("es", 0.05, "en")  # Spanish text, however well heard
    assert needs_audio_check("en", None, "en")  # speech no cue covers
    assert needs_audio_check("cs", 0.3, "cs") and not needs_audio_check("cs", 0.2, "cs-CZ")


def test_the_audio_names_another_language_only_when_clearly_more_probable():
    assert audio_verdict({"es": 0.8, "en": 0.1, "it": 0.1}, "en") == ("es", 0.8)
    assert audio_verdict({"en": 0.4, "es": 0.35}, "en") == ("en", 0.4)
    # a backchannel: Whisper's belief spread thin, German barely above English
    assert audio_verdict({"de": 0.16, "en": 0.117, "ar": 0.09}, "en") == ("und", 0.0)
    assert audio_verdict({"es": 0.44, "ar": 0.28, "en": 0.154}, "en")[0] == "es"
    assert audio_verdict({"ru": 0.9}, "en")[0] == "ru"  # the series' language not even listed
    assert audio_verdict({}, "en") == ("und", 0.0)
    # an unsure audio counts when the (unsure) text says another language than the series' too
    assert audio_verdict({"it": 0.45, "en": 0.27, "es": 0.04}, "en") == ("und", 0.0)
    assert audio_verdict({"it": 0.45, "en": 0.27, "es": 0.04}, "en", text_lang="es") == ("it", 0.45)
    assert audio_verdict({"it": 0.45, "en": 0.27, "es": 0.04}, "en", text_lang="en") == ("und", 0.0)
    assert audio_verdict({"it": 0.45, "en": 0.27, "es": 0.04}, "en", text_lang="und") == ("und", 0.0)
    assert audio_verdict({"en": 0.33, "hi": 0.21, "es": 0.06}, "en") == ("en", 0.33)
    assert audio_verdict({"en": 0.33, "hi": 0.21, "es": 0.06}, "en", text_lang="es") == ("hi", 0.21)
    assert audio_verdict({"en": 0.6, "es": 0.3}, "en", text_lang="es") == ("en", 0.6)  # the audio backs English
    # a text guess under 0.3 ("inconsiderate," 0.10 Aragonese) is no hint
    assert audio_verdict({"en": 0.33, "de": 0.3}, "en", text_lang="an", text_prob=0.1) == ("en", 0.33)
    assert audio_verdict({"en": 0.33, "de": 0.3}, "en", text_lang="es", text_prob=0.4) == ("de", 0.3)


def test_the_packaged_identifier_judges_only_languages_it_knows_well():
    assert packaged_language_probabilities_for("en-US") is packaged_language_probabilities  # loads nothing yet
    assert packaged_language_probabilities_for("cs") is None  # it names Czech lines Polish, Slovak...: text decides


def test_text_language_of_short_and_long_texts():
    assert text_language("Yeah.") == ("und", 0.0)
    lang, prob = text_language("Ese agente ya ha sido autenticado. Por favor ingrese su numero de agente.")
    assert lang == "es" and prob > 0.5


def test_a_translated_subtitle_is_rejected_on_the_audio_and_confirmed_lines_are_not_asked():
    cue = lambda i, a, b, text: {"cue_index": i, "part": 0, "n_parts": 1, "start_s": a, "end_s": b, "text": text,
                                 "speaker_tag": None}
    cues = [cue(0, 0.0, 2.0, "Please leave your message after the tone."),  # English speech, heard
            cue(1, 3.0, 5.0, "Please leave your message after the tone."),  # Spanish speech, English subtitle
            cue(2, 6.0, 8.0, "Ese agente ya ha sido autenticado, por favor."),  # Spanish text: no audio needed
            cue(3, 9.0, 11.0, "Thank you very much for calling today.")]  # English, heard badly: asked, English
    words = [Word(0.1, 1.9, "Please leave your message after the tone.", 0.9),
             Word(3.1, 4.9, "Por favor deje su mensaje.", 0.4),
             Word(6.1, 7.9, "Ese agente ya ha sido autenticado.", 0.5),
             Word(9.1, 10.9, "Thank you for calling.", 0.8)]
    turns = [Turn(a, a + 2.0, "A", confidence=0.9) for a in (0.0, 3.0, 6.0, 9.0)]
    wav = (0.1 * np.random.default_rng(0).standard_normal(16000 * 12)).astype(np.float32)
    wav[3 * 16000:5 * 16000] = 7.0  # marks the Spanish line's audio for the fake models below
    speech = union(np.array([[t.start, t.end] for t in turns]))
    cfg = S.SegmentConfig(min_snr_db=-100, max_clipping=1.0, max_cer=1.0)
    asked: list[float] = []

    def probabilities(clip):
        asked.append(len(clip) / 16000)
        return {"es": 0.7, "en": 0.2} if clip[0] == 7.0 else {"en": 0.6, "es": 0.1}

    rows = S.build_segments("show/e1", wav, speech, turns, words, cues, config=cfg,
                            language_probabilities=probabilities)
    by_start = {round(r["start_s"]): r for r in rows}
    assert by_start[0]["keep"] and by_start[0]["audio_language"] is None, "heard as subtitled: not asked"
    assert by_start[3]["reject_reason"] == "foreign_language" and by_start[3]["audio_language"] == "es"
    assert by_start[6]["reject_reason"] == "foreign_language" and by_start[6]["audio_language"] is None, \
        "the text already says Spanish: not asked"
    assert by_start[9]["keep"] and by_start[9]["audio_language"] == "en"
    assert len(asked) == 2

    # a multilingual ASR model's own identification: every segment is asked, its top guess taken as it is
    asked.clear()
    rows = S.build_segments("show/e1", wav, speech, turns, words, cues, config=cfg,
                            audio_language=lambda clip: ("es", 0.9) if asked.append(0) or clip[0] == 7.0
                            else ("en", 0.9), language_probabilities=probabilities)
    assert len(asked) == len(rows) == 4
    assert [r["reject_reason"] for r in rows] == [None, "foreign_language", "foreign_language", None]


def test_segments_rejected_before_the_language_check_are_not_asked():
    c = S.Candidate(0.0, 0.2, "subtitle", "Ese agente ya ha sido autenticado.")
    c.facts.update(speaker="A", other_share=0.0, overlap=False, language="en", language_prob=0.9, cer=0.9)
    assert S.reject_reason(c, S.SegmentConfig(), "en") == "too_short"
    assert not S.language_in_doubt(c, S.SegmentConfig(), "en")
    c.end = 2.0
    assert S.language_in_doubt(c, S.SegmentConfig(), "en")
    c.facts["audio_language"] = "es"
    assert S.reject_reason(c, S.SegmentConfig(), "en") == "foreign_language"
