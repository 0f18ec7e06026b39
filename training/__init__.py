"""ARP-Model: character-conditioned speech LMs trained with DeepSpeed on a series' dialogues.

Sub-packages follow the model's parts: ``tokenizer`` (audio → units), ``lm`` (vocabulary, sample format, base
model, DeepSpeed loop), ``decoder`` (units → the character's voice); ``stages`` holds the series-level stages the
Dagster assets call, ``roleplay`` the inference API. ``python -m training`` trains standalone or under Pipes.
"""

from training.lm.format import Turn
from training.roleplay import Reply, RolePlayModel, parse_context

__all__ = ["Turn", "Reply", "RolePlayModel", "parse_context"]
