"""Scale of the characters stage: clustering 1M segment embeddings, and a per-character hours query on 1M rows.

    .venv/bin/python benchmarks/character_scale.py [--n 1000000] [--voices 400] [--dim 256] [--rows 1000000]

1. Synthetic embeddings shaped like the demo's resemblyzer ones (measured there: voice centroids 0.57–0.84
   cosine apart, utterances at median 0.89 cosine to their voice), ``--voices`` voices with Zipf-like imbalance
   (the largest has ~100× the speech of the smallest). ``cluster_voices`` runs its large-series path (k-means
   micro-clusters → agglomerative clustering → nearest-centroid refinement); reported: seconds, peak memory
   above the embeddings themselves, purity (segments in their voice's majority cluster) and completeness (segments
   of a voice in its majority cluster), and the number of voices found. Targets: ≤ 120 s, ≤ 4 GB on 2 cores.
2. A data dir with ``--rows`` segment rows in 200 episode files plus their character assignments, the catalog
   views over them, and ``SELECT character, sum(duration_s)/3600 ... GROUP BY character`` through the catalog
   (best of 5). Target ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def synthetic_embeddings(n: int, voices: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from audiorole.dataset.characters import normalize

    rng = np.random.default_rng(seed)
    common = normalize(rng.normal(size=dim))
    # centroid pairwise cosine ~0.7 on average (the demo: 0.57-0.84)
    centroids = normalize(common + 0.65 * normalize(rng.normal(size=(voices, dim))))
    weights = 1.0 / np.arange(1, voices + 1) ** 0.75  # rank 1 has ~90x the speech of rank 400
    labels = rng.choice(voices, size=n, p=weights / weights.sum()).astype(np.int32)
    x = np.empty((n, dim), dtype=np.float32)
    noise = 0.5  # utterance-to-centroid cosine median ~0.89 (the demo)
    for i in range(0, n, 100_000):
        lab = labels[i:i + 100_000]
        g = rng.standard_normal((len(lab), dim), dtype=np.float32)
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        x[i:i + len(lab)] = centroids[lab] + noise * g
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, labels


def clustering(n: int, voices: int, dim: int) -> dict:
    from audiorole.dataset.characters import CharacterConfig, cluster_voices

    x, truth = synthetic_embeddings(n, voices, dim)
    base = rss_gb()
    cos_own = float(np.median(np.einsum("ij,ij->i", x[:20000], _centroids(x[:200000], truth[:200000])[truth[:20000]])))
    t0 = time.perf_counter()
    res = cluster_voices(x, None, CharacterConfig(cluster_threshold=0.12))
    seconds = time.perf_counter() - t0
    pred = res.labels
    # purity: share of segments whose cluster's majority voice is their voice; completeness: the converse
    pur = _majority_share(pred, truth)
    comp = _majority_share(truth, pred)
    sizes = np.bincount(truth, minlength=voices)
    return {"n": n, "voices": voices, "dim": dim, "seconds": round(seconds, 1), "voices_found": int(len(res.centroids)),
            "purity": round(pur, 4), "completeness": round(comp, 4), "median_cos_to_own_voice": round(cos_own, 3),
            "largest_smallest_voice": [int(sizes.max()), int(sizes.min())],
            "rss_before_gb": round(base, 2), "peak_rss_gb": round(peak_rss_gb(), 2),
            "peak_above_embeddings_gb": round(peak_rss_gb() - base, 2)}


def _centroids(x, labels):
    from audiorole.dataset.characters import normalize

    c = np.zeros((labels.max() + 1, x.shape[1]), np.float64)
    np.add.at(c, labels, x)
    return normalize(c)


def _majority_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of items whose ``b`` value is the majority ``b`` within their ``a`` group."""
    order = np.lexsort((b, a))
    a_s, b_s = a[order], b[order]
    pair = np.flatnonzero(np.r_[True, (a_s[1:] != a_s[:-1]) | (b_s[1:] != b_s[:-1])])
    counts = np.diff(np.r_[pair, len(a_s)])
    groups = a_s[pair]
    best = np.zeros(groups.max() + 1, dtype=np.int64)
    np.maximum.at(best, groups, counts)
    return float(best.sum() / len(a))


