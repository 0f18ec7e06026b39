"""The model under test answers the test set: the ARP-Model's replies (text + speech in the character's voice) to
each of a character's test samples, driven through ``training``'s public API (``training.RolePlayModel``).

They live beside the model (``models/<series key>/replies/<character key>/``, ``audiorole.store``), one partition
per character, and reach the scoring as the ``arp_model`` system folder (``evaluation.stages``).
"""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiorole.audio import SAMPLE_RATE
from audiorole.errors import InputError
from audiorole.io import atomic_path, write_parquet_atomic
from audiorole.stage import Stage, StageResult
from audiorole.store import DataStore
from evaluation.testset import character_samples
from evaluation.schema import REPLY_SCHEMA
from training import (
    ARP_MODEL, NO_REPEAT_NGRAM, PERSONA_GUIDANCE, SPEECH_DECODER, RolePlayModel, Turn, character_models, series_data,
    span_units,
)

#: How the replies are made unless a run says otherwise (``RepliesConfig`` of the asset): the LM's sampling, and
#: where the speech comes from (``training.roleplay.SPEECH_SOURCES``).
DEFAULT_SAMPLING = {"temperature": 0.8, "top_p": 0.9, "speech": "tts-vc", "persona_guidance": PERSONA_GUIDANCE,
                    "no_repeat_ngram": NO_REPEAT_NGRAM}

# 3: a duration prior keeps the speech between 0.8x and 1.5x the length its text needs
# 4: the speech says the reply's text (a TTS reading in the character's voice) unless ``speech`` says otherwise
# 5: no text token right after itself in a reply ("script script script"), no undecodable bytes in its text
# 7: each sample's reply sampled with its own seed (``sample_seed``), not the run's seed + the sample's position
ARP_REPLIES = Stage("arp_replies", stamp="replies", version="7", scope="character", folder="replies",
                    outputs=("replies.parquet",), upstream=("arp_model", "speech_decoder", "arp_test_set"))


def sample_seed(seed: int, sample_id: str) -> int:
    """The seed one test sample's reply is sampled with: the run's ``seed`` and the sample's own id. With the run's
    seed + the sample's position instead, every character's i-th reply drew the same random numbers, and an LM that
    conditions weakly on the character then gave the same words for all of them (Amazon Queen: "Not long enough..."
    as the second reply of five characters to five different contexts; 31% of the replies word for word one given
    as another character, none of the real replies)."""
    return zlib.crc32(f"{seed}/{sample_id}".encode())


def replies_inputs(key: str, seed: int = 0, sampling: dict | None = None) -> list:
    return [key.split("/", 1)[1], seed, sampling or dict(DEFAULT_SAMPLING)]


@functools.lru_cache(maxsize=1)
def _role_play_model(data_dir: str, series_key: str, lm_fingerprint: str, decoder_fingerprint: str) -> RolePlayModel:
    """One loaded model per process and trained model + decoder: a run over a series' characters loads it once, and a
    rebuilt decoder is loaded anew (the replies' fingerprint includes it)."""
    return RolePlayModel.load(data_dir, series_key)


def run_replies(store: DataStore, series_key: str, character_key: str, *, seed: int = 0,
                temperature: float = DEFAULT_SAMPLING["temperature"], top_p: float = DEFAULT_SAMPLING["top_p"],
                speech: str = DEFAULT_SAMPLING["speech"],
                persona_guidance: float = DEFAULT_SAMPLING["persona_guidance"],
                no_repeat_ngram: int = DEFAULT_SAMPLING["no_repeat_ngram"], model=None,
                force: bool = False) -> StageResult:
    """The trained model's replies (text + speech) to the character's samples of the series' test set (ARP-Eval's
    ``arp_test_set``: single- and multi-turn contexts from the test split)."""
    key = f"{series_key}/{character_key}"
    sampling = {"temperature": temperature, "top_p": top_p, "speech": speech, "persona_guidance": persona_guidance,
                "no_repeat_ngram": no_repeat_ngram}

    def compute(out: Path) -> tuple[dict, list[str]]:
        row = next((r for r in character_models(store, series_key) if r["character_key"] == character_key), None)
        if row is None or not row["trained"]:
            why = row["why_not"] if row else "the character is not in the series' model"
            raise InputError(str(ARP_MODEL.dir(store, series_key)), f"{key}: no trained model for this character ({why})")
        if character_key not in decoder_voices(store, series_key):
            raise InputError(str(SPEECH_DECODER.dir(store, series_key)),
                             f"{key}: the speech decoder has no voice for this character (too little recorded train "
                             "speech); the LM was trained, but its replies cannot be spoken")
        if speech == "tts-vc" and character_key not in decoder_voices(store, series_key, converted=True):
            raise InputError(str(SPEECH_DECODER.dir(store, series_key)),
                             f"{key}: the speech decoder has no voice conversion for this character (see its "
                             "warnings); reply with speech='tts-units' or 'lm'")
        rpm = model or _role_play_model(str(store.root), series_key, ARP_MODEL.read_stamp(store, series_key)["fingerprint"],
                                        SPEECH_DECODER.read_stamp(store, series_key)["fingerprint"])
        rows = _answer(store, series_key, character_key, rpm, seed, sampling, out)
        write_parquet_atomic(out / "replies.parquet", pa.Table.from_pylist(rows, schema=REPLY_SCHEMA))
        facts = {"character": row["character"], "n_replies": len(rows), "speech": speech,
                 "mean_duration_s": round(float(np.mean([r["duration_s"] for r in rows])), 2) if rows else 0.0,
                 "val_loss": row["val_loss"], "seed": seed, "sampling": sampling}  # what made them (``reply_status``)
        return facts, [] if rows else [f"{key}: no test sample for this character"]

    return ARP_REPLIES.run(store, key, replies_inputs(key, seed, sampling), compute, force=force)


