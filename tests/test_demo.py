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


@pytest.fixture(scope="module")
def hard_demo(tmp_path_factory):
    from audiorole.demo.hard import build_hard_demo

    return build_hard_demo(tmp_path_factory.mktemp("hard"), minutes_per_episode=1.5, n_episodes=1, seed=3)


def test_hard_profile_is_far_quiet_overlapped_and_has_no_subtitles(hard_demo):
    """The hard profile's promises, checked against its own media: 16 kHz mono, no subtitles anywhere, the
    overlap share it reports is the one in its RTTM, quiet talkers are rendered 15–25 dB below the others, and
    the room is reverberant."""
    import soundfile as sf

    from audiorole.demo.hard import overlap_share
    from audiorole.metrics import load_rttm

    series = hard_demo.media_root / "Far Field"
    ep = hard_demo.episodes[0]
    info = sf.info(ep.media_path)
    assert (info.samplerate, info.channels) == (16000, 1)
    assert ep.subtitle_path is None and not [p for p in series.iterdir() if p.suffix in (".srt", ".ass", ".vtt")]
    assert not media.probe(Path(ep.media_path)).subtitle_streams
    facts = json.loads((Path(ep.truth_rttm).with_suffix("").with_suffix(".hard.json")).read_text())
    ref = load_rttm(ep.truth_rttm)
    ov, sp = overlap_share([(s.start, s.end) for s, _ in ref.itertracks()])
    assert abs(ov / sp - facts["overlap_share"]) < 0.01
    assert 0.12 <= facts["overlap_share"] <= 0.23  # 15–20% at 15 minutes; a 1.5-minute build gets a margin
    assert float(ref.get_overlap().duration()) > 0
    quiet, levels = facts["quiet_talkers"], facts["level_db"]
    assert quiet and all(levels[q] <= max(v for c, v in levels.items() if c not in quiet) - 15 for q in quiet)
    assert 0.4 <= facts["room"]["rt60_s"] <= 0.8
    # the quiet talkers really are quiet in the mix: their lines that overlap nobody, against the others'
    wav, _ = sf.read(ep.media_path, dtype="float32")
    lines = [json.loads(x) for x in Path(ep.truth_lines).read_text().splitlines()]
    alone = [ln for ln in lines if not any(o is not ln and o["start_s"] < ln["end_s"] and ln["start_s"] < o["end_s"]
                                           for o in lines)]

    def level(rows):
        return 10 * np.log10(np.mean(np.concatenate([wav[int(r["start_s"] * 16000):int(r["end_s"] * 16000)]
                                                     for r in rows]) ** 2))

    q = [ln for ln in alone if ln["character"].replace("_", " ") in quiet]
    n = [ln for ln in alone if ln["character"].replace("_", " ") not in quiet]
    if q and n:
        assert level(n) - level(q) > 12  # reverberation and noise fill in a little


def test_hard_profile_is_deterministic_and_idempotent(hard_demo, tmp_path):
    from audiorole.demo.hard import build_hard_demo

    ep = Path(hard_demo.episodes[0].media_path)
    before = ep.stat().st_mtime_ns
    build_hard_demo(hard_demo.media_root.parent, minutes_per_episode=1.5, n_episodes=1, seed=3)
    assert ep.stat().st_mtime_ns == before  # kept as it is
    again = build_hard_demo(tmp_path, minutes_per_episode=1.5, n_episodes=1, seed=3)
    assert Path(again.episodes[0].media_path).read_bytes() == ep.read_bytes()
    assert Path(again.episodes[0].truth_rttm).read_text() == Path(hard_demo.episodes[0].truth_rttm).read_text()
