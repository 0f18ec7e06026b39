"""The ARP-Model stages of a series, downstream of its dialogues: speech tokenizer → speech decoder and speech LM;
each declared once (``audiorole.stage.Stage``) and run by ``run_<stage>``. Where they write: ``audiorole.store``
(``models/<series key>/<stage>/``). The replies to ARP-Eval's test set are evaluation's (``evaluation.replies``):
it drives the trained model through this package's public API (``training.RolePlayModel``).

One speech LM per series, conditioned on the character (a character token + name in the prompt): the six demo
characters have ~20 s of train speech each, too little for six separate models, and one DeepSpeed run amortizes the
base model's load; each character still gets its own row (validation loss, train samples, replies).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiorole.audio import SAMPLE_RATE, load_audio
from audiorole.dataset import stages as dataset
from audiorole.dataset.characters import OTHER
from audiorole.dataset.dialogues import n_words, speaker_name
from audiorole.io import atomic_path, replace_dir, write_json_atomic, write_parquet_atomic
from audiorole.segments.stages import analysis_audio_path
from audiorole.stage import Stage, StageResult, stale
from audiorole.store import DataStore
from training.config import ModelConfig
from training.decoder import DecoderConfig, Inventory, UnitSelectionDecoder, load_decoder
from training.decoder.convert import fit_series_voices, save_converters
from training.lm.base import resolve_base_dir
from training.lm.format import Turn, pick_profile, profile_lines, training_sample
from training.lm.model import BASE_TOKENIZER_DIR
from training.lm.train import TrainSpec, read_history, train
from training.lm.vocab import SpeechVocab
from training.schema import CHARACTER_MODEL_SCHEMA
from training.tokenizer import TokenizerConfig, UnitTokenizer, load_tokenizer, units_for_span

_SERIES = dict(scope="series")
SPEECH_TOKENIZER = Stage("speech_tokenizer", stamp="tokenizer", version="1", **_SERIES, folder="models/tokenizer",
                         outputs=("tokenizer.json", "codebook.npz"), upstream=("dialogues",))
# 3: context-aware target cost, candidates chosen per position
# 4: + each voice's conversion from the TTS bridge's voice (convert/<voice>.npz)
# 5: the conversion keeps 40 envelope coefficients and the voice's global variance
# 6: the conversion's frame pairs realigned through its first fit
# 7: the conversion speaks at the voice's speaking rate (its tempo against the bridge voice's)
# 8: the series' voices' conversions learned together, the series' mapping each one's prior
# 9: a conversion speaks with the voice's own recorded excitation (``training.decoder.excitation``)
# 10: a conversion's envelope is the mean of the mixture's and a context network's (``training.decoder.mapping``)
SPEECH_DECODER = Stage("speech_decoder", stamp="decoder", version="10", **_SERIES, folder="models/decoder",
                       outputs=("decoder.json", "unit_distances.npy"), upstream=("speech_tokenizer",))
#: The ARP-Model reads the tokenizer's units and the dialogues (context → reply); not the shards, which are the
#: dataset's export for other trainers.
ARP_MODEL = Stage("arp_model", stamp="lm", version="1", **_SERIES, folder="models/lm",
                  outputs=("model/config.json", "model/vocab.json", "characters.json"),
                  upstream=("speech_tokenizer", "dialogues"))


PROFILES_FILE = "profiles.json"


def _episode_file(key: str) -> str:
    return key.split("/", 1)[1] + ".npy"


# the series' data ---------------------------------------------------------------------------------------------------
def series_data(store: DataStore, series_key: str) -> tuple[dict[str, str], list[dict], list[dict]]:
    """(episode → split, kept main-character segments with times, dialogue records) of a built series."""
    if dataset.DIALOGUES.read_stamp(store, series_key) is None:
        raise RuntimeError(f"{series_key}: the series' dialogues have not been materialized yet")
    folder = store.series_dir(series_key)
    splits = {r["episode_key"]: r["split"] for r in pq.read_table(folder / "splits.parquet").to_pylist()}
    keys = dataset.CHARACTERS.read_stamp(store, series_key)["episodes"]
    segs = [r for r in dataset.segments_with_characters(store, series_key, keys)
            if r["keep"] and r["character"] and r["character"] != OTHER]
    dialogues = pq.read_table(folder / "dialogues.parquet").to_pylist()
    return splits, segs, dialogues


# speech tokenizer ---------------------------------------------------------------------------------------------------
def tokenizer_inputs(config: TokenizerConfig) -> list:
    return [asdict(config)]


def run_speech_tokenizer(store: DataStore, series_key: str, *, config: TokenizerConfig = TokenizerConfig(),
                         encoder=None, force: bool = False) -> StageResult:
    """Encode every episode of the series, learn the codebook on the train split's kept speech, write the units of
    every episode (so any utterance's units are a slice)."""
    return SPEECH_TOKENIZER.run(store, series_key, tokenizer_inputs(config),
                                lambda out: _tokenizer(store, series_key, config, encoder, out), force=force)


def _tokenizer(store: DataStore, series_key: str, config: TokenizerConfig, encoder, out: Path) -> dict:
    splits, segs, _ = series_data(store, series_key)
    tok = UnitTokenizer(config, encoder)
    rate = config.unit_rate_hz
    feats = {ep: tok.features(load_audio(analysis_audio_path(store, ep))) for ep in sorted(splits)}
    train = [feats[s["episode_key"]][int(s["start_s"] * rate):int(np.ceil(s["end_s"] * rate))]
             for s in segs if splits.get(s["episode_key"]) == "train"]
    train = [f for f in train if len(f)]
    if not train:
        raise RuntimeError(f"{series_key}: the train split has no kept speech of a main character to learn units from")
    fit = tok.fit(train)
    tok.save(out)
    for ep, f in feats.items():
        with atomic_path(out / "units" / _episode_file(ep)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, tok.quantize(f).astype(np.int16))
    return {**fit, "unit_rate_hz": rate, "episodes": sorted(feats),
            "train_seconds": round(sum(map(len, train)) / rate, 1), "encoder": config.encoder}


def episode_units(store: DataStore, series_key: str, episode_key: str) -> np.ndarray:
    path = store.model_dir(series_key, "tokenizer") / "units" / _episode_file(episode_key)
    return np.load(path).astype(np.int32)


def span_units(store: DataStore, series_key: str, rate_hz: float):
    """``units(episode_key, start_s, end_s)`` → the units of that span; each episode's units are read once."""
    cache: dict[str, np.ndarray] = {}

    def units(episode_key: str, start_s: float, end_s: float) -> list[int]:
        if episode_key not in cache:
            cache[episode_key] = episode_units(store, series_key, episode_key)
        return units_for_span(cache[episode_key], start_s, end_s, rate_hz).tolist()

    return units


# speech decoder -----------------------------------------------------------------------------------------------------
def decoder_inputs(config: DecoderConfig, language: str = "en") -> list:
    """The config; for a series in another language than English, the language and the voice its conversions learn
    from (which depends on what is installed: a Festival voice installed later makes the decoder stale)."""
    from audiorole.segments.language import language_inputs

    inputs: list = [asdict(config), *language_inputs(language)]
    if len(inputs) == 1 or not config.conversion:
        return inputs
    from training.bridge import BridgeUnavailable, bridge_voice

    try:
        voice = bridge_voice(language)
    except BridgeUnavailable:
        voice = None
    return [*inputs, voice]


def run_speech_decoder(store: DataStore, series_key: str, *, config: DecoderConfig = DecoderConfig(),
                       language: str = "en", force: bool = False) -> StageResult:
    """One unit inventory per main character, from their kept train-split utterances; and (``config.conversion``)
    one voice conversion from the TTS bridge's voice for the series' ``language``, learned on the same utterances
    read by that voice."""
    return SPEECH_DECODER.run(store, series_key, decoder_inputs(config, language),
                              lambda out: _decoder(store, series_key, config, language, out), force=force)


def _train_episodes(store: DataStore, splits: dict, segs: list[dict]):
    """(episode key, its analysis audio, its segments) of every train-split episode, one at a time."""
    by_episode: dict[str, list[dict]] = {}
    for s in segs:
        if splits.get(s["episode_key"]) == "train":
            by_episode.setdefault(s["episode_key"], []).append(s)
    for ep in sorted(by_episode):
        yield ep, load_audio(analysis_audio_path(store, ep)), by_episode[ep]


def _add_said(said: dict[str, list], seg: dict, wav: np.ndarray) -> None:
    if (seg.get("text") or "").strip():
        said.setdefault(seg["character_key"], []).append(
            (seg["text"], wav[int(seg["start_s"] * SAMPLE_RATE):int(seg["end_s"] * SAMPLE_RATE)]))


def conversion_lines(store: DataStore, series_key: str) -> dict[str, list[tuple[str, np.ndarray]]]:
    """voice → (text, its recording, 16 kHz) of each kept train-split segment with text: the parallel speech the
    speech decoder's conversions learn from."""
    splits, segs, _ = series_data(store, series_key)
    said: dict[str, list] = {}
    for _, wav, ep_segs in _train_episodes(store, splits, segs):
        for s in ep_segs:
            _add_said(said, s, wav)
    return said


def _decoder(store: DataStore, series_key: str, config: DecoderConfig, language: str,
             out: Path) -> tuple[dict, list[str]]:
    tok = load_tokenizer(store.model_dir(series_key, "tokenizer"))
    rate, spu = tok.config.unit_rate_hz, tok.config.samples_per_unit
    splits, segs, _ = series_data(store, series_key)
    dec = UnitSelectionDecoder(tok.unit_distances(), spu, config)
    pieces: dict[str, list] = {}
    said: dict[str, list] = {}  # voice → (text, its recording): the conversion's parallel speech
    for ep, wav, ep_segs in _train_episodes(store, splits, segs):
        units = episode_units(store, series_key, ep)
        for s in ep_segs:
            a = int(np.floor(s["start_s"] * rate))
            u = units_for_span(units, s["start_s"], s["end_s"], rate)
            pieces.setdefault(s["character_key"], []).append((u, wav[a * spu:(a + len(u)) * spu]))
            _add_said(said, s, wav)
    warnings, voices = [], {}
    for key, p in sorted(pieces.items()):
        inv = Inventory.from_pieces(p, spu)
        try:
            dec.add_voice(key, inv)
            voices[key] = round(inv.seconds, 1)
        except ValueError as err:
            warnings.append(str(err))
    if not dec.voices:
        raise RuntimeError(f"{series_key}: no character has enough train speech for the decoder; " + "; ".join(warnings))
    converted, rates, measured, excitation, source = {}, {}, {}, {}, None
    if config.conversion:
        from training.bridge import BridgeUnavailable, bridge_voice

        cfg = config.conversion_config()
        try:
            source = bridge_voice(language)
        except BridgeUnavailable as err:
            warnings.append(f"{series_key}: no voice conversion (replies can speak the LM's units only): {err}")
        lines = {key: said.get(key, []) for key in dec.voices}
        convs, refused = fit_series_voices(lines, cfg, source) if source else ({}, {})
        warnings += [f"{key}: no voice conversion from {source}: {why}" for key, why in refused.items()]
        save_converters(convs, out)
        for key, conv in convs.items():
            converted[key], rates[key], measured[key] = conv.parallel_s, conv.tempo, conv.measured_tempo
            if conv.excitation is not None:
                excitation[key] = round(conv.excitation.seconds, 1)
    dec.save(out)
    # speaking_rates: as the conversions apply them (within ConversionConfig.tempo_bounds); measured: before the bounds
    return {"voices": voices, "converted_voices": converted, "speaking_rates": rates,
            "measured_speaking_rates": measured, "excitation_s": excitation, "bridge_voice": source,
            "skipped": warnings, "samples_per_unit": spu}, warnings


# speech LM ----------------------------------------------------------------------------------------------------------
def lm_inputs(config: ModelConfig) -> list:
    return [asdict(config)]


def lm_records(store: DataStore, series_key: str, config: ModelConfig) -> tuple[list[dict], list[dict], list[str]]:
    """(samples as plain records, one row per main character, warnings). A character with less train speech than
    ``min_train_speech_s`` is left out of training, with a warning naming it and the amount."""

    splits, segs, dialogues = series_data(store, series_key)
    rate = load_tokenizer(store.model_dir(series_key, "tokenizer")).config.unit_rate_hz
    names = {s["character_key"]: s["character"] for s in segs}
    train = dataset.train_speech(store, series_key)
    speech = {k: train.get(k, 0.0) for k in names}
    trained = {k for k, v in speech.items() if v >= config.min_train_speech_s}
    warnings = [f"{names[k]}: {speech[k]:.1f} s of train-split speech, {config.min_train_speech_s:.0f} s needed to "
                "train; left out" for k in sorted(set(names) - trained)]
    units = span_units(store, series_key, rate)

    records = []
    for d in dialogues:
        if d["character_key"] not in trained or d["split"] not in ("train", "validation"):
            continue
        r = d["reply"]
        if n_words(r["text"]) < config.min_reply_words:  # a backchannel: context of other replies, never a target
            continue
        context = [Turn(speaker_name(t), t["text"] or "", units(d["episode_key"], t["start_s"], t["end_s"]))
                   for t in d["context"]]
        records.append({"split": d["split"], "dialogue_id": d["dialogue_id"], "character_key": d["character_key"],
                        "character": d["character"], "context": context, "reply_text": r["text"] or "",
                        "reply_units": units(d["episode_key"], r["start_s"], r["end_s"])})
        if config.monologues and d["split"] == "train" and context:
            records.append({**records[-1], "dialogue_id": d["dialogue_id"] + "#alone", "context": []})
    lines = profile_lines(records)
    for r in records:
        r["profile"] = pick_profile(lines.get(r["character_key"], []), config.profile_lines,
                                    f"{config.seed}/{r['dialogue_id']}", leave_out=r["reply_text"])
    rows = []
    for k in sorted(names):
        rows.append({"series_key": series_key, "character": names[k], "character_key": k, "trained": k in trained,
                     "why_not": None if k in trained else f"{speech[k]:.1f} s of train speech < {config.min_train_speech_s} s",
                     "train_speech_s": round(speech[k], 2),
                     "n_train_samples": sum(r["character_key"] == k and r["split"] == "train"
                                            and not r["dialogue_id"].endswith("#alone") for r in records),
                     "n_val_samples": sum(r["character_key"] == k and r["split"] == "validation" for r in records)})
    return records, rows, warnings


def prepare_lm(store: DataStore, series_key: str, title: str, config: ModelConfig, *, cache_dir: str | Path | None = None,
               fresh: bool = False, fp: str | None = None):
    """Resolve the base model, build the vocabulary and the tokenized samples; returns (TrainSpec, rows, warnings)."""
    from transformers import AutoTokenizer

    out = store.model_dir(series_key, "lm")
    base_dir = resolve_base_dir(config.base, cache_dir or store.base_model_cache)
    records, rows, warnings = lm_records(store, series_key, config)
    if not any(r["split"] == "train" for r in records):
        raise RuntimeError(f"{series_key}: no character has enough train-split speech to train a model ("
                           + "; ".join(warnings) + ")")
    tok = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
    n_units = load_tokenizer(store.model_dir(series_key, "tokenizer")).config.codebook_size
    chars = {r["character_key"]: r["character"] for r in rows if r["trained"]}
    texts = [title] + [r["reply_text"] for r in records] + [t.text for r in records for t in r["context"]] \
        + [t.speaker for r in records for t in r["context"]]
    vocab = SpeechVocab.build(tok, texts, n_units, chars, trim=config.trim_vocab)
    vocab_dir = out / "vocab"
    vocab_dir.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(vocab_dir / BASE_TOKENIZER_DIR))
    vocab.save(vocab_dir)
    with atomic_path(out / "samples.jsonl") as tmp, open(tmp, "w") as f:
        for r in records:
            s = training_sample(vocab, title, r["character_key"], r["character"], r["context"], r["reply_text"],
                                r["reply_units"], max_tokens=config.max_tokens, context_units=config.context_units,
                                profile=r["profile"])
            f.write(json.dumps({"split": r["split"], "character_key": r["character_key"],
                                "dialogue_id": r["dialogue_id"], **s}) + "\n")
    shared = {f.name: getattr(config, f.name) for f in fields(TrainSpec) if hasattr(config, f.name)}
    spec = TrainSpec(out_dir=str(out), base_dir=str(base_dir), samples_path=str(out / "samples.jsonl"),
                     vocab_dir=str(vocab_dir), fresh=fresh, **shared,
                     extra={"series_key": series_key, "title": title, "vocab_size": vocab.size,
                            "context_units": config.context_units,
                            "fingerprint": fp or ARP_MODEL.fingerprint(store, series_key, lm_inputs(config))})
    write_json_atomic(out / "spec.json", asdict(spec))
    # the lines a reply's profile is drawn from at inference (``training.roleplay``)
    write_json_atomic(out / PROFILES_FILE, {"n": config.profile_lines, "lines": profile_lines(records)})
    return spec, rows, warnings


