"""Turning a base causal LM into the speech LM: its embedding (and LM head) cut to the trimmed text vocabulary and
extended with markers, character and unit tokens; saving and loading the result."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from audiorole.io import replace_dir

from training.lm.vocab import MARKERS, SpeechVocab

BASE_TOKENIZER_DIR = "base_tokenizer"


def adapt_model(model, vocab: SpeechVocab, seed: int = 0):
    """Rows of kept base tokens are copied; new tokens start near the mean embedding (characters: the mean of
    their name's tokens), so the first steps do not start from noise."""
    import torch

    g = torch.Generator().manual_seed(seed)
    emb = model.get_input_embeddings().weight.detach()
    out_layer = model.get_output_embeddings()
    tied = out_layer is None or out_layer.weight is model.get_input_embeddings().weight
    head = None if tied else out_layer.weight.detach()

    def rows(w):
        text = w[torch.as_tensor(vocab.kept)] if vocab.kept is not None else w[: vocab.base_size]
        mean, std = text.mean(0), text.std(0)
        extra = []
        for tok in [*MARKERS, *[f"<|char:{k}|>" for k in vocab.characters], *range(vocab.n_units)]:
            if isinstance(tok, str) and tok.startswith("<|char:"):
                key = tok[len("<|char:"):-2]
                ids = [vocab.base_id(i) for i in vocab.encode_text(vocab.characters[key])]
                ids = [i for i in ids if i is not None]
                if ids:
                    extra.append(w[torch.as_tensor(ids)].mean(0))
                    continue
            extra.append(mean + 0.5 * std * torch.randn(w.shape[1], generator=g))
        return torch.cat([text, torch.stack(extra).to(w.dtype)])

    new_emb = rows(emb)
    new_head = rows(head) if head is not None else None
    model.resize_token_embeddings(vocab.size, mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(new_emb)
        if new_head is not None:
            model.get_output_embeddings().weight.copy_(new_head)
    cfg = model.config
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(cfg, name, vocab.marker("<|end|>") if name == "eos_token_id" else
                (vocab.bos if name == "bos_token_id" else vocab.pad))
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.bos_token_id = vocab.bos
        model.generation_config.eos_token_id = vocab.marker("<|end|>")
        model.generation_config.pad_token_id = vocab.pad
    return model


def save_speech_lm(model, vocab: SpeechVocab, target: str | Path, extra_files: dict[str, str] | None = None) -> Path:
    """Write model + vocab + base tokenizer into a temp dir beside ``target`` and swap it in: a crash never leaves
    a half-written model under the final name."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(str(work))
        vocab.tokenizer.save_pretrained(str(work / BASE_TOKENIZER_DIR))
        vocab.save(work)
        for name, text in (extra_files or {}).items():
            (work / name).write_text(text)
        replace_dir(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def load_speech_lm(folder: str | Path, dtype: str = "float32"):
    """(model, vocab) of a trained speech LM directory; a clear error when it is not one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    for need in ("config.json", "vocab.json", BASE_TOKENIZER_DIR):
        if not (folder / need).exists():
            raise FileNotFoundError(f"{folder}: not a trained ARP speech LM ({need} missing)")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder / BASE_TOKENIZER_DIR), local_files_only=True)
        vocab = SpeechVocab.load(folder, tok)
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ValueError(f"{folder}: corrupt ARP speech LM: {err}") from err
    if model.get_input_embeddings().weight.shape[0] != vocab.size:
        raise ValueError(f"{folder}: model has {model.get_input_embeddings().weight.shape[0]} embeddings, "
                         f"vocab.json {vocab.size}")
    return model.eval(), vocab
