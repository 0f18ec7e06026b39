"""The stage protocol: a declared stage skips when current, writes its stamp last, holds a lock while it computes,
migrates a legacy stamp once; ``stale`` answers what would run; the lineage Dagster shows is the declared one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from audiorole.stage import STAGES, Stage, UpstreamMissing, stale
from audiorole.store import DataStore, fingerprint, read_stamp, write_stamp

T_SOURCE = Stage("t_source", stamp="t_source", version="1", scope="episode", folder="episode", outputs=("a.txt",))
T_DERIVED = Stage("t_derived", stamp="t_derived", version="1", scope="episode", folder="episode", outputs=("b.txt",),
                  upstream=("t_source",))
T_SERIES = Stage("t_series", stamp="t_series", version="1", scope="series", folder="series", outputs=(),
                 upstream=("t_source",), fan_in=("t_source",))
T_LEGACY = Stage("t_legacy", stamp="t_legacy", version="1", scope="episode", folder="episode", outputs=(),
                 upstream=("t_source",), legacy=lambda up, inputs: fingerprint("old", *inputs, *up))
KEY = "show/e1"


def _write(name: str, text: str):
    def compute(folder):
        (folder / name).write_text(text)
        return {"chars": len(text)}
    return compute


def test_a_stage_runs_once_then_is_current_until_an_input_or_output_changes(tmp_path):
    store, calls = DataStore(tmp_path), []

    def compute(folder):
        calls.append(1)
        return _write("a.txt", "hello")(folder)

    first = T_SOURCE.run(store, KEY, ["v"], compute)
    assert not first.skipped and first.row == {"chars": 5} and calls == [1]
    again = T_SOURCE.run(store, KEY, ["v"], compute)
    assert again.skipped and again.row == {"chars": 5} and again.fingerprint == first.fingerprint and calls == [1]
    assert not T_SOURCE.run(store, KEY, ["w"], compute).skipped, "another input, another fingerprint"
    (store.episode_dir(KEY) / "a.txt").unlink()
    assert T_SOURCE.current(store, KEY, ["w"]) is None, "a missing output is never current"
    assert T_SOURCE.run(store, KEY, ["w"], compute, force=True).skipped is False and len(calls) == 3


def test_the_stamp_is_written_last_so_an_interrupted_stage_is_not_current(tmp_path):
    store = DataStore(tmp_path)

    def dies(folder):
        (folder / "a.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        T_SOURCE.run(store, KEY, [], dies)
    assert T_SOURCE.read_stamp(store, KEY) is None and T_SOURCE.current(store, KEY, []) is None


def test_upstream_fingerprints_chain_and_stale_names_what_would_run(tmp_path):
    store = DataStore(tmp_path)
    with pytest.raises(UpstreamMissing, match="t_source"):
        T_DERIVED.fingerprint(store, KEY)
    source_inputs: list = []
    checks = [(T_SOURCE, KEY, lambda: source_inputs), (T_DERIVED, KEY, lambda: [])]
    assert stale(store, checks) == ["t_source", "t_derived"]
    T_SOURCE.run(store, KEY, [], _write("a.txt", "x"))
    assert stale(store, checks) == ["t_derived"], "a downstream stage is stale until it runs"
    T_DERIVED.run(store, KEY, [], _write("b.txt", "y"))
    assert stale(store, checks) == []
    T_SOURCE.run(store, KEY, [], _write("a.txt", "changed"), force=True)
    assert stale(store, checks) == [], "the same inputs give the same fingerprint: downstream stays current"
    source_inputs.append("new")
    assert stale(store, checks) == ["t_source", "t_derived"]
    T_SOURCE.run(store, KEY, source_inputs, _write("a.txt", "new"))
    assert stale(store, checks) == ["t_derived"], "a new upstream fingerprint makes the downstream stale"
    # a fan-in upstream is read through the inputs, a series reading its episodes
    assert T_SERIES.upstream_fingerprints(store, "show") == []


def test_a_legacy_stamp_stays_current_and_so_does_its_downstream(tmp_path):
    """A stamp an older release wrote for the same state (another fingerprint formula) is current as it is: rewriting
    it would change the fingerprint its downstream stages hashed, and they would all re-run."""
    store = DataStore(tmp_path)
    T_SOURCE.run(store, KEY, [], _write("a.txt", "x"))
    up = T_SOURCE.read_stamp(store, KEY)["fingerprint"]
    folder = store.episode_dir(KEY)
    legacy_fp = fingerprint("old", "cfg", up)
    write_stamp(folder, "t_legacy", legacy_fp, n=3)
    assert T_LEGACY.current(store, KEY, ["other"]) is None, "another input is not the legacy state"
    assert T_LEGACY.current(store, KEY, ["cfg"])["n"] == 3
    skipped = T_LEGACY.run(store, KEY, ["cfg"], lambda folder: {"n": 4})
    assert skipped.skipped and skipped.fingerprint == legacy_fp == read_stamp(folder, "t_legacy")["fingerprint"]
    assert T_LEGACY.run(store, KEY, ["cfg"], lambda folder: {"n": 4}, force=True).fingerprint == \
        T_LEGACY.fingerprint(store, KEY, ["cfg"]) != legacy_fp, "a run writes the canonical fingerprint"


def test_a_stage_is_declared_once():
    with pytest.raises(ValueError, match="declared twice"):
        Stage("t_source", stamp="t_source", version="2", scope="episode", folder="episode", outputs=("a.txt",))
    with pytest.raises(ValueError, match="declared first"):
        Stage("t_orphan", stamp="t_orphan", version="1", scope="episode", folder="episode", outputs=(),
              upstream=("nowhere",))


def test_two_processes_on_one_partition_compute_it_once(tmp_path):
    """Two real processes run the same stage at once: one computes (holding the stage's lock), the other waits and
    finds it current; both succeed and the output is whole."""
    script = tmp_path / "race.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys, time
        from audiorole.stage import Stage
        from audiorole.store import DataStore
        S = Stage("race", stamp="race", version="1", scope="episode", folder="episode", outputs=("out.txt",))

        def compute(folder):
            with open({str(tmp_path / "log")!r}, "a") as log:
                log.write(sys.argv[1] + "\\n")
            time.sleep(1.5)
            (folder / "out.txt").write_text("whole")
            return {{"by": sys.argv[1]}}

        r = S.run(DataStore({str(tmp_path / "data")!r}), "show/e1", [], compute)
        print(json.dumps({{"skipped": r.skipped, "by": r.row["by"]}}))
    """))
    procs = [subprocess.Popen([sys.executable, str(script), name], stdout=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len((tmp_path / "log").read_text().split()) == 1, "computed once"
    assert sorted(o["skipped"] for o in outs) == [False, True] and outs[0]["by"] == outs[1]["by"]
    assert (tmp_path / "data" / "episodes" / "show" / "e1" / "out.txt").read_text() == "whole"


def test_every_asset_declares_the_lineage_its_stage_reads():
    """Dagster's dependencies and code version of every asset are its stage's upstream and version."""
    from audiorole_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys <= set(STAGES), f"assets without a stage declaration: {keys - set(STAGES)}"
    for name in keys:
        node = graph.get(__import__("dagster").AssetKey(name))
        assert {p.to_user_string() for p in node.parent_keys} == set(STAGES[name].upstream), name
        assert node.code_version == STAGES[name].version, name
