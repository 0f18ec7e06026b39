"""Transcript validation (CER, ASR on real speech), language purity, and the ground-truth metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiorole.segments import asr

from audiorole.segments import language

from audiorole import scoring as metrics
from audiorole.segments.diarization import Turn


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


@pytest.mark.slow
def test_text_evidence_tells_a_real_clips_words_from_other_lines(pyannote_sample):
    """Every STM line of the real recording is supported by its own clip; the neighbouring lines (what a one-cue sync
    slip gives) that share no word with it, and unrelated sentences, are not. Measured with tiny.en: own 2.25-5.31
    nats per token; those neighbours -1.19-0.32; a neighbour sharing words scores by them ("Hello?" on "Oh, hello."
    4.84, "And I'm Sheila in Texas, originally from Chicago." on "Oh, I'm originally from Chicago also." 0.76)."""
    from audiorole.audio import cut, load_audio
    from audiorole.segments.build import SegmentConfig

    wav = load_audio(pyannote_sample / "sample.wav")
    lines = [(float(p[3]), float(p[4]), p[5]) for p in
             (line.split(maxsplit=5) for line in (pyannote_sample / "sample.stm").read_text().splitlines())]
    model = asr.WhisperASR(cpu_threads=2)
    threshold = SegmentConfig().min_text_evidence
    own, others = [], []
    for i, (start, end, text) in enumerate(lines):
        clip = cut(wav, start, end)
        own.append(model.text_evidence(clip, text))
        for _, _, other in (lines[i - 1], lines[(i + 1) % len(lines)]):
            if not set(asr.normalize_text(other).split()) & set(asr.normalize_text(text).split()):
                others.append(model.text_evidence(clip, other))
    assert len(others) >= 10 and min(own) >= threshold > max(others), (own, others)
    clip = cut(wav, *lines[7][:2])
    for unrelated in ("The lighthouse keeper rowed across the bay at dawn.", "Bring two umbrellas tomorrow.",
                      "Nobody told me the museum was closed on Mondays."):
        assert model.text_evidence(clip, unrelated) < threshold, unrelated
    assert model.text_evidence(clip, " ...") is None and model.text_evidence(clip[:100], lines[7][2]) is None


def test_pack_regions_fills_windows_in_order_without_splitting_a_region():
    regions = np.array([[1.0, 3.0], [3.5, 5.0], [10.0, 12.0], [12.1, 50.0]])
    windows = asr.pack_regions(regions, 60.0, window_s=10.0, spacer_s=0.3, pad_s=0.2, merge_gap_s=1.0, max_clip_s=28.0)
    # 0.5 s apart: one stretch with the audio between; 5 s apart: after a spacer; padded up to the middle of a gap;
    # the 38 s region cut to fit a window with its padding, the audio's end never passed
    expected = [[[0.8, 5.2], [9.8, 12.05]], [[12.05, 21.7]], [[21.7, 31.3]], [[31.3, 40.9]], [[40.9, 50.2]]]
    assert len(windows) == len(expected)
    for got, want in zip(windows, expected):
        assert np.allclose(got, want)
        assert sum(e - s for s, e in got) + 0.3 * (len(got) - 1) <= 10.0 + 1e-9
    assert asr.pack_regions(np.zeros((0, 2)), 60.0, window_s=28, spacer_s=0.3, pad_s=0.2, merge_gap_s=1,
                            max_clip_s=28) == []
    wide = asr.pack_regions(regions[:3], 60.0, window_s=7.0, spacer_s=1.0, pad_s=0.2, merge_gap_s=1.0,
                            max_clip_s=28.0)  # the retry's wider spacer: 4.4 + 1.0 + 2.25 > 7 s, a window each
    assert [len(w) for w in wide] == [1, 1] and np.allclose(wide[0], [[0.8, 5.2]])
    edge = asr.pack_regions(np.array([[0.1, 2.0], [58.0, 59.95]]), 60.0, window_s=28.0, spacer_s=0.3, pad_s=0.2,
                            merge_gap_s=1.0, max_clip_s=28.0)
    assert np.allclose(edge, [[[0.0, 2.2], [57.8, 60.0]]])


def test_packed_audio_and_words_back_in_episode_time():
    from faster_whisper.transcribe import Word as FwWord

    wav = np.arange(16000 * 20, dtype=np.float32)  # each sample is its own index: where a stretch went is visible
    windows = [[[1.0, 2.0], [5.0, 6.50005]], [[10.0, 12.0]]]
    audio, bounds, pieces = asr.packed_audio(wav, windows, spacer_s=0.5)
    assert [(p.packed_start, p.start) for p in pieces] == [(0.0, 1.0), (1.5, 5.0), (pytest.approx(3.01), 10.0)]
    for p in pieces:  # copied sample for sample, the spacer silent
        a, b = round(p.packed_start * 16000), round(p.packed_end * 16000)
        assert np.array_equal(audio[a:b], wav[round(p.start * 16000):round(p.end * 16000)])
    assert not audio[16000:24000].any()
    assert bounds[0] == (0.0, pieces[1].packed_end) and bounds[1][0] * 16000 % 160 == 0, "a window starts on a frame"
    words = [FwWord(0.2, 0.5, " Hi", 0.9), FwWord(0.9, 1.3, " there.", 0.8),  # ends in the spacer: clipped
             FwWord(1.45, 1.9, " Late", 0.7), FwWord(3.2, 3.4, " again", 0.6), FwWord(3.4, 3.5, " ", 0.1)]
    back = asr.unpack_words(words, pieces)
    assert [(w.text, w.start, w.end) for w in back] == [
        ("Hi", 1.2, 1.5), ("there.", 1.9, 2.0), ("Late", 5.0, 5.4), ("again", 10.19, 10.39)]


def test_speech_under_an_overlong_word_is_transcribed_again():
    """A word stretched over 8 s is Whisper jumping over speech: it is dropped and its region retried."""

    class Scripted(asr.WhisperASR):  # no model: the clips asked for and the words given back
        def __init__(self):
            self.config, self.asked, self.retried = asr.AsrConfig(max_word_s=3.0), [], []

        def _transcribe_clips(self, wav, speech, language, *, retry=False):
            self.asked.append(np.asarray(speech).tolist())
            self.retried.append(retry)
            if len(self.asked) == 1:
                return [asr.Word(1.0, 1.4, "Hi.", 0.9), asr.Word(1.4, 9.6, "cannot", 0.2),
                        asr.Word(12.2, 12.6, "Bye.", 0.9)]
            return [asr.Word(2.1, 2.5, "I", 0.8), asr.Word(2.5, 2.9, "can.", 0.8)]

    model = Scripted()
    words = model.transcribe(np.zeros(16000 * 14, dtype=np.float32), np.array([[0.9, 1.5], [2.0, 9.5], [12.0, 13.0]]))
    assert model.asked[1] == [[2.0, 9.5]] and model.retried == [False, True]
    assert [w.text for w in words] == ["Hi.", "I", "can.", "Bye."]


@pytest.mark.slow
@pytest.mark.parametrize("config, redo_after_first", [
    (asr.AsrConfig(), False),  # the default: both halves in one window, decoded in a batch
    (asr.AsrConfig(window_s=8.0), True),  # several windows; all but the first redone one by one (unsure)
    (asr.AsrConfig(batch_size=0), False),  # every window one by one
])
def test_packed_windows_give_words_in_episode_time(pyannote_sample, monkeypatch, config, redo_after_first):
    """The real recording cut in two and laid out 40 s apart between stretches of silence: the halves are packed
    into shared windows, yet each word comes back at its place in the episode (where the same word is when the
    recording is transcribed as it is), inside the speech given, in order. First pass only: a retry would hide a
    misplaced word."""
    import dataclasses
    import difflib

    from audiorole.audio import SAMPLE_RATE, load_audio

    sr = SAMPLE_RATE
    wav = load_audio(pyannote_sample / "sample.wav")
    silence = np.zeros(10 * sr, dtype=np.float32)
    episode = np.concatenate([silence, wav[int(6.5 * sr):int(17.78 * sr)], silence, silence, silence, silence,
                              wav[int(17.78 * sr):30 * sr], silence])
    regions = np.array([[10.0, 21.28], [61.28, 73.5]])

    def place(t):  # recording time -> episode time
        return t - 6.5 + 10.0 if t < 17.78 else t - 17.78 + 61.28

    model = asr.WhisperASR(cpu_threads=2, config=dataclasses.replace(config, retry_wordless_s=1e9))
    reference = model.transcribe(wav, np.array([[6.5, 17.78], [17.78, 30.0]]))  # in place, no packing across
    if redo_after_first:
        monkeypatch.setattr(asr, "_unsure", lambda segments: segments[0].seek > 0)
    words = model.transcribe(episode, regions)
    assert words and [w.start for w in words] == sorted(w.start for w in words)
    assert all(any(s - config.pad_s <= w.start <= w.end <= e + config.pad_s for s, e in regions) for w in words)
    stm = [line.split(maxsplit=5) for line in (pyannote_sample / "sample.stm").read_text().splitlines()]
    for s, e in regions:
        said = " ".join(t for _, _, _, a, _, t in stm if s <= place(float(a)) < e)
        assert asr.cer(said, " ".join(w.text for w in words if s <= w.start < e)) < 0.35
    norm = [asr.normalize_text(w.text) for w in words]
    matcher = difflib.SequenceMatcher(None, [asr.normalize_text(w.text) for w in reference], norm, autojunk=False)
    pairs = [(reference[b.a + k], words[b.b + k]) for b in matcher.get_matching_blocks() for k in range(b.size)]
    assert len(pairs) >= 0.6 * len(words)
    off = [abs(place((r.start + r.end) / 2) - (w.start + w.end) / 2) for r, w in pairs]
    assert np.mean(np.array(off) < 0.3) >= 0.9, "the same words at the same place in the episode"


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
    from audiorole.segments.diarization import write_rttm

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
