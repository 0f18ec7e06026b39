"""Acoustic Personalization in the encoder's space or in the series' own speaker space, side by side: AUC own vs.
another character's real reply, and each system's normalized AP, on a built, trained and evaluated series.

    .venv/bin/python benchmarks/ap_spaces.py --data-dir DIR/data --series SERIES_KEY

Spaces (the embeddings are resemblyzer's, ARP-Eval's AP encoder when this was measured, before the resemblyzer +
d-vector pair became its default; the references are the character's held-out segments,
the own reply's segments left out, as in ``evaluation.metrics.acoustic``):
- ``raw``: the encoder's space (ARP-Eval today);
- ``tag``: the discriminant map the characters stage learns from tagged lines
  (``audiorole.dataset.characters.tag_projection``, its defaults: within-character whitening, shrinkage 0.5, the
  directions along which characters do not differ kept at weight 0.2), learned here on the train split's kept
  segments of 1 s or more with their pipeline labels;
- ``lda``: scikit-learn's linear discriminant analysis (shrinkage ``auto``) on the same segments, every non-
  discriminant direction dropped.

Measured (2026-12-06, 2 cores; the systems' reply files from the latest ARP-Eval):

    series                               space  AUC AP  arp-model  one-shot   base
    Amazon Queen (6 x 8 min; 16 samples) raw     0.887     -0.117     0.629  -1.516
                                         tag     1.000      0.614     0.952  -0.289
                                         lda     1.000      0.791     0.984  -0.278
    demo (3 episodes; 43 samples)        raw     1.000      0.605     0.712  -0.178
                                         tag     1.000      0.796     0.904   0.160
                                         lda     1.000      0.871     0.974   0.250

Learned from 722 train segments of 7 characters (Amazon Queen) and 37 of 6 (demo). The series' space separates
Amazon Queen's real characters (Joe's short lines against Sparky's, whose voice lies near Joe's for the encoder)
where the raw space does not. It is not adopted: it also lifts Base, the plain TTS voice that is no character,
above 0 on the demo: a space learned to tell the series' characters apart rewards a voice for sounding like none of
the others, not only for sounding like the character. A metric there would need a second check (own reply against
a voice of no character) before it is trusted.

Since 2026-12-07 ARP-Eval's AP is the encoders' cosine *plus* a quarter of the cosine in an ``lda`` space
(``evaluation.metrics.acoustic``: the default encoder pair, the train split's segments of every named character,
at most 200 each): the encoders' cosine keeps a voice of no character low, the series space adds what tells the
characters apart. Measured with ARP-Eval itself over every held-out reply, the same replies scored at weights
0 / 0.25 / 0.5 / 1 (``audiorole eval --data-dir DIR --ap-space-weight W``; 2026-12-08): AUC AP Amazon Queen (22
episodes) 0.945 / 0.961 / 0.967 / 0.973, Fish Fillets 0.972 / 0.986 / 0.992 / 0.995, the demo 1.000 at every weight;
Base normalized, Amazon Queen -1.74 / -1.33 / -1.13 / -0.93, Fish Fillets -0.19 / +0.08 / +0.18 / +0.25, the demo
-0.35 / -0.12 / -0.03 / +0.06. The README's "ARP-Eval" has the adopted weight's figures.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYSTEMS = ("real-reply", "other-character", "arp-model", "one-shot", "base")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--series", required=True)
    ap.add_argument("--min-train-s", type=float, default=1.0)
    args = ap.parse_args()

    import pyarrow.parquet as pq
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import roc_auc_score

    from audiorole.audio import load_audio
    from audiorole.dataset.characters import CharacterConfig, tag_projection
    from audiorole.embeddings import build_embedder, l2_normalize
    from audiorole.store import DataStore
    from evaluation.systems import read_reply
    from training.stages import series_data

    splits, segs, dialogues = series_data(DataStore(args.data_dir), args.series)
    audio_of = {d["episode_key"]: d["audio_path"] for d in dialogues}
    embedder = build_embedder("resemblyzer")
    loaded: dict[str, np.ndarray] = {}

    def embed(wavs):
        return l2_normalize(np.asarray(embedder.embed_many(list(wavs)), np.float32))

    def clips(rows):
        for s in sorted(rows, key=lambda s: s["episode_key"]):
            if s["episode_key"] not in loaded:
                loaded.clear()
                loaded[s["episode_key"]] = load_audio(audio_of[s["episode_key"]])
            yield loaded[s["episode_key"]][int(s["start_s"] * 16000):int(s["end_s"] * 16000)]

    train = sorted((s for s in segs if splits.get(s["episode_key"]) == "train" and s["episode_key"] in audio_of
                    and s["end_s"] - s["start_s"] >= args.min_train_s), key=lambda s: s["episode_key"])
    held = sorted((s for s in segs if splits.get(s["episode_key"]) in ("test", "validation")
                   and s["episode_key"] in audio_of), key=lambda s: s["episode_key"])
    xt, yt = embed(clips(train)), np.array([s["character_key"] for s in train])
    enough = np.array([Counter(yt)[y] >= 5 for y in yt])
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(xt[enough], yt[enough])
    tag = tag_projection(xt, list(yt), CharacterConfig())
    spaces = {"raw": lambda x: x, "tag": lambda x: tag(x).astype(np.float32),
              "lda": lambda x: l2_normalize(lda.transform(x).astype(np.float32))}
    hx = embed(clips(held))
    ev = args.data_dir / "eval" / args.series
    samples = pq.read_table(ev / "test_set.parquet").to_pylist()
    replies = {n: embed(read_reply(ev / "systems" / n, s["sample_id"]).wav for s in samples) for n in SYSTEMS}
    print(f"{len(train)} train segments, {len(set(yt[enough]))} characters; {len(held)} held-out; "
          f"{len(samples)} samples")
    for name, space in spaces.items():
        h, raw = space(hx), defaultdict(list)
        for i, s in enumerate(samples):
            own = set(s.get("reply_segment_ids") or [s["reply_segment_id"]])
            refs = [h[j] for j, r in enumerate(held) if r["character_key"] == s["character_key"]
                    and r["segment_id"] not in own]
            centroid = l2_normalize(np.mean(refs, axis=0))
            for n in SYSTEMS:
                raw[n, s["character_key"]].append(float(space(replies[n][i:i + 1])[0] @ centroid))
        keys = sorted({s["character_key"] for s in samples})
        own = [v for k in keys for v in raw["real-reply", k]]
        other = [v for k in keys for v in raw["other-character", k]]
        auc = roc_auc_score([1] * len(own) + [0] * len(other), own + other)
        norm = {}
        for n in SYSTEMS[2:]:
            vals = [(v - np.mean(raw["other-character", k])) / (np.mean(raw["real-reply", k])
                                                                 - np.mean(raw["other-character", k]))
                    for k in keys for v in raw[n, k]]
            norm[n] = round(float(np.mean(vals)), 3)
        print(f"{name:4s} AUC AP {auc:.3f}  normalized {norm}")


if __name__ == "__main__":
    main()
