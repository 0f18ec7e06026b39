"""The embedded demo series: deterministic, hard like real TV, with ground truth that matches its media."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiorole import media
from audiorole.demo import script
from audiorole.ingest.subtitles import parse_subtitle_file


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
        assert said and any(script.says_catchphrase(ch, t) for t in said), name
    assert any(ln.is_backchannel for ln in a.lines) and any(ln.overlaps_previous for ln in a.lines)
    assert a.scenes >= 3


def test_style_lines_are_said_once_in_the_series_and_pools_repeat():
    """The default demo judges a model on lines it never saw: across a series' episodes no main character's line
    comes back (catch-phrases open new lines), while the pool profile reuses its 17 lines per character."""
    def main_lines(kind: str, n_episodes: int) -> list[str]:
        mains = {c.name for c in script.main_characters()}
        eps = [script.write_episode_script(n, np.random.default_rng([0, n]), n_lines=140, lines=kind)
               for n in range(1, n_episodes + 1)]
        return [ln.text for e in eps for ln in e.lines if ln.character in mains and not ln.is_backchannel]

    style = main_lines("style", 4)
    assert len(style) > 300 and len(set(style)) == len(style)
    pool = main_lines("pool", 4)
    assert len(set(pool)) <= 6 * 17 + len(script.CP1252_LINES) < len(pool)
    with pytest.raises(ValueError, match="unknown kind of demo lines"):
        script.write_episode_script(1, np.random.default_rng(0), n_lines=20, lines="poem")


def test_a_style_enumerates_distinct_lines_and_refuses_a_frame_without_words():
    from audiorole.demo.styles import STYLES, Style

    for name, style in STYLES.items():
        n = min(style.capacity, 600)
        lines = [style.line(i) for i in range(n)]
        assert len(set(lines)) == n and all(ln[0].isupper() and "{" not in ln for ln in lines), name
        assert style.line(style.capacity) == style.line(0)  # wraps past its capacity
    with pytest.raises(ValueError, match="no words for slot"):
        Style(frames=("I like {food}.",), words=(("drink", ("tea",)),))


@pytest.mark.parametrize("n,win", [(1001, 24), (1001, 25), (300, 299), (24000, 1)])
def test_the_bed_level_smoothing_is_the_boxcar_convolution(n, win):
    from audiorole.demo.build import moving_average

    x = np.random.default_rng(n + win).random(n).astype(np.float32)
    want = np.convolve(x, np.ones(win, dtype=np.float32) / win, mode="same")
    np.testing.assert_allclose(moving_average(x, win), want, atol=1e-6)


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
    again = build_demo(short_demo.media_root.parent, minutes_per_episode=0.6, n_episodes=3, seed=0, lines="pool")
    assert {p: p.stat().st_mtime_ns for p in again.media_root.rglob("*") if p.is_file()} == before


@pytest.fixture(scope="module")
def hard_demo(tmp_path_factory):
    """The hard profile at test size: one ~1.5-minute episode."""
    from audiorole.demo.hard import build_hard_demo

    return build_hard_demo(tmp_path_factory.mktemp("hard"), minutes_per_episode=1.5, n_episodes=1, seed=3)


def _hard_facts(ep) -> dict:
    return json.loads(Path(ep.truth_rttm).with_suffix("").with_suffix(".hard.json").read_text())


def test_hard_profile_files_have_no_subtitles(hard_demo):
    """16 kHz mono FLAC that the pipeline discovers, with no subtitles of any kind; the series named like the
    default one, with enrollment clips and the same truth labels."""
    import soundfile as sf

    from audiorole.discovery import SUBTITLE_EXTENSIONS, discover_episodes

    series = hard_demo.media_root / "Far Field"
    (ep,) = hard_demo.episodes
    info = sf.info(ep.media_path)
    assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
    assert ep.subtitle_path is None and not [p for p in series.rglob("*") if p.suffix in SUBTITLE_EXTENSIONS]
    assert not media.probe(Path(ep.media_path)).subtitle_streams
    found, problems = discover_episodes(hard_demo.media_root)
    assert not problems and [(e.media_path.name, e.subtitle_paths) for e in found] == [("S01E01.flac", ())]
    assert (series / "series.yaml").exists() and list((series / "enrollment").glob("*.wav"))
    truth = hard_demo.truth_root / "Far Field"
    labels = {c["truth_label"] for c in json.loads((truth / "series.json").read_text())["characters"]}
    assert labels == {c.name.replace(" ", "_") for c in script.CHARACTERS}
    assert not list(truth.glob("*.subtitle_timing.json"))


def test_hard_profile_truth_matches_its_audio(hard_demo):
    """The RTTM holds the placed lines (same rows as lines.jsonl, same keys as the default profile), overlap flags
    and the recorded overlap share agree with the intervals, and the audio has speech where the truth says and only
    room noise well after every line."""
    import soundfile as sf

    from audiorole.demo.hard import overlap_share
    from audiorole.scoring import load_rttm

    (ep,) = hard_demo.episodes
    facts = _hard_facts(ep)
    rttm = [ln.split() for ln in Path(ep.truth_rttm).read_text().splitlines()]
    lines = [json.loads(x) for x in Path(ep.truth_lines).read_text().splitlines()]
    assert len(rttm) == len(lines) > 20
    assert set(lines[0]) == {"line_id", "scene", "character", "text", "start_s", "end_s", "subtitle_cue_index",
                             "in_dash_cue", "speaker_tagged", "overlaps_previous", "is_backchannel"}
    until = 0.0
    for r, ln in zip(rttm, lines):
        assert (r[7], float(r[3]), float(r[4])) == (ln["character"], ln["start_s"],
                                                     pytest.approx(ln["end_s"] - ln["start_s"], abs=2e-3))
        assert (ln["subtitle_cue_index"], ln["in_dash_cue"], ln["speaker_tagged"]) == (None, False, False)
        assert ln["overlaps_previous"] == (ln["start_s"] < until - 1e-3), ln
        until = max(until, ln["end_s"])
    assert any(ln["overlaps_previous"] and ln["is_backchannel"] for ln in lines)
    assert any(ln["overlaps_previous"] and not ln["is_backchannel"] for ln in lines)
    ref = load_rttm(ep.truth_rttm)
    ov, sp = overlap_share([(s.start, s.end) for s, _ in ref.itertracks()])
    assert ov / sp == pytest.approx(facts["overlap_share"], abs=0.005)
    assert sp == pytest.approx(facts["speech_s"], abs=0.1)
    assert 0.12 <= facts["overlap_share"] <= 0.23  # 15–20% at 15 minutes; a 1.5-minute build gets a margin
    wav, sr = sf.read(ep.media_path, dtype="float32")
    assert len(wav) / sr == pytest.approx(facts["duration_s"], abs=0.01) and ln["end_s"] < len(wav) / sr
    assert float(np.max(np.abs(wav))) == pytest.approx(10 ** (-3 / 20), abs=0.01)  # peak at -3 dBFS

    def dbfs(x: np.ndarray) -> float:
        return 10 * float(np.log10(np.mean(x.astype(np.float64) ** 2)))

    busy = np.zeros(len(wav), dtype=bool)
    for ln in lines:  # a line and its reverberant tail
        busy[int(ln["start_s"] * sr):int((ln["end_s"] + 0.8) * sr)] = True
    assert (~busy).sum() > 0.5 * sr and dbfs(wav[~busy]) == pytest.approx(facts["noise_dbfs"], abs=1.0)
    loud = [ln for ln in lines if ln["character"].replace("_", " ") not in facts["quiet_talkers"]]
    speech = np.concatenate([wav[int(ln["start_s"] * sr):int(ln["end_s"] * sr)] for ln in loud])
    assert dbfs(speech) - facts["noise_dbfs"] > 20


def test_hard_profile_quiet_talkers_are_quiet_in_the_mix(hard_demo):
    """The recorded room and gains are the ones in the mix (each line re-rendered from them fits its stretch of the
    recording with gain ~1), and the re-rendered quiet talkers are 15–25 dB below the quietest normal talker in
    a far-field room."""
    import soundfile as sf
    from scipy.signal import oaconvolve

    from audiorole.demo import voices
    from audiorole.demo.hard import room_impulse_responses, to_16k

    (ep,) = hard_demo.episodes
    facts = _hard_facts(ep)
    room, talkers, quiet = facts["room"], facts["talkers"], facts["quiet_talkers"]
    assert 1 <= len(quiet) <= 2 and 0.36 <= room["rt60_measured_s"] <= 0.88
    assert all(1.5 <= s["distance_m"] <= 4.5 for s in room["sources"].values())
    assert all(25 <= talkers[c]["snr_db"] <= 35 for c in talkers if c not in quiet)
    assert all(5 <= talkers[c]["snr_db"] <= 15 for c in quiet)
    wav, sr = sf.read(ep.media_path, dtype="float32")
    lines = [json.loads(x) for x in Path(ep.truth_lines).read_text().splitlines()]
    alone = [ln for ln in lines if not any(o is not ln and o["start_s"] < ln["end_s"] + 0.3
                                           and ln["start_s"] < o["end_s"] + 0.3 for o in lines)]
    rirs = room_impulse_responses(room)
    voice_of = {c.name: c.voice for c in script.CHARACTERS}
    level: dict[str, list[float]] = {}
    for ln in alone:
        who = ln["character"].replace("_", " ")
        if len(level.get(who, [])) >= 2:
            continue
        dry = to_16k(voices.synthesize(voice_of[who], ln["text"]))
        wet = 10 ** (talkers[who]["render_gain_db"] / 20) * oaconvolve(dry, rirs[who])
        a = int(round(ln["start_s"] * sr))
        seg = wav[a:a + len(wet)]
        assert float(seg @ wet[:len(seg)] / (wet[:len(seg)] @ wet[:len(seg)])) == pytest.approx(1.0, abs=0.1), ln
        level.setdefault(who, []).append(10 * float(np.log10(np.mean(wet[:len(dry)] ** 2))))
    mean = {c: float(np.mean(v)) for c, v in level.items()}
    heard = [c for c in quiet if c in mean]
    normal = [c for c in mean if c not in quiet]
    assert heard and normal, "the episode has lines said alone by a quiet and by a normal talker"
    for c in heard:
        assert 14 <= min(mean[n] for n in normal) - mean[c] <= 26 + 2 * 3.0  # ±1 dB per line around the talker
        assert mean[c] == pytest.approx(talkers[c]["level_dbfs"], abs=2.0)


def test_hard_profile_is_deterministic_and_idempotent(hard_demo, tmp_path, monkeypatch):
    """Same seed, same bytes; an existing build is kept (also through the CLI); --profile hard defaults to
    4 x 15 minutes and the default profile keeps its 3 x 3.5 minutes."""
    import audiorole.demo
    import audiorole.demo.hard
    from audiorole.demo.hard import build_hard_demo
    from audiorole_dagster.cli import main

    (ep,) = hard_demo.episodes
    out = hard_demo.media_root.parent
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    build_hard_demo(out, minutes_per_episode=1.5, n_episodes=1, seed=3)
    assert main(["demo", "--out", str(out), "--profile", "hard", "--minutes", "1.5", "--episodes", "1",
                 "--seed", "3"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before  # kept as it is
    assert json.loads((out / "demo.json").read_text())["params"]["profile"] == "hard"
    again = build_hard_demo(tmp_path, minutes_per_episode=1.5, n_episodes=1, seed=3)
    for a, b in ((again.episodes[0].media_path, ep.media_path), (again.episodes[0].truth_rttm, ep.truth_rttm),
                 (again.episodes[0].truth_lines, ep.truth_lines)):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert _hard_facts(again.episodes[0]) == _hard_facts(ep)
    calls = []
    monkeypatch.setattr(audiorole.demo.hard, "build_hard_demo", lambda out, **kw: calls.append(kw) or hard_demo)
    monkeypatch.setattr(audiorole.demo, "build_demo", lambda out, **kw: calls.append(kw) or hard_demo)
    assert main(["demo", "--out", str(tmp_path), "--profile", "hard"]) == 0
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert main(["demo", "--out", str(tmp_path), "--lines", "pool"]) == 0
    assert calls == [{"minutes_per_episode": 15.0, "n_episodes": 4, "seed": 0, "lines": "pool"},
                     {"minutes_per_episode": 3.5, "n_episodes": 3, "seed": 0, "lines": "style"},
                     {"minutes_per_episode": 3.5, "n_episodes": 3, "seed": 0, "lines": "pool"}]
