"""The ARP-Model as a system folder: its replies (``evaluation.replies.run_replies``) copied into the shared format."""

from __future__ import annotations

import shutil
from pathlib import Path

from evaluation.systems import ARP_MODEL, write_reply, write_system_info


def write_arp_model(replies: list[dict], systems_dir: Path, facts: dict) -> Path:
    """``replies``: REPLY_SCHEMA rows of every character. Samples the model did not answer stay missing."""
    from audiorole.io import replace_dir

    tmp = systems_dir / f".{ARP_MODEL}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for r in replies:
        write_reply(tmp, r["sample_id"], r["reply_text"] or "", None)
        src = Path(r["audio_path"])
        if src.exists():
            shutil.copyfile(src, tmp / f"{r['sample_id']}.wav")
    write_system_info(tmp, ARP_MODEL, "the trained ARP-Model (speech LM + unit-selection decoder in the "
                      "character's voice)", **facts)
    return replace_dir(tmp, systems_dir / ARP_MODEL)