def _answer(store: DataStore, series_key: str, character_key: str, model, seed: int, sampling: dict,
            out: Path) -> list[dict]:
    import soundfile as sf

    turn_units = _context_units(store, series_key, model) if getattr(model, "context_units", False) else None
    rows = []
    for s in character_samples(store, series_key, character_key):
        units = turn_units(s["dialogue_id"]) if turn_units else [None] * len(s["context"])
        context = [Turn(t["speaker"], t["text"] or "", u) for t, u in zip(s["context"], units)]
        reply = model.reply(character_key, context, seed=sample_seed(seed, s["sample_id"]), **sampling)
        wav_path = out / "wav" / f"{s['sample_id']}.wav"
        with atomic_path(wav_path) as tmp:
            sf.write(str(tmp), reply.wav, SAMPLE_RATE, format="WAV")
        rows.append({"sample_id": s["sample_id"], "series_key": series_key, "character": s["character"],
                     "character_key": character_key, "dialogue_id": s["dialogue_id"],
                     "context": "\n".join(f"{t.speaker}: {t.text}" for t in context), "reply_text": reply.text,
                     "reference_text": s["reply_text"], "n_units": len(reply.units),
                     "duration_s": len(reply.wav) / SAMPLE_RATE, "audio_path": str(wav_path)})
    return rows


def _context_units(store: DataStore, series_key: str, model):
    """dialogue id → the units of each of its context turns (for a model trained with ``context_units``)."""
    dialogues = {d["dialogue_id"]: d for d in series_data(store, series_key)[2]}
    span = span_units(store, series_key, model.unit_rate_hz)

    def units(dialogue_id: str) -> list[list[int]]:
        d = dialogues[dialogue_id]
        return [span(d["episode_key"], t["start_s"], t["end_s"]) for t in d["context"]]

    return units


def load_replies(store: DataStore, key: str) -> list[dict]:
    """``key``: ``<series>/<character key>``."""
    return pq.read_table(ARP_REPLIES.dir(store, key) / "replies.parquet").to_pylist()


def decoder_voices(store: DataStore, series_key: str, converted: bool = False) -> set[str]:
    """The characters the series' speech decoder has a voice for (none before it is built); ``converted``: those
    with a voice conversion from the TTS bridge's voice."""
    stamp = SPEECH_DECODER.read_stamp(store, series_key)
    return set((stamp or {}).get("converted_voices" if converted else "voices") or {})


def trained_characters(store: DataStore, series_key: str) -> list[str]:
    """The characters the model can answer as: trained by the LM, and with a voice in the decoder (a character with
    enough train speech for the LM's floor may still fall under the decoder's)."""
    voices = decoder_voices(store, series_key)
    return [r["character_key"] for r in character_models(store, series_key) if r["trained"] and r["character_key"] in voices]


def reply_fingerprints(store: DataStore, series_key: str) -> dict[str, str | None]:
    """Trained character → the fingerprint of their replies (None: no replies yet); empty without a trained model."""
    out = {}
    for k in trained_characters(store, series_key):
        stamp = ARP_REPLIES.read_stamp(store, f"{series_key}/{k}")
        out[k] = stamp["fingerprint"] if stamp else None
    return out
