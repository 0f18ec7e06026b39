"""Transcript validation (CER, ASR on real speech), language purity, and the ground-truth metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiorole import asr, language, metrics
from audiorole.diarization import Turn


@pytest.mark.parametrize(
    "ref, hyp, expected",
    [
        ("Hello, world!", "hello world", 0.0),
        ("Café “naïve”", "cafe naive", 0.0),
        ("abcd", "abxd", 0.25),
        ("Hello.", "", 1.0),
        ("", "anything", None),
    ],
)
def test_cer_normalizes_case_punctuation_accents(ref, hyp, expected):
    assert asr.cer(ref, hyp) == (pytest.approx(expected) if expected is not None else None)


def test_merge_regions_joins_close_and_cuts_long():
    merged = asr.merge_regions(np.array([[0, 1], [1.5, 2], [5, 6], [6.2, 40]]), gap_s=1.0, max_len_s=28.0)
    assert merged.tolist() == [[0, 2], [5, 6], [6.2, 34.2], [34.2, 40]]


def test_words_in_uses_midpoints():
    words = [asr.Word(0.0, 0.4, "a", 1), asr.Word(0.9, 1.3, "b", 1), asr.Word(2.0, 2.2, "c", 1)]
    assert [w.text for w in asr.words_in(words, 0.5, 2.05)] == ["b"]


@pytest.mark.parametrize(
    "text, lang",
    [("What are you doing here tonight, my friend?", "en"),
     ("Je ne sais pas ce que tu veux dire, mon ami.", "fr"),
     ("¿Dónde está la biblioteca de la universidad?", "es"),
     ("Yeah.", "und")],
)
def test_text_language(text, lang):
    assert language.text_language(text)[0] == lang


def test_foreign_only_when_confident():
    assert language.is_foreign("fr", 0.99, "en")
    assert not language.is_foreign("en", 0.99, "en")
    assert not language.is_foreign("und", 0.0, "en")
    assert not language.is_foreign("fr", 0.5, "en")


@pytest.mark.slow
def test_packaged_whisper_transcribes_real_speech(pyannote_sample):
    """tiny.en on the real recording: the words said in the STM come back, with times inside the speech."""
    from audiorole.audio import load_audio

    wav = load_audio(pyannote_sample / "sample.wav")
    model = asr.WhisperASR(cpu_threads=2)
    assert not model.multilingual and model.detect_language(wav) == ("und", 0.0)
    words = model.transcribe(wav, np.array([[6.5, 30.0]]))
    text = " ".join(w.text for w in words)
    stm = " ".join(line.split(maxsplit=5)[5] for line in (pyannote_sample / "sample.stm").read_text().splitlines())
    assert asr.cer(stm, text) < 0.35
    assert all(6.0 <= w.start <= w.end <= 30.5 for w in words)


def test_whisper_dir_without_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a CTranslate2 Whisper model directory"):
        asr.WhisperASR(tmp_path)


# metrics --------------------------------------------------------------------------------------------------------
TRUTH = [
    metrics.TruthLine("ann", "hello there", 0.0, 2.0, 0),
    metrics.TruthLine("bob", "hi ann", 2.2, 4.0, 1),
    metrics.TruthLine("ann", "bye", 6.0, 7.0, None),
]


def test_purity_counts_segments_with_one_true_speaker():
    pure = {"start_s": 0.0, "end_s": 2.1}
    mixed = {"start_s": 1.0, "end_s": 3.5}  # covers 1 s of ann and 1.3 s of bob
    assert metrics.speaker_purity([pure], TRUTH) == 1.0
    assert metrics.speaker_purity([pure, mixed], TRUTH) == 0.5


def test_kept_speech_share_is_union_of_true_speech_inside_kept():
    kept = [{"start_s": 0.0, "end_s": 2.0}, {"start_s": 1.0, "end_s": 4.0}]
    assert metrics.kept_speech_share(kept, TRUTH) == pytest.approx(3.8 / 4.8)


def test_sync_errors_use_first_part_of_each_cue():
    synced = [{"cue_index": 0, "part": 0, "start_s": 0.05}, {"cue_index": 1, "part": 0, "start_s": 2.0},
              {"cue_index": 1, "part": 1, "start_s": 9.0}]
    assert np.allclose(sorted(metrics.sync_errors(synced, TRUTH)), [0.05, 0.2])


def test_kept_cer_against_true_text():
    kept = [{"start_s": 0.0, "end_s": 2.1, "text": "Hello there!"}, {"start_s": 2.1, "end_s": 4.1, "text": "hi and"}]
    assert metrics.kept_cer(kept, TRUTH) == pytest.approx(1 / 17)


def test_der_of_perfect_and_swapped_hypothesis(tmp_path):
    from audiorole.diarization import write_rttm

    ref_turns = [Turn(t.start_s, t.end_s, t.character) for t in TRUTH]
    write_rttm(ref_turns, tmp_path / "ref.rttm", uri="ep")
    ref = metrics.load_rttm(tmp_path / "ref.rttm")
    assert metrics.der(ref, ref_turns)["der"] == pytest.approx(0.0)
    relabeled = [Turn(t.start, t.end, {"ann": "X", "bob": "Y"}[t.speaker]) for t in ref_turns]
    assert metrics.der(ref, relabeled)["der"] == pytest.approx(0.0), "labels are matched optimally"
    one_speaker = [Turn(t.start, t.end, "X") for t in ref_turns]
    assert metrics.der(ref, one_speaker)["confusion"] > 0.3


def test_load_truth_lines(tmp_path):
    p = tmp_path / "ep.lines.jsonl"
    p.write_text("\n".join(json.dumps({"character": "ann", "text": "hi", "start_s": 1, "end_s": 2,
                                       "subtitle_cue_index": None}) for _ in range(2)) + "\n")
    lines = metrics.load_truth_lines(p)
    assert len(lines) == 2 and lines[0].subtitle_cue_index is None and lines[0].end_s == 2.0
