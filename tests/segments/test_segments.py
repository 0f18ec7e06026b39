"""Segment assembly on crafted inputs: candidates from cues and turns, dash-cue splits, filters, schema."""

from __future__ import annotations

import numpy as np
import pytest

from audiorole.intervals import union
from audiorole.segments import build as S
from audiorole.segments.asr import Word
from audiorole.segments.diarization import Turn
from audiorole.schema import SEGMENT_SCHEMA


def cue(idx, start, end, text, part=0, n_parts=1, tag=None):
    return {"cue_index": idx, "part": part, "n_parts": n_parts, "start_s": start, "end_s": end, "text": text,
            "speaker_tag": tag}


def test_dash_cue_splits_at_the_speaker_change():
    turns = [Turn(0.0, 1.3, "A"), Turn(1.3, 3.0, "B")]
    assert S.split_dash_cue(0.0, 3.0, ["Hi.", "Hello there, friend."], turns) == [(0.0, 1.3), (1.3, 3.0)]


def test_dash_cue_without_a_change_splits_by_text_length():
    spans = S.split_dash_cue(0.0, 4.0, ["abc", "abcdefghi"], [Turn(0.0, 4.0, "A")])
    assert spans == [(0.0, 1.0), (1.0, 4.0)]


def test_trim_to_speech():
    speech = np.array([[1.2, 2.0], [2.5, 3.1], [9.0, 10.0]])
    assert S.trim_to_speech(1.0, 3.0, speech, tol=0.25) == (1.2, 3.1)
    assert S.trim_to_speech(5.0, 6.0, speech, tol=0.25) is None


def test_uncovered_speech_finds_lines_without_subtitles():
    speech = np.array([[0.0, 2.0], [3.0, 5.0], [6.0, 6.3]])
    holes = S.uncovered_speech(speech, [(-0.2, 2.2)], duration_s=10, min_s=0.6)
    assert holes.tolist() == [[3.0, 5.0]]


def _build(cues, turns, words, **kw):
    wav = (0.1 * np.random.default_rng(0).standard_normal(16000 * 10)).astype(np.float32)
    speech = union(np.array([[t.start, t.end] for t in turns]))  # VAD regions never overlap
    return S.build_segments("show/e1", wav, speech, turns, words, cues, **kw)


def test_every_candidate_is_kept_or_rejected_with_a_reason():
    turns = [Turn(0.0, 2.0, "A", confidence=0.9), Turn(2.4, 4.0, "B", confidence=0.9),
             Turn(5.0, 7.0, "A", confidence=0.9), Turn(8.0, 8.2, "B", confidence=0.9)]
    words = [Word(0.1, 0.5, "hello", 0.9), Word(0.6, 1.5, "there", 0.9), Word(2.5, 3.5, "bonjour", 0.9),
             Word(5.2, 6.0, "hello", 0.95), Word(6.1, 6.8, "again", 0.95)]
    cues = [cue(0, 0.0, 2.0, "Hello there."), cue(1, 2.4, 4.0, "Je ne sais pas ce que tu veux dire, mon ami."),
            cue(2, 8.0, 8.2, "Hm.")]
    rows = _build(cues, turns, words, config=S.SegmentConfig(min_snr_db=-100))
    by_text = {r["text"]: r for r in rows}
    assert by_text["Hello there."]["keep"] and by_text["Hello there."]["speaker"] == "A"
    assert by_text["Hello there."]["cer"] == 0.0
    assert by_text["Je ne sais pas ce que tu veux dire, mon ami."]["reject_reason"] == "foreign_language"
    assert by_text["Hm."]["reject_reason"] == "too_short"
    asr_only = [r for r in rows if r["text_source"] == "asr"]
    assert [r["text"] for r in asr_only] == ["hello again"], "speech without a cue becomes an ASR segment"
    assert all(r["keep"] or r["reject_reason"] for r in rows)
    assert [r["segment_id"] for r in rows] == [f"show/e1#{i:04d}" for i in range(len(rows))]
    assert S.segments_table(rows).schema.equals(SEGMENT_SCHEMA)


