"""Training profiles of the ARP-Model: one dataclass, three named settings.

- ``cpu`` (default, what ``make demo`` trains): the packaged Gemma 3 270M, vocabulary trimmed to the series' text,
  fp32, DeepSpeed ZeRO-0 on CPU, a short schedule.
- ``quality``: the same base on a larger series, a longer schedule (the ≤ 60-minute CPU run of the benchmarks).
- ``gpu``: bf16, ZeRO-2 (``gpu_bf16_zero2.json``); for a 7–9B base use ``ds_config=zero3_offload.json``.

Every field is settable per run (the ``arp_model`` asset's run config, or ``python -m training train --set k=v``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from audiorole.dataset.dialogues import MIN_REPLY_WORDS
from training.lm.base import PACKAGED_BASE


@dataclass(frozen=True)
class ModelConfig:
    base: str = PACKAGED_BASE  # or a local AutoModelForCausalLM directory
    trim_vocab: bool = True
    max_tokens: int = 256  # per sample (context is cut from the oldest turn, then reply units)
    context_units: bool = False  # give the context turns' speech units to the LM, not only their text
    min_train_speech_s: float = 10.0  # a character with less train-split speech than this is not trained
    # replies of fewer words (backchannels: "Yeah.", "Mm-hmm.") are no train or validation targets; they stay context
    min_reply_words: int = MIN_REPLY_WORDS
    # each train reply once more without its context: who speaks must be carried by the character, not the scene
    monologues: bool = True
    # a profile of this many of the character's own train lines before the context (``training.lm.format``)
    profile_lines: int = 3
    # which validation loss picks the published checkpoint: "text" (the reply's words; what the TTS bridge speaks),
    # or "total" (text + units, dominated by the units)
    select_by: str = "text"
    ds_config: str = "cpu.json"
    max_steps: int = 80
    micro_batch: int = 4
    grad_accum: int = 1
    lr: float = 3e-4
    warmup_steps: int = 10
    eval_every: int = 20
    # validations in a row without a better model (by ``select_by``) before training stops (0: always max_steps).
    # The demo's text loss is lowest at step 20 or 40 and rises after (2.94 → 3.20; 3.08, 3.05 → 3.46), so the steps
    # after it only publish the same model; the recipes' real series still improve at step 80 and train to the end
    patience: int = 1
    # ... and "better" means lower by more than this (nats per token of the selection loss): the recipes gain
    # 0.08-0.37 per validation until they level off (Amazon Queen 60 → 80: -0.01), the demo 0.03 from step 20 to 40,
    # after which it rises; each validation more is ~110 s of the demo's 20 minutes
    min_delta: float = 0.05
    save_every: int = 40
    keep_checkpoints: int = 1
    seed: int = 0
    threads: int = 0


PROFILES = {
    "cpu": ModelConfig(),
    "quality": ModelConfig(max_steps=600, eval_every=50, save_every=50, warmup_steps=30, patience=3),
    "gpu": ModelConfig(ds_config="gpu_bf16_zero2.json", max_steps=2000, micro_batch=16, eval_every=200,
                       save_every=200, patience=3, warmup_steps=100, trim_vocab=False, max_tokens=1024),
}


def profile(name: str = "cpu", **overrides) -> ModelConfig:
    try:
        base = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown training profile {name!r} (use {', '.join(PROFILES)})") from None
    return replace(base, **overrides)
