"""The anchor systems: the character's own real reply and another character's real reply, cut from the episode
audio the dialogues refer to."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE, load_audio
from evaluation.systems import OTHER_CHARACTER, REAL_REPLY, write_reply, write_system_info


@functools.lru_cache(maxsize=4)
def _episode_audio(path: str) -> np.ndarray:
    return load_audio(path)


def cut(path: str, start_s: float, end_s: float) -> np.ndarray:
    wav = _episode_audio(path)
    return wav[int(start_s * SAMPLE_RATE): int(end_s * SAMPLE_RATE)].copy()


def write_anchors(samples: list[dict], systems_dir: Path) -> dict[str, Path]:
    """Write both anchor folders under ``systems_dir`` (each finished under a temp name, then renamed)."""
    from audiorole.io import replace_dir

    out = {}
    for name, text_col, prefix, what in (
        (REAL_REPLY, "reply_text", "reply", "the character's own held-out reply (text and audio)"),
        (OTHER_CHARACTER, "other_text", "other", "another main character's real reply to another context"),
    ):
        tmp = systems_dir / f".{name}.tmp"
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        audio_col = "audio_path" if prefix == "reply" else "other_audio_path"
        for s in samples:
            write_reply(tmp, s["sample_id"], s[text_col] or "", cut(s[audio_col], s[f"{prefix}_start_s"], s[f"{prefix}_end_s"]))
        write_system_info(tmp, name, what, anchor=True)
        out[name] = replace_dir(tmp, systems_dir / name)
    return out
