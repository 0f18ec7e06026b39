"""The TTS bridge's voices for a language, side by side with the real recordings: how well ARP-Eval's recognizer hears
each voice reading the lines of a real voice-acted series (Fish Fillets' Czech recipe: its real clips and their true
text).

    .venv/bin/python benchmarks/bridge_voices.py [--lines 30] [--voices festival:czech_dita espeak:cs]
        [--cache ~/.cache/audiorole/recipes/fish-fillets]

Lines of 4+ words, spread over the game. Each reading (``training.bridge.read_aloud``) and each real clip is scored
by ARP-Eval's Intelligibility in Czech (the packaged multilingual Whisper base): mean and median CER per source.

Measured (2026-12-06, 2 cores, this command with the defaults; 2 min 40 s): the real clips CER 0.212 (median 0.167),
Festival's ``czech_dita`` 0.194 (0.170), espeak-ng's ``cs`` 0.394 (0.395).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from asr_languages import czech_lines

    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=30)
    ap.add_argument("--voices", nargs="+", default=None, help="bridge voices (default: the bridge's for Czech, "
                                                              "and espeak-ng's)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "audiorole" / "recipes" / "fish-fillets")
    args = ap.parse_args()

    import numpy as np

    from evaluation.metrics.intelligibility import Intelligibility
    from training.bridge import bridge_voice, read_aloud

    lines = [(wav, text) for wav, text in czech_lines(args.cache, 4 * args.lines) if len(text.split()) >= 4]
    lines = lines[:: max(1, len(lines) // args.lines)][: args.lines]
    voices = args.voices or sorted({bridge_voice("cs"), "espeak:cs"})
    asr = Intelligibility(language="cs")
    cers: dict[str, list[float]] = {"real clip": [c for c, _ in asr.score_many(lines)]}
    for voice in voices:
        cers[voice] = [c for c, _ in asr.score_many([(read_aloud(text, voice=voice), text) for _, text in lines])]
    print(f"{len(lines)} Czech lines (4+ words) of Fish Fillets, heard by the multilingual Whisper base")
    print(f"{'source':24} {'CER mean':>9} {'median':>7}")
    for name, c in cers.items():
        c = [1.0 if x is None else x for x in c]
        print(f"{name:24} {np.mean(c):9.3f} {np.median(c):7.3f}")


if __name__ == "__main__":
    main()
