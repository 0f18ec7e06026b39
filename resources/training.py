"""How the ARP-Model trains here: which base LM, and how the trainer process is launched (Dagster Pipes runs it)."""

from __future__ import annotations

import os
import sys

import dagster as dg


class TrainingResource(dg.ConfigurableResource):
    """``base_model``: a local ``AutoModelForCausalLM`` directory that replaces the packaged Gemma 3 270M (e.g. a
    7–9B model on GPUs; env ``AUDIOROLE_BASE_LM_DIR``). ``launcher``: ``torchrun`` (default; ``nproc_per_node``
    processes, one per GPU) or ``python`` (a single process, no launcher)."""

    base_model: str | None = None
    launcher: str = "torchrun"
    nproc_per_node: int = 1

    def command(self, args: list[str]) -> list[str]:
        if self.launcher == "torchrun":
            return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                    f"--nproc_per_node={self.nproc_per_node}", "-m", "training", *args]
        if self.launcher == "python":
            return [sys.executable, "-m", "training", *args]
        raise ValueError(f"unknown training launcher {self.launcher!r} (use torchrun or python)")

    def env(self) -> dict[str, str]:
        # never hand down this process's rendezvous variables: the launcher (or the trainer) picks its own port
        rendezvous = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE"}
        keep = {k: v for k, v in os.environ.items() if k not in rendezvous}
        keep.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        return keep
