"""Speech recognition per language: the packaged English tiny.en against the packaged multilingual base, on real
voices — Czech lines of the Fish Fillets recipe and the English lines of the real pyannote recording.

    .venv/bin/python benchmarks/asr_languages.py [--lines 20] [--cache ~/.cache/audiorole/recipes/fish-fillets]

Each line is transcribed on its own (as one speech region, through the pipeline's ``WhisperASR.transcribe``) and
scored with the pipeline's CER (``asr.cer``: normalized text); prints CER and seconds per minute of speech per model
and language.

Measured (2026-12-05, 2 cores, int8, beam 1, this command with the defaults): Czech, 20 lines spread over the game:
tiny.en CER 0.897, base 0.284; English, the 13 lines of the pyannote recording: tiny.en 0.200, base 0.219. Seconds
per speech minute (42 / 31 Czech, 11 / 25 English) are high because every short line alone costs a full 30 s
Whisper window; the pipeline packs regions into shared windows (``benchmarks/pipeline_speed.py``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def czech_lines(cache: Path, n: int) -> list[tuple[object, str]]:
    from audiorole.recipes import fish_fillets
    from audiorole.recipes.build import decode_clip

    lines = [ln for s in fish_fillets.read(cache).scenes for ln in s.lines]
    picked = lines[:: max(1, len(lines) // n)][:n]
    return [(_to_16k(decode_clip(ln.audio)), ln.text) for ln in picked]


def english_lines() -> list[tuple[object, str]]:
    import pyannote.audio

    from audiorole.audio import cut, load_audio

    sample = Path(pyannote.audio.__file__).parent / "sample"
    wav = load_audio(sample / "sample.wav")
    out = []
    for row in (sample / "sample.stm").read_text().splitlines():
        f = row.split(maxsplit=5)  # file channel speaker start end text
        if len(f) == 6:
            out.append((cut(wav, float(f[3]), float(f[4])), f[5]))
    return out


def _to_16k(x):
    import numpy as np
    from scipy.signal import resample_poly

    from audiorole.recipes.build import SR

    return resample_poly(x, 16000, SR).astype(np.float32)


def score(model, lines, language: str) -> tuple[float, float]:
    import numpy as np

    from audiorole.segments.asr import cer

    errors, t0, speech = [], time.perf_counter(), 0.0
    for wav, text in lines:
        words = model.transcribe(wav, np.array([[0.0, len(wav) / 16000]]), language=language)
        errors.append(cer(text, " ".join(w.text for w in words)))
        speech += len(wav) / 16000
    return float(np.mean([e for e in errors if e is not None])), (time.perf_counter() - t0) / (speech / 60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "audiorole" / "recipes" / "fish-fillets")
    args = ap.parse_args()
    from audiorole.segments.asr import WhisperASR, default_model_dir

    models = {"tiny.en": WhisperASR(default_model_dir("en")), "base": WhisperASR(default_model_dir("cs"))}
    for language, lines in (("cs", czech_lines(args.cache, args.lines)), ("en", english_lines())):
        for name, model in models.items():
            c, s = score(model, lines, language)
            print(f"{language}  {len(lines):3d} lines  {name:8s} CER {c:.3f}  {s:5.1f} s per speech minute")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
