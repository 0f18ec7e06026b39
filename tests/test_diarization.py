"""Diarization pieces on crafted inputs, and the default backend on the real two-speaker recording."""

from __future__ import annotations

import numpy as np
import pytest

from audiorole import diarization as D
from audiorole.embeddings import SpeakerEmbedder, l2_normalize


def test_split_at_respects_min_piece():
    regions = np.array([[0.0, 10.0], [12.0, 13.0]])
    pieces = D.split_at(regions, np.array([0.2, 3.0, 3.3, 6.0, 9.9, 12.5]), min_piece_s=0.4)
    assert pieces == [(0.0, 3.0), (3.0, 6.0), (6.0, 10.0), (12.0, 12.5), (12.5, 13.0)]


def test_cluster_embeddings_separates_voices():
    rng = np.random.default_rng(0)
    centers = l2_normalize(rng.normal(size=(3, 64)))
    embs = l2_normalize(np.repeat(centers, 10, axis=0) + 0.05 * rng.normal(size=(30, 64)))
    labels = D.cluster_embeddings(embs, threshold=0.3)
    assert len(set(labels)) == 3
    assert all(len(set(labels[i * 10:(i + 1) * 10])) == 1 for i in range(3))
    assert list(D.cluster_embeddings(embs[:1], 0.3)) == [0]


class ToneEmbedder(SpeakerEmbedder):
    """A stand-in 'voice' embedder for crafted audio: the spectrum of the clip (a voice = a tone frequency)."""

    name, dim = "tone", 64

    def embed(self, wav):
        spec = np.abs(np.fft.rfft(wav, n=2048))[:512].reshape(64, 8).sum(axis=1)
        return l2_normalize(spec)


def _tones(spec):
    """Audio of consecutive tones: spec = [(seconds, freq or 0 for silence)]."""
    out = []
    for sec, f in spec:
        t = np.arange(int(sec * 16000)) / 16000
        out.append(0.3 * np.sin(2 * np.pi * f * t) if f else np.zeros_like(t))
    return np.concatenate(out).astype(np.float32)


def test_diarize_finds_speakers_changes_and_cue_hints():
    # A(2 s) B(2 s) [pause] A(1.5 s) — A and B talk without a pause in between: the cue start says where
    wav = _tones([(2.0, 440), (2.0, 1500), (0.5, 0), (1.5, 440)])
    speech = np.array([[0.0, 4.0], [4.5, 6.0]])
    cues = np.array([[0.0, 2.0], [2.0, 4.0], [4.5, 6.0]])
    turns = D.diarize(wav, speech, ToneEmbedder(), cue_spans=cues,
                      config=D.DiarizationConfig(min_cluster_piece_s=1.0))
    assert [(round(t.start, 1), round(t.end, 1), t.speaker) for t in turns] == [
        (0.0, 2.0, "SPK_00"), (2.0, 4.0, "SPK_01"), (4.5, 6.0, "SPK_00")]


def test_diarize_without_speech_gives_no_turns():
    assert D.diarize(np.zeros(16000, np.float32), np.zeros((0, 2)), ToneEmbedder()) == []


def test_overlapping_cues_of_two_speakers_mark_overlap():
    wav = _tones([(2.0, 440), (2.0, 1500)])
    turns = D.diarize(wav, np.array([[0.0, 4.0]]), ToneEmbedder(), cue_spans=np.array([[0.0, 2.6], [2.0, 4.0]]))
    assert [t.overlap for t in turns] == [True, True]
    assert turns[0].end == pytest.approx(2.6)


def test_annotation_round_trip_and_rttm(tmp_path):
    turns = [D.Turn(0.0, 1.5, "A"), D.Turn(1.2, 3.0, "B"), D.Turn(3.0, 4.0, "A")]
    back = D.annotation_to_turns(D.turns_to_annotation(turns))
    assert [(t.start, t.end, t.speaker, t.overlap) for t in back] == [
        (0.0, 1.5, "A", True), (1.2, 3.0, "B", True), (3.0, 4.0, "A", False)]
    D.write_rttm(turns, tmp_path / "x.rttm", uri="ep1")
    from audiorole.metrics import load_rttm

    ref = load_rttm(tmp_path / "x.rttm")
    assert ref.uri == "ep1" and set(ref.labels()) == {"A", "B"}


@pytest.mark.slow
def test_default_backend_on_the_real_two_speaker_recording(pyannote_sample):
    """The real labelled recording in the pyannote.audio wheel: two speakers found, DER in the expected range."""
    from audiorole.audio import load_audio
    from audiorole.embeddings import ResemblyzerEmbedder
    from audiorole.metrics import der, load_rttm
    from audiorole.vad import SileroVAD

    wav = load_audio(pyannote_sample / "sample.wav")
    speech = SileroVAD().speech_regions(wav)
    turns = D.diarize(wav, speech, ResemblyzerEmbedder())
    result = der(load_rttm(pyannote_sample / "sample.rttm"), turns)
    assert 2 <= len({t.speaker for t in turns}) <= 4
    assert result["der"] < 0.35, result


def test_vad_fast_path_gives_the_packages_own_timestamps(pyannote_sample):
    """``SileroVAD`` drives the ONNX session itself; on the real recording the regions must be exactly those of
    ``silero_vad.get_speech_timestamps`` with the same settings."""
    import torch
    from silero_vad import get_speech_timestamps

    from audiorole.audio import load_audio
    from audiorole.vad import SileroVAD

    vad = SileroVAD()
    wav = load_audio(pyannote_sample / "sample.wav")[: 16000 * 12 + 100]  # not a whole number of windows
    c = vad.config
    ref = get_speech_timestamps(torch.from_numpy(wav.astype("float32")), vad.model, threshold=c.threshold,
                                min_speech_duration_ms=c.min_speech_ms, min_silence_duration_ms=c.min_silence_ms,
                                speech_pad_ms=c.speech_pad_ms)
    got = vad.speech_regions(wav)
    assert len(ref) >= 2
    assert got.tolist() == [[r["start"] / 16000, r["end"] / 16000] for r in ref]
    with pytest.raises(ValueError, match="16 kHz"):
        vad.speech_probs(wav, 8000)