def test_mixed_speakers_overlap_and_mismatch_are_rejected():
    turns = [Turn(0.0, 1.5, "A", confidence=0.9), Turn(1.5, 3.0, "B", confidence=0.9),
             Turn(4.0, 6.0, "A", overlap=True, confidence=0.9), Turn(5.5, 6.5, "B", overlap=True, confidence=0.9),
             Turn(7.0, 9.0, "B", confidence=0.9)]
    words = [Word(7.1, 8.9, "completely different words", 0.9)]
    cues = [cue(0, 0.0, 3.0, "One line over two voices."), cue(1, 4.0, 6.0, "Talked over."),
            cue(2, 7.0, 9.0, "The subtitle says this.")]
    reasons = [r["reject_reason"] for r in _build(cues, turns, words, config=S.SegmentConfig(min_snr_db=-100))]
    assert reasons == ["mixed_speakers", "overlap", "transcript_mismatch"]


def test_a_subtitle_the_asr_misheard_is_kept_when_the_audio_supports_its_words():
    """The audio's evidence is asked only where CER says no, and decides there: kept at or above
    ``min_text_evidence``, rejected below it or when it cannot be measured."""
    turns = [Turn(0.0, 2.0, "A", confidence=0.9), Turn(3.0, 5.0, "B", confidence=0.9)]
    words = [Word(0.1, 1.9, "the subtitle says this", 0.9), Word(3.1, 4.9, "bonjour mon ami", 0.9)]
    cues = [cue(0, 0.0, 2.0, "The subtitle says this."), cue(1, 3.0, 5.0, "Ne vím, kde je klíč.")]
    asked = []

    def evidence(value):
        def ask(clip, text):
            asked.append((len(clip), text))
            return value
        return ask

    cfg = S.SegmentConfig(min_snr_db=-100, min_text_evidence=0.5)
    for value, kept in ((2.0, True), (0.5, True), (0.2, False), (None, False)):
        asked.clear()
        rows = _build(cues, turns, words, config=cfg, series_language="cs", text_evidence=evidence(value))
        assert [t for _, t in asked] == ["Ne vím, kde je klíč."], "asked only for the subtitle CER rejects"
        assert asked[0][0] > 16000, "with the segment's own audio"
        misheard = rows[1]
        assert misheard["cer"] > cfg.max_cer and misheard["text_evidence"] == value
        assert misheard["keep"] is kept and misheard["reject_reason"] == (None if kept else "transcript_mismatch")
        assert rows[0]["text_evidence"] is None and rows[0]["keep"]
    without = _build(cues, turns, words, config=cfg, series_language="cs")
    assert without[1]["reject_reason"] == "transcript_mismatch" and without[1]["text_evidence"] is None


def test_a_clip_that_holds_more_than_its_line_is_rejected_whatever_the_evidence():
    """The ASR heard the line and someone's answer after it: the line's own words are there, so the evidence for
    them is high, but the clip is not the line."""
    turns = [Turn(0.0, 2.0, "A", confidence=0.9)]
    cues = [cue(0, 0.0, 2.0, "Voda!")]
    asked = []
    for heard, mismatch in (("Vůda! Vůda, voda!", True), ("Búta!", False)):
        asked.clear()
        rows = _build(cues, turns, [Word(0.1, 1.9, heard, 0.9)], series_language="cs",
                      config=S.SegmentConfig(min_snr_db=-100, max_heard_ratio=1.5),
                      text_evidence=lambda clip, text: asked.append(text) or 3.0)
        assert rows[0]["cer"] > 0.5
        assert (rows[0]["reject_reason"] == "transcript_mismatch") is mismatch and bool(asked) is not mismatch
    assert S.heard_more("Hi Joe.", "Hi, Joe. Yeah, sure!", S.SegmentConfig())
    assert not S.heard_more("Zkoušel jsi vůbec někdy Ubuntu?", "Skoučel si by bět znikle vům to?", S.SegmentConfig())


