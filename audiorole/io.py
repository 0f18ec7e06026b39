"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or an exception never leaves a half-written artifact under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else (target.suffix or ".tmp"),
        dir=target.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | Path, text: str) -> Path:
    return write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | Path, obj: Any) -> Path:
    return write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet_atomic(target: str | Path, table) -> Path:
    """Write a ``pyarrow.Table`` to parquet atomically."""
    import pyarrow.parquet as pq

    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return Path(target)


def replace_dir(source: str | Path, target: str | Path) -> Path:
    """Put the finished folder ``source`` under the name ``target`` (replacing what was there) by renames, so
    ``target`` is never half-written: the old folder moves aside, the new one moves in, the old one is removed."""
    import shutil

    source, target = Path(source), Path(target)
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def remove_stale_temp_files(folder: str | Path) -> int:
    """Remove ``.name.*`` temp files left by a process that was killed mid-write. Returns how many."""
    n = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for p in folder.glob(".*.*"):
        if p.is_file():
            p.unlink()
            n += 1
    return n


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
