"""The recipe builder: a corpus of real clips becomes episodes with real-subtitle defects and demo-format truth."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from audiorole.recipes import Corpus, Line, Scene
from audiorole.recipes.build import build_series, split_text

TEXTS = [
    ("Joe", "Where is the plane?"), ("Frank", "Right behind the hangar, as always."),
    ("Joe", "Then we fly at dawn. I will need fuel, a map of the river, a compass that works, and a lot of luck."),
    ("Frank", "Yes."), ("Joe", "Good."), ("Frank", "Bring the map."),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("clips")
    scenes = []
    for s in range(3):
        lines = []
        for i, (who, text) in enumerate(TEXTS):
            clip = folder / f"{s}_{i}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us+m3" if who == "Joe" else "en+f2", "-w", str(clip), text],
                           check=True)
            lines.append(Line(who, text, clip))
        scenes.append(Scene(f"d{s}", tuple(lines)))
    return Corpus("test", "Test Series", "en", "test", scenes, {"Joe": {"main": True}})


def test_a_long_line_is_split_over_cues_at_sentence_breaks():
    parts = split_text(TEXTS[2][1], max_chars=40)
    assert parts[0] == "Then we fly at dawn." and all(len(p) <= 40 for p in parts)
    assert " ".join(parts) == TEXTS[2][1]


def test_episodes_subtitles_and_truth(corpus, tmp_path):
    import pysubs2

    m = build_series(corpus, tmp_path, minutes_per_episode=0.3, seed=1)
    assert len(m.episodes) >= 2
    ep = m.episodes[0]
    lines = [json.loads(x) for x in open(ep.truth_lines, encoding="utf-8")]
    timing = json.loads((m.truth_root / "Test Series" / f"{ep.stem}.subtitle_timing.json").read_text())
    assert {ln["character"] for ln in lines} == {"Joe", "Frank"} and abs(timing["offset_s"]) <= 1.5
    subs = pysubs2.load(ep.subtitle_path)
    k = 1 + timing["drift_ppm"] * 1e-6
    starts = [(e.start / 1000 - timing["offset_s"]) / k for e in subs]
    for ln in lines:  # every subtitled line's cue starts at its line, within the jitter (and the cue lead-in)
        if ln["subtitle_cue_index"] is not None:
            assert abs(starts[ln["subtitle_cue_index"]] - ln["start_s"]) <= 0.13
    long_line = next(ln for ln in lines if ln["text"].startswith("Then we fly"))
    assert sum(1 for e in subs if "compass" in e.plaintext or "dawn" in e.plaintext) >= 2, "split over cues"
    assert any(e.plaintext.startswith(("JOE:", "FRANK:")) for e in subs), "speaker tags on part of the cues"
    assert long_line["end_s"] - long_line["start_s"] > 3
    series = json.loads((m.truth_root / "Test Series" / "series.json").read_text())
    assert {c["name"] for c in series["characters"]} == {"Joe", "Frank"}
    mtime = (m.media_root / "Test Series" / f"{ep.stem}.mp4").stat().st_mtime_ns
    again = build_series(corpus, tmp_path, minutes_per_episode=0.3, seed=1)
    assert [e.stem for e in again.episodes] == [e.stem for e in m.episodes]
    assert (m.media_root / "Test Series" / f"{ep.stem}.mp4").stat().st_mtime_ns == mtime, "idempotent"
    audio = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            ep.media_path], capture_output=True, text=True, check=True).stdout
    assert np.isfinite(float(audio)) and float(audio) > lines[-1]["end_s"]


def test_clip_silence_is_trimmed_so_the_truth_is_the_speech():
    from audiorole.recipes.build import SR, trim_silence

    tone = 0.3 * np.sin(np.arange(SR) * 2 * np.pi * 220 / SR).astype(np.float32)
    clip = np.concatenate([np.zeros(SR // 2, np.float32), tone, 1e-4 * np.ones(SR, np.float32)])
    out = trim_silence(clip)
    assert abs(len(out) / SR - 1.1) < 0.02  # the second of tone and 50 ms either side


def test_a_truth_turn_ends_where_the_clip_fades_under_what_it_is_mixed_over():
    """A reverberant clip: 0.2 s of silence, 0.5 s of tone, then a tail falling 60 dB a second, over noise 30 dB
    under the tone. The tail is heard for 0.5 s, so the turn is 0.2-1.2 s of the clip; over louder noise, shorter."""
    from audiorole.recipes.build import SR, audible_spans

    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * SR)) / SR
    tone = np.sin(2 * np.pi * 220 * t[: SR // 2])
    tail = np.sin(2 * np.pi * 220 * t[SR // 2:]) * 10 ** (-60 * (t[SR // 2:] - 0.5) / 20)
    voice = np.concatenate([np.zeros(SR // 5), tone, tail]).astype(np.float32)
    noise = rng.standard_normal(len(voice)).astype(np.float32) * np.sqrt(0.5) * 10 ** (-30 / 20)
    [(first, end)] = audible_spans(voice, noise)
    assert abs(first / SR - 0.2) <= 0.02 and abs(end / SR - 1.2) <= 0.03
    [(_, end_louder)] = audible_spans(voice, noise * 10 ** (20 / 20))  # 10 dB under the tone: heard 1/6 s of tail
    assert abs(end_louder / SR - (0.7 + 1 / 6)) <= 0.03
    assert audible_spans(voice * 1e-3, noise * 10) == [(0, len(voice))]  # never heard: the whole clip stays


def test_a_pause_nobody_hears_splits_the_truth_turn_from_0_3_s_on():
    from audiorole.recipes.build import SR, audible_spans

    rng = np.random.default_rng(1)
    tone = np.sin(2 * np.pi * 220 * np.arange(SR // 5) / SR)

    def spans(pause_s: float) -> list[tuple[float, float]]:
        voice = np.concatenate([tone, np.zeros(int(pause_s * SR)), tone]).astype(np.float32)
        noise = rng.standard_normal(len(voice)).astype(np.float32) * 0.01
        return [(round(a / SR, 2), round(b / SR, 2)) for a, b in audible_spans(voice, noise)]

    assert spans(0.5) == [(0.0, 0.2), (0.7, 0.9)]
    assert spans(0.2) == [(0.0, 0.6)]  # bridged, as annotators do


def test_the_tag_share_changes_only_the_tags(corpus, tmp_path):
    """One seed with no tags and with every line tagged: the same cues at the same times, the same text once the tag
    is taken off; a share outside 0-1 is refused before anything is written."""
    import pysubs2

    from audiorole.recipes import RecipeError

    none = build_series(corpus, tmp_path / "none", minutes_per_episode=0.3, seed=1, tag_share=0.0)
    every = build_series(corpus, tmp_path / "every", minutes_per_episode=0.3, seed=1, tag_share=1.0)
    for a, b in zip(none.episodes, every.episodes, strict=True):
        bare, tagged = pysubs2.load(a.subtitle_path), pysubs2.load(b.subtitle_path)
        assert [(e.start, e.end) for e in bare] == [(e.start, e.end) for e in tagged]
        assert not any(e.plaintext.startswith(("JOE:", "FRANK:")) for e in bare)
        lines = [json.loads(x) for x in open(b.truth_lines, encoding="utf-8")]
        first_cues = {ln["subtitle_cue_index"] for ln in lines
                      if ln["subtitle_cue_index"] is not None and not ln["in_dash_cue"]}
        assert first_cues and all(tagged[i].plaintext.startswith(("JOE: ", "FRANK: ")) for i in first_cues)
        for e, f in zip(bare, tagged):
            assert f.plaintext.split(": ", 1)[-1] == e.plaintext.split(": ", 1)[-1]
        assert Path(a.media_path).read_bytes() == Path(b.media_path).read_bytes(), "the same audio"
    with pytest.raises(RecipeError, match="tag_share 1.5"):
        build_series(corpus, tmp_path / "bad", minutes_per_episode=0.3, seed=1, tag_share=1.5)
    assert not (tmp_path / "bad").exists()
