"""Speech activity settings side by side, against the true speech of every episode with ground truth.

    .venv/bin/python benchmarks/vad_quality.py --demo-dir DIR [--demo-dir DIR2 ...] [--vad K=V[,K=V]] ...

Reads each episode's standardized audio from ``DIR/data`` (run the pipeline first) and its true turns from
``DIR/truth``; runs Silero with each ``--vad`` variant of ``VadConfig`` (the default first; e.g.
``--vad level_target_dbfs=None`` is the audio as it is, ``--vad threshold=0.4,level_max_gain_db=30``), and prints
missed speech and false alarm (shares of the true speech time, 10 ms frames, no collar) per episode and in total.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_variant(text: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key] = None if value == "None" else float(value) if "." in value or "e" in value else int(value)
    return out


def episodes_with_truth(demo_dir: Path) -> list[tuple[str, Path, Path]]:
    """(episode key, audio.flac, true RTTM) of every episode of the demo dir that has both."""
    from audiorole.discovery import discover_episodes
    from audiorole.store import DataStore

    store = DataStore(demo_dir / "data")
    out = []
    for ep in discover_episodes(demo_dir / "media")[0]:
        rttm = demo_dir / "truth" / ep.series.folder.name / f"{ep.media_path.stem}.rttm"
        audio = store.path(ep.key, "audio.flac")
        if rttm.exists() and audio.exists():
            out.append((ep.key, audio, rttm))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-dir", type=Path, action="append", required=True)
    ap.add_argument("--vad", action="append", default=[], help="K=V[,K=V] overrides of VadConfig")
    args = ap.parse_args()
    from audiorole.audio import load_audio
    from audiorole.metrics import load_rttm, speech_detection
    from audiorole.vad import SileroVAD, VadConfig

    variants = [("default", VadConfig())] + [(v, replace(VadConfig(), **parse_variant(v))) for v in args.vad]
    eps = [e for d in args.demo_dir for e in episodes_with_truth(d)]
    totals = {name: [0.0, 0.0, 0.0, 0.0] for name, _ in variants}  # missed s, false alarm s, speech s, seconds
    print(f"{'episode':32s} " + " ".join(f"{name[:30]:>30s}" for name, _ in variants))
    for key, audio, rttm in eps:
        wav, ref = load_audio(audio), load_rttm(rttm)
        speech_s = float(ref.get_timeline().support().duration())
        cells = []
        for name, cfg in variants:
            t0 = time.perf_counter()
            r = speech_detection(ref, SileroVAD(cfg).speech_regions(wav))
            tot = totals[name]
            tot[0] += r["vad_missed"] * speech_s
            tot[1] += r["vad_false_alarm"] * speech_s
            tot[2] += speech_s
            tot[3] += time.perf_counter() - t0
            cells.append(f"miss {r['vad_missed']:6.1%} FA {r['vad_false_alarm']:6.1%}")
        print(f"{key[:32]:32s} " + " ".join(f"{c:>30s}" for c in cells))
    print(f"{'ALL':32s} " + " ".join(f"{f'miss {t[0] / t[2]:6.1%} FA {t[1] / t[2]:6.1%}':>30s}" for t in totals.values()))
    print(f"{'seconds':32s} " + " ".join(f"{t[3]:30.1f}" for t in totals.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
