"""Systems scored by ARP-Eval, and the one folder format they all share.

A system is a folder holding, per test sample, ``<sample_id>.txt`` (the reply's text, UTF-8) and
``<sample_id>.wav`` (its speech, mono, any sample rate). Built-in systems are written by the evaluation stages:

    real-reply        anchor: the character's own held-out line and its audio (the 1 of every normalized metric)
    other-character   anchor: another main character's real reply, scored as if it were this character's (the 0)
    arp-model         the trained ARP-Model's replies (text + speech in the character's voice)
    base              the untrained base LM prompted with the character's name and the scene, a default TTS voice
    one-shot          the base LM prompted with a profile and one example exchange; its voice converted to the
                      character's through the decoder from one reference clip (zero-shot conditioning)

Any other model is scored by dropping its folder under ``eval/<series>/systems/<name>/`` (or naming it with
``audiorole eval --system NAME=PATH``): a sample without a reply is scored as *missing*, a silent or unreadable
wav as *failed* — both counted and named in the report, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE
from audiorole.io import atomic_path, write_json_atomic

REAL_REPLY = "real-reply"
OTHER_CHARACTER = "other-character"
ARP_MODEL = "arp-model"
BASE = "base"
ONE_SHOT = "one-shot"
ANCHORS = (REAL_REPLY, OTHER_CHARACTER)
BASELINES = (BASE, ONE_SHOT)
BUILT_IN = (REAL_REPLY, OTHER_CHARACTER, ARP_MODEL, BASE, ONE_SHOT)
SYSTEM_FILE = "system.json"

#: Below this RMS a reply's audio counts as silent (a failure for AP and intelligibility).
SILENCE_DBFS = -60.0
MIN_SPEECH_S = 0.2


@dataclass
class SystemReply:
    text: str | None  # None: no reply file
    wav: np.ndarray | None  # 16 kHz float32; None when missing or unreadable
    problem: str | None  # why the audio cannot be scored (missing, corrupt, silent), else None

    @property
    def missing(self) -> bool:
        return self.text is None and self.wav is None


def write_reply(folder: str | Path, sid: str, text: str, wav: np.ndarray | None, sr: int = SAMPLE_RATE) -> None:
    """One sample's reply, each file written atomically."""
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{sid}.txt") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    if wav is not None:
        with atomic_path(folder / f"{sid}.wav") as tmp:
            sf.write(str(tmp), np.asarray(wav, np.float32), sr, format="WAV")


def write_system_info(folder: str | Path, name: str, description: str, **facts) -> None:
    write_json_atomic(Path(folder) / SYSTEM_FILE, {"name": name, "description": description, **facts})


def read_reply(folder: str | Path, sid: str) -> SystemReply:
    """A sample's reply from a system folder; audio resampled to 16 kHz mono; problems named, never raised."""
    import soundfile as sf

    folder = Path(folder)
    txt, wav_path = folder / f"{sid}.txt", folder / f"{sid}.wav"
    text = txt.read_text(encoding="utf-8", errors="replace").strip() if txt.exists() else None
    if not wav_path.exists():
        return SystemReply(text, None, f"{wav_path}: missing reply" if text is None else f"{wav_path}: no audio")
    try:
        wav, sr = sf.read(str(wav_path), dtype="float32", always_2d=False)
    except Exception as err:  # soundfile raises LibsndfileError / RuntimeError for anything unreadable
        return SystemReply(text, None, f"{wav_path}: corrupt audio ({err})")
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    if sr != SAMPLE_RATE and len(wav):
        import soxr

        wav = soxr.resample(wav, sr, SAMPLE_RATE).astype(np.float32)
    wav = np.nan_to_num(np.asarray(wav, np.float32))
    if len(wav) < MIN_SPEECH_S * SAMPLE_RATE:
        return SystemReply(text, wav, f"{wav_path}: audio too short ({len(wav) / SAMPLE_RATE:.2f} s)")
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
    if rms <= 10 ** (SILENCE_DBFS / 20):
        return SystemReply(text, wav, f"{wav_path}: silent audio ({20 * np.log10(rms + 1e-12):.0f} dBFS)")
    return SystemReply(text, wav, None)


def folder_identity(folder: str | Path) -> list:
    """Cheap identity of a system folder's replies (names, sizes, mtimes): the evaluation's fingerprint sees a
    dropped-in or changed reply."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.glob("*")):
        if p.suffix in (".txt", ".wav") and p.is_file():
            st = p.stat()
            out.append([p.name, st.st_size, st.st_mtime_ns])
    return out
