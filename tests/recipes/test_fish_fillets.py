"""The Fish Fillets NG reader: the Lua parsing and ordering on small inputs, then the real Debian packages (fetched
once per run with ``apt-get download``; skipped with the reason where apt or the archive is not reachable)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from audiorole.recipes import RecipeError
from audiorole.recipes import fish_fillets as ff
from tests.conftest import built_once_per_run

# ------------------------------------------------------------------------------------------- without the packages


def test_parse_dialogs_handles_escapes_comments_and_multiline_calls(tmp_path):
    path = tmp_path / "dialogs_cs.lua"
    path.write_text(
        '-- dialogId("commented", "font_big", "no")\n'
        'dialogId("a-m-1", "font_small", "Say \\"hi\\" at C:\\\\WINDOWS.")\n'
        'dialogStr("Řekni \\"ahoj\\".")\n\n'
        'dialogId("a-v-2", "font_big",\n"Two\\nlines")\n'
        'dialogStr(\n"Dva řádky")\n'
        '--[[ dialogId("block", "font_big", "no") ]]\n'
        'dialogId("a-x-3", "font_white", "No translation")\n',
        encoding="utf-8",
    )
    got = ff.parse_dialogs(path)
    assert [d.id for d in got] == ["a-m-1", "a-v-2", "a-x-3"]
    assert got[0] == ff.Dialog("a-m-1", "font_small", 'Say "hi" at C:\\WINDOWS.', 'Řekni "ahoj".')
    assert got[1].text_en == "Two\nlines" and got[1].text == "Dva řádky"
    assert got[2].text is None


def test_play_order_follows_code_groups_prefixes_and_keeps_the_rest_by_file_order():
    ids = ["x-intro", "x-m-a0", "x-m-a1", "x-v-b", "x-v-orphan", "x-m-c"]
    stream = [("music/x.ogg", False), ("x-v-b", False), ("x-m-a", True), ("x-m-c", False), ("x-v-b", False)]
    order, by_code = ff.play_order(ids, stream)
    # the code names x-v-b, then the x-m-a* variants (a literal prefix), then x-m-c; x-intro (first in the file)
    # leads, x-v-orphan follows its file predecessor x-v-b
    assert order == ["x-intro", "x-v-b", "x-v-orphan", "x-m-a0", "x-m-a1", "x-m-c"]
    assert by_code == 4


def test_characters_come_from_fonts_with_per_level_colours():
    assert ff.character_for("start", "font_small") == "Small fish"
    assert ff.character_for("cabin1", "font_parrot") == "Parrot"
    assert ff.character_for("gods", "font_yellow") == "Yellow god"
    assert ff.character_for("briefcase", "font_white") == "Boss"
    assert ff.character_for("hardware", "font_white") == "Computer"
    assert ff.character_for("somewhere", "font_unheard_of") == "font_unheard_of"


def test_unknown_language_and_missing_apt_raise_recipe_errors(tmp_path, monkeypatch):
    with pytest.raises(RecipeError, match="fillets|language"):
        ff.fetch(tmp_path, language="xx")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ff.PackageUnavailable, match="fillets-ng-data"):
        ff.fetch(tmp_path, language="cs")


# ------------------------------------------------------------------------------------------- the real packages


@pytest.fixture(scope="session")
def ff_root(tmp_path_factory) -> Path:
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        pytest.skip("apt-get / dpkg-deb not installed: cannot fetch fillets-ng-data(-cs)")
    try:
        return built_once_per_run(tmp_path_factory, "fish-fillets", lambda folder: ff.fetch(folder, "cs"))
    except ff.PackageUnavailable as exc:
        pytest.skip(f"Debian packages unavailable here: {exc}")


@pytest.fixture(scope="session")
def ff_corpus(ff_root):
    cache = ff_root.parents[len(ff.DATA_SUBDIR.parts) + 1]  # …/fish_fillets/root/usr/share/games/fillets-ng
    assert ff.fetch(cache, "cs") == ff_root  # cached: no second download
    return ff.scan(cache, "cs")


def test_one_levels_dialogs_file(ff_root):
    got = ff.parse_dialogs(ff_root / "script" / "start" / "dialogs_cs.lua")
    assert len(got) == 32
    first = got[0]
    assert (first.id, first.font, first.text_en, first.text) == ("1st-m-cotobylo", "font_small", "What was that?",
                                                                 "Co to bylo?")
    assert {d.font for d in got} == {"font_small", "font_big", "font_darkgrey"}
    assert all(d.text for d in got)
    english = {d.id: d.text_en for d in ff.parse_dialogs(ff_root / "script" / "start" / "dialogs_en.lua")}
    assert english["1st-v-netusim"] == "I have no idea."


def test_level_order_is_the_world_map(ff_root):
    levels = ff.level_order(ff_root)
    assert levels[:9] == ["start", "briefcase", "cellar", "library", "stairs", "broom", "reef", "wc", "hanoi"]
    assert levels[-1] == "ending" and len(levels) == 81 and len(set(levels)) == 81
    assert all((ff_root / "script" / level / "code.lua").is_file() for level in levels)
    assert levels.index("submarine") < levels.index("gods") < levels.index("cabin1")


def test_corpus(ff_corpus):
    corpus, stats = ff_corpus
    keys = [s.key for s in corpus.scenes]
    assert keys[0] == "start" and "ending" in keys and keys[-4:] == [k for k, *_ in ff.SHARED_GROUPS]
    assert stats.empty_levels == ["rotate", "key", "electromagnet"]  # not voiced in Czech
    assert 1700 < stats.lines < 1900 and stats.no_clip > 100 and stats.no_text > 0
    assert sum(len(s.lines) for s in corpus.scenes) == stats.lines
    start = corpus.scenes[0].lines
    assert (start[0].character, start[0].text, start[0].text_en) == ("Small fish", "Co to bylo?", "What was that?")
    assert [line.audio.stem for line in start[:4]] == ["1st-m-cotobylo", "1st-v-netusim", "1st-v-ven", "1st-m-pockej"]
    assert {"Small fish", "Big fish", "Parrot", "Boss"} <= set(corpus.characters)
    assert corpus.characters["Small fish"]["main"] and not corpus.characters["Parrot"]["main"]
    assert all(line.audio.is_file() and line.text for s in corpus.scenes for line in s.lines)
    by_code = sum(a for a, _ in stats.order.values())
    assert by_code > 0.95 * stats.lines


def test_clips_decode_to_plausible_lengths(ff_corpus):
    import soundfile as sf

    corpus, _ = ff_corpus
    lines = [line for s in corpus.scenes for line in s.lines]
    sample = lines[:: max(1, len(lines) // 25)]
    for line in sample:
        info = sf.info(str(line.audio))
        assert 0.2 < info.duration < 60, line
        assert len(sf.read(str(line.audio))[0]) > 0.2 * info.samplerate
    if shutil.which("ffprobe"):
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                              str(sample[0].audio)], capture_output=True, text=True, check=True).stdout
        assert 0.2 < float(out) < 60


def test_the_recipe_command_builds_a_czech_series(ff_corpus, ff_root, tmp_path, capsys):
    """``audiorole recipe fish-fillets``: the cached package becomes a media root in Czech (series.yaml declares
    the language the pipeline transcribes in) with the demo's truth files."""
    import json

    import yaml

    from audiorole_dagster.cli import main

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "fish-fillets").symlink_to(ff_root.parents[len(ff.DATA_SUBDIR.parts) + 1])  # fetched once
    out = tmp_path / "ff"
    assert main(["recipe", "fish-fillets", "--out", str(out), "--cache", str(tmp_path / "cache"), "--minutes", "0.3",
                 "--episodes", "1"]) == 0
    media = next((out / "media").iterdir())
    assert yaml.safe_load((media / "series.yaml").read_text())["language"] == "cs"
    assert (media / "S01E01.mp4").exists() and (media / "S01E01.srt").read_text(encoding="utf-8").strip()
    lines = [json.loads(x) for x in next((out / "truth").iterdir()).joinpath("S01E01.lines.jsonl").open()]
    assert lines and any(ch in "ěščřžýáíéůú" for ln in lines for ch in ln["text"]), "Czech text"
    assert "1 episodes" in capsys.readouterr().out
