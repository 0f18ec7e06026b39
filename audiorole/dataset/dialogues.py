"""Context-aware dialogues: scenes, context → reply records, and train/validation/test splits by episode.

A *scene* is a run of utterances (segment rows) with no long pause between them: a gap of ``scene_gap_s`` or more
always ends a scene, and a shorter gap of at least ``music_gap_s`` ends one when the gap is loud (a music bridge:
its level above ``music_level_dbfs``). A *turn* is what one character says before someone else speaks: consecutive
utterances of one named character in a scene, each starting at most ``turn_gap_s`` after the previous one ends, all
kept or all rejected, spanning at most ``max_turn_s`` (``merge_turns``). A long line the subtitles split over
cues, or a speech the diarizer cut at a breath, is one turn: otherwise half the records of a real series answer
their own character's previous words (Amazon Queen: 356 of 767 single-turn records; Fish Fillets: 441 of 846), a
model learns to finish its own sentences, and a test reply is half a line.

Every kept turn of a main character that has at least one earlier turn in its scene is a reply; it gets a
single-turn record (the turn right before it) and, with two or more earlier turns, a multi-turn record (up to
``max_context_turns``). Context turns may be rejected segments (overlapped, noisy): their text and speaker are
context, and their ``keep`` flag says whether their audio is in the dataset. A turn names its first segment
(``segment_id``, which the dialogue id carries) and all of them (``segment_ids``); its times span them all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pyarrow as pa

from audiorole.dataset.characters import OTHER

SPLITS = ("train", "validation", "test")

_TURN = pa.struct([
    ("segment_id", pa.string()), ("character", pa.string()), ("speaker", pa.string()), ("text", pa.string()),
    ("start_s", pa.float64()), ("end_s", pa.float64()), ("keep", pa.bool_()), ("segment_ids", pa.list_(pa.string())),
])
DIALOGUE_SCHEMA = pa.schema(
    [
        ("dialogue_id", pa.string()), ("series_key", pa.string()), ("episode_key", pa.string()),
        ("scene_id", pa.string()), ("split", pa.string()), ("kind", pa.string()),  # single_turn | multi_turn
        ("character", pa.string()), ("character_key", pa.string()),
        ("reply", _TURN), ("context", pa.list_(_TURN)), ("n_context", pa.int32()),
        ("audio_path", pa.string()),  # the episode audio all times refer to
    ]
)
SCENE_SCHEMA = pa.schema(
    [
        ("series_key", pa.string()), ("episode_key", pa.string()), ("scene_id", pa.string()),
        ("start_s", pa.float64()), ("end_s", pa.float64()), ("n_turns", pa.int32()),
    ]
)


@dataclass(frozen=True)
class DialogueConfig:
    """Scene and context settings, with their defaults."""

    scene_gap_s: float = 3.0  # a pause this long between utterances always ends a scene
    music_gap_s: float = 1.5  # a shorter pause ends a scene when it is this long and loud (music bridge)...
    music_level_dbfs: float = -40.0  # ...i.e. its RMS level is above this (speech-free audio near silence is not)
    max_context_turns: int = 4  # preceding turns of a multi-turn record
    turn_gap_s: float = 2.0  # one character's next utterance within this pause continues the same turn...
    max_turn_s: float = 20.0  # ...unless the turn would span longer than this
    validation_share: float = 0.1  # share of episodes in validation (the rest beyond test goes to train)
    test_share: float = 0.1  # share of episodes in test


# splits -------------------------------------------------------------------------------------------------------
def _unit(key: str) -> float:
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:12], 16) / float(16**12)


def assign_splits(episode_keys: list[str], ratios=(0.8, 0.1, 0.1), overrides: dict[str, str] | None = None,
                  small_series: int = 10) -> dict[str, str]:
    """Split per episode, never per utterance. Each episode's split comes from a hash of its key, so it does not
    move when episodes are added. Series with fewer than ``small_series`` episodes (where hashing may leave a
    split empty) are ranked by the same hash instead: the last one or two go to test and validation; in larger
    series a split the hash left empty gets the lowest-hashed train episode.
    ``overrides`` (episode key -> split, from series.yaml) win."""
    overrides = overrides or {}
    bad = {k: s for k, s in overrides.items() if s not in SPLITS}
    if bad:
        raise ValueError(f"unknown split {next(iter(bad.values()))!r} (use {', '.join(SPLITS)})")
    free = sorted((k for k in episode_keys if k not in overrides), key=_unit)
    out = {}
    if len(episode_keys) < small_series:
        n_test = 1 if len(free) >= 3 and ratios[2] > 0 else 0
        n_val = 1 if len(free) >= 3 and ratios[1] > 0 else 0
        for i, k in enumerate(free):
            out[k] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    else:
        t_test, t_val = ratios[2], ratios[2] + ratios[1]
        for k in free:
            u = _unit(k)
            out[k] = "test" if u < t_test else "validation" if u < t_val else "train"
        # hashing can leave a split empty (12 episodes at 10%: often); then the lowest-hashed train episodes fill it
        for split, share in (("test", ratios[2]), ("validation", ratios[1])):
            if share > 0 and split not in out.values() and split not in overrides.values():
                train = [k for k in free if out[k] == "train"]
                if len(train) > 1:
                    out[train[0]] = split
    out.update({k: s for k, s in overrides.items() if k in episode_keys})
    return out


# scenes -------------------------------------------------------------------------------------------------------
def scene_breaks(turns: list[dict], gap_level_dbfs, cfg: DialogueConfig) -> list[int]:
    """Indices i where a new scene starts before turns[i] (turns sorted by start). ``gap_level_dbfs(a, b)``
    gives the RMS level of the audio between a and b (None: pauses alone decide)."""
    breaks = []
    end = turns[0]["end_s"] if turns else 0.0
    for i in range(1, len(turns)):
        gap = turns[i]["start_s"] - end
        if gap >= cfg.scene_gap_s:
            breaks.append(i)
        elif gap >= cfg.music_gap_s and gap_level_dbfs is not None:
            level = gap_level_dbfs(end, turns[i]["start_s"])
            if level is not None and level > cfg.music_level_dbfs:
                breaks.append(i)
        end = max(end, turns[i]["end_s"])
    return breaks


def _turn(s: dict) -> dict:
    return {**{k: s.get(k) for k in ("segment_id", "character", "speaker", "text", "start_s", "end_s", "keep")},
            "segment_ids": [s.get("segment_id")]}


def merge_turns(utterances: list[dict], config: DialogueConfig = DialogueConfig()) -> list[dict]:
    """One scene's utterances (sorted by start, with ``character``, ``text``, times and ``keep``) as turns: each
    utterance joins the turn before it when both are the same named character (never ``other``, whose voices may be
    several people), both kept or both rejected, it starts within ``turn_gap_s`` of that turn's end and the turn
    would span at most ``max_turn_s``. A turn keeps its first utterance's fields, the joined text (a space between)
    and the last end; ``segment_ids`` lists them all."""
    turns: list[dict] = []
    for u in utterances:
        t = _turn(u)
        last = turns[-1] if turns else None
        ch = t["character"]
        if (last is not None and ch and ch != OTHER and last["character"] == ch and last["keep"] == t["keep"]
                and t["start_s"] - last["end_s"] <= config.turn_gap_s
                and max(last["end_s"], t["end_s"]) - last["start_s"] <= config.max_turn_s):
            last["text"] = f"{(last['text'] or '').strip()} {(t['text'] or '').strip()}".strip()
            last["end_s"] = max(last["end_s"], t["end_s"])
            last["segment_ids"].append(t["segment_id"])
        else:
            turns.append(t)
    return turns


def episode_dialogues(
    episode_key: str,
    series_key: str,
    segments: list[dict],
    split: str,
    audio_path: str,
    *,
    gap_level_dbfs=None,
    config: DialogueConfig = DialogueConfig(),
) -> tuple[list[dict], list[dict]]:
    """Dialogue records and scenes of one episode. ``segments``: SEGMENT_SCHEMA rows with a ``character`` key."""
    cfg = config
    utterances = sorted((s for s in segments
                         if (s.get("text") or "").strip() and s.get("reject_reason") != "no_speech"),
                        key=lambda s: (s["start_s"], s["segment_id"]))
    if not utterances:
        return [], []
    bounds = [0, *scene_breaks(utterances, gap_level_dbfs, cfg), len(utterances)]
    key_of = {s["segment_id"]: s.get("character_key") for s in utterances}
    records, scenes = [], []
    for n, (a, b) in enumerate(zip(bounds, bounds[1:])):
        scene_id = f"{episode_key}/scene{n:03d}"
        scene = merge_turns(utterances[a:b], cfg)
        scenes.append({"series_key": series_key, "episode_key": episode_key, "scene_id": scene_id,
                       "start_s": scene[0]["start_s"], "end_s": max(t["end_s"] for t in scene), "n_turns": len(scene)})
        for i, s in enumerate(scene):
            ch = s.get("character")
            if i == 0 or not s["keep"] or not ch or ch == OTHER:
                continue
            for kind, n_ctx in (("single_turn", 1), ("multi_turn", min(i, cfg.max_context_turns))):
                if kind == "multi_turn" and n_ctx < 2:
                    continue
                records.append({
                    "dialogue_id": f"{s['segment_id']}@{n_ctx}", "series_key": series_key,
                    "episode_key": episode_key, "scene_id": scene_id, "split": split, "kind": kind,
                    "character": ch, "character_key": key_of[s["segment_id"]], "reply": s,
                    "context": scene[i - n_ctx:i], "n_context": n_ctx, "audio_path": audio_path,
                })
    return records, scenes


UNKNOWN_SPEAKER = "Someone"


def speaker_name(turn: dict) -> str:
    """The name a context turn is shown with: its character, or "Someone" for an unknown voice."""
    c = turn.get("character")
    return c if c and c != OTHER else UNKNOWN_SPEAKER


#: a reply of fewer words ("Yeah.", "What?", "Mm-hmm.", "No way.") is a backchannel: it stays in the dataset and
#: as context, but it says nothing about who speaks, so no test sample asks for one (``evaluation.testset``) and no
#: ARP-Model learns to answer with one (``training.stages.lm_records``): in a fresh demo run where they were train
#: targets (16 of its 136 train and validation dialogues), the model answered 4 of Rosa's 5 test prompts "Mm-hmm."
MIN_REPLY_WORDS = 3


def n_words(text: str | None) -> int:
    """Words of a line (runs of letters, digits and apostrophes, in any script)."""
    return len(re.findall(r"[\w']+", text or ""))
