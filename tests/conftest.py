"""Shared fixtures: small real media files made with ffmpeg, and media roots a curator could have dropped in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: the xdist scheduling (the short demo's tests on one worker, the long tests first): see tests/xdist_groups.py
pytest_plugins = ["tests.xdist_groups"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SRT = """1
00:00:00,500 --> 00:00:01,800
JOEY: How you doin'?

2
00:00:02,000 --> 00:00:03,200
- Hi.
- Hello there.
"""


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def make_tone(path: Path, seconds: float = 3.0, *, rate: int = 44100, channels: int = 2, freq: int = 440) -> Path:
    """A real encoded audio file (container from the suffix): a sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}:sample_rate={rate}", "-ac", str(channels),
           str(path))
    return path


def make_mkv_with_subs(path: Path, srt_text: str = SRT, seconds: float = 4.0) -> Path:
    """An .mkv with a video stream, an audio stream and an embedded subrip stream."""
    srt = path.with_suffix(".tmp.srt")
    srt.write_text(srt_text, encoding="utf-8")
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=64x48:r=5:d={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}",
        "-i", str(srt), "-map", "0:v", "-map", "1:a", "-map", "2:s",
        "-c:v", "mpeg4", "-c:a", "aac", "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(path),
    )
    srt.unlink()
    return path


def make_video_only(path: Path, seconds: float = 2.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"color=c=black:s=64x48:r=5:d={seconds}", "-c:v", "mpeg4", str(path))
    return path


def make_zero_length_wav(path: Path) -> Path:
    """A valid WAV header with no samples."""
    import numpy as np
    import soundfile as sf

    sf.write(str(path), np.zeros(0, dtype="float32"), 16000)
    return path


def built_once_per_run(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` (it returns a path inside ``folder``) once per test run, for a session fixture whose result
    the tests only read. Under xdist the workers share one build (the first worker that needs it builds it under a
    file lock, the others wait for it) in the run's own temporary root; in a serial run it is a plain session
    temporary folder."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    from filelock import FileLock

    folder = tmp_path_factory.getbasetemp().parent / f"shared-{name}"  # pytest-<n>/, shared by this run's workers
    built = folder.parent / f"shared-{name}.built"  # holds the built path, written once the build is complete
    with FileLock(str(folder) + ".lock"):
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            built.write_text(str(build(folder)))
    return Path(built.read_text())


@pytest.fixture(scope="session")
def require_ffmpeg():
    from audiorole.media import require_ffmpeg as _req

    _req()


@pytest.fixture
def media_root(tmp_path, require_ffmpeg) -> Path:
    """A media root with one healthy series: a .wav with a sidecar .srt, and an .mkv with embedded subtitles."""
    root = tmp_path / "media"
    show = root / "Test Show"
    make_tone(show / "E01.wav", 3.0)
    (show / "E01.srt").write_text(SRT, encoding="utf-8")
    make_mkv_with_subs(show / "E02.mkv")
    (show / "series.yaml").write_text("title: Test Show\nlanguage: en\ncharacters:\n  - name: Joey\n    aliases: [JOEY]\n")
    return root


@pytest.fixture(scope="session")
def pyannote_sample() -> Path:
    """The real two-speaker recording (and its labels) shipped in the pyannote.audio wheel."""
    import pyannote.audio

    return Path(pyannote.audio.__file__).parent / "sample"


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A tiny random Gemma 3 causal LM with the real tokenizer (``tests.model_dirs.build_tiny_causal_lm``)."""
    from tests.model_dirs import build_tiny_causal_lm

    return built_once_per_run(tmp_path_factory, "tiny-lm", lambda folder: build_tiny_causal_lm(folder / "model"))


@pytest.fixture(scope="session")
def short_demo(tmp_path_factory):
    """The demo series at test size: 3 episodes of ~0.6 min (every feature present), built once."""
    from audiorole.demo import build_demo

    # the line pools: a 0.6-minute episode holds about half as many style lines (often two sentences, one opening
    # with a catch-phrase), too few for every character to be named and trained at test size; the default (style)
    # demo is checked by test_demo.py (lines said once) and measured at full size by benchmarks/character_quality.py
    return build_demo(tmp_path_factory.mktemp("demo"), minutes_per_episode=0.6, n_episodes=3, seed=0, lines="pool")


@pytest.fixture(scope="session")
def short_demo_run(short_demo, tmp_path_factory):
    """The full pipeline run once over the short demo: (manifest, data dir, report). The demo's characters speak
    ~10 s each at this size, so the minor-voice threshold is lowered accordingly."""
    from audiorole_dagster.runner import run_pipeline

    data = tmp_path_factory.mktemp("demo-data")
    return short_demo, data, run_pipeline(short_demo.media_root, data, echo=lambda *_: None,
                                          dataset_config=SHORT_DEMO_DATASET_CONFIG, train=False)


@pytest.fixture
def short_demo_run_copy(short_demo_run, tmp_path):
    """``short_demo_run`` with a data dir of the test's own: a copy of the run's. The session's data dir is shared by
    every test of the short demo, which only read it; a test that writes to the data dir (materializes more, tampers
    with a stamp) uses this instead, so no test sees what another left and any order works."""
    from resources.storage import refresh_catalog

    demo, data, report = short_demo_run
    copy = tmp_path / "demo-data"
    shutil.copytree(data, copy)
    refresh_catalog(copy)  # the catalog's views name their parquet files by absolute path: the copy's own
    return demo, copy, report


SHORT_DEMO_DATASET_CONFIG = {"characters": {"min_character_s": 4.0, "min_character_share": 0.02}}


@pytest.fixture
def short_demo_dataset_config() -> dict:
    return SHORT_DEMO_DATASET_CONFIG
