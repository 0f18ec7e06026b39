"""The DeepSpeed training loop of the speech LM.

``deepspeed.initialize`` with a JSON config from ``training/deepspeed/`` (ZeRO stage, optimizer, LR schedule,
clipping, precision); the keys that depend on the run (micro batch, accumulation, LR, schedule length) are set from
the ``TrainSpec``. Every ``save_every`` optimizer steps a DeepSpeed checkpoint (``save_checkpoint``: weights,
optimizer, scheduler, and our loop state as client state) goes to ``checkpoints/``; a killed run started again with
the same spec resumes from the latest one (``load_checkpoint``) and ends at the same step. The batch order is a
pure function of (seed, step), so a resumed run sees the batches the uninterrupted one would have. Validation loss
is measured every ``eval_every`` steps; the best model so far is kept in ``best/`` (a transformers directory).
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from training.lm.format import IGNORE

TRAINING_DIR = Path(__file__).resolve().parent.parent
DEEPSPEED_CONFIGS = TRAINING_DIR / "deepspeed"


@dataclass
class TrainSpec:
    out_dir: str  # checkpoints/, best/, metrics.jsonl go here
    base_dir: str  # the base causal LM (a transformers directory)
    samples_path: str  # samples.jsonl: {"split", "character_key", "input_ids", "labels"}
    vocab_dir: str  # vocab.json + base tokenizer of the speech LM
    ds_config: str = "cpu.json"  # a file in training/deepspeed/ or a path
    max_steps: int = 100
    micro_batch: int = 4
    grad_accum: int = 1
    lr: float = 3e-4
    warmup_steps: int = 10
    eval_every: int = 25
    save_every: int = 25
    keep_checkpoints: int = 1
    seed: int = 0
    threads: int = 0  # 0: all cores
    fresh: bool = False  # ignore existing checkpoints
    extra: dict = field(default_factory=dict)  # carried into metrics (fingerprint, series, ...)

    @classmethod
    def load(cls, path: str | Path) -> "TrainSpec":
        return cls(**json.loads(Path(path).read_text()))


class PrintReporter:
    def log(self, msg: str) -> None:
        print(msg, flush=True)


def ds_config(spec: TrainSpec, dtype_hint: str | None = None) -> dict:
    path = Path(spec.ds_config)
    if not path.is_absolute() and not path.exists():
        path = DEEPSPEED_CONFIGS / spec.ds_config
    cfg = json.loads(path.read_text())
    cfg["train_micro_batch_size_per_gpu"] = spec.micro_batch
    cfg["gradient_accumulation_steps"] = spec.grad_accum
    cfg.setdefault("optimizer", {}).setdefault("params", {})["lr"] = spec.lr
    sched = cfg.setdefault("scheduler", {}).setdefault("params", {})
    if cfg["scheduler"].get("type") == "WarmupCosineLR":
        sched["total_num_steps"] = max(spec.max_steps, spec.warmup_steps + 1)
        sched["warmup_num_steps"] = spec.warmup_steps
    elif "warmup_num_steps" in sched:
        sched["warmup_num_steps"] = spec.warmup_steps
        if "total_num_steps" in sched:
            sched["total_num_steps"] = max(spec.max_steps, spec.warmup_steps + 1)
    return cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_dist_env() -> None:
    """A single process outside torchrun/deepspeed launchers still needs the rendezvous variables."""
    for k, v in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1").items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("MASTER_PORT", str(free_port()))


def load_samples(path: str | Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"train": [], "validation": []}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            out.setdefault(r["split"], []).append(r)
    return out


@functools.lru_cache(maxsize=2)
def micro_batches(n: int, micro: int, epoch: int, seed: int, lengths: tuple[int, ...]) -> list[list[int]]:
    """The micro-batches of one epoch: a seeded shuffle, sorted by length within windows of 8 batches (less
    padding), cut into batches of ``micro``."""
    rng = np.random.default_rng(seed * 100_003 + epoch)
    perm = rng.permutation(n).tolist()
    window = micro * 8
    ordered = []
    for a in range(0, n, window):
        ordered += sorted(perm[a:a + window], key=lambda i: lengths[i])
    batches = [ordered[a:a + micro] for a in range(0, n, micro)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def batch_indices(g: int, micro: int, seed: int, lengths: tuple[int, ...]) -> list[int]:
    """Micro-batch number ``g`` of the whole run (epochs follow one another)."""
    epoch, i = divmod(g, math.ceil(len(lengths) / micro))
    return micro_batches(len(lengths), micro, epoch, seed, lengths)[i]


def collate(rows: list[dict], pad_id: int):
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[j, :n] = torch.as_tensor(r["input_ids"])
        labels[j, :n] = torch.as_tensor(r["labels"])
        mask[j, :n] = 1
    return ids, labels, mask


def token_losses(model, rows: list[dict], pad_id: int, units: range) -> list[dict]:
    """Per sample: summed loss and counts over its target tokens, split into text and unit tokens."""
    import torch

    out = []
    with torch.no_grad():
        for a in range(0, len(rows), 8):
            chunk = rows[a:a + 8]
            ids, labels, mask = collate(chunk, pad_id)
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            lp = torch.log_softmax(logits[:, :-1], -1)
            tgt = labels[:, 1:]
            valid = tgt != IGNORE
            nll = -lp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1) * valid
            unit = (tgt >= units.start) & (tgt < units.stop) & valid
            for j in range(len(chunk)):
                out.append({"nll": float(nll[j].sum()), "n": int(valid[j].sum()),
                            "unit_nll": float(nll[j][unit[j]].sum()), "unit_n": int(unit[j].sum()),
                            "character_key": chunk[j]["character_key"]})
    return out


def summarize_losses(per_sample: list[dict]) -> dict:
    def mean(rows, a="nll", b="n"):
        n = sum(r[b] for r in rows)
        return sum(r[a] for r in rows) / n if n else None

    text = [{"nll": r["nll"] - r["unit_nll"], "n": r["n"] - r["unit_n"]} for r in per_sample]
    by_char = {}
    for r in per_sample:
        by_char.setdefault(r["character_key"], []).append(r)
    return {"loss": mean(per_sample), "text_loss": mean(text), "unit_loss": mean(per_sample, "unit_nll", "unit_n"),
            "by_character": {k: mean(v) for k, v in sorted(by_char.items())}}


def _prune(ckpt_dir: Path, keep: int) -> None:
    tags = sorted(p for p in ckpt_dir.glob("step*") if p.is_dir())
    for p in tags[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)


def train(spec: TrainSpec, reporter=None) -> dict:
    """Run (or resume) the training described by ``spec``. Returns the final metrics."""
    reporter = reporter or PrintReporter()
    _ensure_dist_env()
    import torch

    torch.set_num_threads(spec.threads or os.cpu_count() or 1)
    torch.manual_seed(spec.seed)
    import deepspeed
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.lm.model import BASE_TOKENIZER_DIR, adapt_model, save_speech_lm
    from training.lm.vocab import SpeechVocab

    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "checkpoints"
    metrics_path = out / "metrics.jsonl"
    t_start = time.perf_counter()
    cfg = ds_config(spec)
    bf16 = bool(cfg.get("bf16", {}).get("enabled"))
    data = load_samples(spec.samples_path)
    train_rows, val_rows = data["train"], data.get("validation", [])
    if not train_rows:
        raise ValueError(f"{spec.samples_path}: no training samples")
    tok = AutoTokenizer.from_pretrained(str(Path(spec.vocab_dir) / BASE_TOKENIZER_DIR), local_files_only=True)
    vocab = SpeechVocab.load(spec.vocab_dir, tok)
    model = AutoModelForCausalLM.from_pretrained(spec.base_dir, local_files_only=True, dtype=torch.float32)
    model = adapt_model(model, vocab, seed=spec.seed)
    model.config.use_cache = False
    if not deepspeed.comm.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, model_parameters=[p for p in model.parameters() if p.requires_grad], config=cfg)
    device = engine.device
    state = {"step": 0, "tokens": 0, "best_val": None, "best_step": None, "history": [], "resumed_from": []}
    owner = ckpt_dir / "fingerprint"  # the training (data + config) the checkpoints belong to
    fp = str(spec.extra.get("fingerprint"))
    other = ckpt_dir.exists() and (not owner.exists() or owner.read_text().strip() != fp)
    if spec.fresh or other:
        if other and not spec.fresh:
            reporter.log(f"{ckpt_dir}: checkpoints of another training (data or config changed); starting over")
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        metrics_path.unlink(missing_ok=True)
        shutil.rmtree(out / "best", ignore_errors=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    owner.write_text(fp)
    if (ckpt_dir / "latest").exists():
        tag = (ckpt_dir / "latest").read_text().strip()
        try:
            path, client = engine.load_checkpoint(str(ckpt_dir), tag=tag)
        except Exception as err:  # noqa: BLE001 — any failure here means the checkpoint is unusable
            raise RuntimeError(f"{ckpt_dir / tag}: checkpoint cannot be loaded ({type(err).__name__}: {err}); "
                               f"delete {ckpt_dir} (or train with --fresh) to start over") from err
        if path is None or not client or "audiorole" not in client:
            raise RuntimeError(f"{ckpt_dir / tag}: checkpoint is missing or incomplete; delete {ckpt_dir} "
                               "(or train with --fresh) to start over")
        state = client["audiorole"]
        state["resumed_from"] = state.get("resumed_from", []) + [state["step"]]
        reporter.log(f"resumed from {ckpt_dir / tag} at step {state['step']}")
    lengths = tuple(len(r["input_ids"]) for r in train_rows)
    n = len(train_rows)
    pad = vocab.pad
    unit_ids = range(vocab.first_unit, vocab.first_unit + vocab.n_units)

    def evaluate() -> dict | None:
        if not val_rows:
            return None
        engine.module.eval()
        s = summarize_losses(token_losses(engine.module, val_rows, pad, unit_ids))
        engine.module.train()
        return s

    engine.module.train()
    t_loop = time.perf_counter()
    tokens_this_run = 0
    while state["step"] < spec.max_steps:
        step = state["step"]
        losses = []
        for a in range(spec.grad_accum):
            rows = [train_rows[i] for i in batch_indices(step * spec.grad_accum + a, spec.micro_batch, spec.seed, lengths)]
            ids, labels, mask = collate(rows, pad)
            out_ = engine(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
            engine.backward(out_.loss)
            engine.step()
            losses.append(out_.loss.detach().item())
            tokens_this_run += int(mask.sum())
            state["tokens"] += int(mask.sum())
        state["step"] = step = step + 1
        rec = {"step": step, "train_loss": float(np.mean(losses)), "lr": float(scheduler.get_last_lr()[0]),
               "tokens": state["tokens"], "seconds": round(time.perf_counter() - t_start, 2)}
        if step % spec.eval_every == 0 or step == spec.max_steps:
            val = evaluate()
            if val is not None:
                rec.update(val_loss=val["loss"], val_text_loss=val["text_loss"], val_unit_loss=val["unit_loss"],
                           val_by_character=val["by_character"])
                if state["best_val"] is None or val["loss"] < state["best_val"]:
                    state["best_val"], state["best_step"] = val["loss"], step
                    save_speech_lm(engine.module, vocab, out / "best", {"best.json": json.dumps(
                        {"step": step, "val": val}, indent=2)})
        state["history"].append(rec)
        with open(metrics_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        reporter.log(f"step {step}/{spec.max_steps} train_loss {rec['train_loss']:.3f}"
                     + (f" val_loss {rec['val_loss']:.3f}" if "val_loss" in rec else "")
                     + f" tokens {state['tokens']}")
        if step % spec.save_every == 0 or step == spec.max_steps:
            engine.save_checkpoint(str(ckpt_dir), tag=f"step{step:06d}", client_state={"audiorole": state})
            _prune(ckpt_dir, spec.keep_checkpoints)
    loop_s = time.perf_counter() - t_loop
    if state["best_step"] is None:  # no validation split: the last weights are the model
        save_speech_lm(engine.module, vocab, out / "best", {"best.json": json.dumps({"step": state["step"]})})
        state["best_step"] = state["step"]
    final_val = None
    best_meta = json.loads((out / "best" / "best.json").read_text())
    if "val" in best_meta:
        final_val = best_meta["val"]
    result = {
        "steps": state["step"], "tokens": state["tokens"], "best_step": state["best_step"],
        "best_val_loss": state["best_val"], "val_by_character": (final_val or {}).get("by_character"),
        "val_text_loss": (final_val or {}).get("text_loss"), "val_unit_loss": (final_val or {}).get("unit_loss"),
        "train_loss": state["history"][-1]["train_loss"] if state["history"] else None,
        "resumed_from": state["resumed_from"], "tokens_per_s_this_run": round(tokens_this_run / loop_s, 1) if loop_s > 0 and tokens_this_run else None,
        "wall_s_this_run": round(time.perf_counter() - t_start, 1), "n_train_samples": n, "n_val_samples": len(val_rows),
        "n_parameters": int(sum(p.numel() for p in engine.module.parameters())), "vocab_size": vocab.size,
        "precision": "bf16" if bf16 else "fp32", "zero_stage": cfg.get("zero_optimization", {}).get("stage", 0),
        "spec": asdict(spec),
    }
    return result


def read_history(out_dir: str | Path) -> list[dict]:
    """The metrics of every step, the last record of a step winning (a resumed run re-logs nothing twice, but a
    killed one may have logged a step whose checkpoint it never wrote)."""
    path = Path(out_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    by_step = {}
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        by_step[r["step"]] = r
    return [by_step[k] for k in sorted(by_step)]
