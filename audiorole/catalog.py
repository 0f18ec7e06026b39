"""The DuckDB catalog: ``<data dir>/catalog.duckdb`` holds views over the parquet artifacts.

Views (not copies) keep the catalog consistent with the files by construction: a re-materialized episode is
visible at once, a failed one never half-appears. ``refresh_catalog`` (re)creates the views; it is idempotent
and cheap, and is called after every materialization. A source with no file yet gets an empty, typed view.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa
from filelock import FileLock

from audiorole.store import DataStore

from audiorole.ingest import stages as ingest
from audiorole.dataset.characters import SEGMENT_CHARACTER_SCHEMA, VOICE_SCHEMA
from audiorole.dataset.stages import SHARD_FILE_SCHEMA, SPLIT_SCHEMA
from audiorole.dataset.dialogues import DIALOGUE_SCHEMA, SCENE_SCHEMA
from audiorole.schema import CUE_SCHEMA, SEGMENT_SCHEMA, TURN_SCHEMA

#: Parquet sources: name -> (glob relative to the data dir, schema used when no file exists yet). These are the
#: domain library's own tables; the layers above register theirs (``training.schema.CATALOG_SOURCES``,
#: ``evaluation.schema.CATALOG_SOURCES``) and ``resources.storage.refresh_catalog`` merges them all.
SOURCES: dict[str, tuple[str, pa.Schema]] = {
    "probe": ("episodes/*/*/probe.parquet", ingest.PROBE_SCHEMA),
    "audio": ("episodes/*/*/audio.parquet", ingest.AUDIO_SCHEMA),
    "subtitle_info": ("episodes/*/*/subtitles.parquet", ingest.SUBTITLE_INFO_SCHEMA),
    "cues": ("episodes/*/*/cues.parquet", CUE_SCHEMA),
    "synced_cues": ("episodes/*/*/synced_cues.parquet", CUE_SCHEMA),
    "turns": ("episodes/*/*/turns.parquet", TURN_SCHEMA),
    "segments": ("episodes/*/*/segments.parquet", SEGMENT_SCHEMA),
    "voices": ("series/*/voices.parquet", VOICE_SCHEMA),
    "segment_characters": ("series/*/segment_characters.parquet", SEGMENT_CHARACTER_SCHEMA),
    "dialogues": ("series/*/dialogues.parquet", DIALOGUE_SCHEMA),
    "scenes": ("series/*/scenes.parquet", SCENE_SCHEMA),
    "splits": ("series/*/splits.parquet", SPLIT_SCHEMA),
    "shard_files": ("shards/*/*/files.parquet", SHARD_FILE_SCHEMA),
}

#: Columns every segment-level view carries to name its episode.
_EPISODE_COLS = "p.series_key, p.series, p.episode"

#: Views built on the sources. ``{name}`` refers to the source relation of that name (of any layer's sources).
VIEWS: dict[str, str] = {
    "cues": "SELECT * FROM {cues}",
    "synced_cues": "SELECT * FROM {synced_cues}",
    "speaker_turns": f"""
        SELECT {_EPISODE_COLS}, t.episode_key, t.start_s, t.end_s, t.speaker, t.overlap, t.confidence
        FROM {{turns}} t JOIN {{probe}} p USING (episode_key)
    """,
    "segments": f"""
        SELECT {_EPISODE_COLS}, s.* EXCLUDE (embedding), s.end_s - s.start_s AS duration_s,
               s.embedding IS NOT NULL AS has_embedding, c.character, c.voice_id, c.character_similarity,
               c.character_margin, c.attribution
        FROM {{segments}} s JOIN {{probe}} p USING (episode_key)
        LEFT JOIN {{segment_characters}} c USING (episode_key, segment_id)
    """,
    "voices": "SELECT * EXCLUDE (centroid) FROM {voices}",
    "characters": """
        SELECT series_key, character, any_value(character_key) AS character_key, any_value(role) AS role,
               sum(n_segments) AS n_segments, sum(speech_s) / 3600 AS hours,
               string_agg(DISTINCT name_source, ',') AS name_source, list(voice_id ORDER BY voice_id) AS voices
        FROM {voices} GROUP BY series_key, character
    """,
    "dialogues": "SELECT * FROM {dialogues}",
    "scenes": "SELECT * FROM {scenes}",
    "shards": "SELECT * FROM {shard_files}",
    "splits": "SELECT * FROM {splits}",
    "episodes": """
        SELECT p.series_key, p.series, p.episode, p.episode_key, p.source_path, p.container,
               p.duration_s, p.has_video, p.audio_codec, p.sha256,
               a.audio_path, a.audio_duration_s, a.sample_rate,
               coalesce(s.n_cues, 0) AS n_subtitle_cues, s.subtitle_source, s.subtitle_path, s.encoding,
               s.n_speaker_tags, s.n_dash_cues, s.warnings AS subtitle_warnings
        FROM {probe} p
        LEFT JOIN {audio} a USING (episode_key)
        LEFT JOIN {subtitle_info} s USING (episode_key)
    """,
}

_DUCK_TYPES = {
    pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.float32(): "FLOAT", pa.int64(): "BIGINT",
    pa.int32(): "INTEGER", pa.int16(): "SMALLINT", pa.int8(): "TINYINT", pa.bool_(): "BOOLEAN",
}


def _empty_relation(schema: pa.Schema) -> str:
    cols = ", ".join(f'CAST(NULL AS {_DUCK_TYPES.get(f.type, "VARCHAR")}) AS "{f.name}"' for f in schema)
    return f"(SELECT {cols} WHERE false)"


def _source_relation(root: Path, pattern: str, schema: pa.Schema) -> str:
    if not any(root.glob(pattern)):
        return _empty_relation(schema)
    glob = str(root / pattern).replace("'", "''")
    return f"read_parquet('{glob}', union_by_name = true)"


def connect(data_dir: str | Path, read_only: bool = False, retries: int = 50) -> duckdb.DuckDBPyConnection:
    """Open the catalog, waiting while another process holds DuckDB's write lock."""
    path = DataStore(data_dir).catalog_path
    for attempt in range(retries):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException:
            if attempt == retries - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def refresh_catalog(data_dir: str | Path, extra_sources: dict | None = None, extra_views: dict | None = None) -> list[str]:
    """(Re)create every catalog view: the domain library's, plus ``extra_sources`` / ``extra_views`` (the tables
    of the layers above; ``resources.storage.refresh_catalog`` passes them all). Returns the view names."""
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    sources = {**SOURCES, **(extra_sources or {})}
    views = {**VIEWS, **(extra_views or {})}
    relations = {name: _source_relation(root, pat, schema) for name, (pat, schema) in sources.items()}
    with FileLock(str(root / ".catalog.lock"), timeout=60):
        con = connect(root)
        try:
            for name, sql in views.items():
                con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {sql.format(**relations)}')
        finally:
            con.close()
    return list(views)


def query(data_dir: str | Path, sql: str, params: list | None = None) -> list[dict]:
    """Run a read-only query on the catalog; rows as dicts."""
    con = connect(data_dir, read_only=True)
    try:
        cur = con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        con.close()
