"""The speech LM's vocabulary: the base tokenizer's text tokens (optionally trimmed to those the series uses),
extended with modality/turn markers, one token per character and one per speech unit.

Trimming matters on CPUs: Gemma 3's 262,144-token vocabulary is most of its 268M parameters and most of a training
step's time (its tied embedding / LM head). A trimmed vocabulary keeps the base tokens that occur in the series'
train and validation text, the special tokens and every byte-fallback token, so any text still encodes: a piece the
trimmed vocabulary lacks is spelled in UTF-8 bytes (Gemma's ``<0xNN>`` tokens), and decodes back to the same text.

Model ids: ``[kept base tokens][markers][characters][units]``. ``vocab.json`` stores the mapping with the model.
"""

from __future__ import annotations

import json
from pathlib import Path

MARKERS = ["<|scene|>", "<|turn|>", "<|reply|>", "<|speech|>", "<|end_speech|>", "<|end|>"]
VOCAB_FILE = "vocab.json"


def character_token(character_key: str) -> str:
    return f"<|char:{character_key}|>"


def unit_token(u: int) -> str:
    return f"<|u{u}|>"


class SpeechVocab:
    def __init__(self, tokenizer, kept_base_ids: list[int] | None, n_units: int, characters: dict[str, str]):
        """``characters``: character key → name. ``kept_base_ids`` None: the whole base vocabulary."""
        self.tokenizer = tokenizer
        self.n_units = n_units
        self.characters = dict(sorted(characters.items()))
        self.base_size = len(tokenizer)
        if kept_base_ids is None:
            self.kept = None
            self._to_model = None
            n_text = self.base_size
        else:
            self.kept = sorted(set(int(i) for i in kept_base_ids))
            self._to_model = {b: m for m, b in enumerate(self.kept)}
            n_text = len(self.kept)
        self.n_text = n_text
        extras = MARKERS + [character_token(k) for k in self.characters] + [unit_token(u) for u in range(n_units)]
        self.extra_ids = {tok: n_text + i for i, tok in enumerate(extras)}
        self.first_unit = self.extra_ids[unit_token(0)] if n_units else n_text + len(extras)
        self.size = n_text + len(extras)
        self._bytes = self._byte_tokens()
        self._byte_of = {i: b for b, i in self._byte_ids(tokenizer).items()}  # base id -> byte value

    # construction ----------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, tokenizer, texts: list[str], n_units: int, characters: dict[str, str], trim: bool = True):
        if not trim:
            return cls(tokenizer, None, n_units, characters)
        keep = set(tokenizer.all_special_ids)
        keep |= {i for i in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id,
                             tokenizer.unk_token_id) if i is not None}
        keep |= set(cls._byte_ids(tokenizer).values())
        for t in list(texts) + list(characters.values()):
            keep |= set(tokenizer(t, add_special_tokens=False).input_ids)
            keep |= set(tokenizer(" " + t, add_special_tokens=False).input_ids)
        return cls(tokenizer, sorted(keep), n_units, characters)

    @staticmethod
    def _byte_ids(tokenizer) -> dict[int, int]:
        ids = tokenizer.convert_tokens_to_ids([f"<0x{b:02X}>" for b in range(256)])
        unk = tokenizer.unk_token_id
        return {b: i for b, i in enumerate(ids) if i is not None and i != unk}

    def _byte_tokens(self) -> dict[int, int]:
        return {b: self.model_id(i) for b, i in self._byte_ids(self.tokenizer).items()
                if self._to_model is None or i in self._to_model}

    # mapping ---------------------------------------------------------------------------------------------------
    def model_id(self, base_id: int) -> int:
        return base_id if self._to_model is None else self._to_model[base_id]

    def base_id(self, model_id: int) -> int | None:
        if model_id >= self.n_text:
            return None
        return model_id if self.kept is None else self.kept[model_id]

    def encode_text(self, text: str) -> list[int]:
        out = []
        for b in self.tokenizer(text, add_special_tokens=False).input_ids:
            if self._to_model is None or b in self._to_model:
                out.append(self.model_id(b))
                continue
            piece = self.tokenizer.decode([b])
            raw = piece.encode("utf-8")
            if self._bytes and all(x in self._bytes for x in raw):
                out.extend(self._bytes[x] for x in raw)
            else:  # a tokenizer without byte fallback: the unknown token
                unk = self.tokenizer.unk_token_id
                if unk is not None and unk in self._to_model:
                    out.append(self._to_model[unk])
        return out

    def decode_text(self, ids) -> str:
        """The text of ``ids`` (other tokens skipped). Byte-fallback tokens that form no whole character (a sampled
        reply can stop inside one, or string bytes that are no UTF-8) are dropped before decoding: the tokenizer's
        decoder turns a run of byte tokens with one bad byte into U+FFFD for every byte of the run (a demo reply read
        "My little brother is graduating" and five of them)."""
        base = [b for b in (self.base_id(int(i)) for i in ids) if b is not None]
        return self.tokenizer.decode(_whole_characters(base, self._byte_of), skip_special_tokens=True)

    def marker(self, name: str) -> int:
        return self.extra_ids[name]

    def character(self, key: str) -> int:
        try:
            return self.extra_ids[character_token(key)]
        except KeyError:
            raise KeyError(f"character {key!r} is not in this model (it knows: {', '.join(self.characters)})") from None

    def unit(self, u: int) -> int:
        return self.first_unit + int(u)

    def is_unit(self, model_id: int) -> bool:
        return self.first_unit <= model_id < self.first_unit + self.n_units

    def units_of(self, ids) -> list[int]:
        return [int(i) - self.first_unit for i in ids if self.is_unit(int(i))]

    @property
    def bos(self) -> int | None:
        b = self.tokenizer.bos_token_id
        return self.model_id(b) if b is not None else None

    @property
    def pad(self) -> int:
        p = self.tokenizer.pad_token_id
        return self.model_id(p) if p is not None else self.marker("<|end|>")

    # persistence -----------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"kept_base_ids": self.kept, "n_units": self.n_units, "characters": self.characters,
                "base_size": self.base_size, "size": self.size}

    def save(self, folder: str | Path) -> None:
        from audiorole.io import write_json_atomic

        write_json_atomic(Path(folder) / VOCAB_FILE, self.to_json())

    @classmethod
    def load(cls, folder: str | Path, tokenizer) -> "SpeechVocab":
        d = json.loads((Path(folder) / VOCAB_FILE).read_text())
        vocab = cls(tokenizer, d["kept_base_ids"], d["n_units"], d["characters"])
        if vocab.size != d["size"]:
            raise ValueError(f"{folder}: vocab.json describes {d['size']} tokens, the tokenizer gives {vocab.size}")
        return vocab


def _utf8_length(first: int) -> int:
    """Bytes of the UTF-8 character that starts with ``first`` (0: no character starts with it)."""
    return 1 if first < 0x80 else 2 if 0xC2 <= first < 0xE0 else 3 if 0xE0 <= first < 0xF0 else \
        4 if 0xF0 <= first < 0xF5 else 0


def _whole_characters(base_ids: list[int], byte_of: dict[int, int]) -> list[int]:
    """``base_ids`` without the byte tokens that form no whole UTF-8 character with their neighbours."""
    out, i = [], 0
    while i < len(base_ids):
        if base_ids[i] not in byte_of:
            out.append(base_ids[i])
            i += 1
            continue
        n = _utf8_length(byte_of[base_ids[i]])
        run = base_ids[i:i + n] if n else []
        if run and len(run) == n and all(t in byte_of for t in run):
            try:
                bytes(byte_of[t] for t in run).decode("utf-8")
                out.extend(run)
                i += n
                continue
            except UnicodeDecodeError:
                pass
        i += 1  # a byte no character is made of: dropped
    return out
