"""The whole mission on real voices, side by side with the demo: data half, ARP-Model and ARP-Eval.

    .venv/bin/python benchmarks/real_voices.py --out DIR [--minutes 8] [--episodes 6] [--no-train]
                                                [--series demo,amazon-queen,fish-fillets]

For each series: builds it once under ``DIR/<name>`` (the default demo, or ``audiorole recipe <name>`` with
``--minutes`` and ``--episodes``; the packages are cached as the recipe command caches them), runs the whole
pipeline on it (``audiorole run``: episodes, characters, dialogues, shards, then unless ``--no-train`` the
ARP-Model, its replies and ARP-Eval; current work is skipped), and scores it against the series' ground truth:
- the episodes: DER, kept speech, subtitle sync (median), episodes lost (failed or without segments);
- the characters: attribution of kept speech, voice purity, main characters named;
- content: the TF-IDF Content Personalization scorer's AUC on unseen turns (``content_separation.py``);
- ARP-Eval: AUC of AP and CP (own vs another character's real reply), the ARP-Model's AP, CP and CER.
Prints one table and writes ``DIR/real_voices.json``. The issue's targets: attribution ≥ 95%, purity ≥ 0.95,
DER ≤ 10%, kept ≥ 80%, no episode lost, AUC AP ≥ 0.95 and CP ≥ 0.80.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SERIES = ("demo", "amazon-queen", "fish-fillets")


def build(name: str, folder: Path, minutes: float, episodes: int, cache: Path) -> None:
    """The series' media root and truth under ``folder`` (kept when already there)."""
    if (folder / "media").exists():
        return
    if name == "demo":
        from audiorole.demo import build_demo

        build_demo(folder)
        return
    from audiorole.recipes.build import build_series
    from audiorole_dagster.cli import RECIPES

    corpus = importlib.import_module(RECIPES[name]).read(cache / name)
    build_series(corpus, folder, minutes_per_episode=minutes, n_episodes=episodes)


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 3) if values else None


def score(folder: Path, trained: bool) -> list[dict]:
    """One row per series under ``folder`` with ground truth (see the module docstring)."""
    from character_quality import score_series
    from content_separation import SCORERS, as_replies, separation_auc, series_lines
    from segment_quality import score_data_dir

    from audiorole.discovery import discover_episodes
    from audiorole.store import DataStore
    from evaluation import stages as ev
    from evaluation.report import auc_rows
    from evaluation.score import ALL, table
    from evaluation.systems import ARP_MODEL

    media, truth, data = folder / "media", folder / "truth", folder / "data"
    store = DataStore(data)
    episodes = discover_episodes(media)[0]
    segments = score_data_dir(media, truth, data)
    lines = series_lines(folder)
    rows = []
    for ch in score_series(media, truth, data):
        key = ch["series_key"]
        eps = [e for e in episodes if e.series_key == key]
        mine = [s for s in segments if s["episode_key"].startswith(key + "/")]
        row = {
            "series": key, "episodes": len(eps), "episodes_lost": len(eps) - len(mine),
            "der": _mean([s["der"] for s in mine]), "der_max": max((s["der"] for s in mine), default=None),
            "kept_speech": _mean([s.get("kept_speech_share") for s in mine]),
            "sync_median_ms": _mean([s.get("sync_median_ms") for s in mine]),
            "attribution": round(ch["attribution_accuracy"], 3) if ch["attribution_accuracy"] is not None else None,
            "voice_purity": round(ch["voice_purity"], 3) if ch["voice_purity"] is not None else None,
            "all_main_named": ch["all_main_named"],
            "cp_scorer_auc": round(separation_auc(
                {e: as_replies(x) for e, x in lines[eps[0].series.folder.name].items()}, SCORERS["tfidf"])["pooled"], 3)
            if eps and eps[0].series.folder.name in lines else None,
        }
        if trained:
            try:
                results = ev.load_results(store, key)
            except FileNotFoundError:
                results = None
            if results:
                auc = {(r["metric"], r["replies"]): r["AUC"] for r in auc_rows(results) if r["character"] == "ALL"}
                model = [r for r in table(results) if r["system"] == ARP_MODEL and r["character"] == ALL]
                row.update({"auc_AP": auc.get(("AP", "test set")), "auc_CP": auc.get(("CP", "test set")),
                            "auc_AP_held_out": auc.get(("AP", "all held out")),
                            "auc_CP_held_out": auc.get(("CP", "all held out")),
                            **{f"model_{m}": (model[0].get(m) if model else None) for m in ("AP", "CP", "CER")}})
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--series", default=",".join(SERIES))
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--episodes", type=int, default=6)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "audiorole" / "recipes")
    ap.add_argument("--no-train", action="store_true")
    args = ap.parse_args()

    from audiorole_dagster.runner import run_pipeline

    table_rows = []
    for name in args.series.split(","):
        folder = args.out / name
        t0 = time.perf_counter()
        build(name, folder, args.minutes, args.episodes, args.cache)
        report = run_pipeline(folder / "media", folder / "data", train=not args.no_train, echo=lambda *_: None)
        seconds = round(time.perf_counter() - t0, 1)
        for row in score(folder, trained=not args.no_train):
            row.update(name=name, seconds=seconds, failed=sorted(report.failed))
            table_rows.append(row)
    cols = [c for c in ("name", "episodes", "episodes_lost", "der", "kept_speech", "sync_median_ms", "attribution",
                        "voice_purity", "all_main_named", "cp_scorer_auc", "auc_AP", "auc_CP", "auc_AP_held_out",
                        "auc_CP_held_out", "model_AP", "model_CP",
                        "model_CER", "seconds") if any(c in r for r in table_rows)]
    print("  ".join(cols))
    for r in table_rows:
        print("  ".join(str(r.get(c, "-")) for c in cols))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real_voices.json").write_text(json.dumps(table_rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
