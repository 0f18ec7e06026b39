"""Overlap detection thresholds side by side: the detector's regions given two speakers by the diarization, scored
against the true overlap and as DER.

    .venv/bin/python benchmarks/overlap_quality.py --demo-dir /work/hard_eval [--threshold 0.5 --threshold 0.65 ...]

Reads each episode's standardized audio and speech regions from ``DIR/data`` (run the pipeline first) and its true
turns from ``DIR/truth``; for each threshold runs the default diarization with the detected overlap and prints
DER (collar 0.25 s) with its parts, and the overlapped speech of the turns against the truth (precision / recall,
10 ms frames, no collar), per episode and over all episodes. The detector runs once per episode.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vad_quality import episodes_with_truth  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-dir", type=Path, action="append", required=True)
    ap.add_argument("--threshold", type=float, action="append", default=[])
    args = ap.parse_args()
    from audiorole.alignment import _intervals
    from audiorole.audio import load_audio
    from audiorole.diarization import diarize
    from audiorole.embeddings import ResemblyzerEmbedder
    from audiorole.metrics import der, load_rttm, overlap_detection
    from audiorole.overlap import OverlapConfig, OverlapDetector, probabilities_to_regions

    thresholds = args.threshold or [OverlapConfig().threshold]
    emb, det = ResemblyzerEmbedder(), OverlapDetector()
    totals = {t: [0.0, 0.0, 0.0, 0.0, 0] for t in thresholds}  # tp s, found s, true s, DER sum, episodes
    for d in args.demo_dir:
        for key, audio, rttm in episodes_with_truth(d):
            wav, ref = load_audio(audio), load_rttm(rttm)
            speech = _intervals(audio.with_name("speech.parquet"))
            probs = det.probabilities(wav)
            for t in thresholds:
                turns = diarize(wav, speech, emb, overlap=probabilities_to_regions(probs, OverlapConfig(threshold=t), speech))
                r, o = der(ref, turns), overlap_detection(ref, turns)
                tot = totals[t]
                tot[0] += (o["overlap_recall"] or 0.0) * o["overlap_true_s"]
                tot[1] += o["overlap_found_s"]
                tot[2] += o["overlap_true_s"]
                tot[3] += r["der"]
                tot[4] += 1
                p = "-" if o["overlap_precision"] is None else f"{o['overlap_precision']:.2f}"
                rc = "-" if o["overlap_recall"] is None else f"{o['overlap_recall']:.2f}"
                print(f"{key:28s} threshold {t:.2f}: DER {r['der']:.3f} (missed {r['missed']:.3f}, false alarm "
                      f"{r['false_alarm']:.3f}, confusion {r['confusion']:.3f}); overlap P {p} R {rc}", flush=True)
    for t, (tp, found, true, der_sum, n) in totals.items():
        print(f"ALL threshold {t:.2f}: overlap precision {tp / found if found else 0:.3f}, recall "
              f"{tp / true if true else 0:.3f} (target ≥ 0.60 at ≥ 0.70); mean DER {der_sum / max(1, n):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
