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
    assert np.max(np.abs(audio)) == pytest.approx(0.125, abs=0.01)  # lavfi sine: peak 1/8 (-18 dBFS)


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
