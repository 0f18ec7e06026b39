"""Diarization settings side by side, on episodes the pipeline has already processed: DER per episode and mean.

    .venv/bin/python benchmarks/diarization_quality.py --demo-dir /work/hard_eval \
        [--variant base --variant min_cluster_piece_uncued_s=1.0 ...] [--no-subtitles] [--overlap auto|on|off] \
        [--audio analysis|standardized]

Reads each episode's analysis audio (enhanced where the pipeline enhanced it), speech regions and synchronized
subtitle cues from ``DIR/data`` and its true turns from ``DIR/truth``, then runs the default diarization once per
variant. A variant is ``base`` (the defaults) or ``K=V[,K=V]`` overrides of ``DiarizationConfig``, plus
``overlap_threshold=T`` for the overlap detector. ``--no-subtitles`` diarizes as if the episode had none (no cue
cuts, no speaker tags): how the default backend does on subtitle-less speech where the truth is known.
``--overlap``: when the packaged overlap detector's regions are given to diarization (``auto``: episodes without
subtitles, as ``AUDIOROLE_OVERLAP_DETECTION=auto``; the default here is ``off``, as in the pipeline).
``--audio``: the embeddings read the analysis audio (enhanced where the pipeline enhanced it; the default, as in
the pipeline) or the standardized audio; the overlap detector always reads the standardized audio.
Prints DER (collar 0.25 s) with missed / false alarm / confusion, the number of voices found, and the overlapped
speech of the turns against the truth (precision / recall, 10 ms frames, no collar), per episode and pooled per
variant. Overlap detector thresholds side by side:
``--overlap auto --variant overlap_threshold=0.5 --variant overlap_threshold=0.65``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vad_quality import episodes_with_truth  # noqa: E402


def parse_variant(text: str) -> dict:
    """``K=V[,K=V]`` as a dict of typed values (numbers as float, the rest as strings); ``base``: no override."""
    if text == "base":
        return {}
    out = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            out[k.strip()] = v.strip()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-dir", type=Path, action="append", required=True)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--no-subtitles", action="store_true")
    ap.add_argument("--overlap", choices=("auto", "on", "off"), default="off")
    ap.add_argument("--audio", choices=("analysis", "standardized"), default="analysis")
    args = ap.parse_args()
    import numpy as np

    from audiorole.alignment import _intervals, analysis_audio_path, cue_hints
    from audiorole.audio import load_audio
    from audiorole.diarization import DiarizationConfig, diarize
    from audiorole.embeddings import ResemblyzerEmbedder
    from audiorole.metrics import der, load_rttm, overlap_detection
    from audiorole.overlap import OverlapConfig, OverlapDetector, probabilities_to_regions
    from audiorole.store import DataStore

    known = {f.name for f in fields(DiarizationConfig)} | {"overlap_threshold"}
    variants = [(v, parse_variant(v)) for v in (args.variant or ["base"])]
    for name, kw in variants:
        if set(kw) - known:
            ap.error(f"unknown setting(s) in {name!r}: {sorted(set(kw) - known)}")
    emb, det = ResemblyzerEmbedder(), None
    results: dict[str, list[float]] = {name: [] for name, _ in variants}
    overlap_s = {name: [0.0, 0.0, 0.0] for name, _ in variants}  # correctly found, found, true (seconds)
    for d in args.demo_dir:
        store = DataStore(d / "data")
        for key, standardized, rttm in episodes_with_truth(d):
            raw, ref = load_audio(standardized), load_rttm(rttm)
            wav = raw if args.audio == "standardized" else load_audio(analysis_audio_path(store, key))
            speech = _intervals(store.path(key, "speech.parquet"))
            cue_spans, tags = np.zeros((0, 2)), None
            if not args.no_subtitles and store.path(key, "synced_cues.parquet").exists():
                cue_spans, tags = cue_hints(store, key)
            use_overlap = args.overlap == "on" or (args.overlap == "auto" and not len(cue_spans))
            probs = None
            if use_overlap:
                det = det or OverlapDetector()
                probs = det.probabilities(raw)
            for name, kw in variants:
                kw = dict(kw)
                threshold = kw.pop("overlap_threshold", OverlapConfig().threshold)
                overlap = probabilities_to_regions(probs, OverlapConfig(threshold=threshold), speech) \
                    if probs is not None else None
                turns = diarize(wav, speech, emb, cue_spans=cue_spans, cue_tags=tags if len(cue_spans) else None,
                                overlap=overlap, config=replace(DiarizationConfig(), **kw))
                r, o = der(ref, turns), overlap_detection(ref, turns)
                results[name].append(r["der"])
                tot = overlap_s[name]
                tot[0] += (o["overlap_recall"] or 0.0) * o["overlap_true_s"]
                tot[1] += o["overlap_found_s"]
                tot[2] += o["overlap_true_s"]
                p = "-" if o["overlap_precision"] is None else f"{o['overlap_precision']:.2f}"
                rc = "-" if o["overlap_recall"] is None else f"{o['overlap_recall']:.2f}"
                print(f"{key:28s} {name:40s} DER {r['der']:.3f} (missed {r['missed']:.3f}, false alarm "
                      f"{r['false_alarm']:.3f}, confusion {r['confusion']:.3f}); voices "
                      f"{len({t.speaker for t in turns})}/{len(ref.labels())}; overlap P {p} R {rc}", flush=True)
    for name, ders in results.items():
        hit, found, true = overlap_s[name]
        print(f"MEAN {name:40s} DER {np.mean(ders):.3f} over {len(ders)} episodes: "
              + " ".join(f"{x:.3f}" for x in ders)
              + f"; overlap pooled P {hit / found if found else 0:.3f} R {hit / true if true else 0:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
