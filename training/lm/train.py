"""The DeepSpeed training loop of the speech LM.

``deepspeed.initialize`` with a JSON config from ``training/deepspeed/`` (ZeRO stage, optimizer, LR schedule,
clipping, precision); the keys that depend on the run (micro batch, accumulation, LR, schedule length) are set from
the ``TrainSpec``. Every ``save_every`` optimizer steps a DeepSpeed checkpoint (``save_checkpoint``: weights,
optimizer, scheduler, and our loop state as client state) goes to ``checkpoints/``; a killed run started again with
the same spec resumes from the latest one (``load_checkpoint``) and ends at the same step. The batch order is a
pure function of (seed, step), so a resumed run sees the batches the uninterrupted one would have. Validation loss
is measured every ``eval_every`` steps; the best model so far is kept in ``best/`` (a transformers directory).
With ``patience`` > 0 the run stops early once that many validations in a row found no better model (transformers'
``EarlyStoppingCallback``): the steps after it could only publish the same ``best/``. With ``min_delta`` a validation
counts as better, for that count, only when it lowers the best loss by more than ``min_delta`` (the callback's
``early_stopping_threshold``), so the steps given up could only have bettered ``best/`` by less; ``best/`` still
takes any lower loss. The LR schedule still spans ``max_steps``, so the steps that do run, and the best model, are
the full run's.
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
    select_by: str = "total"  # the validation loss that picks best/: "total" or "text" (the reply's words only)
    patience: int = 0  # stop after this many validations in a row without a better model (0: run max_steps)
    min_delta: float = 0.0  # for ``patience``, a model is better only when its loss is lower by more than this
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


@dataclass
class _Run:
    """What the phases of one ``train`` call share; ``state`` is the loop state a checkpoint carries (client state),
    everything else is rebuilt from the spec by every run."""

    spec: TrainSpec
    reporter: object
    cfg: dict
    t_start: float
    train_rows: list[dict]
    val_rows: list[dict]
    vocab: object
    engine: object
    scheduler: object
    state: dict = field(default_factory=dict)
    tokens_this_run: int = 0

    def __post_init__(self) -> None:
        self.out = Path(self.spec.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.metrics_path = self.out / "metrics.jsonl"
        self.lengths = tuple(len(r["input_ids"]) for r in self.train_rows)
        self.pad = self.vocab.pad
        self.unit_ids = range(self.vocab.first_unit, self.vocab.first_unit + self.vocab.n_units)


def train(spec: TrainSpec, reporter=None) -> dict:
    """Run (or resume) the training described by ``spec``; returns the final metrics. The phases run in the order
    the seeded random numbers are drawn in (a reordering changes the model)."""
    reporter = reporter or PrintReporter()
    if spec.select_by not in ("total", "text"):
        raise ValueError(f"select_by={spec.select_by!r}: the checkpoint is picked by the 'total' or the 'text' "
                         "validation loss")
    _init_process(spec)
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    cfg = ds_config(spec)
    train_rows, val_rows = _load_splits(spec)
    vocab, engine, scheduler = _deepspeed_engine(spec, cfg)
    run = _Run(spec, reporter, cfg, t_start, train_rows, val_rows, vocab, engine, scheduler)
    _claim_checkpoints(run)
    run.state = _resume_state(run)
    loop_s = _run_steps(run)
    final_val = _settle_best(run)
    return _result(run, final_val, loop_s)


def _init_process(spec: TrainSpec) -> None:
    """Rendezvous variables, threads and seed before any model exists; the heavy libraries imported before the
    run's clock starts (``wall_s_this_run`` excludes them)."""
    _ensure_dist_env()
    import torch

    torch.set_num_threads(spec.threads or os.cpu_count() or 1)
    torch.manual_seed(spec.seed)
    import deepspeed  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    from training.lm.model import BASE_TOKENIZER_DIR, adapt_model, save_speech_lm  # noqa: F401
    from training.lm.vocab import SpeechVocab  # noqa: F401


def _load_splits(spec: TrainSpec) -> tuple[list[dict], list[dict]]:
    """(train, validation) samples; no train sample is an error, no validation split is not (last weights win)."""
    data = load_samples(spec.samples_path)
    train_rows, val_rows = data["train"], data.get("validation", [])
    if not train_rows:
        raise ValueError(f"{spec.samples_path}: no training samples")
    return train_rows, val_rows