def test_without_subtitles_segments_come_from_turns_and_asr():
    turns = [Turn(0.0, 3.0, "A", confidence=0.9), Turn(3.5, 6.0, "B", confidence=0.9)]
    words = [Word(0.2, 1.0, "good", 0.9), Word(1.1, 2.5, "morning", 0.9), Word(3.6, 5.0, "hi", 0.9)]
    rows = _build(None, turns, words, config=S.SegmentConfig(min_snr_db=-100))
    assert [(r["speaker"], r["text"], r["text_source"], r["keep"]) for r in rows] == [
        ("A", "good morning", "asr", True), ("B", "hi", "asr", True)]


def test_long_asr_segments_are_cut_at_word_gaps():
    words = [Word(float(i), i + 0.8, f"w{i}", 0.9) for i in range(30)]
    words[12] = Word(12.0, 12.3, "w12", 0.9)  # the widest gap follows word 12
    pieces = S._split_long(0.0, 30.0, words, max_s=15.0)
    assert pieces[0] == (0.0, pytest.approx(12.65))
    assert all(b - a <= 15.0 for a, b in pieces)


def test_only_the_overlapped_part_of_a_turn_counts_as_overlap():
    turns = [Turn(0.0, 8.0, "A", overlap=True, confidence=0.9), Turn(7.0, 9.0, "B", overlap=True, confidence=0.9)]
    assert S.overlap_regions(turns).tolist() == [[7.0, 8.0]]
    early, late = S.Candidate(0.5, 4.0, "subtitle", "x"), S.Candidate(5.0, 7.8, "subtitle", "y")
    S.attribute_speaker(early, turns)
    S.attribute_speaker(late, turns)
    assert early.facts["overlap"] is False and late.facts["overlap"] is True


def test_reject_reason_order_is_documented_order():
    c = S.Candidate(0.0, 0.1, "subtitle", "x")
    c.facts.update(no_speech=True, speaker=None)
    assert S.reject_reason(c, S.SegmentConfig(), "en") == "no_speech"


# talked-over lines: cut to the part no other speaker talks in ------------------------------------------------------
def _talked_over_scene():
    """A says "One two three four five six." over 0-4 s; B cuts in at 3.2 s ("Wait now, listen to me.", to 6 s)
    and drowns A's "six" (the ASR hears it under B's "wait")."""
    turns = [Turn(0.0, 4.0, "A", overlap=True, confidence=0.9), Turn(3.2, 6.0, "B", overlap=True, confidence=0.9)]
    words = [Word(0.1, 0.6, "One", 0.9), Word(0.6, 1.1, "two", 0.9), Word(1.1, 1.7, "three", 0.9),
             Word(1.8, 2.4, "four", 0.9), Word(2.5, 3.1, "five", 0.9), Word(3.25, 3.6, "six.", 0.6),
             Word(3.7, 4.0, "Wait", 0.9), Word(4.0, 4.4, "now,", 0.9), Word(4.5, 4.9, "listen", 0.9),
             Word(4.9, 5.1, "to", 0.9), Word(5.1, 5.5, "me.", 0.9)]
    cues = [cue(0, 0.0, 4.0, "One two three four five six."), cue(1, 3.2, 6.0, "Wait now, listen to me.")]
    return turns, words, cues


def test_a_partly_talked_over_line_is_cut_at_the_last_word_before_the_overlap():
    turns, words, cues = _talked_over_scene()
    a, b = _build(cues, turns, words, config=S.SegmentConfig(min_snr_db=-100))
    assert (a["start_s"], a["end_s"]) == (0.0, 3.1), "ends with the last word heard before B cuts in"
    assert a["text"] == "One two three four five" and a["text_source"] == "subtitle"
    assert a["keep"] and a["speaker"] == "A" and not a["overlap"] and a["cer"] == 0.0
    assert (b["start_s"], b["end_s"]) == (4.0, 6.0), "starts where A stops; its own end is kept"
    assert b["text"] == "now, listen to me." and b["keep"] and b["speaker"] == "B" and not b["overlap"]


