"""The whole episode job on the (short) demo series: turns, segments, catalog, checks, and the hard cases."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from audiorole import catalog, media
from audiorole.scoring import load_rttm, load_truth_lines, speaker_purity
from audiorole.store import DataStore
from audiorole_dagster.runner import run_pipeline


def test_every_demo_episode_goes_through(short_demo_run):
    demo, data, report = short_demo_run
    assert report.ok, report.failed
    assert len(report.succeeded) == 4


def test_catalog_shows_turns_and_segments_with_reasons(short_demo_run):
    _, data, _ = short_demo_run
    turns = catalog.query(data, "SELECT episode_key, count(DISTINCT speaker) AS n FROM speaker_turns GROUP BY 1")
    assert all(r["n"] >= 2 for r in turns)
    cols = {r["column_name"] for r in catalog.query(data, "DESCRIBE segments")}
    assert {"series", "episode", "segment_id", "start_s", "end_s", "speaker", "text", "asr_text", "cer", "language",
            "snr_db", "overlap", "keep", "reject_reason"} <= cols
    bad = catalog.query(data, "SELECT count(*) AS n FROM segments WHERE NOT keep AND reject_reason IS NULL")
    assert bad == [{"n": 0}], "every rejected segment says why"
    kept = catalog.query(data, "SELECT count(*) AS n FROM segments WHERE keep AND has_embedding")
    assert kept[0]["n"] > 20


def test_rttm_written_per_episode_and_drift_calibrated(short_demo_run):
    demo, data, _ = short_demo_run
    store = DataStore(data)
    assert load_rttm(store.path("maple-street/s01e01", "turns.rttm")).labels()
    sync = catalog.query(data, "SELECT * FROM synced_cues WHERE episode_key = 'maple-street/s01e03' AND part = 0")
    truth = load_truth_lines(demo.truth_root / "Maple Street" / "S01E03.lines.jsonl")
    starts = {r["cue_index"]: r["start_s"] for r in sync}
    errors = [abs(starts[t.subtitle_cue_index] - t.start_s) for t in truth if t.subtitle_cue_index in starts]
    assert np.median(errors) < 0.1, "the 1.5 s offset and 500 ppm drift are calibrated away"


def test_kept_segments_are_speaker_pure(short_demo_run):
    demo, data, _ = short_demo_run
    for stem in ("S01E01", "S01E02", "S01E03"):
        kept = catalog.query(data, "SELECT start_s, end_s FROM segments WHERE keep AND episode = ?", [stem])
        truth = load_truth_lines(demo.truth_root / "Maple Street" / f"{stem}.lines.jsonl")
        assert speaker_purity(kept, truth) >= 0.9


@pytest.fixture
def hard_cases(short_demo, tmp_path):
    """A music-only episode, an episode with another episode's subtitles, and one with no subtitles at all."""
    import soundfile as sf

    from audiorole.demo import mix

    root = tmp_path / "media"
    show = root / "Hard Cases"
    show.mkdir(parents=True)
    music = mix.music_bed(20.0, np.random.default_rng(0)) * 0.1
    sf.write(str(show / "music-only.wav"), music, 48000)
    series = short_demo.media_root / "Maple Street"
    shutil.copy(series / "S01E02.mp4", show / "wrong-subs.mp4")
    srt = media.extract_subtitle_stream(series / "S01E01.mkv", media.probe(series / "S01E01.mkv").subtitle_streams[0].index)
    (show / "wrong-subs.srt").write_text(srt, encoding="utf-8")
    shutil.copy(series / "S01E03.wav", show / "no-subs.wav")
    return root


def test_hard_cases(hard_cases, tmp_path):
    data = tmp_path / "data"
    report = run_pipeline(hard_cases, data, echo=lambda *_: None)
    assert set(report.failed) == {"hard-cases/wrong-subs"}
    assert "wrong-subs.srt: subtitles do not match the speech" in report.failed["hard-cases/wrong-subs"]
    rows = {r["episode"]: r for r in catalog.query(data, """
        SELECT episode, count(*) AS n, sum(CASE WHEN keep THEN 1 ELSE 0 END) AS kept,
               count(DISTINCT speaker) AS speakers, min(text_source) AS source
        FROM segments GROUP BY episode""")}
    assert "music-only" not in rows or rows["music-only"]["kept"] == 0, "no speech, no kept segment"
    assert rows["no-subs"]["kept"] > 5 and rows["no-subs"]["source"] == "asr" and rows["no-subs"]["speakers"] >= 2
