"""Atomic writes, temp-file cleanup, and the DuckDB catalog views."""

from __future__ import annotations

import pyarrow as pa
import pytest

from audiorole import catalog, io
from audiorole.store import DataStore
from resources.storage import refresh_catalog


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "data.parquet"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a.json"
    io.write_json_atomic(target, {"v": 1})
    io.write_json_atomic(target, {"v": 2})
    assert target.read_text().strip().endswith("}") and '"v": 2' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_stale_temp_files_are_cleaned(tmp_path):
    store = DataStore(tmp_path)
    d = store.episode_dir("show/e1")
    d.mkdir(parents=True)
    (d / ".audio.flac.abc123.flac").write_bytes(b"partial")
    (d / "audio.flac").write_bytes(b"whole")
    assert store.clean_partial_writes("show/e1") == 1
    assert [p.name for p in d.iterdir()] == ["audio.flac"]


def test_catalog_views_exist_and_are_typed_before_any_data(tmp_path):
    views = refresh_catalog(tmp_path)
    assert {"episodes", "cues"} <= set(views)
    assert catalog.query(tmp_path, "SELECT count(*) AS n FROM episodes") == [{"n": 0}]
    cols = {r["column_name"]: r["column_type"] for r in catalog.query(tmp_path, "DESCRIBE episodes")}
    assert cols["duration_s"] == "DOUBLE" and cols["n_subtitle_cues"] in {"INTEGER", "BIGINT"}


def test_catalog_sees_new_artifacts_without_copying(tmp_path):
    from audiorole.ingest import stages as ingest

    store = DataStore(tmp_path)
    refresh_catalog(tmp_path)
    row = {f.name: None for f in ingest.PROBE_SCHEMA}
    row.update(episode_key="show/e1", series="Show", episode="E1", duration_s=12.5)
    io.write_parquet_atomic(store.path("show/e1", "probe.parquet"), pa.Table.from_pylist([row], ingest.PROBE_SCHEMA))
    refresh_catalog(tmp_path)
    rows = catalog.query(tmp_path, "SELECT series, episode, duration_s, n_subtitle_cues FROM episodes")
    assert rows == [{"series": "Show", "episode": "E1", "duration_s": 12.5, "n_subtitle_cues": 0}]


def test_two_processes_refresh_and_query_the_catalog_at_once(tmp_path):
    """The CLI and the UI refresh the catalog after every materialization, at any moment: concurrent refreshes and
    queries from two real processes all succeed (DuckDB holds one writer per file; the refresh waits its turn)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        from audiorole import catalog
        from resources.storage import refresh_catalog
        for _ in range(15):
            refresh_catalog({str(tmp_path)!r})
            assert catalog.query({str(tmp_path)!r}, "SELECT count(*) AS n FROM episodes") == [{{"n": 0}}]
        print("ok")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and all(o.strip() == "ok" for o, _ in outs), outs