def catalog_query(rows: int, episodes: int = 200) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audiorole import catalog

    from audiorole.ingest import stages as ingest
    from audiorole.dataset.characters import SEGMENT_CHARACTER_SCHEMA
    from audiorole.schema import SEGMENT_SCHEMA

    rng = np.random.default_rng(1)
    names = [f"Character {i:02d}" for i in range(60)] + ["other"]
    per = rows // episodes
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seg_chars = []
        for e in range(episodes):
            series, ep = f"series-{e % 13:02d}", f"e{e:04d}"
            key = f"{series}/{ep}"
            folder = root / "episodes" / series / ep
            folder.mkdir(parents=True)
            start = np.sort(rng.uniform(0, 2700, per))
            ids = [f"{key}#{i:05d}" for i in range(per)]
            keep = rng.random(per) < 0.7
            t = pa.table({
                "episode_key": [key] * per, "segment_id": ids, "start_s": start, "end_s": start + rng.uniform(0.5, 8, per),
                "speaker": [f"SPK_{i % 9:02d}" for i in range(per)], "text_source": ["subtitle"] * per,
                "overlap": np.zeros(per, bool), "keep": keep,
                "reject_reason": [None if k else "low_snr" for k in keep],
            })
            pq.write_table(pa.Table.from_pydict({f.name: (t[f.name] if f.name in t.column_names else
                                                          pa.nulls(per, f.type)) for f in SEGMENT_SCHEMA},
                                                schema=SEGMENT_SCHEMA), folder / "segments.parquet")
            probe = {f.name: [None] for f in ingest.PROBE_SCHEMA}
            probe.update(episode_key=[key], series_key=[series], series=[series], episode=[ep], duration_s=[2700.0])
            pq.write_table(pa.Table.from_pydict(probe, schema=ingest.PROBE_SCHEMA), folder / "probe.parquet")
            seg_chars.append(pa.table({"series_key": [series] * per, "episode_key": [key] * per, "segment_id": ids,
                                       "voice_id": ["v000000"] * per,
                                       "character": [names[i] for i in rng.integers(0, len(names), per)],
                                       "character_similarity": np.full(per, 0.9, np.float32),
                                       "character_margin": np.full(per, 0.1, np.float32),
                                       "attribution": ["embedding"] * per}, schema=SEGMENT_CHARACTER_SCHEMA))
        allc = pa.concat_tables(seg_chars)
        for s in sorted(set(allc["series_key"].to_pylist())):
            (root / "series" / s).mkdir(parents=True)
            mask = pa.compute.equal(allc["series_key"], s)
            pq.write_table(allc.filter(mask), root / "series" / s / "segment_characters.parquet")
        catalog.refresh_catalog(root)
        sql = """SELECT series, character, round(sum(duration_s) / 3600, 3) AS hours, count(*) AS segments
                 FROM segments WHERE keep GROUP BY series, character ORDER BY hours DESC"""
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            out = catalog.query(root, sql)
            times.append(time.perf_counter() - t0)
        n = catalog.query(root, "SELECT count(*) AS n FROM segments")[0]["n"]
    return {"rows": n, "result_rows": len(out), "best_s": round(min(times), 3), "median_s": round(sorted(times)[2], 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--voices", type=int, default=400)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skip-clustering", action="store_true")
    args = ap.parse_args()
    if not args.skip_clustering:
        c = clustering(args.n, args.voices, args.dim)
        print(f"clustering {c['n']:,} x {c['dim']}-d embeddings of {c['voices']} voices: {c['seconds']} s "
              f"(target ≤ 120 s), peak RSS {c['peak_rss_gb']} GB ({c['peak_above_embeddings_gb']} GB above the "
              f"embeddings; target ≤ 4 GB); found {c['voices_found']} voices, purity {c['purity']}, "
              f"completeness {c['completeness']}")
        print("  ", c)
    q = catalog_query(args.rows)
    print(f"per-character hours over {q['rows']:,} catalog rows: best {q['best_s']} s, median {q['median_s']} s "
          f"(target ≤ 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
