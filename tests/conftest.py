"""Shared fixtures: small real media files made with ffmpeg, and media roots a curator could have dropped in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

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


# xdist (`make test` runs `-n 2 --dist loadgroup`) -----------------------------------------------------------------
#: session fixtures that build the short demo and run the pipeline over it: every test using one is kept on one worker
#: (one xdist group) so they are built once, as in a serial run
SHORT_DEMO_FIXTURES = {"short_demo", "short_demo_run"}
#: the long tests outside that group, scheduled first (in this order; a scheduling hint only) so the many short ones
#: fill in at the end and both workers finish together: the DeepSpeed kill-and-resume test (it builds ``tiny_lm``
#: early, before the group's training test needs it), the browser test (it mostly waits on the Dagster daemon),
#: then the modules with the other long ones
LONG_FIRST = ("tests/test_training.py::test_deepspeed_training_is_killed", "tests/test_ui_browser.py::",
              "tests/test_training.py::", "tests/test_orchestration.py::", "tests/test_enhance.py::")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    grouped = set()
    for item in items:
        if SHORT_DEMO_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("short_demo"))
            grouped.add(item.nodeid)

    def rank(item) -> int:  # the group's tests keep their order: later ones read what earlier ones left in the demo
        return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)
                     and item.nodeid not in grouped), len(LONG_FIRST))

    items.sort(key=rank)  # stable: otherwise collection order
    groups_dir = getattr(config, "workerinput", {}).get("xdist_groups_dir")
    if groups_dir:  # an xdist worker: tell the controller's scheduler (below) which group each test is in
        groups = {}
        for item in items:
            names = {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                     for m in item.iter_markers("xdist_group")}
            if names:
                groups[item.nodeid] = "_".join(sorted(names))
        (Path(groups_dir) / f"{config.workerinput['workerid']}.json").write_text(json.dumps(groups))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller, per worker: where the worker writes its tests' groups."""
    config = node.config
    if not hasattr(config, "_xdist_groups_dir"):
        config._xdist_groups_dir = tempfile.mkdtemp(prefix="pytest-xdist-groups-")
        config.add_cleanup(lambda: shutil.rmtree(config._xdist_groups_dir, ignore_errors=True))
    node.workerinput["xdist_groups_dir"] = config._xdist_groups_dir


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the groups the workers collected. xdist 3.8 passes a test's group to the controller
    as a suffix of its node id (``item._nodeid``), which pytest 9.2 no longer reads (node ids live in ``item._id``):
    every test would be its own group, and the short demo would be built once per worker."""
    if config.getvalue("dist") != "loadgroup" or not hasattr(config, "_xdist_groups_dir"):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class CollectedGroupScheduling(LoadGroupScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first called once every worker has collected (and written its file)
                self.groups = {}
                for f in sorted(Path(config._xdist_groups_dir).glob("*.json")):
                    self.groups.update(json.loads(f.read_text()))
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

    return CollectedGroupScheduling(config, log)


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
def short_demo(tmp_path_factory):
    """The demo series at test size: 3 episodes of ~0.6 min (every feature present), built once."""
    from audiorole.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo"), minutes_per_episode=0.6, n_episodes=3, seed=0)


@pytest.fixture(scope="session")
def short_demo_run(short_demo, tmp_path_factory):
    """The full pipeline run once over the short demo: (manifest, data dir, report). The demo's characters speak
    ~10 s each at this size, so the minor-voice threshold is lowered accordingly."""
    from audiorole_dagster.cli import run_pipeline

    data = tmp_path_factory.mktemp("demo-data")
    return short_demo, data, run_pipeline(short_demo.media_root, data, echo=lambda *_: None,
                                          dataset_config=SHORT_DEMO_DATASET_CONFIG, train=False)


SHORT_DEMO_DATASET_CONFIG = {"characters": {"min_character_s": 4.0, "min_character_share": 0.02}}


@pytest.fixture
def short_demo_dataset_config() -> dict:
    return SHORT_DEMO_DATASET_CONFIG
