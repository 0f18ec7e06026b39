"""The curator's UI path against `audiorole run`, and the two backfill policies, on a fresh demo series: wall time
and peak memory (RSS summed over the whole process tree: dagster dev, its daemon, code server and run workers).

    .venv/bin/python benchmarks/curator_path.py [--episodes 3] [--minutes 1.0] [--only run,ui,backfill4,backfill1]

- ``run``: ``audiorole run --no-train`` on the media root (episodes, series, shards in one process).
- ``ui``: ``audiorole ui`` on an empty media root; the series folder is dropped in; the media-root and dataset
  sensors do the rest. Timed from the drop to the last shards run.
- ``backfill4`` / ``backfill1``: automation off; a backfill of every episode asset over all the episodes, launched
  through the webserver's GraphQL API (what the UI's "Launch backfill" sends), with 4 episodes per run (the
  default ``BackfillPolicy``) or one per run (``AUDIOROLE_EPISODES_PER_RUN=1``). Timed from launch to completion.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EPISODE_ASSETS = ["probed_media", "standardized_audio", "parsed_subtitles", "speech_activity", "enhanced_audio",
                  "synced_subtitles", "speaker_turns", "transcript", "aligned_segments"]


class PeakRss:
    """Samples the RSS of a process and all its descendants every 0.5 s; ``peak_gb`` is the largest sum."""

    def __init__(self, pid: int):
        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runs(home: Path):
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return [(r.job_name, r.status.value) for r in instance.get_runs()], \
            [b.status.value for b in instance.get_backfills()]


def _start_ui(media: Path, data: Path, env: dict) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "audiorole"), "ui", "--media-root", str(media), "--data-dir", str(data),
                             "--port", str(port)], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(url + "/server_info", timeout=2).status == 200:
                return proc, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("dagster dev did not start")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _graphql(url: str, query: str, variables: dict) -> dict:
    req = urllib.request.Request(url + "/graphql", data=json.dumps({"query": query, "variables": variables}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=60).read())


def bench_run(series: Path, work: Path) -> dict:
    media = work / "media"
    shutil.copytree(series, media / series.name)
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "audiorole"), "run", "--media-root", str(media), "--data-dir",
                             str(work / "data"), "--no-train"], cwd=ROOT, stdout=subprocess.DEVNULL)
    rss = PeakRss(proc.pid)
    rc = proc.wait()
    return {"mode": "audiorole run", "seconds": round(time.perf_counter() - t0, 1), "peak_gb": round(rss.stop(), 2),
            "ok": rc == 0}


def bench_ui(series: Path, work: Path) -> dict:
    media, data = work / "media", work / "data"
    media.mkdir(parents=True)
    proc, _ = _start_ui(media, data, {})
    rss = PeakRss(proc.pid)
    time.sleep(5)
    t0 = time.perf_counter()
    shutil.copytree(series, media / series.name)
    home = data / "dagster_home"
    while time.perf_counter() - t0 < 3600:
        runs, _ = _runs(home)
        busy = any(s in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED") for _, s in runs)
        if not busy and any(j == "shards_job" for j, _ in runs) and any(j == "series_job" for j, _ in runs):
            break
        time.sleep(2)
    seconds = time.perf_counter() - t0
    peak = rss.stop()
    _stop(proc)
    return {"mode": "UI: drop → sensors", "seconds": round(seconds, 1), "peak_gb": round(peak, 2),
            "ok": all(s == "SUCCESS" for _, s in runs), "runs": len(runs)}


def bench_backfill(series: Path, work: Path, per_run: int) -> dict:
    import dagster as dg

    from audiorole.discovery import discover_episodes
    from audiorole_dagster.runner import prepare_dagster_home

    media, data = work / "media", work / "data"
    shutil.copytree(series, media / series.name)
    keys = [ep.key for ep in discover_episodes(media)[0]]
    home = prepare_dagster_home(data)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("episodes", keys)
        instance.add_dynamic_partitions("series", sorted({k.split("/")[0] for k in keys}))
    proc, url = _start_ui(media, data, {"AUDIOROLE_AUTOMATION": "off", "AUDIOROLE_EPISODES_PER_RUN": str(per_run)})
    rss = PeakRss(proc.pid)
    t0 = time.perf_counter()
    out = _graphql(url, """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                   {"p": {"partitionNames": keys, "assetSelection": [{"path": [a]} for a in EPISODE_ASSETS]}})
    result = out["data"]["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(result)
    while time.perf_counter() - t0 < 3600:
        runs, backfills = _runs(data / "dagster_home")
        if backfills and backfills[0].startswith(("COMPLETED", "FAILED", "CANCELED")):
            break
        time.sleep(2)
    seconds = time.perf_counter() - t0
    peak = rss.stop()
    _stop(proc)
    return {"mode": f"backfill, {per_run} episode(s) per run", "seconds": round(seconds, 1), "peak_gb": round(peak, 2),
            "ok": backfills[0] in ("COMPLETED", "COMPLETED_SUCCESS"), "runs": len(runs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--only", default="run,ui,backfill4,backfill1")
    args = ap.parse_args()
    from audiorole.demo import build_demo

    base = Path(tempfile.mkdtemp(prefix="curator-bench-"))
    demo = build_demo(base / "demo", minutes_per_episode=args.minutes, n_episodes=args.episodes, seed=0)
    series = demo.media_root / "Maple Street"
    modes = {"run": lambda w: bench_run(series, w), "ui": lambda w: bench_ui(series, w),
             "backfill4": lambda w: bench_backfill(series, w, 4), "backfill1": lambda w: bench_backfill(series, w, 1)}
    print(f"{args.episodes} episodes × {args.minutes} min of the demo series (2 cores)")
    for name in args.only.split(","):
        row = modes[name](base / name)
        print(json.dumps(row), flush=True)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
