"""Series stages on the (short) demo: characters named against ground truth, dialogues without split leakage,
shards and card; and the bad cases (a failed episode, an unknown voice in the curator mapping)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from audiorole import catalog

from audiorole.dataset import stages as dataset
from audiorole.scoring import character_attribution, load_truth_lines
from audiorole.store import DataStore
from audiorole_dagster.runner import run_pipeline


def _truth(demo):
    series = json.loads((demo.truth_root / "Maple Street" / "series.json").read_text())
    label_of = {c["name"]: c["truth_label"] for c in series["characters"]}
    main = {c["truth_label"] for c in series["characters"] if c["main"]}
    return label_of, main


def test_characters_are_named_and_attributed(short_demo_run):
    demo, data, report = short_demo_run
    assert report.ok, report.failed
    label_of, main = _truth(demo)
    chars = catalog.query(data, "SELECT * FROM characters WHERE series_key = 'maple-street' AND role = 'main'")
    named = [c for c in chars if not c["character"].startswith("unnamed ")]
    assert len(named) >= 3 and all(c["character"] in label_of for c in named), chars
    # at this size (~1 s of speech per character and episode) voices are thin; what is named must be right
    total, right = 0, 0
    for stem in ("S01E01", "S01E02", "S01E03"):
        kept = catalog.query(data, "SELECT start_s, end_s, character FROM segments WHERE keep AND episode = ?", [stem])
        assert all(k["character"] for k in kept)
        named_kept = [k for k in kept if k["character"] in label_of]
        m = character_attribution(named_kept, load_truth_lines(demo.truth_root / "Maple Street" / f"{stem}.lines.jsonl"),
                                  label_of, main)
        total += m["n"]
        right += m["accuracy"] * m["n"]
    assert total >= 10 and right / total >= 0.9


def test_dialogues_splits_shards_and_card(short_demo_run):
    demo, data, _ = short_demo_run
    store = DataStore(data)
    splits = catalog.query(data, "SELECT episode_key, split FROM splits WHERE series_key = 'maple-street'")
    assert sorted(s["split"] for s in splits) == ["test", "train", "validation"]
    assert dataset.split_leaks(store, "maple-street") == []
    leaks = catalog.query(data, """SELECT count(*) AS n FROM dialogues d JOIN splits s USING (series_key, episode_key)
                                   WHERE d.split <> s.split""")
    assert leaks == [{"n": 0}]
    kinds = {r["kind"]: r["n"] for r in catalog.query(data, "SELECT kind, count(*) AS n FROM dialogues GROUP BY 1")}
    assert kinds.get("single_turn", 0) > 0 and kinds.get("multi_turn", 0) > 0
    ctx = catalog.query(data, "SELECT context, reply FROM dialogues WHERE kind = 'multi_turn' LIMIT 1")[0]
    assert all(t["end_s"] <= ctx["reply"]["start_s"] + 1.0 for t in ctx["context"])

    shards = catalog.query(data, "SELECT character_key, sum(rows) AS rows FROM shards WHERE series_key = 'maple-street' GROUP BY 1")
    mains = catalog.query(data, "SELECT character_key, n_segments FROM characters WHERE role = 'main' AND series_key = 'maple-street'")
    assert {s["character_key"]: s["rows"] for s in shards} == {m["character_key"]: m["n_segments"] for m in mains}
    for m in mains:
        assert dataset.shard_problems(store, "maple-street", m["character_key"]) == []
    card = store.series_dir("maple-street") / "card"
    for name in ("README.md", "index.html", "hours_per_character.png", "durations.png", "rejections.png"):
        assert (card / name).stat().st_size > 100
    assert (card / "durations.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mains[0]["character_key"] in (card / "README.md").read_text().lower().replace(" ", "-")
    assert "language:\n- en\n" in (card / "README.md").read_text()


def test_failed_episode_is_reported_and_unknown_voice_is_a_clear_error(short_demo, short_demo_dataset_config, tmp_path):
    media = tmp_path / "media"
    shutil.copytree(short_demo.media_root / "Maple Street", media / "Maple Street")
    (media / "Maple Street" / "S01E02.mp4").write_bytes(b"\x00not a video" * 100)
    data = tmp_path / "data"
    report = run_pipeline(media, data, echo=lambda *_: None, dataset_config=short_demo_dataset_config)
    assert list(report.failed) == ["maple-street/s01e02"]
    store = DataStore(data)
    stamp = dataset.CHARACTERS.read_stamp(store, "maple-street")
    assert stamp["missing_episodes"] == ["maple-street/s01e02"] and len(stamp["episodes"]) == 2
    assert "maple-street/s01e02" in (store.series_dir("maple-street") / "card" / "README.md").read_text()

    voices = pq.read_table(store.series_dir("maple-street") / "voices.parquet").to_pylist()
    mapping = media / "Maple Street" / "characters.yaml"
    mapping.write_text(f"names:\n  {voices[0]['voice_id']}: Renamed\n  vnope00: Ghost\n")
    again = run_pipeline(media, data, echo=lambda *_: None, dataset_config=short_demo_dataset_config)
    why = again.failed["series maple-street"]
    assert "characters.yaml" in why and "unknown voice id 'vnope00'" in why

    mapping.write_text(f"names:\n  {voices[0]['voice_id']}: Renamed\n")
    third = run_pipeline(media, data, echo=lambda *_: None, dataset_config=short_demo_dataset_config)
    assert list(third.failed) == ["maple-street/s01e02"]
    chars = {r["character"]: r["name_source"] for r in catalog.query(data, "SELECT * FROM characters")}
    assert chars["Renamed"] == "curator" and voices[0]["character"] not in chars
    assert (store.root / "shards" / "maple-street" / "renamed" / "manifest.json").exists()
    assert not (store.root / "shards" / "maple-street" / voices[0]["character_key"]).exists()  # retired


def test_enrollment_clips_are_decoded_by_ffmpeg_checked_and_tracked(short_demo, short_demo_dataset_config, tmp_path):
    media = tmp_path / "media"
    shutil.copytree(short_demo.media_root / "Maple Street", media / "Maple Street")
    data = tmp_path / "data"
    assert run_pipeline(media, data, echo=lambda *_: None, dataset_config=short_demo_dataset_config).ok
    store = DataStore(data)
    clips = sorted((media / "Maple Street" / "enrollment").glob("*.wav"))
    first = dataset.CHARACTERS.read_stamp(store, "maple-street")["fingerprint"]

    clips[0].write_bytes(b"RIFF\x00\x00garbage" * 50)
    why = run_pipeline(media, data, echo=lambda *_: None, dataset_config=short_demo_dataset_config).failed
    assert list(why) == ["series maple-street"] and str(clips[0]) in why["series maple-street"]
    assert "audio decoding failed" in why["series maple-street"]
    assert dataset.CHARACTERS.read_stamp(store, "maple-street")["fingerprint"] == first

    shutil.copy(clips[1], clips[0])  # a replaced clip (here another voice's) makes the characters stage re-run
    assert run_pipeline(media, data, echo=lambda *_: None, dataset_config=short_demo_dataset_config).ok
    assert dataset.CHARACTERS.read_stamp(store, "maple-street")["fingerprint"] != first


def test_the_card_shows_how_much_of_each_characters_speech_its_own_cues_name():
    from audiorole.dataset.card import card_stats, render_html, render_markdown

    def seg(i, who, how, dur):
        return {"episode_key": "s/e1", "start_s": 10.0 * i, "end_s": 10.0 * i + dur, "keep": True, "character": who,
                "attribution": how}

    stats = card_stats("S", "s", [seg(0, "Ann", "subtitle_tag", 3.0), seg(1, "Ann", "embedding", 1.0),
                                  seg(2, "Bo", "embedding", 2.0)], [], [], {"s/e1": "train"}, [])
    share = {c["character"]: c["named_on_cue"] for c in stats["characters"]}
    assert share == {"Ann": 0.75, "Bo": 0.0}
    assert "| Ann | 0.07 | 2 | 0 | 1 | none | 75% |" in render_markdown(stats)
    assert "<td>75%</td>" in render_html(stats)


def test_the_card_names_the_series_language():
    from audiorole.dataset.card import card_stats, render_markdown
    from audiorole.dataset.stages import card_inputs
    from audiorole.discovery import SeriesSpec

    stats = card_stats("Ryby", "ryby", [], [], [], {}, [], language="cs")
    assert "language:\n- cs\n" in render_markdown(stats)
    spec = SeriesSpec(key="ryby", folder=Path("/m/Ryby"), title="Ryby", language="cs-CZ")
    assert card_inputs(spec) == ["Ryby", "cs"]
