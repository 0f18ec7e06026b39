"""How the ARP-Model trains here: which base LM, and how the trainer process is launched (Dagster Pipes runs it)."""

from __future__ import annotations

import sys
from dataclasses import replace

import dagster as dg


class TrainingResource(dg.ConfigurableResource):
    """``base_model``: a local ``AutoModelForCausalLM`` directory that replaces the packaged Gemma 3 270M (e.g. a
    7–9B model on GPUs; env ``AUDIOROLE_BASE_LM_DIR``). ``launcher``: ``torchrun`` (default; ``nproc_per_node``
    processes, one per GPU) or ``python`` (a single process, no launcher)."""

    base_model: str | None = None
    launcher: str = "torchrun"
    nproc_per_node: int = 1

    def with_base(self, config):
        """The run's ``ModelConfig`` with this deployment's base model, unless the run names a base of its own."""
        from training.lm.base import PACKAGED_BASE

        return replace(config, base=self.base_model) if config.base == PACKAGED_BASE and self.base_model else config

    def command(self, args: list[str]) -> list[str]:
        if self.launcher == "torchrun":
            return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                    f"--nproc_per_node={self.nproc_per_node}", "-m", "training", *args]
        if self.launcher == "python":
            return [sys.executable, "-m", "training", *args]
        raise ValueError(f"unknown training launcher {self.launcher!r} (use torchrun or python)")

    def env(self) -> dict[str, str]:
        """Environment of the trainer. Dagster's Pipes client lays this over the Dagster process's own environment,
        so the rendezvous variables are set here, with a port free now: a port that this process (or an earlier
        in-process training) holds is never handed down. ``torchrun`` replaces them for its workers anyway."""
        from training.lm.train import free_port

        return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "RANK": "0",
                "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