def _no_shm_op_for_one_cpu_process(deepspeed, torch) -> None:
    """DeepSpeed's communication backend compiles its shared-memory all-reduce (a C++ extension) on CPU whatever
    the world size: 35-40 s of g++ on a fresh 2-core machine, every ``make demo`` and CI run (one-off timings: the
    kill-and-resume test 111 s -> 77 s; a fresh ``make demo``'s model load to first step 53 s -> 10 s). A single CPU
    process has nothing to reduce with, so the op is marked unavailable there and the backend uses torch.distributed's
    own (gloo), as it does wherever the op cannot be built. Several CPU ranks (torchrun) still build and use it."""
    if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def _deepspeed_engine(spec: TrainSpec, cfg: dict):
    """(vocab, engine, scheduler): the base LM adapted to the speech vocabulary, wrapped by DeepSpeed; the process
    group (NCCL on GPU, else gloo) starts once per process."""
    import deepspeed
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.lm.model import BASE_TOKENIZER_DIR, adapt_model
    from training.lm.vocab import SpeechVocab

    tok = AutoTokenizer.from_pretrained(str(Path(spec.vocab_dir) / BASE_TOKENIZER_DIR), local_files_only=True)
    vocab = SpeechVocab.load(spec.vocab_dir, tok)
    model = AutoModelForCausalLM.from_pretrained(spec.base_dir, local_files_only=True, dtype=torch.float32)
    model = adapt_model(model, vocab, seed=spec.seed)
    model.config.use_cache = False
    if not deepspeed.comm.is_initialized():
        _no_shm_op_for_one_cpu_process(deepspeed, torch)
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, model_parameters=[p for p in model.parameters() if p.requires_grad], config=cfg)
    return vocab, engine, scheduler


