"""Scenes, context → reply records and episode splits."""

import pytest

from audiorole.dataset.dialogues import DialogueConfig, assign_splits, episode_dialogues, merge_turns, scene_breaks


def seg(i, start, end, character, keep=True, text=None, reason=None):
    return {"segment_id": f"s/e1#{i:04d}", "start_s": start, "end_s": end, "character": character,
            "character_key": character.lower() if character else None, "speaker": f"SPK_{character}",
            "text": text if text is not None else f"line {i}", "keep": keep, "reject_reason": reason}


def test_splits_are_by_episode_stable_and_cover_small_series():
    keys = [f"s/e{i:02d}" for i in range(40)]
    splits = assign_splits(keys)
    assert set(splits.values()) == {"train", "validation", "test"} and set(splits) == set(keys)
    grown = assign_splits(keys + [f"s/e{i:02d}" for i in range(40, 60)])
    assert all(grown[k] == splits[k] for k in keys)  # adding episodes never moves an old one
    small = assign_splits(["s/a", "s/b", "s/c"])
    assert sorted(small.values()) == ["test", "train", "validation"]
    assert set(assign_splits(["s/a", "s/b"]).values()) == {"train"}
    assert assign_splits(["s/a", "s/b", "s/c"], overrides={"s/a": "test"})["s/a"] == "test"
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        assign_splits(["s/a"], overrides={"s/a": "dev"})
    # the demo's 12 episodes hash into train only: test and validation are still filled
    twelve = assign_splits([f"maple-street/s01e{i:02d}" for i in range(1, 13)])
    assert sorted(twelve.values()).count("test") == 1 and list(twelve.values()).count("validation") == 1


def test_scene_breaks_on_long_pauses_and_loud_gaps():
    turns = [seg(0, 0, 2, "A"), seg(1, 2.3, 4, "B"), seg(2, 8, 9, "A"), seg(3, 11, 12, "B"), seg(4, 12.5, 13, "A")]
    cfg = DialogueConfig()
    assert scene_breaks(turns, None, cfg) == [2]
    music = lambda a, b: -20.0 if a >= 9 else -60.0  # the 2 s gap after 9 s holds music
    assert scene_breaks(turns, music, cfg) == [2, 3]


def test_records_single_and_multi_turn_within_scenes():
    segs = [seg(0, 0, 2, "Maggie"), seg(1, 2.2, 3, "Theo", keep=False, reason="overlap"),
            seg(2, 3.2, 5, "Maggie"), seg(3, 5.2, 6, "other"), seg(4, 6.2, 8, "Theo"),
            seg(5, 20, 21, "Theo"), seg(6, 21.5, 22, "Maggie", text=" ", reason="no_text", keep=False)]
    records, scenes = episode_dialogues("s/e1", "s", segs, "train", "/a.flac", config=DialogueConfig(max_context_turns=3))
    assert [s["n_turns"] for s in scenes] == [5, 1]  # the empty-text segment is no turn
    got = {(r["reply"]["segment_id"][-4:], r["kind"]): [t["segment_id"][-4:] for t in r["context"]] for r in records}
    assert got == {
        ("0002", "single_turn"): ["0001"], ("0002", "multi_turn"): ["0000", "0001"],
        ("0004", "single_turn"): ["0003"], ("0004", "multi_turn"): ["0001", "0002", "0003"],
    }  # no reply from a rejected segment, from 'other', or without context; context may be a rejected turn
    r = next(r for r in records if r["kind"] == "multi_turn" and r["reply"]["segment_id"].endswith("0004"))
    assert r["scene_id"] == "s/e1/scene000" and r["split"] == "train" and r["context"][0]["keep"] is False
    assert r["dialogue_id"] == "s/e1#0004@3" and r["character"] == "Theo"


def test_one_characters_consecutive_utterances_are_one_turn():
    # a line the subtitles split over two cues, then an answer, then the same character after a long pause
    segs = [seg(0, 0, 2, "Joe", text="It was just dinner"), seg(1, 2.4, 4, "Joe", text="and a movie."),
            seg(2, 4.3, 6, "Rita", text="You really know how to treat a girl."),
            seg(3, 6.2, 7, "other", text="Hey you two!"), seg(4, 7.1, 8, "other", text="Over here!"),
            seg(5, 8.2, 9, "Joe", text="Who said that?"),
            seg(6, 9.2, 10, "Joe", keep=False, text="Hello?", reason="overlap")]
    records, scenes = episode_dialogues("s/e1", "s", segs, "train", "/a.flac")
    assert [s["n_turns"] for s in scenes] == [6]  # Joe's two cues are one turn; 'other' voices and a rejected part not
    rita = next(r for r in records if r["reply"]["segment_id"].endswith("0002") and r["kind"] == "single_turn")
    (joe,) = rita["context"]
    assert joe["text"] == "It was just dinner and a movie." and (joe["start_s"], joe["end_s"]) == (0, 4)
    assert [x[-4:] for x in joe["segment_ids"]] == ["0000", "0001"] and joe["segment_id"].endswith("0000")
    assert rita["reply"]["segment_ids"] == [rita["reply"]["segment_id"]]
    # no record answers its own character's previous words: every reply follows someone else's turn
    assert all(r["context"][-1]["character"] != r["character"] for r in records)
    # a pause longer than turn_gap_s, or a turn that would outgrow max_turn_s, starts a new turn
    apart = [seg(0, 0, 2, "Joe"), seg(1, 4.5, 6, "Joe")]
    assert len(episode_dialogues("s/e1", "s", apart, "train", "/a", config=DialogueConfig(turn_gap_s=2.0))[1]) == 1
    assert len(merge_turns(apart, DialogueConfig(turn_gap_s=2.0))) == 2
    assert len(merge_turns(apart, DialogueConfig(turn_gap_s=3.0))) == 1
    assert len(merge_turns(apart, DialogueConfig(turn_gap_s=3.0, max_turn_s=5.0))) == 2
