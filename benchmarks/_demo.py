"""What the quality benchmarks share: the demo-dir arguments, and building + running the demo when needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_demo_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--demo-dir", type=Path, default=Path("demo_data"))
    ap.add_argument("--minutes", type=float, default=3.5)
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="demo seed, when the demo has to be built")
    ap.add_argument("--no-run", action="store_true", help="score the data dir as it is")


def prepare_demo(args) -> tuple[Path, Path, Path]:
    """(media root, truth root, data dir): the demo is written if missing, and the pipeline run (current work is
    skipped) unless ``--no-run``."""
    media, truth, data = args.demo_dir / "media", args.demo_dir / "truth", args.demo_dir / "data"
    if not media.exists():
        from audiorole.demo import build_demo

        build_demo(args.demo_dir, minutes_per_episode=args.minutes, n_episodes=args.episodes, seed=args.seed)
    if not args.no_run:
        from audiorole_dagster.runner import run_pipeline

        report = run_pipeline(media, data, echo=lambda *_: None)
        if not report.ok:
            print("some partitions failed:", report.failed, file=sys.stderr)
    return media, truth, data
