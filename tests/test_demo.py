"""The embedded demo series: deterministic, hard like real TV, with ground truth that matches its media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiorole import media
from audiorole.demo import script
from audiorole.subtitles import parse_subtitle_file


def test_script_is_deterministic_per_seed_and_casts_everyone():
    a = script.write_episode_script(1, np.random.default_rng([0, 1]), n_lines=60)
    b = script.write_episode_script(1, np.random.default_rng([0, 1]), n_lines=60)
    c = script.write_episode_script(1, np.random.default_rng([1, 1]), n_lines=60)
    assert [(ln.character, ln.text) for ln in a.lines] == [(ln.character, ln.text) for ln in b.lines]
    assert [(ln.character, ln.text) for ln in a.lines] != [(ln.character, ln.text) for ln in c.lines]
    mains = {ch.name: ch for ch in script.main_characters()}
    assert len(mains) >= 6
    for name, ch in mains.items():
        said = [ln.text for ln in a.lines if ln.character == name]
        assert said and any(t in ch.catchphrases for t in said), name
    assert any(ln.is_backchannel for ln in a.lines) and any(ln.overlaps_previous for ln in a.lines)
    assert a.scenes >= 3


def test_demo_files_and_formats(short_demo):
    series = short_demo.media_root / "Maple Street"
    assert (series / "series.yaml").exists() and list((series / "enrollment").glob("*.wav"))
    mkv = media.probe(series / "S01E01.mkv")
    assert mkv.has_video and mkv.subtitle_streams and not list(series.glob("S01E01.srt"))
    assert (series / "S01E02.ass").read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff"), "UTF-16 with BOM"
    cp1252 = (series / "S01E03.srt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        cp1252.decode("utf-8")
    assert (short_demo.media_root / "pyannote sample" / "sample.srt").exists()
    assert not list(short_demo.media_root.rglob("*.rttm")), "ground truth stays outside the media root"


def test_truth_rttm_matches_lines(short_demo):
    for ep in [e for e in short_demo.episodes if e.series == "Maple Street"]:  # the sample's come from pyannote
        rttm = [ln.split() for ln in Path(ep.truth_rttm).read_text().splitlines()]
        lines = [json.loads(x) for x in Path(ep.truth_lines).read_text().splitlines()]
        assert len(rttm) == len(lines)
        for r, ln in zip(rttm, lines):
            assert float(r[3]) == pytest.approx(ln["start_s"], abs=2e-3)
            assert float(r[4]) == pytest.approx(ln["end_s"] - ln["start_s"], abs=2e-3)


def test_drifted_episode_subtitles_follow_the_declared_offset(short_demo):
    truth = Path(short_demo.truth_root) / "Maple Street"
    timing = json.loads((truth / "S01E03.subtitle_timing.json").read_text())
    assert timing["offset_s"] == 1.5 and timing["drift_ppm"] == 500
    lines = [json.loads(x) for x in (truth / "S01E03.lines.jsonl").read_text().splitlines()]
    parsed = parse_subtitle_file(short_demo.media_root / "Maple Street" / "S01E03.srt")
    assert parsed.encoding == "cp1252"
    starts = {c.cue_index: c.start_s for c in parsed.cues if c.part == 0}
    pairs = [(ln["start_s"], starts[ln["subtitle_cue_index"]]) for ln in lines
             if ln["subtitle_cue_index"] is not None and not ln["in_dash_cue"]]
    offsets = [sub - true * (1 + 500e-6) for true, sub in pairs]
    assert np.median(offsets) == pytest.approx(1.5, abs=0.2), "offset + lead/jitter around the declared 1.5 s"
    assert any(ln["subtitle_cue_index"] is None for ln in lines) or len(lines) < 20


def test_scene_snr_in_range(short_demo):
    truth = Path(short_demo.truth_root) / "Maple Street"
    for stem in ("S01E01", "S01E02", "S01E03"):
        snrs = json.loads((truth / f"{stem}.subtitle_timing.json").read_text())["scene_snr_db"].values()
        assert all(10.0 <= s <= 20.0 for s in snrs)


def test_build_is_idempotent(short_demo):
    from audiorole.demo import build_demo

    before = {p: p.stat().st_mtime_ns for p in short_demo.media_root.rglob("*") if p.is_file()}
    again = build_demo(short_demo.media_root.parent, minutes_per_episode=0.6, n_episodes=3, seed=0)
    assert {p: p.stat().st_mtime_ns for p in again.media_root.rglob("*") if p.is_file()} == before
