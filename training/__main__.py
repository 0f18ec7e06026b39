"""``python -m training train --data-dir D --series S [--title T] [--profile cpu] [--set key=value ...] [--fresh]``

Trains (or resumes) the series' speech LM. Launched by the ``arp_model`` asset through Dagster Pipes (usually under
``torchrun``), it reports its logs and the materialization back to Dagster; run by hand, it prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _value(v: str):
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


class PipesReporter:
    def __init__(self, pipes):
        self.pipes = pipes

    def log(self, msg: str) -> None:
        self.pipes.log.info(msg)
        print(msg, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train or resume a series' ARP-Model speech LM")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--series", required=True, help="series key, e.g. maple-street")
    p.add_argument("--title", help="series title used in prompts (default: from the key)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override profile fields")
    p.add_argument("--config-json", help="a whole ModelConfig as JSON (what the Dagster asset passes)")
    p.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    args = parser.parse_args(argv)

    from dataclasses import fields

    from audiorole.store import DataStore
    from training.config import ModelConfig, profile
    from training.stages import lm_metadata, run_lm

    if args.config_json:
        config = ModelConfig(**json.loads(args.config_json))
    else:
        overrides = dict(kv.split("=", 1) for kv in args.set)
        known = {f.name for f in fields(ModelConfig)}
        bad = sorted(set(overrides) - known)
        if bad:
            parser.error(f"unknown setting(s) {', '.join(bad)} (known: {', '.join(sorted(known))})")
        config = profile(args.profile, **{k: _value(v) for k, v in overrides.items()})
    title = args.title or args.series.replace("-", " ").title()
    store = DataStore(args.data_dir)
    rank = int(os.environ.get("RANK", "0"))
    from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR

    if rank == 0 and os.environ.get(DAGSTER_PIPES_CONTEXT_ENV_VAR):
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            result = run_lm(store, args.series, title, config, reporter=PipesReporter(pipes), fresh=args.fresh)
            pipes.report_asset_materialization(metadata=lm_metadata(result.row), data_version=result.fingerprint)
    else:
        result = run_lm(store, args.series, title, config, fresh=args.fresh)
        print(json.dumps({k: result.row[k] for k in ("steps", "tokens", "best_step", "best_val_loss", "model_dir")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
