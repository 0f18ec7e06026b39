"""One speech LM per series (conditioned on the character) against one per character, as the paper trained them.

On a series whose ARP-Model is trained (`audiorole run`), trains a model per character on that character's samples
only — same base, vocabulary, DeepSpeed config and schedule as the series model — and compares each character's
validation loss (its own validation samples, best checkpoint of each run) with the series model's, and the time.

    .venv/bin/python benchmarks/per_character_lm.py --data-dir demo_data/data --series maple-street [--characters k1,k2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="demo_data/data")
    ap.add_argument("--series", default="maple-street")
    ap.add_argument("--characters", help="character keys, comma-separated (default: every trained character)")
    args = ap.parse_args()

    from audiorole.store import DataStore
    from training.lm.train import TrainSpec, load_samples, train

    store = DataStore(args.data_dir)
    lm_dir = store.model_dir(args.series, "lm")
    series_spec = TrainSpec.load(lm_dir / "spec.json")
    series = json.loads((lm_dir / "result.json").read_text())
    samples = load_samples(series_spec.samples_path)
    keys = args.characters.split(",") if args.characters else sorted(series["val_by_character"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="per-character-") as tmp:
        for key in keys:
            mine = {split: [r for r in rs if r["character_key"] == key] for split, rs in samples.items()}
            path = Path(tmp) / f"{key}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for rs in mine.values() for r in rs))
            spec = replace(series_spec, out_dir=str(Path(tmp) / key), samples_path=str(path), fresh=True,
                           extra={**series_spec.extra, "fingerprint": f"per-character {key}"})
            t0 = time.perf_counter()
            r = train(spec)
            rows.append({"character": key, "train": len(mine["train"]), "validation": len(mine.get("validation", [])),
                         "alone": r["best_val_loss"], "alone_text": r["val_text_loss"], "alone_units": r["val_unit_loss"],
                         "series": series["val_by_character"].get(key), "seconds": time.perf_counter() - t0,
                         "best_step": r["best_step"]})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\nseries model: {series['steps']} steps over {series['n_train_samples']} samples, "
          f"{series.get('wall_s_this_run')} s; schedule {series_spec.max_steps} steps per model")
    print(f"{'character':16} {'train':>5} {'val':>4} {'series model':>12} {'own model':>9} {'own text':>8} "
          f"{'own units':>9} {'own best':>8} {'seconds':>7}")
    for r in rows:
        print(f"{r['character']:16} {r['train']:5d} {r['validation']:4d} {r['series']:12.3f} {r['alone']:9.3f} "
              f"{r['alone_text']:8.3f} {r['alone_units']:9.3f} {r['best_step']:8d} {r['seconds']:7.0f}")
    print(f"per-character models: {sum(r['seconds'] for r in rows):.0f} s in all")


if __name__ == "__main__":
    main()
