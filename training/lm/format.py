"""Training samples of the speech LM: a scene's context → the character's reply as text, then speech units.

Token layout (text-then-speech; GLM-4-Voice interleaves text and speech chunks, a later option)::

    <bos> <|scene|> {series title}
    [<|char:KEY|> {character name}, in their own words: {line} | {line} | ...]   the profile: a few of the
                                                                          character's train lines (not the target)
    <|turn|> {speaker name}: {text} [<|speech|> units <|end_speech|>]     one per context turn (oldest first)
    <|reply|> <|char:KEY|> {character name}:                              ← the prompt ends here
    ␣{reply text} <|speech|> u u u ... <|end_speech|> <|end|>             ← the target (the loss is on it)

Context turns carry their units only when ``context_units`` is set (the context's audio, where it exists); the
oldest turns are dropped first when a sample is longer than ``max_tokens``, then the reply's units are capped.

The profile is how the character's words reach a reply to a context nobody wrote before: trained with only the
character token before the reply, the small LM echoed the last turn's style whoever replied (on the style demo,
three characters gave the same reply to the same context); with their own lines in the prompt, it learns to answer
in the words of the lines it is shown.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from training.lm.vocab import SpeechVocab

IGNORE = -100
UNKNOWN_SPEAKER = "Someone"


@dataclass
class Turn:
    speaker: str
    text: str
    units: list[int] | None = None
    audio: object = None  # the turn's 16 kHz waveform, where it exists: tokenized into ``units`` by a model that takes them


def _turn_ids(vocab: SpeechVocab, turn: Turn, context_units: bool) -> list[int]:
    ids = [vocab.marker("<|turn|>")] + vocab.encode_text(f"{turn.speaker or UNKNOWN_SPEAKER}: {turn.text.strip()}")
    if context_units and turn.units:
        ids += [vocab.marker("<|speech|>")] + [vocab.unit(u) for u in turn.units] + [vocab.marker("<|end_speech|>")]
    return ids


def profile_ids(vocab: SpeechVocab, character_key: str, character: str, lines: list[str]) -> list[int]:
    lines = [ln.strip() for ln in lines if ln and ln.strip()]
    if not lines:
        return []
    return [vocab.character(character_key)] + vocab.encode_text(f" {character}, in their own words: "
                                                                + " | ".join(lines))


def prompt_ids(vocab: SpeechVocab, series_title: str, character_key: str, character: str, context: list[Turn], *,
               context_units: bool = False, max_tokens: int | None = None, profile: list[str] = ()) -> list[int]:
    head = ([vocab.bos] if vocab.bos is not None else []) + [vocab.marker("<|scene|>")] + vocab.encode_text(series_title)
    head += profile_ids(vocab, character_key, character, list(profile))
    tail = [vocab.marker("<|reply|>"), vocab.character(character_key)] + vocab.encode_text(f"{character}:")
    turns = [_turn_ids(vocab, t, context_units) for t in context]
    while max_tokens is not None and len(turns) > 1 and len(head) + sum(map(len, turns)) + len(tail) > max_tokens:
        turns.pop(0)  # the oldest turn goes first
    return head + [i for t in turns for i in t] + tail


def target_ids(vocab: SpeechVocab, text: str, units: list[int] | None) -> list[int]:
    ids = vocab.encode_text(" " + text.strip())
    if units is not None:
        ids += [vocab.marker("<|speech|>")] + [vocab.unit(u) for u in units] + [vocab.marker("<|end_speech|>")]
    return ids + [vocab.marker("<|end|>")]


def training_sample(vocab: SpeechVocab, series_title: str, character_key: str, character: str, context: list[Turn],
                    reply_text: str, reply_units: list[int], *, max_tokens: int = 384,
                    context_units: bool = False, profile: list[str] = ()) -> dict:
    """{"input_ids", "labels"}: labels are IGNORE on the prompt; the reply's units are capped to fit."""
    budget_units = max(8, max_tokens // 2)
    units = list(reply_units)[:budget_units]
    target = target_ids(vocab, reply_text, units)
    prompt = prompt_ids(vocab, series_title, character_key, character, context, context_units=context_units,
                        max_tokens=max_tokens - len(target), profile=profile)
    ids = (prompt + target)[:max_tokens]
    labels = ([IGNORE] * len(prompt) + target)[:max_tokens]
    return {"input_ids": ids, "labels": labels}


def profile_lines(records: list[dict]) -> dict[str, list[str]]:
    """character key → their train replies that can stand for how they talk (three words or more, each once)."""
    out: dict[str, list[str]] = {}
    for r in records:
        text = r["reply_text"].strip()
        if r["split"] == "train" and len(text.split()) >= 3 and text not in out.setdefault(r["character_key"], []):
            out[r["character_key"]].append(text)
    return out


def pick_profile(lines: list[str], n: int, seed: str, leave_out: str | None = None) -> list[str]:
    """``n`` of the character's lines, chosen by ``seed`` (never the reply the sample teaches)."""
    pool = [ln for ln in lines if ln != (leave_out or "").strip()]
    if n <= 0 or not pool:
        return []
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    return [pool[i] for i in sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))]
