"""The test set of a series: fixed, versioned samples from the test split only (never an episode a model trained on).

Per main character, in a fixed pseudo-random order (a hash of the dialogue id, so samples spread over scenes and
episodes instead of taking the first scene), up to ``max_single_turn`` single-turn samples (the turn right before
the reply) and ``max_multi_turn`` multi-turn ones (several earlier turns of the scene). Replies shorter than
``min_reply_words`` are left out: a backchannel says nothing about who speaks.

Each sample carries its anchor, *another character's real reply*: a test-split reply of another main character,
taken round-robin over the other characters, that every metric scores as though it were this character's reply —
the 0 of the normalized scale (the character's own real reply is the 1).
"""

from __future__ import annotations

import hashlib
import re

from audiorole.dialogues import speaker_name
from evaluation.config import TestSetConfig

SETS = ("single_turn", "multi_turn")


def sample_id(dialogue_id: str) -> str:
    """A file-name-safe id of a dialogue (``series/s01e01#12@...`` → ``series_s01e01_12_...``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", dialogue_id)


def _order(dialogue_id: str) -> str:
    return hashlib.sha1(dialogue_id.encode("utf-8")).hexdigest()


def n_words(text: str | None) -> int:
    return len(re.findall(r"[\w']+", text or ""))


def build_test_set(dialogues: list[dict], main_keys: set[str], config: TestSetConfig = TestSetConfig()
                   ) -> tuple[list[dict], dict]:
    """(samples as TEST_SAMPLE_SCHEMA rows, facts). ``dialogues``: the series' dialogue records (all splits)."""
    eligible = [d for d in dialogues if d["split"] == "test" and d["character_key"] in main_keys
                and d["kind"] in SETS and n_words(d["reply"]["text"]) >= config.min_reply_words]
    eligible.sort(key=lambda d: _order(d["dialogue_id"]))
    caps = {"single_turn": config.max_single_turn, "multi_turn": config.max_multi_turn}
    names = {d["character_key"]: d["character"] for d in dialogues if d["character_key"] in main_keys}
    # the anchors' pool: every eligible single-turn reply of each character
    pool: dict[str, list[dict]] = {}
    for d in eligible:
        if d["kind"] == "single_turn":
            pool.setdefault(d["character_key"], []).append(d)
    samples, counts = [], {}
    for key in sorted(main_keys):
        others = [k for k in sorted(pool) if k != key]
        i = 0
        for kind in SETS:
            mine = [d for d in eligible if d["character_key"] == key and d["kind"] == kind][: caps[kind]]
            counts[f"{key}/{kind}"] = len(mine)
            for d in mine:
                if not others:
                    continue
                ok = others[i % len(others)]
                o = pool[ok][(i // len(others)) % len(pool[ok])]
                i += 1
                r, orr = d["reply"], o["reply"]
                samples.append({
                    "sample_id": sample_id(d["dialogue_id"]), "series_key": d["series_key"], "set": kind,
                    "dialogue_id": d["dialogue_id"], "episode_key": d["episode_key"],
                    "character": d["character"], "character_key": key,
                    "context": [{"speaker": speaker_name(t), "text": t["text"] or ""} for t in d["context"]],
                    "reply_text": r["text"], "reply_segment_id": r["segment_id"], "reply_start_s": r["start_s"],
                    "reply_end_s": r["end_s"], "audio_path": d["audio_path"],
                    "other_character": o["character"], "other_character_key": ok, "other_dialogue_id": o["dialogue_id"],
                    "other_text": orr["text"], "other_segment_id": orr["segment_id"], "other_start_s": orr["start_s"],
                    "other_end_s": orr["end_s"], "other_audio_path": o["audio_path"],
                })
    without = sorted(names.get(k, k) for k in main_keys if not any(s["character_key"] == k for s in samples))
    facts = {"n_samples": len(samples), "per_character": counts, "characters_without_samples": without,
             "n_single_turn": sum(s["set"] == "single_turn" for s in samples),
             "n_multi_turn": sum(s["set"] == "multi_turn" for s in samples)}
    return samples, facts


def context_text(sample: dict) -> str:
    return "\n".join(f"{t['speaker']}: {t['text']}" for t in sample["context"])
