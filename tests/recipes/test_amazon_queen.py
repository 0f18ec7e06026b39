"""Flight of the Amazon Queen reader on the real Debian package (fetched once per session with ``apt-get download``):
the container's header and table, one dialogue and one cut-scene as lines with speakers, their clips as audio."""

from __future__ import annotations

import shutil
import wave

import numpy as np
import pytest

from audiorole.recipes import RecipeError
from audiorole.recipes import amazon_queen as aq

pytestmark = pytest.mark.xdist_group("amazon_queen")  # one worker fetches the package


@pytest.fixture(scope="session")
def queen(tmp_path_factory):
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip(f"apt-get/dpkg-deb not installed: cannot fetch the Debian package {aq.PACKAGE}")
    cache = tmp_path_factory.mktemp("amazon_queen_cache")
    try:
        root = aq.fetch(cache)
    except RecipeError as exc:
        if "apt-get download" not in str(exc) and "apt-get is not installed" not in str(exc):
            raise  # the package arrived but is not what the reader expects: a failure, not a skip
        pytest.skip(f"the Debian archive is not reachable here: {exc}")
    res = aq.Resource(root / aq.CONTAINER)
    game = aq.parse_jas(res)
    return cache, root, res, game


def test_segments_and_clip_names():
    assert aq.speech_segments("Hmmm...*00*WTOkay, a deal!") == [(1, "Hmmm...", "00"), (2, "", "WT"),
                                                                (3, "Okay, a deal!", None)]
    assert [t for _, t, _ in aq.speech_segments("*XY00(128,112)*FLWhat?")] == ["", "", "What?"]
    assert aq.cut_clip_prefix("C1A.CUT", 1) == "C1A__01" and aq.cut_clip_prefix("C100A.CUT", 3) == "C100A03"


def test_container_header_and_table(queen):
    cache, root, res, _ = queen
    assert (res.version, res.compression) == ("CEM10", 1)
    assert len(res.entries) == 7671 and res.table_end == 15 + 21 * 7671
    assert len(res.names(".DOG")) == 73 and len(res.names(".CUT")) == 301 and len(res.names(".SB")) == 6745
    for name in ("QUEEN.JAS", "QUEEN2.JAS", "TAM1.DOG", "C1A.CUT", "570006J1.SB", "13SSSSJ1.SB", "JOE00011.SB"):
        assert name in res
    first = min(res.entries.values(), key=lambda e: e.offset)
    assert first.offset == res.table_end  # the table is in the file, the data right after it
    assert res.read("TAM1.DOG")[:4] == b"AmBk" and res.read("570006J1.SB")[:2] == b"\xff\xe3"  # bare MP3 frames
    assert aq.fetch(cache) == root  # cached: the second call finds it unpacked
    assert "Flight-of-the-Amazon-Queen-License" in aq.license_text(root)


@pytest.fixture(scope="session")
def mary_lou(queen, tmp_path_factory):
    _, _, res, game = queen
    targets = aq.dialogue_targets(game, {})  # the "talk to" commands alone name TAM1's partner
    speakers = aq.Speakers(game, targets)
    builder = aq.SceneBuilder(res, game, speakers, tmp_path_factory.mktemp("clips"), aq.ReadStats())
    dog = aq.parse_dog(res.read("TAM1.DOG", aq.AMBK_HEADER), "TAM1.DOG")
    return dog, builder.dialogue(dog, speakers.partner(targets["TAM1.DOG"])), builder


def test_one_dialogue_reads_as_lines_with_speakers(mary_lou):
    dog, scene, builder = mary_lou
    assert dog.talk_key == 57 and scene.key == "TAM1.DOG"
    assert {ln.character for ln in scene.lines} == {"Joe", "Mary-Lou"}
    assert [(ln.character, ln.text) for ln in scene.lines[:3]] == [
        ("Joe", "Hi there, my name's Joe."), ("Mary-Lou", "Howdy Joe, I'm Mary-Lou Cook."),
        ("Mary-Lou", "My husband Jimmy and I run this mission.")]
    assert len(scene.lines) > 80 and all(ln.text and "*" not in ln.text for ln in scene.lines)
    for ln in scene.lines:  # Joe's clips are the J ones, the partner's the P ones, all of this dialogue's key
        assert ln.audio.name.startswith("57") and ln.audio.name[6] == ("J" if ln.character == "Joe" else "P")
    first_answer = next(i for i, ln in enumerate(scene.lines) if ln.audio.name.startswith("570006P"))
    assert scene.lines[first_answer - 1].audio.name.startswith("570006J")  # Joe's option, then the answer
    assert builder.stats.no_clip == 0


def test_its_clips_decode_to_speech(mary_lou, tmp_path):
    _, scene, builder = mary_lou
    for ln in scene.lines[:3]:
        wav = aq.decode(ln.audio, tmp_path / (ln.audio.stem + ".wav"))
        with wave.open(str(wav)) as w:
            assert (w.getframerate(), w.getnchannels()) == (16_000, 1)
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
        seconds = len(samples) / 16_000
        assert 0.5 < seconds < 15 and abs(seconds - aq.mp3_duration(ln.audio.read_bytes())) < 0.2
        assert np.sqrt(np.mean(samples ** 2)) > 0.01  # a voice, not silence
    assert builder.stats.seconds["Joe"] > 30 and builder.stats.seconds["Mary-Lou"] > 60


def test_a_cut_scene_names_its_speakers_by_actor(queen, tmp_path):
    _, _, res, game = queen
    speakers = aq.Speakers(game, {})
    builder = aq.SceneBuilder(res, game, speakers, tmp_path, aq.ReadStats())
    scene = builder.cutscene(aq.parse_cut(res.read("C1A.CUT", aq.AMBK_HEADER), game, "C1A.CUT"))
    assert [ln.character for ln in scene.lines[:3]] == ["Joe", "Sparky", "Joe"]
    assert scene.lines[0].text == "Hey Sparky..." and scene.lines[0].audio.name == "C1A__012.mp3"
