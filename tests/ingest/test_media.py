"""Probing and standardizing real media files; every bad file fails with its path and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiorole import media
from audiorole.errors import MediaError
from tests.conftest import make_mkv_with_subs, make_tone, make_video_only, make_zero_length_wav


def test_probe_describes_streams_duration_and_checksum(tmp_path, require_ffmpeg):
    mkv = make_mkv_with_subs(tmp_path / "ep.mkv", seconds=4.0)
    info = media.probe(mkv)
    assert info.has_video
    assert [s.kind for s in info.audio_streams] == ["audio"]
    assert info.subtitle_streams[0].codec == "subrip"
    assert info.subtitle_streams[0].language == "eng"
    assert info.duration_s == pytest.approx(4.0, abs=0.2)
    assert info.sha256 == media.sha256_file(mkv) and len(info.sha256) == 64


def test_standardize_gives_16k_mono_loudness_normalized_flac(tmp_path, require_ffmpeg):
    quiet = make_tone(tmp_path / "in.mp3", 4.0, rate=48000, channels=2)
    out = tmp_path / "out" / "audio.flac"
    facts = media.standardize_audio(quiet, out)
    audio, sr = sf.read(out)
    assert sr == 16000 and audio.ndim == 1
    assert facts["duration_s"] == pytest.approx(4.0, abs=0.1)
    # a full-scale sine is far louder than -23 LUFS: normalization must bring its RMS well below full scale
    rms_db = 20 * np.log10(np.sqrt(np.mean(audio**2)))
    assert -30 < rms_db < -15
    assert not list(out.parent.glob(".*")), "no temp file left behind"


def test_standardize_without_loudnorm_keeps_level(tmp_path, require_ffmpeg):
    tone = make_tone(tmp_path / "in.wav", 2.0, channels=1)
    media.standardize_audio(tone, tmp_path / "a.flac", loudnorm=False)
    audio, _ = sf.read(tmp_path / "a.flac")
    steady = audio[3200:]  # past the high-pass's onset transient
    assert np.max(np.abs(steady)) == pytest.approx(0.125, abs=0.01)  # lavfi sine: peak 1/8 (-18 dBFS)


def test_standardize_takes_dc_offset_and_rumble_out_of_real_speech(tmp_path, require_ffmpeg):
    """Real recordings come with DC offset and rumble; blind SNR reads them as noise unless standardization takes
    them out, while the speech band passes unchanged."""
    from pathlib import Path as P

    import pyannote.audio

    from audiorole.segments.quality import wada_snr_db

    speech, sr = sf.read(P(pyannote.audio.__file__).parent / "sample" / "sample.wav", dtype="float32")
    speech = speech[: 8 * sr]
    t = np.arange(len(speech)) / sr
    rms = float(np.sqrt(np.mean(speech ** 2)))
    dirty = speech + 0.8 * rms + 0.5 * rms * np.sin(2 * np.pi * 12.0 * t)  # DC + 12 Hz rumble
    sf.write(tmp_path / "in.wav", dirty.astype(np.float32), sr)
    clean_snr, dirty_snr = wada_snr_db(speech), wada_snr_db(dirty)
    assert dirty_snr < clean_snr - 10, "the dirty input must look noisy to blind SNR for this test to mean anything"

    facts = media.standardize_audio(tmp_path / "in.wav", tmp_path / "hp.flac", loudnorm=False)
    out, _ = sf.read(tmp_path / "hp.flac")
    assert facts["highpass_hz"] == media.HIGHPASS_HZ
    assert abs(out.mean()) < 0.02 * rms
    assert wada_snr_db(out) == pytest.approx(clean_snr, abs=3.0)
    band = np.fft.rfft(out[:len(speech)]), np.fft.rfft(speech)
    f = np.fft.rfftfreq(len(speech), 1 / sr)
    voice = (f > 150) & (f < 4000)
    gain = np.sqrt(np.sum(np.abs(band[0][voice]) ** 2) / np.sum(np.abs(band[1][voice]) ** 2))
    assert gain == pytest.approx(1.0, abs=0.05), "the speech band passes unchanged"

    media.standardize_audio(tmp_path / "in.wav", tmp_path / "raw.flac", loudnorm=False, highpass_hz=None)
    raw, _ = sf.read(tmp_path / "raw.flac")
    assert raw.mean() > 0.5 * rms, "highpass_hz=None keeps the audio as decoded"


def test_extract_embedded_subtitles_as_srt(tmp_path, require_ffmpeg):
    mkv = make_mkv_with_subs(tmp_path / "ep.mkv")
    idx = media.probe(mkv).subtitle_streams[0].index
    text = media.extract_subtitle_stream(mkv, idx)
    assert "How you doin'?" in text and "-->" in text


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make_bad, problem",
    [
        (lambda d: _write(d / "empty.mkv", b""), "file is empty"),
        (lambda d: _write(d / "noise.mkv", np.random.default_rng(0).bytes(4096)), "cannot read media container"),
        (lambda d: make_video_only(d / "video.mkv"), "no audio stream"),
        (lambda d: d / "missing.wav", "file not found"),
    ],
    ids=["zero-bytes", "random-bytes", "video-only", "missing"],
)
def test_probe_rejects_bad_media_naming_file_and_problem(tmp_path, require_ffmpeg, make_bad, problem):
    path = make_bad(tmp_path)
    with pytest.raises(MediaError) as exc:
        media.probe(path)
    assert str(path) in str(exc.value) and problem in str(exc.value)


def test_zero_length_audio_fails_at_standardization(tmp_path, require_ffmpeg):
    wav = make_zero_length_wav(tmp_path / "silent.wav")
    out = tmp_path / "audio.flac"
    with pytest.raises(MediaError, match="empty or too short") as exc:
        media.standardize_audio(wav, out)
    assert str(wav) in str(exc.value)
    assert not out.exists() and not list(tmp_path.glob(".audio.flac*"))


@pytest.mark.parametrize("suffix", [".flac", ".mkv", ".wav", ".mp4"])
def test_truncated_file_fails_with_its_name(tmp_path, require_ffmpeg, suffix):
    good = make_tone(tmp_path / f"full{suffix}", 6.0)
    declared = media.probe(good).duration_s
    data = good.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 3])
    out = tmp_path / "a.flac"
    with pytest.raises(MediaError) as exc:
        # the header may survive (probe passes): then decoding must notice the missing audio
        media.probe(cut)
        media.standardize_audio(cut, out, expected_duration_s=declared)
    assert str(cut) in str(exc.value)
    assert not out.exists()
