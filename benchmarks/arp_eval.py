"""ARP-Eval figures on a built, trained series (after `audiorole run`): every evaluation stage recomputed and timed
(anchors, baselines, scoring, report) with the process's peak memory, then the per-character table, the metric
AUCs and which characters the ARP-Model beats the baselines for.

    .venv/bin/python benchmarks/arp_eval.py --data-dir demo_data/data --series maple-street [--keep]

``--keep``: score what is there (stages current are skipped) instead of recomputing everything.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="demo_data/data")
    ap.add_argument("--series", default="maple-street")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from audiorole.store import DataStore
    from audiorole_dagster.summary import print_eval
    from evaluation import stages, testset

    store, force = DataStore(args.data_dir), not args.keep
    timings = {}
    for name, fn in (("anchors", lambda: stages.run_anchors(store, args.series, force=force)),
                     ("baselines", lambda: stages.run_baselines(store, args.series, force=force)),
                     ("eval", lambda: stages.run_eval(store, args.series, force=force)),
                     ("report", lambda: stages.run_report(store, args.series, force=force))):
        t0 = time.perf_counter()
        r = fn()
        timings[name] = (time.perf_counter() - t0, r.skipped)
    n = len(testset.load_test_set(store, args.series))
    print(f"{args.series}: {n} test samples")
    for name, (sec, skipped) in timings.items():
        print(f"  {name:10s} {sec:7.1f} s" + (" (current, skipped)" if skipped else ""))
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print_eval(args.data_dir, args.series)


if __name__ == "__main__":
    main()
