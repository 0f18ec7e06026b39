"""The Base and One-shot systems: the untrained base LM, prompted.

- **Base** (the untrained GLM-4-Voice's analogue): the base LM continues a plain scene transcript ending in
  ``"{character}:"``; its line is spoken by a default TTS voice that is no character's.
- **One-shot** (MiniCPM-o's one-shot role-play's analogue): the same, with a profile of the character and one example
  exchange from the train split in the prompt; the default voice's speech is tokenized into units and spoken by
  the decoder from a single reference clip of the character (a one-clip unit inventory: zero-shot conditioning).

Greedy decoding, so both systems are deterministic.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE
from audiorole.demo.voices import SR, synthesize
from audiorole.io import replace_dir
from evaluation.systems import BASE, ONE_SHOT, write_reply, write_system_info
from evaluation.testset import context_text
from training import Inventory, UnitSelectionDecoder, load_base


def base_prompt(title: str, character: str, context: list[dict]) -> str:
    scene = context_text({"context": context})
    return f'The following is a scene from the TV series "{title}".\n\n{scene}\n{character}:'


def one_shot_prompt(title: str, character: str, profile: str, example: dict | None, context: list[dict]) -> str:
    head = f'{character} is a character in the TV series "{title}". {profile}'.strip()
    if example:
        head += (f"\nHere is an example of how {character} talks:\n{context_text(example)}\n"
                 f"{character}: {example['reply_text']}")
    return head + "\n\n" + base_prompt(title, character, context)


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


class BaseLM:
    """The base causal LM from a local directory (``training.lm.base.load_base``), batched greedy completion."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model, self.tokenizer = load_base(model_dir)
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._stop = None

    def _stop_at_newline(self):
        """Completion ends at its first newline. Built once: transformers builds a ``StopStringCriteria`` per
        ``generate(stop_strings=…)`` call, which walks the whole vocabulary (0.6 s a call for Gemma 3's 262k
        tokens, 7 s of the demo's baselines, for the same completions)."""
        from transformers import StoppingCriteriaList, StopStringCriteria

        if self._stop is None:
            self._stop = StoppingCriteriaList([StopStringCriteria(self.tokenizer, ["\n"])])
        return self._stop

    def complete(self, prompts: list[str], max_new_tokens: int = 32, batch_size: int = 16) -> list[str]:
        """Each prompt's greedy first line, in the prompts' order. Batched by length (a batch is padded to its
        longest prompt): in a one-off timing on the demo's 45 scenes, 26 s against 39 s for batches of 8 in the
        given order, the same completions (the stage's whole time is in its stamp, ``seconds``)."""
        import torch

        lengths = [len(ids) for ids in self.tokenizer(prompts)["input_ids"]]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        out: list[str] = [""] * len(prompts)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            batch = self.tokenizer([prompts[j] for j in idx], return_tensors="pt", padding=True)
            with torch.inference_mode():
                gen = self.model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens,
                                          stopping_criteria=self._stop_at_newline(),
                                          pad_token_id=self.tokenizer.pad_token_id)
            n = batch["input_ids"].shape[1]
            for j, g in zip(idx, gen):
                out[j] = first_line(self.tokenizer.decode(g[n:], skip_special_tokens=True))
        return out


def speak(text: str, voice: str) -> np.ndarray | None:
    """The default voice (a packaged TTS: ``flite:…``, ``espeak:…``, ``piper:joe``) at 16 kHz; None for no text."""
    import soxr

    if not text.strip():
        return None
    return soxr.resample(synthesize(voice, text), SR, SAMPLE_RATE).astype(np.float32)


def one_clip_decoder(decoder, units: np.ndarray, audio: np.ndarray, voice: str = "reference"):
    """A copy of the series' decoder whose only voice is one reference clip (however short)."""

    dec = UnitSelectionDecoder(decoder.unit_distances, decoder.samples_per_unit,
                               replace(decoder.config, min_inventory_s=0.0))
    dec.add_voice(voice, Inventory.from_pieces([(units, audio)], decoder.samples_per_unit))
    return dec


def write_baselines(samples: list[dict], systems_dir: Path, *, title: str, lm: BaseLM, voice: str, tokenizer,
                    decoder, references: dict[str, tuple[np.ndarray, np.ndarray]], profiles: dict[str, str],
                    examples: dict[str, dict], max_new_tokens: int, batch_size: int, facts: dict) -> dict[str, Path]:
    """Both baseline folders (finished under a temp name, then renamed). ``references``: character key → (units,
    audio) of its reference clip; ``profiles`` / ``examples``: the One-shot prompt's profile and example exchange."""

    base_texts = lm.complete([base_prompt(title, s["character"], s["context"]) for s in samples],
                             max_new_tokens, batch_size)
    shot_texts = lm.complete([one_shot_prompt(title, s["character"], profiles.get(s["character_key"], ""),
                                              examples.get(s["character_key"]), s["context"]) for s in samples],
                             max_new_tokens, batch_size)
    tmp = {name: systems_dir / f".{name}.tmp" for name in (BASE, ONE_SHOT)}
    for t in tmp.values():
        shutil.rmtree(t, ignore_errors=True)
    decoders = {k: one_clip_decoder(decoder, u, a) for k, (u, a) in references.items()}
    for s, bt, st in zip(samples, base_texts, shot_texts):
        write_reply(tmp[BASE], s["sample_id"], bt, speak(bt, voice))
        wav = speak(st, voice)
        dec = decoders.get(s["character_key"])
        if wav is not None and dec is not None:
            wav = dec.synthesize(tokenizer.units(wav), "reference")
        write_reply(tmp[ONE_SHOT], s["sample_id"], st, wav if dec is not None else None)
    write_system_info(tmp[BASE], BASE, f"the untrained base LM prompted with the character's name and the scene; "
                      f"default voice {voice}", **facts)
    write_system_info(tmp[ONE_SHOT], ONE_SHOT, "the untrained base LM prompted with a profile and one example "
                      "exchange; voice from one reference clip of the character (one-clip unit inventory)", **facts)
    return {name: replace_dir(t, systems_dir / name) for name, t in tmp.items()}