def _claim_checkpoints(run: _Run) -> None:
    """``checkpoints/`` belongs to one training (``checkpoints/fingerprint``): a fresh run, or another training's
    checkpoints, first wipes checkpoints, metrics and ``best/``."""
    spec, ckpt_dir = run.spec, run.ckpt_dir
    owner = ckpt_dir / "fingerprint"  # the training (data + config) the checkpoints belong to
    fp = str(spec.extra.get("fingerprint"))
    other = ckpt_dir.exists() and (not owner.exists() or owner.read_text().strip() != fp)
    if spec.fresh or other:
        if other and not spec.fresh:
            run.reporter.log(f"{ckpt_dir}: checkpoints of another training (data or config changed); starting over")
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        run.metrics_path.unlink(missing_ok=True)
        shutil.rmtree(run.out / "best", ignore_errors=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    owner.write_text(fp)


def _resume_state(run: _Run) -> dict:
    """The loop state from ``checkpoints/latest`` (weights, optimizer and scheduler loaded), else step 0; a checkpoint
    that cannot be loaded is an error naming the way out, never a silent restart."""
    ckpt_dir = run.ckpt_dir
    if not (ckpt_dir / "latest").exists():
        return {"step": 0, "tokens": 0, "best_val": None, "best_step": None, "history": [], "resumed_from": []}
    tag = (ckpt_dir / "latest").read_text().strip()
    try:
        path, client = run.engine.load_checkpoint(str(ckpt_dir), tag=tag)
    except Exception as err:  # noqa: BLE001 — any failure here means the checkpoint is unusable
        raise RuntimeError(f"{ckpt_dir / tag}: checkpoint cannot be loaded ({type(err).__name__}: {err}); "
                           f"delete {ckpt_dir} (or train with --fresh) to start over") from err
    if path is None or not client or "audiorole" not in client:
        raise RuntimeError(f"{ckpt_dir / tag}: checkpoint is missing or incomplete; delete {ckpt_dir} "
                           "(or train with --fresh) to start over")
    state = client["audiorole"]
    state["resumed_from"] = state.get("resumed_from", []) + [state["step"]]
    run.reporter.log(f"resumed from {ckpt_dir / tag} at step {state['step']}")
    return state


def _run_steps(run: _Run) -> float:
    """Steps up to ``max_steps``, validating every ``eval_every`` and saving every ``save_every`` step (and at the
    last); returns the loop's seconds."""
    spec, state = run.spec, run.state
    run.engine.module.train()
    t_loop = time.perf_counter()
    while state["step"] < spec.max_steps and not state.get("stopped_early_at"):
        train_loss = _optimizer_step(run, state["step"])
        state["step"] = step = state["step"] + 1
        rec = {"step": step, "train_loss": train_loss, "lr": float(run.scheduler.get_last_lr()[0]),
               "tokens": state["tokens"], "seconds": round(time.perf_counter() - run.t_start, 2)}
        if step % spec.eval_every == 0 or step == spec.max_steps:
            _validate(run, rec)
        _record(run, rec)
        if spec.patience and "val_loss" in rec and state.get("since_gain", 0) >= spec.patience:
            state["stopped_early_at"] = step  # saved below, so a resumed run ends here too
            gain = state.get("gain_step", state["best_step"])
            run.reporter.log(f"step {step}: {spec.patience} validation(s) without a better model than step {gain}'s"
                             + (f" (by more than {spec.min_delta:g})" if spec.min_delta else "")
                             + f"; stopping early, publishing step {state['best_step']}'s")
        if step % spec.save_every == 0 or step == spec.max_steps or state.get("stopped_early_at"):
            _save_checkpoint(run, step)
    return time.perf_counter() - t_loop


def _optimizer_step(run: _Run, step: int) -> float:
    """``grad_accum`` micro-batches numbered ``step * grad_accum + a`` (the batch order is a function of seed and
    number, so a resumed run sees the uninterrupted run's batches); returns the mean loss."""
    spec, engine, device = run.spec, run.engine, run.engine.device
    losses = []
    for a in range(spec.grad_accum):
        rows = [run.train_rows[i]
                for i in batch_indices(step * spec.grad_accum + a, spec.micro_batch, spec.seed, run.lengths)]
        ids, labels, mask = collate(rows, run.pad)
        out = engine(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
        engine.backward(out.loss)
        engine.step()
        losses.append(out.loss.detach().item())
        run.tokens_this_run += int(mask.sum())
        run.state["tokens"] += int(mask.sum())
    return float(np.mean(losses))


def _validate(run: _Run, rec: dict) -> None:
    """Validation losses into ``rec``; a new best is saved to ``best/`` (with ``best.json``: step and losses)."""
    from training.lm.model import save_speech_lm

    if not run.val_rows:
        return
    run.engine.module.eval()
    val = summarize_losses(token_losses(run.engine.module, run.val_rows, run.pad, run.unit_ids))
    run.engine.module.train()
    rec.update(val_loss=val["loss"], val_text_loss=val["text_loss"], val_unit_loss=val["unit_loss"],
               val_by_character=val["by_character"])
    state, step = run.state, rec["step"]
    score = val["text_loss"] if run.spec.select_by == "text" else val["loss"]
    # validations since the last one that lowered the best loss by more than min_delta (a checkpoint of an older
    # release counted validations since the best under the name since_best, or nothing)
    state["since_gain"] = state.pop("since_gain", state.pop("since_best", 0)) + 1
    if state["best_val"] is None or score < state["best_val"] - run.spec.min_delta:
        state["since_gain"], state["gain_step"] = 0, step
    if state["best_val"] is None or score < state["best_val"]:
        state["best_val"], state["best_step"] = score, step
        save_speech_lm(run.engine.module, run.vocab, run.out / "best", {"best.json": json.dumps(
            {"step": step, "val": val}, indent=2)})


def _record(run: _Run, rec: dict) -> None:
    """A step's record into the history, ``metrics.jsonl`` and the reporter."""
    run.state["history"].append(rec)
    with open(run.metrics_path, "a") as f:
        f.write(json.dumps(rec) + "\n")
    run.reporter.log(f"step {rec['step']}/{run.spec.max_steps} train_loss {rec['train_loss']:.3f}"
                     + (f" val_loss {rec['val_loss']:.3f}" if "val_loss" in rec else "")
                     + f" tokens {run.state['tokens']}")


def _save_checkpoint(run: _Run, step: int) -> None:
    """A checkpoint with the loop state as client state; the newest ``keep_checkpoints`` are kept."""
    run.engine.save_checkpoint(str(run.ckpt_dir), tag=f"step{step:06d}", client_state={"audiorole": run.state})
    _prune(run.ckpt_dir, run.spec.keep_checkpoints)


def _settle_best(run: _Run) -> dict | None:
    """Without validation the last weights are the model; returns the losses ``best/best.json`` holds, if any."""
    from training.lm.model import save_speech_lm

    state = run.state
    if state["best_step"] is None:  # no validation split: the last weights are the model
        save_speech_lm(run.engine.module, run.vocab, run.out / "best",
                       {"best.json": json.dumps({"step": state["step"]})})
        state["best_step"] = state["step"]
    best_meta = json.loads((run.out / "best" / "best.json").read_text())
    return best_meta["val"] if "val" in best_meta else None


def _result(run: _Run, final_val: dict | None, loop_s: float) -> dict:
    """The run's facts: steps, tokens, the best step's losses, resumes, throughput, sizes, precision, the spec."""
    state, cfg, val = run.state, run.cfg, final_val or {}
    tokens, bf16 = run.tokens_this_run, bool(cfg.get("bf16", {}).get("enabled"))
    return {
        "steps": state["step"], "tokens": state["tokens"], "best_step": state["best_step"],
        "stopped_early_at": state.get("stopped_early_at"), "best_val_loss": state["best_val"],
        "selected_by": run.spec.select_by,
        "val_by_character": val.get("by_character"),
        "val_text_loss": val.get("text_loss"), "val_unit_loss": val.get("unit_loss"),
        "train_loss": state["history"][-1]["train_loss"] if state["history"] else None,
        "resumed_from": state["resumed_from"],
        "tokens_per_s_this_run": round(tokens / loop_s, 1) if loop_s > 0 and tokens else None,
        "wall_s_this_run": round(time.perf_counter() - run.t_start, 1), "n_train_samples": len(run.train_rows),
        "n_val_samples": len(run.val_rows), "n_parameters": int(sum(p.numel() for p in run.engine.module.parameters())),
        "vocab_size": run.vocab.size, "precision": "bf16" if bf16 else "fp32",
        "zero_stage": cfg.get("zero_optimization", {}).get("stage", 0), "spec": asdict(run.spec),
    }


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
