"""What runs by itself: the planner behind the dataset and models sensors, on the built short demo."""

from __future__ import annotations

import json

from audiorole.discovery import discover_episodes
from audiorole.store import DataStore, stamp_path
from audiorole_dagster.automation import BACKFILL, InFlight, group_by_series, plan_dataset
from tests.conftest import SHORT_DEMO_DATASET_CONFIG as CONFIG


def _tamper(path, **changes):
    saved = path.read_text()
    path.write_text(json.dumps({**json.loads(saved), **changes}))
    return saved


def test_a_series_rebuilds_once_after_its_episodes_and_then_its_shards(short_demo_run_copy):
    demo, data, _ = short_demo_run_copy
    store = DataStore(data)
    episodes, _ = discover_episodes(demo.media_root)
    series = group_by_series(episodes)
    keys = [ep.key for ep in episodes]

    steps, waiting = plan_dataset(series, store, InFlight(), set(), config=CONFIG)
    assert steps == [] and waiting == [], "everything current after `audiorole run`: nothing to request"

    # an episode's segments changed: the series is stale — but not while any of its episodes is still to run
    seg_stamp = stamp_path(store.episode_dir(keys[0]), "segments")
    saved = _tamper(seg_stamp, fingerprint="changed")
    try:
        for flight, pending in [(InFlight({"maple-street": {"episode_job"}}), set()), (InFlight(), {keys[1]}),
                                (InFlight({"maple-street": {BACKFILL}}), set()),
                                (InFlight({"maple-street": {"series_job"}}), set())]:
            steps, waiting = plan_dataset(series, store, flight, pending, config=CONFIG)
            assert steps == [] and len(waiting) == 1 and waiting[0].startswith("maple-street")
        (step,), _ = plan_dataset(series, store, InFlight({"other-show": {"episode_job"}}), set(),
                                   config=CONFIG)
        assert (step.job, step.partition_key) == ("series_job", "maple-street")
        assert "characters" in step.why and step.run_config["ops"]["characters"]["config"]["min_character_s"] == 4.0
        default, _ = plan_dataset(series, store, InFlight(), set())
        assert default[0].run_key != step.run_key, "another run config is another state"
        again, _ = plan_dataset(series, store, InFlight(), set(), config=CONFIG)
        assert again[0].run_key == step.run_key, "the same state is the same run key: Dagster runs it once"
    finally:
        seg_stamp.write_text(saved)
    # the series is current, one character's shards are not: one shards run, for that character only
    chars = sorted(p.name for p in (data / "shards" / "maple-street").iterdir() if p.is_dir())
    shard_stamp = data / "shards" / "maple-street" / chars[0] / "_stamps" / "shards.json"
    saved = _tamper(shard_stamp, fingerprint="changed")
    try:
        steps, _ = plan_dataset(series, store, InFlight(), set(), config=CONFIG)
        assert [(s.job, s.partition_key) for s in steps] == [("shards_job", f"maple-street/{chars[0]}")]
    finally:
        shard_stamp.write_text(saved)