def test_a_line_with_too_little_clean_speech_is_still_rejected():
    turns, words, cues = _talked_over_scene()
    cfg = S.SegmentConfig(min_snr_db=-100, min_trimmed_s=3.5)
    assert [(r["text"], r["reject_reason"]) for r in _build(cues, turns, words, config=cfg)] == [
        ("One two three four five six.", "overlap"), ("Wait now, listen to me.", "overlap")]


def test_a_line_wholly_under_another_is_rejected_and_the_longer_clean_part_of_the_other_is_kept():
    turns = [Turn(0.0, 6.0, "A", overlap=True, confidence=0.9), Turn(1.0, 2.5, "B", overlap=True, confidence=0.9)]
    words = [Word(0.1, 0.9, "Well", 0.9), Word(1.2, 2.0, "no", 0.9), Word(2.6, 3.5, "I", 0.9),
             Word(3.5, 4.5, "never", 0.9), Word(4.5, 5.5, "said", 0.9), Word(5.5, 5.9, "that.", 0.9)]
    cues = [cue(0, 0.0, 6.0, "Well, I never said that."), cue(1, 1.0, 2.5, "No!")]
    b, a = _build(cues, turns, words, config=S.SegmentConfig(min_snr_db=-100))
    assert (a["start_s"], a["end_s"], a["text"], a["keep"]) == (2.6, 6.0, "I never said that.", True)
    assert (b["text"], b["keep"], b["reject_reason"]) == ("No!", False, "mixed_speakers")


def test_a_cut_needs_two_matching_words_in_a_row():
    """"the" alone matches the subtitle by chance: no cut is placed after it, the candidate is left whole."""
    turns = [Turn(0.0, 3.0, "A", overlap=True, confidence=0.9), Turn(1.5, 3.5, "B", overlap=True, confidence=0.9)]
    words = [Word(0.2, 0.6, "Say", 0.5), Word(0.6, 1.0, "the", 0.5), Word(1.0, 1.4, "books", 0.5),
             Word(1.6, 3.0, "whatever", 0.9)]
    c = S.Candidate(0.0, 3.0, "subtitle", "Sail the boats along the coast.")
    S.attribute_speaker(c, turns)
    assert S.anchored_words(c.text, words) == []
    assert S.trim_talked_over(c, turns, words, S.overlap_regions(turns), S.SegmentConfig()) is c


def test_a_one_letter_asr_slip_still_anchors_a_cut():
    """"ban" heard for "band" (tiny.en on the demo) still matches the text; "books" for "boats" does not."""
    words = [Word(0.2, 0.6, "the", 0.9), Word(0.6, 1.0, "ban", 0.9), Word(1.0, 1.4, "played", 0.9)]
    assert [i for i, _ in S.anchored_words("The band played on.", words)] == [0, 1, 2]
    words[1] = Word(0.6, 1.0, "books", 0.9)
    assert S.anchored_words("The boats played on.", words) == []


def test_speech_the_first_asr_pass_left_without_words_is_transcribed_again():
    from audiorole.segments import asr

    class Scripted(asr.WhisperASR):  # no model: the clips asked for and the words given back
        def __init__(self):
            self.config, self.asked = asr.AsrConfig(), []

        def _transcribe_clips(self, wav, speech, language, *, retry=False):
            self.asked.append(np.asarray(speech).tolist())
            return [Word(6.2, 6.6, "later", 0.9)] if len(self.asked) == 1 else [Word(1.1, 1.5, "first", 0.9)]

    model = Scripted()
    words = model.transcribe(np.zeros(16000 * 8, dtype=np.float32), np.array([[1.0, 3.0], [6.0, 7.0], [7.5, 7.6]]))
    assert model.asked == [[[1.0, 3.0], [6.0, 7.0], [7.5, 7.6]], [[1.0, 3.0]]], "only the long-enough wordless region"
    assert [w.text for w in words] == ["first", "later"]
