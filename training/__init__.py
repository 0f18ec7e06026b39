"""ARP-Model: character-conditioned speech LMs trained with DeepSpeed on a series' dialogues.

Sub-packages follow the model's parts: ``tokenizer`` (audio → units), ``lm`` (vocabulary, sample format, base
model, DeepSpeed loop), ``decoder`` (units → the character's voice); ``stages`` holds the series-level stages the
Dagster assets call, ``roleplay`` the inference API. ``python -m training`` trains standalone or under Pipes.

What this module exports is the package's public API: what ARP-Eval (``evaluation``) drives the model under test
and builds its baselines with. An import-linter contract keeps evaluation from reaching past it.
"""

from training.decoder import Inventory, UnitSelectionDecoder
from training.lm.base import load_base, resolve_base_dir
from training.lm.format import Turn
from training.roleplay import NO_REPEAT_NGRAM, PERSONA_GUIDANCE, Reply, RolePlayModel, parse_context
from training.stages import (
    ARP_MODEL, SPEECH_DECODER, SPEECH_TOKENIZER, character_models, decoder_for, episode_units, series_data, span_units,
)
from training.tokenizer import load_tokenizer, units_for_span

__all__ = [
    "ARP_MODEL", "NO_REPEAT_NGRAM", "PERSONA_GUIDANCE", "SPEECH_DECODER", "SPEECH_TOKENIZER", "Inventory", "Reply",
    "RolePlayModel", "Turn", "UnitSelectionDecoder", "character_models", "decoder_for", "episode_units", "load_base", "load_tokenizer",
    "parse_context", "resolve_base_dir", "series_data", "span_units", "units_for_span",
]
