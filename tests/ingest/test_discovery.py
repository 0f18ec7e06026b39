"""The input contract: series folders, episodes, sidecar subtitles, series.yaml, stable partition keys."""

from __future__ import annotations

import pytest

from audiorole import discovery
from audiorole.errors import InputError


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_keys_are_stable_readable_ascii_for_any_folder_name(tmp_path):
    for name in ["Maple Street", "Café Série", "老友记", "Friends (1994)"]:
        _touch(tmp_path / name / "S01E01.mkv")
    eps, problems = discovery.discover_episodes(tmp_path)
    assert not problems
    keys = {ep.series.title: ep.key for ep in eps}
    assert keys["Maple Street"] == "maple-street/s01e01"
    assert keys["Café Série"] == "cafe-serie/s01e01"
    assert keys["Friends (1994)"] == "friends-1994/s01e01"
    assert keys["老友记"].isascii() and keys["老友记"].endswith("/s01e01")
    # same input, same keys
    assert [e.key for e in discovery.discover_episodes(tmp_path)[0]] == [e.key for e in eps]


def test_colliding_names_get_distinct_keys(tmp_path):
    _touch(tmp_path / "The Show" / "E1.wav")
    _touch(tmp_path / "The_Show" / "E1.wav")
    _touch(tmp_path / "The_Show" / "E1.mkv")  # same stem, two files
    keys = [e.key for e in discovery.discover_episodes(tmp_path)[0]]
    assert len(keys) == len(set(keys)) == 3


def test_only_media_directly_in_series_folder_are_episodes(tmp_path):
    show = tmp_path / "Show"
    _touch(show / "E01.mp4")
    _touch(show / "E01.srt")
    _touch(show / "notes.txt")
    _touch(show / ".hidden.mkv")
    _touch(show / "enrollment" / "maggie.wav")
    eps, _ = discovery.discover_episodes(tmp_path)
    assert [e.episode for e in eps] == ["E01"]


def test_sidecars_same_stem_and_language_variants_preferred_in_order(tmp_path):
    show = tmp_path / "Show"
    media = _touch(show / "E01.mkv")
    for name in ["E01.fr.srt", "E01.en.srt", "E01.vtt", "E01.srt", "E011.srt", "E01.en.forced.srt"]:
        _touch(show / name)
    found = [p.name for p in discovery.find_sidecar_subtitles(media, language="en")]
    assert found == ["E01.srt", "E01.vtt", "E01.en.srt", "E01.fr.srt"]


def test_series_yaml_characters_aliases_and_enrollment(tmp_path):
    show = tmp_path / "Show"
    _touch(show / "enroll" / "maggie.wav")
    (show / "series.yaml").write_text(
        "title: Maple Street\nlanguage: en\ncharacters:\n"
        "  - name: Maggie Chen\n    aliases: [MAGGIE, MAGS]\n    enrollment: [enroll/maggie.wav]\n"
        "  - Theo\n",
        encoding="utf-8",
    )
    spec = discovery.load_series_spec(show, "show")
    assert spec.title == "Maple Street" and spec.language == "en"
    maggie, theo = spec.characters
    assert maggie.aliases == ("MAGGIE", "MAGS")
    assert maggie.enrollment == (str((show / "enroll" / "maggie.wav").resolve()),)
    assert theo.name == "Theo" and theo.aliases == ()


@pytest.mark.parametrize(
    "yaml_text, problem",
    [
        ("title: [unclosed", "invalid series.yaml"),
        ("- just\n- a list\n", "must be a mapping"),
        ("characters:\n  - aliases: [X]\n", "needs a 'name'"),
        ("characters:\n  - name: Ann\n    enrollment: [nope.wav]\n", "enrollment clip not found"),
    ],
)
def test_bad_series_yaml_skips_only_that_series(tmp_path, yaml_text, problem):
    _touch(tmp_path / "Good" / "E1.wav")
    bad = tmp_path / "Bad"
    _touch(bad / "E1.wav")
    (bad / "series.yaml").write_text(yaml_text)
    eps, problems = discovery.discover_episodes(tmp_path)
    assert [e.series.title for e in eps] == ["Good"]
    assert len(problems) == 1 and problem in str(problems[0]) and str(bad / "series.yaml") in str(problems[0])
    with pytest.raises(InputError, match=problem):
        discovery.resolve_episode(tmp_path, "bad/e1")


def test_resolve_episode_and_missing_key(tmp_path):
    _touch(tmp_path / "Show" / "E1.wav")
    assert discovery.resolve_episode(tmp_path, "show/e1").media_path.name == "E1.wav"
    with pytest.raises(InputError, match="not found"):
        discovery.resolve_episode(tmp_path, "show/e2")
    with pytest.raises(ValueError):
        discovery.split_episode_key("no-slash")
