"""Where every artifact lives under the data dir, and the fingerprint stamps that make re-runs idempotent.

Layout::

    <data dir>/
      catalog.duckdb                       DuckDB views over the parquet artifacts below
      dagster_home/                        the Dagster instance (runs, materializations, lineage)
      episodes/<series key>/<episode>/     one folder per episode partition
        probe.parquet                      probed media (one row)
        audio.flac  audio.parquet          standardized audio + one row describing it
        cues.parquet  subtitles.parquet    parsed subtitle cues + one row describing the source
        _stamps/<stage>.json               written LAST: the fingerprint of the inputs the stage saw
      series/ shards/ models/              series, character and model stages keep the same ``_stamps/`` protocol


A stage is *current* when its stamp exists and holds the fingerprint of its present inputs (upstream
artifacts, source files, config, code version). Stamps are written after the outputs, atomically, so a stage
interrupted midway is never taken for current.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from audiorole.discovery import split_episode_key
from audiorole.io import remove_stale_temp_files, write_json_atomic


def fingerprint(*parts: Any) -> str:
    """Stable hash of JSON-serializable parts (order matters)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def file_identity(path: str | Path) -> list:
    """Cheap identity of a source file: path, size and modification time (ns)."""
    st = Path(path).stat()
    return [str(path), st.st_size, st.st_mtime_ns]


# stage stamps in any artifact folder (episode, series, shard, model): the one staleness protocol ----------------
def stamp_path(folder: str | Path, stage: str) -> Path:
    return Path(folder) / "_stamps" / f"{stage}.json"


def read_stamp(folder: str | Path, stage: str) -> dict | None:
    """The stamp a stage wrote in ``folder`` (its fingerprint and facts), or None if it never completed."""
    try:
        return json.loads(stamp_path(folder, stage).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_stamp(folder: str | Path, stage: str, fp: str, **facts: Any) -> None:
    """Written LAST by a stage, atomically: a stage interrupted midway is never taken for current."""
    write_json_atomic(stamp_path(folder, stage), {"fingerprint": fp, **facts})


def current_stamp(folder: str | Path, stage: str, fp: str, outputs=()) -> dict | None:
    """The stage's stamp if it holds fingerprint ``fp`` and every output (relative to ``folder``) exists."""
    stamp = read_stamp(folder, stage)
    if stamp and stamp.get("fingerprint") == fp and all((Path(folder) / o).exists() for o in outputs):
        return stamp
    return None


def upstream_fingerprint(folder: str | Path, stage: str) -> str:
    """The fingerprint of an upstream stage; RuntimeError naming it when it has not been materialized."""
    stamp = read_stamp(folder, stage)
    if stamp is None:
        raise RuntimeError(f"{Path(folder).name}: upstream stage '{stage}' has not been materialized yet")
    return stamp["fingerprint"]


class DataStore:
    """Paths of the artifacts under one data dir. Plain object; the Dagster resource wraps it."""

    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir).resolve()

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def episodes_root(self) -> Path:
        return self.root / "episodes"

    def episode_dir(self, key: str) -> Path:
        series_key, ep = split_episode_key(key)
        return self.episodes_root / series_key / ep

    def path(self, key: str, name: str) -> Path:
        return self.episode_dir(key) / name

    # stamps ---------------------------------------------------------------------------------------------------
    def stamp_path(self, key: str, stage: str) -> Path:
        return stamp_path(self.episode_dir(key), stage)

    def read_stamp(self, key: str, stage: str) -> dict | None:
        return read_stamp(self.episode_dir(key), stage)

    def write_stamp(self, key: str, stage: str, fp: str, **facts: Any) -> None:
        write_stamp(self.episode_dir(key), stage, fp, **facts)

    def clear_stamp(self, key: str, stage: str) -> None:
        self.stamp_path(key, stage).unlink(missing_ok=True)

    def is_current(self, key: str, stage: str, fp: str, outputs: list[str] = ()) -> bool:
        return current_stamp(self.episode_dir(key), stage, fp, outputs) is not None

    def clean_partial_writes(self, key: str) -> int:
        """Remove temp files a killed process left behind in this episode's folder."""
        return remove_stale_temp_files(self.episode_dir(key))


def stale_from(checks, errors: tuple = (RuntimeError, OSError, KeyError, ValueError)) -> list[str]:
    """``checks``: (stage name, ``current() -> stamp or None``) in DAG order. The names from the first stage that is
    not current (or whose check raises one of ``errors``: an upstream not built yet) to the end."""
    for i, (_, current) in enumerate(checks):
        try:
            ok = current() is not None
        except errors:
            ok = False
        if not ok:
            return [name for name, _ in checks[i:]]
    return []
