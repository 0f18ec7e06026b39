"""Talking to a trained ARP-Model: a scene's context in, the character's reply out as text and speech.

    from training import RolePlayModel
    model = RolePlayModel.load("demo_data/data", "maple-street")
    reply = model.reply("maggie-chen", [Turn("Walt Brennan", "Where were you last night?")])
    reply.text, reply.wav  # 16 kHz float32 in the character's voice
    model.speak("maggie-chen", "A line nobody wrote before.").wav  # a given line, in her voice

Generation is constrained to the training layout: free text first (text tokens), then ``<|speech|>``, then only
unit tokens until ``<|end_speech|>``. Context turns may carry audio (``Turn.audio``, 16 kHz): with a model trained with
``context_units`` it is tokenized and given to the LM.

Where the reply's speech comes from (``speech``, one of ``SPEECH_SOURCES``):
- ``"tts-vc"`` (the default): the LM writes the text and stops at ``<|speech|>``; a packaged TTS voice reads the
  text (``training.bridge``) and the character's voice conversion, learned on their train lines, turns the reading
  into their voice (``training.decoder.convert``);
- ``"tts-units"``: the same reading, tokenized into the series' units and spoken by the character's unit-selection
  voice (``training.decoder``) — the floor a learned text→speech model must beat;
- ``"lm"``: the LM's own units after ``<|speech|>``, by unit selection (what it learned from the series alone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiorole.dataset.dialogues import MIN_REPLY_WORDS
from audiorole.store import DataStore
from training.lm.format import Turn, pick_profile, prompt_ids

SPEECH_SOURCES = ("tts-vc", "tts-units", "lm")
#: Classifier-free guidance of a reply's text by the character's profile (the character's own lines in the prompt,
#: against the same prompt without them). In a one-off measurement (no project command; ARP-Eval's table measures the
#: default) on the default demo's test samples (one reply each, text only, TF-IDF CP normalized as ARP-Eval does):
#: factor 1 (off) CP 0.555, relevance 0.569, 15% of replies a train line word
#: for word; 1.5: 0.915, 0.594, 13%; 2: 0.961, 0.653, 11%; 3: CP 1.27, past the real replies (a caricature).
PERSONA_GUIDANCE = 2.0
NO_REPEAT_NGRAM = 3


@dataclass
class Reply:
    text: str
    units: list[int]  # the units the speech was decoded from (none for ``tts-vc``: converted, not decoded)
    wav: np.ndarray
    tokens: list[int] = field(default_factory=list)


class _NoRepeatInReply:
    """A logits processor: no n-gram of text tokens twice in the reply, and no text token right after itself (the
    prompt's words stay free to use). The small LM falls into loops ("so inspiring inspiring inspiring …"): 7 of the
    demo's 47 test replies did, and they were 7 of the 9 that Whisper misheard worst (CER above 0.5; read off
    ARP-Eval's ``samples.parquet``). The n-gram rule alone still let a word come three times in a row ("script script
    script", "manager manager manager"): an n-gram's first repeat is only complete at its n-th token."""

    def __init__(self, prompt_len: int, n: int, text_vocab: int):
        self.prompt_len, self.n, self.text_vocab = prompt_len, n, text_vocab

    def __call__(self, input_ids, scores):
        for b in range(input_ids.shape[0]):
            gen = input_ids[b, self.prompt_len:].tolist()
            if not gen or any(t >= self.text_vocab for t in gen):  # speech has begun: units repeat
                continue
            banned = {gen[-1]}
            if len(gen) >= self.n - 1:
                head = tuple(gen[len(gen) - self.n + 1:]) if self.n > 1 else ()
                banned |= {gen[i + self.n - 1] for i in range(len(gen) - self.n + 1)
                           if tuple(gen[i:i + self.n - 1]) == head}
            if banned:
                scores[b, list(banned)] = -float("inf")
        return scores


class _ModalityMask:
    """A logits processor: text until speech starts — ``<|speech|>`` allowed once ``min_text`` text tokens are out
    (a reply says something: every train reply has at least ``MIN_REPLY_WORDS`` words, so at least as many tokens;
    a Fish Fillets model's reply was once empty), forced after ``max_text`` tokens —, then
    ``min_units`` to ``max_units`` units, then ``<|end_speech|>`` and ``<|end|>``. A duration prior from the text:
    with the series' speaking rate (``units_per_text_token``, from the training samples), the speech lasts between
    ``min_share`` and ``max_share`` × rate × the reply's text tokens (at least 3 units) — so it neither stops half-way
    through what the text says nor runs on."""

    def __init__(self, vocab, prompt_len: int, max_units: int, max_text: int, units_per_text_token: float = 0.0,
                 min_share: float = 0.8, max_share: float = 1.5, min_text: int = MIN_REPLY_WORDS):
        import torch

        self.prompt_len, self.max_units, self.max_text = prompt_len, max_units, max_text
        self.min_text = min(min_text, max_text)
        self.rate, self.min_share, self.max_share = units_per_text_token, min_share, max_share
        n = vocab.size
        self.speech, self.end_speech, self.end = (vocab.marker(m) for m in ("<|speech|>", "<|end_speech|>", "<|end|>"))
        text = torch.zeros(n, dtype=torch.bool)
        text[: vocab.n_text] = True
        if vocab.bos is not None:
            text[vocab.bos] = False
        text[vocab.pad] = False
        text[self.speech] = True
        units = torch.zeros(n, dtype=torch.bool)
        units[vocab.first_unit: vocab.first_unit + vocab.n_units] = True
        units[self.end_speech] = True
        self.text_ok, self.unit_ok = text, units
        self.torch = torch

    def __call__(self, input_ids, scores):
        torch = self.torch
        for b in range(input_ids.shape[0]):
            gen = input_ids[b, self.prompt_len:].tolist()
            if self.end_speech in gen:
                allowed = torch.zeros_like(self.text_ok)
                allowed[self.end] = True
            elif self.speech in gen:
                allowed = self.unit_ok.clone()
                n_text, n_units = gen.index(self.speech), len(gen) - gen.index(self.speech) - 1
                cap = self.max_units if not self.rate else min(
                    self.max_units, max(3, int(np.ceil(self.max_share * self.rate * n_text))))
                min_units = min(cap, max(3, int(self.min_share * self.rate * n_text)))
                if n_units >= cap:
                    allowed[:] = False
                    allowed[self.end_speech] = True
                elif n_units < min_units:
                    allowed[self.end_speech] = False  # the speech says at least what the text says
            elif len(gen) >= self.max_text:  # a reply that talks on: its speech starts now
                allowed = torch.zeros_like(self.text_ok)
                allowed[self.speech] = True
            elif len(gen) < self.min_text:
                allowed = self.text_ok.clone()
                allowed[self.speech] = False
            else:
                allowed = self.text_ok
            scores[b, ~allowed] = -float("inf")
        return scores


class RolePlayModel:
    def __init__(self, lm, vocab, decoder, tokenizer, title: str, characters: dict[str, str], unit_rate_hz: float,
                 units_per_text_token: float = 0.0, context_units: bool = False, speech: str = "tts-vc",
                 converters: dict | None = None, profiles: dict | None = None):
        if speech not in SPEECH_SOURCES:
            raise ValueError(f"unknown speech source {speech!r} (one of {', '.join(SPEECH_SOURCES)})")
        self.speech = speech
        self.converters = converters or {}  # voice → VoiceConverter (the decoder's convert/ folder)
        self.profiles = profiles or {"n": 0, "lines": {}}  # the character lines a prompt's profile is drawn from
        self.context_units = context_units  # the model was trained on the context turns' units: give them
        self.lm, self.vocab, self.decoder, self.tokenizer = lm, vocab, decoder, tokenizer
        self.title, self.characters, self.unit_rate_hz = title, characters, unit_rate_hz
        self.units_per_text_token = units_per_text_token

    @classmethod
    def load(cls, data_dir: str | Path, series_key: str, speech: str = "tts-vc") -> RolePlayModel:
        from training.decoder.convert import load_converters
        from training.lm.model import load_speech_lm
        from training.stages import ARP_MODEL, PROFILES_FILE, SPEECH_DECODER, decoder_for
        from training.tokenizer import load_tokenizer

        store = DataStore(data_dir)
        lm_dir = ARP_MODEL.dir(store, series_key)
        if ARP_MODEL.read_stamp(store, series_key) is None or not (lm_dir / "model").exists():
            raise FileNotFoundError(f"{lm_dir}: series {series_key!r} has no trained ARP-Model (run the training_job "
                                    "or `audiorole run`)")
        lm, vocab = load_speech_lm(lm_dir / "model")
        spec = json.loads((lm_dir / "spec.json").read_text())
        tok = load_tokenizer(store.model_dir(series_key, "tokenizer"))
        return cls(lm, vocab, decoder_for(store, series_key), tok, spec["extra"]["title"], vocab.characters,
                   tok.config.unit_rate_hz, speaking_rate(lm_dir / "samples.jsonl", vocab),
                   bool(spec["extra"].get("context_units")), speech,
                   load_converters(SPEECH_DECODER.dir(store, series_key)),
                   json.loads((lm_dir / PROFILES_FILE).read_text()) if (lm_dir / PROFILES_FILE).exists() else None)

    def character_key(self, name_or_key: str) -> str:
        if name_or_key in self.characters:
            return name_or_key
        for k, v in self.characters.items():
            if v.lower() == name_or_key.lower():
                return k
        raise KeyError(f"{name_or_key!r} is not a character of this model (it knows: "
                       f"{', '.join(self.characters.values())})")

    def reply(self, character: str, context: list[Turn], *, seed: int = 0, max_text_tokens: int = 48,
              max_speech_s: float = 8.0, temperature: float = 0.8, top_p: float = 0.9,
              voice: str | None = None, speech: str | None = None, persona_guidance: float = PERSONA_GUIDANCE,
              no_repeat_ngram: int = NO_REPEAT_NGRAM) -> Reply:
        """The character's reply to ``context``. ``voice``: a decoder voice other than the character's own;
        ``speech``: where the speech comes from (``SPEECH_SOURCES``; the model's default when None);
        ``persona_guidance``: classifier-free guidance of the text by the character's profile — each next token's
        log-probability with the profile in the prompt, pushed away from the same prompt without it by this factor
        (1: off; see ``PERSONA_GUIDANCE``); ``no_repeat_ngram``: no n-gram of the reply's text twice (0: off)."""
        import torch
        from transformers import LogitsProcessorList

        key = self.character_key(character)
        if self.context_units:
            for t in context:
                if t.units is None and t.audio is not None:
                    t.units = self.tokenizer.units(t.audio).tolist()
        profile = pick_profile(self.profiles["lines"].get(key, []), self.profiles["n"], f"reply/{seed}")
        prompt = prompt_ids(self.vocab, self.title, key, self.characters[key], context,
                            context_units=self.context_units, max_tokens=512, profile=profile)
        speech = speech or self.speech
        if speech not in SPEECH_SOURCES:
            raise ValueError(f"unknown speech source {speech!r} (one of {', '.join(SPEECH_SOURCES)})")
        max_units = int(max_speech_s * self.unit_rate_hz)
        sp = self.vocab.marker("<|speech|>")
        guidance = {}
        if persona_guidance != 1.0 and profile:
            plain = torch.as_tensor([prompt_ids(self.vocab, self.title, key, self.characters[key], context,
                                                context_units=self.context_units, max_tokens=512)])
            guidance = dict(guidance_scale=float(persona_guidance), negative_prompt_ids=plain,
                            negative_prompt_attention_mask=torch.ones_like(plain))
        torch.manual_seed(seed)
        ids = torch.as_tensor([prompt])
        with torch.inference_mode():
            out = self.lm.generate(
                **guidance, input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                temperature=temperature, top_p=top_p,
                max_new_tokens=max_text_tokens + (max_units + 3 if speech == "lm" else 1),
                logits_processor=LogitsProcessorList(
                    ([_NoRepeatInReply(len(prompt), no_repeat_ngram, self.vocab.n_text)] if no_repeat_ngram else [])
                    + [_ModalityMask(self.vocab, len(prompt), max_units, max_text_tokens, self.units_per_text_token)]),
                # the bridge needs the text only: generation ends where the speech would start
                eos_token_id=self.vocab.marker("<|end|>") if speech == "lm" else sp, pad_token_id=self.vocab.pad)
        gen = out[0, len(prompt):].tolist()
        text = self.vocab.decode_text(gen[: gen.index(sp)] if sp in gen else gen).strip()
        if speech == "lm":
            units = self.vocab.units_of(gen[gen.index(sp) + 1:] if sp in gen else [])
            return Reply(text, units, self._unit_selection(units, voice or key), gen)
        return Reply(text, *self._spoken(text, voice or key, speech), gen)

    def speak(self, character: str, text: str, *, speech: str | None = None) -> Reply:
        """``text`` as it is, in the character's voice (no LM): ``tts-vc`` or ``tts-units``."""
        speech = speech or self.speech
        if speech not in ("tts-vc", "tts-units"):
            raise ValueError(f"speech {speech!r} cannot speak a given text (the LM's units answer a context; use "
                             "tts-vc or tts-units)")
        if not any(ch.isalnum() for ch in text):
            raise ValueError(f"nothing to speak: the text {text!r} has no word")
        return Reply(text.strip(), *self._spoken(text, self.character_key(character), speech))

    def _spoken(self, text: str, voice: str, speech: str) -> tuple[list[int], np.ndarray]:
        """(units, 16 kHz speech) of ``text`` in ``voice`` through the TTS bridge: converted, or by its units."""
        if speech == "tts-vc":
            return [], self.converted(text, voice)
        from training.bridge import TTSBridge

        units = TTSBridge(self.tokenizer, voice=self.bridge_voice).units(text).tolist()
        return units, self._unit_selection(units, voice)

    def _unit_selection(self, units: list[int], voice: str) -> np.ndarray:
        return self.decoder.synthesize(np.asarray(units, np.int64), voice) if units else np.zeros(0, np.float32)

    @property
    def bridge_voice(self) -> str:
        """The TTS voice that reads this series' replies: the one its conversions were learned from."""
        from training.bridge import BRIDGE_VOICE

        return next((c.source for c in self.converters.values()), BRIDGE_VOICE)

    def converted(self, text: str, voice: str) -> np.ndarray:
        """``text`` read by the bridge voice the conversion was learned from, converted into ``voice`` (16 kHz)."""
        from training.bridge import read_aloud

        if voice not in self.converters:
            raise ValueError(f"voice {voice!r} has no conversion from {self.bridge_voice} in the speech decoder "
                             "(rebuild the speech_decoder, or reply with speech='tts-units' or 'lm')")
        conv = self.converters[voice]
        return conv.convert(read_aloud(text, voice=conv.source), self.decoder.config.conversion_config())


def speaking_rate(samples_path: str | Path, vocab) -> float:
    """Unit tokens per text token of the replies in the training samples (the series' speaking rate); 0 if none."""
    n_text = n_units = 0
    path = Path(samples_path)
    if not path.exists():
        return 0.0
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if row["split"] != "train":
                continue
            target = [t for t in row["labels"] if t >= 0]
            n_units += sum(vocab.first_unit <= t < vocab.first_unit + vocab.n_units for t in target)
            n_text += sum(t < vocab.n_text for t in target)
    return n_units / n_text if n_text else 0.0


def parse_context(text: str) -> list[Turn]:
    """``"WALT: Where were you?\\nMaggie Chen: Out."`` (lines or ``|``-separated) → turns."""
    turns = []
    for part in [p for line in text.splitlines() for p in line.split("|")]:
        part = part.strip()
        if not part:
            continue
        speaker, sep, said = part.partition(":")
        turns.append(Turn(speaker.strip(), said.strip()) if sep else Turn("Someone", part))
    return turns