def plot_losses(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    ax.plot([h["step"] for h in history], [h["train_loss"] for h in history], label="train", lw=1)
    val = [h for h in history if h.get("val_loss") is not None]
    if val:
        ax.plot([h["step"] for h in val], [h["val_loss"] for h in val], "o-", label="validation")
    ax.set_xlabel("optimizer step"), ax.set_ylabel("loss (nats / token)"), ax.legend(), ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def finish_lm(store: DataStore, series_key: str, result: dict, rows: list[dict], warnings: list[str]) -> dict:
    """Publish the best checkpoint as ``lm/model`` (a rename), the loss plot and the per-character rows."""

    out = store.model_dir(series_key, "lm")
    target = replace_dir(out / "best", out / "model")
    history = read_history(out)
    plot_losses(history, out / "loss.png")
    by_char = result.get("val_by_character") or {}
    for r in rows:
        r["val_loss"] = by_char.get(r["character_key"]) if r["trained"] else None
        r["steps"] = result["steps"] if r["trained"] else 0
        r["model_dir"] = str(target) if r["trained"] else None
    write_parquet_atomic(out / "characters.parquet", pa.Table.from_pylist(rows, schema=CHARACTER_MODEL_SCHEMA))
    write_json_atomic(out / "characters.json", rows)
    facts = {k: v for k, v in result.items() if k != "spec"}
    facts.update(model_dir=str(target), loss_plot=str(out / "loss.png"), warnings=warnings,
                 characters=[r["character"] for r in rows if r["trained"]])
    write_json_atomic(out / "result.json", facts)
    return facts


def run_lm(store: DataStore, series_key: str, title: str, config: ModelConfig, *, reporter=None, fresh: bool = False,
           cache_dir=None) -> StageResult:
    """Prepare, train (DeepSpeed, resuming from a checkpoint if one exists), publish. Runs where it is called: in
    the Pipes subprocess under Dagster, or standalone (``python -m training train``)."""

    def compute(out: Path) -> tuple[dict, list[str]]:
        t0 = time.perf_counter()
        spec, rows, warnings = prepare_lm(store, series_key, title, config, cache_dir=cache_dir, fresh=fresh)
        for w in warnings:
            (reporter.log if reporter else print)(f"warning: {w}")
        facts = finish_lm(store, series_key, train(spec, reporter), rows, warnings)
        facts["wall_s"] = round(time.perf_counter() - t0, 1)
        return facts, warnings

    return ARP_MODEL.run(store, series_key, lm_inputs(config), compute, force=fresh)


def lm_metadata(facts: dict) -> dict:
    """Pipes-style metadata ({raw_value, type}) of a trained model. What a curator reads on the materialization: figures, the loss curve, where the model is."""
    import base64
    from pathlib import Path

    rows = facts.get("val_by_character") or {}
    table = "| character | validation loss |\n|---|---|\n" + "\n".join(
        f"| {k} | {v:.3f} |" for k, v in rows.items() if v is not None)
    png = Path(facts["loss_plot"])
    plot = f"![loss curve](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})" if png.exists() else ""
    return {
        "steps": facts["steps"], "tokens": facts["tokens"], "best_step": facts["best_step"],
        "stopped_early": facts.get("stopped_early_at") is not None, "best_val_loss": facts["best_val_loss"],
        "val_text_loss": facts["val_text_loss"],
        "val_unit_loss": facts["val_unit_loss"], "train_loss": facts["train_loss"],
        "tokens_per_s": facts["tokens_per_s_this_run"], "wall_s": facts.get("wall_s"),
        "resumed_from_steps": {"raw_value": facts["resumed_from"], "type": "json"},
        "n_parameters": facts["n_parameters"], "vocab_size": facts["vocab_size"], "precision": facts["precision"],
        "zero_stage": facts["zero_stage"], "n_train_samples": facts["n_train_samples"],
        "n_val_samples": facts["n_val_samples"],
        "characters_trained": {"raw_value": facts["characters"], "type": "json"},
        "warnings": {"raw_value": "\n".join(f"- {w}" for w in facts["warnings"]) or "none", "type": "md"},
        "model_dir": {"raw_value": facts["model_dir"], "type": "path"},
        "loss_curve": {"raw_value": plot + "\n\n" + table, "type": "md"},
    }


def character_models(store: DataStore, series_key: str) -> list[dict]:
    path = store.model_dir(series_key, "lm") / "characters.json"
    return json.loads(path.read_text()) if path.exists() else []


def decoder_for(store: DataStore, series_key: str):
    return load_decoder(store.model_dir(series_key, "decoder"))


# what would run -------------------------------------------------------------------------------------------------------
MODEL_STAGES = (SPEECH_TOKENIZER, SPEECH_DECODER, ARP_MODEL)


@dataclass(frozen=True)
class ModelParams:
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)


def stale_model(store: DataStore, series_key: str, params: ModelParams = ModelParams(),
                language: str = "en") -> list[str]:
    """The series' model stages that would run, in DAG order."""
    return stale(store, [(SPEECH_TOKENIZER, series_key, lambda: tokenizer_inputs(params.tokenizer)),
                         (SPEECH_DECODER, series_key, lambda: decoder_inputs(params.decoder, language)),
                         (ARP_MODEL, series_key, lambda: lm_inputs(params.model))])
