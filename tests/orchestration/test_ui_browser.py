"""What a curator sees in the Dagster UI, in a real headless Chromium (Debian's, driven by playwright; no browser is
downloaded): the whole lineage; a series folder dropped into the media root becoming partitions and successful
runs with nobody launching anything; a bad episode's asset check failing, visibly; a backfill launched from the
UI's partition picker completing. Screenshots of each step go to ``AUDIOROLE_UI_SCREENSHOTS`` (default
``.artifacts/ui-screenshots/`` in the project root)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Automatic runs' config: the one-episode test series' characters speak a few seconds each. The floor is 1 s so the
#: series has two characters (the backfill below needs two partitions: one alone launches a run, not a backfill); on
#: this machine kind its voices measured 3.5, 1.2 and 0.5 s, and with a 2 s floor only one was a character
RUN_CONFIG = "characters:\n  min_character_s: 1.0\n  min_character_share: 0.02\n"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make test-deps)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, condition, timeout: float, every: float = 3.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def dagster_ui(tmp_path, require_ffmpeg):
    """``audiorole ui`` (dagster dev: webserver + daemon) on an empty media root; yields (url, media root, home)."""
    media, data = tmp_path / "media", tmp_path / "data"
    media.mkdir()
    config = tmp_path / "automation.yaml"
    config.write_text(RUN_CONFIG)
    port = _free_port()
    env = {**os.environ, "AUDIOROLE_RUN_CONFIG": str(config), "PYTHONUNBUFFERED": "1", "AUDIOROLE_SENSOR_INTERVAL_S": "3"}
    log = open(tmp_path / "dagster.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "audiorole_dagster.cli", "ui", "--media-root", str(media),
                             "--data-dir", str(data), "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return urllib.request.urlopen(url + "/server_info", timeout=2).status == 200
        except OSError:
            return proc.poll() is not None and pytest.fail((tmp_path / "dagster.log").read_text()[-3000:])

    try:
        _wait("the Dagster webserver", up, 120, 1.0)
        yield url, media, data / "dagster_home"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _runs(home: Path) -> list[tuple[str, str, str, str]]:
    """(job, partition or range start, status, what launched it) of every run of the UI's instance."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [(r.job_name, r.tags.get("dagster/partition") or r.tags.get("dagster/asset_partition_range_start", ""),
                 r.status.value, r.tags.get("dagster/sensor_name") or ("backfill" if r.tags.get("dagster/backfill")
                                                                        else "manual"))
                for r in instance.get_runs()]


def _backfills(home: Path):
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [(b.backfill_id, b.status.value) for b in instance.get_backfills()]


