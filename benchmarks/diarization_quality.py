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
Prints DER (pyannote.metrics collar 0.25 s: ±0.125 s around each true boundary) with missed / false alarm /
confusion, the number of voices found, and the overlapped speech of the turns against the truth (precision / recall,
10 ms frames, no collar), per episode and pooled per variant. Overlap detector thresholds side by side:
``--overlap auto --variant overlap_threshold=0.5 --variant overlap_threshold=0.65``.

Measured (2026-12-03, DER per episode; each figure with the commit whose code it measured). Data, built with
``audiorole demo`` and run through the pipeline as in the README: ``demo_data`` = the default demo (the TV series,
S01E01-S01E03 with subtitles, and the real pyannote recording); ``/tmp/hard`` = ``--profile hard`` (four 15-minute
far-field episodes, no subtitles, run with ``AUDIOROLE_OVERLAP_DETECTION=auto``); ``DIR15`` = two 15-minute TV
episodes (``audiorole demo --out DIR15 --minutes 15 --episodes 2``). Commands: ``.venv/bin/python
benchmarks/diarization_quality.py`` with the arguments shown; a figure measured before a later change of the code
or the pipeline will not come back exactly today.

- tags (this change; same_tag_scale, join_tagged, tag_min_count): same-tag pieces at distance 0 against clusters joined
  by their tags, mean DER (per episode), ``--variant same_tag_scale=0,join_tagged=False --variant base``:
  Fish Fillets (cs, 6 episodes of ``audiorole recipe fish-fillets --minutes 8``) 0.414 -> 0.214
  (0.387/0.606/0.375/0.355/0.451/0.308 -> 0.186/0.150/0.129/0.350/0.265/0.202); Amazon Queen (6 episodes) 0.101 ->
  0.054 (0.101/0.149/0.223/0.073/0.036/0.027 -> 0.045/0.051/0.120/0.044/0.036/0.031); the default demo 0.056 ->
  0.056; episodes without subtitles have no tags (unchanged). With ``tag_min_count=2`` a cluster named by a single
  tag stayed apart: Amazon Queen 0.071, Fish Fillets 0.245; keeping same-tag pieces at half their distance
  (``same_tag_scale=0.5``) was the old result again (0.117, 0.408).
  Until booleans were parsed (``true``/``false``), ``join_tagged=False`` was read as the string "False", which is
  true: that "before" joined clusters by their tags too. It changes nothing there: with same-tag pieces at distance 0
  every tagged piece of a name is already in one cluster, and ``same_tag_scale=0,join_tagged=false`` gives the same
  DER to the digit as ``same_tag_scale=0`` (2026-12-07: Amazon Queen, 4 episodes of 8 minutes, 0.136; Fish Fillets, 6,
  0.379; both with ``split_tagged=false``, as then).
- split_tagged (this change; a cluster whose tags name several speakers split among them), mean DER (per episode),
  ``--variant split_tagged=false --variant base``, 2026-12-07, on builds whose subtitles name the speaker of one line
  in ten (``audiorole recipe NAME --minutes 8 --episodes 4|6 --tag-share 0.1``; the same audio and cues as the
  default share's): Amazon Queen (4 episodes) 0.245 -> 0.153 (0.203/0.441/0.251/0.083 -> 0.203/0.075/0.251/0.083:
  Joe and Sparky, one actor's two voices, were one cluster in the second); Fish Fillets (6) 0.370 both (its errors
  there are the leads' recording sessions split into several voices, which no tag joins, and guests without a
  tag). Another draw of the same share (each tag of the default build kept with probability 0.2; a one-off copy):
  Amazon Queen 0.300 -> 0.145, Fish Fillets 0.289 both. With half the lines named (the default) nothing changes:
  Amazon Queen 0.084, Fish Fillets 0.164, the default demo 0.056 either way.
- min_cluster_piece_uncued_s (5b7b73b), mean DER 1.0 s -> 1.5 s: hard profile 0.332 -> 0.193, TV demo without its
  subtitles 0.135 -> 0.118, real pyannote recording without subtitles 0.202 -> 0.176; at 1.25 / 1.75 s the hard
  profile reads 0.208 / 0.210, and from 2 s on too few pieces remain to build every voice (the TV demo loses one).
  On the hard profile uncued pieces of 1-1.5 s hold 20-25% overlapped frames against ~10% for longer ones.
  ``--demo-dir /tmp/hard --overlap auto --variant assign=centroid,min_cluster_piece_uncued_s=1.0
  --variant assign=centroid --variant assign=centroid,min_cluster_piece_uncued_s=1.25
  --variant assign=centroid,min_cluster_piece_uncued_s=1.75`` (centroid: measured before ``assign`` existed);
  ``--demo-dir demo_data --no-subtitles --variant min_cluster_piece_uncued_s=1.0 --variant base``.
