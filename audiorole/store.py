"""The one map of the data dir: where every artifact lives, and the stamps that make re-runs idempotent.

Layout::

    <data dir>/
      catalog.duckdb                          DuckDB views over the parquet artifacts below
      dagster_home/                           the Dagster instance (runs, materializations, lineage)
      episodes/<series key>/<episode>/        one folder per episode partition (ingest and segments stages)
      series/<series key>/                    the series' characters, dialogues and card
      shards/<series key>/<character key>/    one character's shards
      models/<series key>/<stage>/            speech tokenizer, speech decoder, the ARP-Model (lm)
      models/<series key>/replies/<character key>/   the ARP-Model's replies to the test set
      models/_base/                           the base LM, dequantized once
      eval/<series key>/                      ARP-Eval: test set, systems, scores, report
    and in every such folder ``_stamps/<stage>.json``, written LAST: the fingerprint of the inputs the stage saw.

``audiorole.stage`` runs the stages over this layout; nothing else spells a folder name.
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


# stamps -----------------------------------------------------------------------------------------------------------
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

    # the layout ---------------------------------------------------------------------------------------------
    def series_dir(self, series_key: str) -> Path:
        return self.root / "series" / series_key

    def shard_dir(self, key: str) -> Path:
        """``key``: ``<series>/<character key>``."""
        return self.root / "shards" / key

    @property
    def shards_root(self) -> Path:
        return self.root / "shards"

    def model_dir(self, series_key: str, stage: str | None = None) -> Path:
        root = self.root / "models" / series_key
        return root / stage if stage else root

    @property
    def base_model_cache(self) -> Path:
        return self.root / "models" / "_base"

    def replies_dir(self, key: str) -> Path:
        """``key``: ``<series>/<character key>``."""
        series_key, character_key = key.split("/", 1)
        return self.root / "models" / series_key / "replies" / character_key

    @property
    def eval_root(self) -> Path:
        return self.root / "eval"

    def eval_dir(self, series_key: str) -> Path:
        return self.eval_root / series_key

    def folder(self, kind: str, key: str) -> Path:
        """The folder of a stage's partition: ``kind`` is a ``Stage.folder`` (episode, series, shards, eval,
        replies, or ``models/<stage>``)."""
        if kind == "episode":
            return self.episode_dir(key)
        if kind == "series":
            return self.series_dir(key)
        if kind == "shards":
            return self.shard_dir(key)
        if kind == "replies":
            return self.replies_dir(key)
        if kind == "eval":
            return self.eval_dir(key)
        if kind.startswith("models/"):
            return self.model_dir(key, kind.split("/", 1)[1])
        raise ValueError(f"unknown artifact folder kind {kind!r}")

    def read_stamp(self, key: str, stage: str) -> dict | None:
        """An episode stage's stamp."""
        return read_stamp(self.episode_dir(key), stage)

    def clean_partial_writes(self, key: str) -> int:
        """Remove temp files a killed process left behind in this episode's folder."""
        return remove_stale_temp_files(self.episode_dir(key))