def test_curator_ui_path_in_a_real_browser(dagster_ui, tmp_path):
    from playwright.sync_api import sync_playwright

    from audiorole.demo import build_demo

    url, media, home = dagster_ui
    t0 = time.time()

    def phase(name: str) -> None:  # shown with -s: where the test's time goes
        print(f"[ui test] {time.time() - t0:6.1f} s  {name}", flush=True)
    shots = Path(os.environ.get("AUDIOROLE_UI_SCREENSHOTS") or ROOT / ".artifacts" / "ui-screenshots")
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    demo = build_demo(tmp_path / "demo", minutes_per_episode=0.3, n_episodes=1, seed=0)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})

        def visit(path: str, shot: str, wait_text: str | None = None) -> str:
            page.goto(url + path)
            if wait_text:
                page.get_by_text(wait_text).first.wait_for(timeout=60_000)
            page.wait_for_timeout(800)
            skip = page.get_by_role("button", name="Skip")  # the "join the Dagster community" modal
            if skip.count():
                skip.first.click()
                page.wait_for_timeout(300)
            page.screenshot(path=str(shots / shot))
            return page.inner_text("body")

        phase('demo built, browser up')
        # 1. the lineage: media → episode stages → series stages → model → replies → eval
        body = visit("/asset-groups", "01_lineage_groups.png", "evaluation")
        for group in ("ingest", "segments", "dataset", "training", "evaluation"):
            assert group in body
        body = visit("/assets/arp_eval_report?view=lineage&lineageScope=upstream&lineageDepth=20",
                     "02_lineage_of_the_evaluation_report.png", "probed_media")
        for asset in ("probed_media", "aligned_segments", "characters", "dialogues", "speech_tokenizer", "arp_model",
                      "arp_replies", "arp_eval"):
            assert asset in body, asset
        assert "character_shards" not in body, "the model reads the dialogues and units, not the shards"
        body = visit("/automation", "03_automation.png", "media_root_sensor")
        assert "dataset_sensor" in body and "models_sensor" in body and "stale_series_schedule" in body
        # what ARP-Eval checks: the model against Base, the metrics' separation, and the replies' currency (a warning)
        body = visit("/assets/arp_eval?view=checks", "03b_eval_checks.png", "replies_current")
        for check in ("arp_model_beats_base_ap", "arp_model_beats_base_cp", "metrics_separate_characters"):
            assert check in body, check
        page.get_by_text("replies_current").first.click()
        page.get_by_text("ARP-Eval scores the replies on record").first.wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "03c_replies_current_check.png"))

        phase('lineage and automation pages checked')
        # 2. a curator drops a series folder, and a bad one, into the media root; nobody launches anything
        shutil.copytree(demo.media_root / "Maple Street", media / "Maple Street")
        bad = media / "Bad Show"
        bad.mkdir()
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "sine=frequency=220:duration=8", "-f", "lavfi", "-i", "anoisesrc=a=0.05:d=8", "-filter_complex",
                        "amix=inputs=2", "-ar", "16000", str(bad / "Music.wav")], check=True)  # no speech at all

        def settled():
            runs = _runs(home)
            ok = {(j, p) for j, p, s, _ in runs if s == "SUCCESS"}
            done = ({("episode_job", "maple-street/s01e01"), ("episode_job", "bad-show/music"),
                     ("series_job", "maple-street"), ("series_job", "bad-show")} <= ok
                    and any(j == "shards_job" for j, _ in ok)
                    and not any(s in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED") for _, _, s, _ in runs))
            return runs if done else None

        phase('series dropped')
        runs = _wait("the dropped series to run through the sensors", settled, 420, 5.0)
        assert {who for *_, who in runs} <= {"media_root_sensor", "dataset_sensor"}, runs
        assert sorted(p for j, p, *_ in runs if j == "series_job") == ["bad-show", "maple-street"], \
            "each series is built once, after its episodes"
        phase('every automatic run finished')
        body = visit("/runs", "04_runs_started_by_sensors.png", "shards_job")
        assert "series_job" in body and "episode_job" in body and "dataset_sensor" in body
        assert all(s == "SUCCESS" for _, _, s, _ in runs), runs
        body = visit("/assets/probed_media?view=partitions", "05_episode_partitions.png", "maple-street/s01e01")
        assert "bad-show/music" in body

        phase('runs and partitions checked')
        # 3. the music-only (bad) episode's asset check is red, per partition, with its figures
        body = visit("/assets/aligned_segments?view=checks", "06_failed_check.png", "speech_kept_share")
        assert "Failed" in body
        page.get_by_text("Execution history").first.click()
        page.get_by_text("bad-show/music").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "07_failed_check_per_partition.png"))
        history = page.inner_text("body")
        assert "maple-street/s01e01" in history and "Passed" in history and "Failed" in history

        phase('failed check checked')
        # 4. a backfill from the UI's partition picker: every character's shards, in one ranged run
        visit("/assets/character_shards", "08_shards_asset.png", "Materialize")
        page.get_by_role("button", name="Materialize…").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="All").first.click()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / "09_backfill_dialog.png"))
        dialog.get_by_role("button", name="Launch backfill").click()
        (backfill_id, _), = _wait("the backfill to be created", lambda: _backfills(home), 60, 1.0)
        # the backfill daemon marks it complete on its next pass (every ~30 s) after its run succeeds
        status = _wait("the backfill to complete", lambda: next((s for _, s in _backfills(home)
                                                                 if s.startswith(("COMPLETED", "FAILED"))), None),
                       240, 2.0)
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), _backfills(home)
        phase('backfill completed')
        backfill_runs = [r for r in _runs(home) if r[3] == "backfill"]
        assert backfill_runs and all(s == "SUCCESS" for _, _, s, _ in backfill_runs)
        assert len(backfill_runs) == 1, "single-run policy: every character partition in one run"
        visit(f"/runs/b/{backfill_id}", "10_backfill_completed.png", "Completed")
        browser.close()
