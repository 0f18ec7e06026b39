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

import pyarrow as pa
import pyarrow.parquet as pq
from dataclasses import asdict

from audiorole.dataset import stages as dataset
from audiorole.dataset.dialogues import n_words, speaker_name
from audiorole.io import write_parquet_atomic
from audiorole.segments.language import language_code, language_inputs
from audiorole.stage import Stage, StageResult
from audiorole.store import DataStore, fingerprint
from evaluation.config import TestSetConfig
from evaluation.schema import TEST_SAMPLE_SCHEMA


def _legacy_fingerprint(upstream: list, inputs: list) -> str:
    """Releases before the stage protocol hashed the title over the rest."""
    return fingerprint(fingerprint("test_set", ARP_TEST_SET.version, *upstream, *inputs[:-1]), inputs[-1])


# 3: a main character needs the ARP-Model's minimum of train-split speech, not just one train dialogue
# 4: a reply is a whole turn (every segment of it named, for AP to leave them all out of the reference)
ARP_TEST_SET = Stage("arp_test_set", stamp="test_set", version="4", scope="series", folder="eval",
                     outputs=("test_set.parquet",), upstream=("dialogues",), legacy=_legacy_fingerprint)

SETS = ("single_turn", "multi_turn")


def sample_id(dialogue_id: str) -> str:
    """A file-name-safe id of a dialogue (``series/s01e01#12@...`` → ``series_s01e01_12_...``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", dialogue_id)


def _order(dialogue_id: str) -> str:
    return hashlib.sha1(dialogue_id.encode("utf-8")).hexdigest()


def build_test_set(dialogues: list[dict], main_keys: set[str], train_speech: dict[str, float],
                   config: TestSetConfig = TestSetConfig()) -> tuple[list[dict], dict]:
    """(samples as TEST_SAMPLE_SCHEMA rows, facts). ``dialogues``: the series' dialogue records (all splits);
    ``train_speech``: seconds of kept train-split speech per character key.

    A main character with less train-split speech than ``config.min_train_speech_s`` gets no test sample: no
    ARP-Model can have learned it (the episode split put nearly all its lines in the test episodes), so scoring one
    would measure the split, not the model. It is named with its amount in the facts
    (``characters_without_train_speech``) and in the stage's warnings."""
    untrained = sorted(k for k in main_keys if train_speech.get(k, 0.0) < config.min_train_speech_s)
    said = [d for d in dialogues if d["split"] == "test" and d["character_key"] in main_keys
            and d["kind"] in SETS and n_words(d["reply"]["text"]) >= config.min_reply_words]
    said.sort(key=lambda d: _order(d["dialogue_id"]))
    eligible = [d for d in said if d["character_key"] not in untrained]
    caps = {"single_turn": config.max_single_turn, "multi_turn": config.max_multi_turn}
    names = {d["character_key"]: d["character"] for d in dialogues if d["character_key"] in main_keys}
    # the anchors' pool: every single-turn test reply of each other main character — one without a model of its own
    # is still another character's real reply
    pool: dict[str, list[dict]] = {}
    for d in said:
        if d["kind"] == "single_turn":
            pool.setdefault(d["character_key"], []).append(d)
    samples, counts = [], {}
    for key in sorted(set(main_keys) - set(untrained)):
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
                    "reply_segment_ids": r.get("segment_ids") or [r["segment_id"]],
                    "other_character": o["character"], "other_character_key": ok, "other_dialogue_id": o["dialogue_id"],
                    "other_text": orr["text"], "other_segment_id": orr["segment_id"], "other_start_s": orr["start_s"],
                    "other_end_s": orr["end_s"], "other_audio_path": o["audio_path"],
                })
    without = sorted(names.get(k, k) for k in main_keys if not any(s["character_key"] == k for s in samples))
    names.update({d["character_key"]: d["character"] for d in dialogues if d["character_key"] in untrained})
    facts = {"n_samples": len(samples), "per_character": counts, "characters_without_samples": without,
             "characters_without_train_speech": {names.get(k, k): round(train_speech.get(k, 0.0), 1)
                                                 for k in untrained},
             "n_single_turn": sum(s["set"] == "single_turn" for s in samples),
             "n_multi_turn": sum(s["set"] == "multi_turn" for s in samples)}
    return samples, facts


def context_text(sample: dict) -> str:
    return "\n".join(f"{t['speaker']}: {t['text']}" for t in sample["context"])


# the stage ------------------------------------------------------------------------------------------------------------
def test_set_inputs(config: TestSetConfig, title: str, language: str = "en") -> list:
    return [asdict(config), title, *language_inputs(language)]


def run_test_set(store: DataStore, series_key: str, title: str, *, config: TestSetConfig = TestSetConfig(),
                 language: str = "en", force: bool = False) -> StageResult:
    """The series' test set (``build_test_set``); the series' title and language are kept with it for the prompts,
    the scorers (replies are transcribed in the series' language) and the report."""
    def compute(out) -> tuple[dict, list[str]]:
        dialogues = pq.read_table(store.series_dir(series_key) / "dialogues.parquet").to_pylist()
        mains = {k.split("/", 1)[1] for k in dataset.character_keys(store, series_key)}
        samples, facts = build_test_set(dialogues, mains, dataset.train_speech(store, series_key), config)
        write_parquet_atomic(out / "test_set.parquet", pa.Table.from_pylist(samples, schema=TEST_SAMPLE_SCHEMA))
        untrained = facts["characters_without_train_speech"]
        warnings = [f"{series_key}: {name} has no test sample (no test-split reply of {config.min_reply_words}+ "
                    "words); skipped by the evaluation" for name in facts["characters_without_samples"]
                    if name not in untrained]
        warnings += [f"{series_key}: {name} has {seconds:.1f} s of train-split speech ({config.min_train_speech_s:.0f}"
                     " s needed to train; its lines fall in the test or validation episodes): no model can learn it, "
                     "left out of the test set" for name, seconds in untrained.items()]
        return {"title": title, "language": language_code(language), **facts}, warnings

    return ARP_TEST_SET.run(store, series_key, test_set_inputs(config, title, language), compute, force=force)


def series_title(store: DataStore, series_key: str) -> str:
    stamp = ARP_TEST_SET.read_stamp(store, series_key)
    if stamp is None:
        raise RuntimeError(f"{store.eval_dir(series_key)}: the series' test set has not been built yet "
                           "(asset arp_test_set)")
    return stamp["title"]


def series_language(store: DataStore, series_key: str) -> str:
    """The series' language (ISO 639-1) as its test set recorded it; test sets built before it was recorded: en."""
    return (ARP_TEST_SET.read_stamp(store, series_key) or {}).get("language") or "en"


def load_test_set(store: DataStore, series_key: str) -> list[dict]:
    path = store.eval_dir(series_key) / "test_set.parquet"
    if ARP_TEST_SET.read_stamp(store, series_key) is None or not path.exists():
        raise RuntimeError(f"{path}: the series' test set has not been built yet (asset arp_test_set)")
    return pq.read_table(path).to_pylist()


def character_samples(store: DataStore, series_key: str, character_key: str) -> list[dict]:
    return [s for s in load_test_set(store, series_key) if s["character_key"] == character_key]
