"""Does the audio's evidence for a subtitle's words tell the right line from a wrong one? AUC on built series.

    .venv/bin/python benchmarks/transcript_evidence.py --media-root DIR/media --data-dir DIR/data [--series KEY]
        [--per-series 250] [--seed 0]

Transcript validation rejects a subtitle whose words the ASR did not hear (CER above ``max_cer``), unless the audio
itself supports them: ``WhisperASR.text_evidence``, Whisper's teacher-forced log-probability of the subtitle's
tokens given the segment's audio over given silence, in nats per token (``min_text_evidence``). This scores it on a
built series (``audiorole run``; the demo or a recipe): for up to ``--per-series`` subtitle segments, drawn at
random, the evidence for their own text and for another subtitle segment's text of the same episode (a wrong line,
as a sync slip or a misplaced cue gives). Printed per series: AUC own vs other; the share of own texts under the
threshold (right lines it would reject) and of other texts at or over it (wrong lines it would keep); and, among the
segments whose CER is above ``max_cer``, how many the evidence keeps. The model is the one the pipeline uses for
the series' language (tiny.en for English, the packaged multilingual base otherwise).

Measured (2026-12-07, 2 cores; the recipes' 6 episodes of 8 minutes, segments as the stage wrote them with the
evidence; 250 segments each):

    series                 AUC     own < 0.5   other >= 0.5   CER > 0.5: kept by evidence
    Fish Fillets (cs)      0.9989  2           1              28 of 30
    Amazon Queen (en)      1.0000  0           1              13 of 13

Words a wrong line shares with the right one count for it: on the pyannote sample's real conversation "And
I'm Sheila in Texas, originally from Chicago." scores 0.76 on the clip of "Oh, I'm originally from Chicago also."
(``tests/segments/test_asr_language_metrics.py``). Nor does the evidence see speech in the clip beyond the line
(the partner's "Voda!" right after the own): the stage keeps rejecting a subtitle the ASR heard with more than
``max_heard_ratio`` (1.5) times its characters, whatever the evidence.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def series_segments(data_dir: Path, series: str | None) -> dict[str, list[dict]]:
    """Series key -> its subtitle segments with a CER (episode_key, times, text, cer), from the catalog."""
    import duckdb

    con = duckdb.connect(str(data_dir / "catalog.duckdb"), read_only=True)
    rows = con.sql("select series_key, episode_key, start_s, end_s, text, cer from segments "
                   "where text_source = 'subtitle' and cer is not null and text is not null "
                   + ("and series_key = ? " if series else "") + "order by segment_id",
                   params=[series] if series else None).fetchall()
    out: dict[str, list[dict]] = {}
    for s, ep, a, b, text, c in rows:
        out.setdefault(s, []).append({"episode_key": ep, "start_s": a, "end_s": b, "text": text, "cer": c})
    return out


def score_series(store, segments: list[dict], asr, language: str, per_series: int, seed: int) -> dict:
    from sklearn.metrics import roc_auc_score

    from audiorole.audio import cut, load_audio
    from audiorole.segments.build import SegmentConfig
    from audiorole.segments.stages import analysis_audio_path

    cfg = SegmentConfig()
    rng = random.Random(seed)
    by_ep: dict[str, list[dict]] = {}
    for s in segments:
        by_ep.setdefault(s["episode_key"], []).append(s)
    picked = rng.sample(segments, min(per_series, len(segments)))
    own, other, misheard = [], [], []
    for ep in sorted({s["episode_key"] for s in picked}):
        wav = load_audio(analysis_audio_path(store, ep))
        for s in (s for s in picked if s["episode_key"] == ep):
            clip = cut(wav, s["start_s"], s["end_s"])
            wrong = rng.choice([o["text"] for o in by_ep[ep] if o["text"] != s["text"]])
            e_own = asr.text_evidence(clip, s["text"], language=language)
            e_other = asr.text_evidence(clip, wrong, language=language)
            if e_own is None or e_other is None:
                continue
            own.append(e_own)
            other.append(e_other)
            if s["cer"] > cfg.max_cer:
                misheard.append(e_own)
    t = cfg.min_text_evidence
    return {"n": len(own), "auc": round(float(roc_auc_score([1] * len(own) + [0] * len(other), own + other)), 4),
            "own_below": sum(x < t for x in own), "other_at_or_over": sum(x >= t for x in other),
            "misheard": len(misheard), "misheard_kept": sum(x >= t for x in misheard)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--media-root", required=True, help="the series' media root (their series.yaml name the language)")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--series", default=None, help="one series key (default: every series in the catalog)")
    ap.add_argument("--per-series", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from audiorole.discovery import discover_episodes
    from audiorole.store import DataStore
    from resources.models import AsrResource

    store = DataStore(args.data_dir)
    asr = AsrResource(cpu_threads=2)
    print(f"{'series':24} {'n':>4} {'AUC':>7} {'own<t':>6} {'other>=t':>9} {'CER>max: kept':>14}")
    languages = {ep.series.key: ep.series.language for ep in discover_episodes(Path(args.media_root))[0]}
    for key, segments in series_segments(Path(args.data_dir), args.series).items():
        if key not in languages:
            continue  # a series built from another media root
        language = languages[key]
        r = score_series(store, segments, asr.for_language(language), language, args.per_series, args.seed)
        print(f"{key:24} {r['n']:4d} {r['auc']:7.4f} {r['own_below']:6d} {r['other_at_or_over']:9d} "
              f"{r['misheard_kept']:>7d} of {r['misheard']}")


if __name__ == "__main__":
    main()