- n_clusters (ed3f712, before this script and the change above): on the hard profile the threshold found 9-11
  voices for 7 talkers, eigengap 5-6; DER 0.39/0.34/0.44/0.41 -> 0.23/0.34/0.49/0.41, not a clear win. Today:
  ``--demo-dir /tmp/hard --overlap auto --variant base --variant n_clusters=eigengap``.
- assign (00f398f): ``--variant assign=centroid --variant assign=logistic`` with ``--demo-dir /tmp/hard --overlap
  auto``; ``--demo-dir demo_data`` (TV demo and the real recording), again with ``--no-subtitles``;
  ``--demo-dir DIR15``. Where fewer pieces are left to assign than built the clusters, logistic was no better:

    data                                                centroid                   logistic
    hard profile (2-2.6 to assign per clustered piece)  0.134/0.178/0.251/0.208    0.127/0.167/0.222/0.188
    TV demo with subtitles                              0.083/0.037/0.061          0.087/0.036/0.065
    TV demo without subtitles                           0.103/0.117/0.075          0.103/0.129/0.076
    15-minute TV episodes                               0.054/0.042                0.054/0.047
    real pyannote recording (10 clustered pieces)       0.145                      0.190

  The hard profile's centroid row was the pipeline's before 00f398f (b5a19ab: overlap pooled P 0.711 R 0.630).
- min_cluster_s with subtitle names (7b8e21a): TV demo S01E01, whose mailman is heard for 3.3 s under one
  "MAILMAN:" cue, DER 0.083 -> 0.056 (confusion 0.029 -> 0.004, 7/7 voices; his lines had gone to Walt);
  S01E02/S01E03, the 15-minute TV episodes, the real recording and the hard profile (no tags) unchanged.
  ``--demo-dir demo_data`` gives the after; no setting turns the rule off.
- overlap_mode (b4bd462, ``DefaultDiarizer``; before this script): on the subtitled TV demo overlap is 1-2% of the
  speech; the detector on every episode had frame precision 5-18% at AUC 0.92-0.98 (its own frames; not printed
  here) and raised DER from 6-8% to 19-27%. Today: ``--demo-dir demo_data --overlap off`` against ``--overlap on``.
- raw (ab04825, ``DefaultDiarizer(raw=)``): with the hard profile's quiet talkers enhanced (enhancement v6), the
  detector reading the enhanced audio against the standardized: overlap precision 0.64-0.69 -> 0.43-0.45, DER
  +0.12 (S01E03 0.377 -> 0.499, S01E04 0.292 -> 0.418). Measured with this script as of c2b0b7d, whose detector
  read the analysis audio; today its detector always reads the standardized audio and enhancement auto leaves
  subtitle-less episodes as they are, so this comparison has no command any more.
- overlap_detection default off (1170912, ``DiarizationResource.overlap_detection``): on the real pyannote recording
  without subtitles the detector found 7.2 s of overlap for 1.9 s true (precision 0.17) and raised DER from 20% to
  51%; on the far-field hard profile it lowers DER 0.40 -> 0.34 at precision 0.71 (before the changes above).
  ``--demo-dir demo_data --no-subtitles --overlap off`` against ``--overlap on``.
- enhancement auto leaves subtitle-less episodes as they are (ab04825, ``segments.stages.run_enhancement``): DER with
  the enhanced audio against the standardized (``--audio analysis`` against ``--audio standardized``): TV demo
  diarized without its subtitles 0.103/0.117/0.075 against 0.103/0.115/0.075, the real pyannote recording 0.176
  both; hard profile S01E03 0.377 against 0.251, S01E04 0.292 against 0.208 (enhancement v6, which chose the same
  regions in subtitle-less episodes as v7 does in subtitled ones); with subtitles it helps: TV S01E02 0.037 against
  0.138.
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
    """``K=V[,K=V]`` as a dict of typed values (``true``/``false`` as booleans, numbers as float, the rest as
    strings); ``base``: no override."""
    if text == "base":
        return {}
    out = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        v = v.strip()
        if v.lower() in ("true", "false"):
            out[k.strip()] = v.lower() == "true"
            continue
        try:
            out[k.strip()] = float(v)
        except ValueError:
            out[k.strip()] = v
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

    from audiorole.intervals import read_intervals
    from audiorole.segments.stages import analysis_audio_path, cue_hints
    from audiorole.audio import load_audio
    from audiorole.segments.diarization import DiarizationConfig, diarize
    from audiorole.embeddings import ResemblyzerEmbedder
    from audiorole.scoring import der, load_rttm, overlap_detection
    from audiorole.segments.overlap import OverlapConfig, OverlapDetector, probabilities_to_regions
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
            speech = read_intervals(store.path(key, "speech.parquet"))
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
