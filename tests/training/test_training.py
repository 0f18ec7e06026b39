"""ARP-Model: speech tokenizer, decoder, vocabulary, base-model checks, the DeepSpeed loop (kill + resume), and the
training assets materialized through Dagster Pipes on the short demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audiorole.audio import SAMPLE_RATE, load_audio

REAL = Path(__import__("pyannote.audio").audio.__file__).parent / "sample" / "sample.wav"


@pytest.fixture(autouse=True)
def _rendezvous_env_does_not_leak(monkeypatch):
    """``train()`` in this process sets the rendezvous variables (MASTER_PORT, ...) in ``os.environ``; they are
    undone after each test, so a trainer started later from here (``{**os.environ}``) picks a free port of its own
    whatever ran before it in this process."""
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def whisper_tokenizer():
    """A unit tokenizer (packaged tiny.en encoder, 32 units) fitted on the real two-speaker recording."""
    from training.tokenizer import TokenizerConfig, UnitTokenizer

    tok = UnitTokenizer(TokenizerConfig(codebook_size=32))
    wav = load_audio(REAL)
    tok.fit([tok.features(wav)])
    return tok, wav


# speech tokenizer ---------------------------------------------------------------------------------------------------
def test_tokenizer_units_have_the_unit_rate_and_round_trip_through_disk(whisper_tokenizer, tmp_path):
    from training.tokenizer import load_tokenizer, units_for_span

    tok, wav = whisper_tokenizer
    units = tok.units(wav)
    assert len(units) == int(np.ceil(np.ceil(len(wav) / 320) / 4))  # 12.5 Hz: one unit per 1280 samples
    assert units.min() >= 0 and units.max() < 32
    assert len(np.unique(units)) > 16  # speech uses many units, not one
    tok.save(tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok", encoder=tok.encoder)
    assert np.array_equal(again.units(wav), units)
    # a span's units are a slice of the whole recording's: 2 s → 25 units
    assert len(units_for_span(units, 4.0, 6.0, tok.config.unit_rate_hz)) == 25
    # a 30 s window boundary does not disturb frames: a long recording encodes frame-aligned with its parts
    long = np.concatenate([wav, wav])
    assert len(tok.encoder.encode(long)) == int(np.ceil(len(long) / 320))


def test_corrupt_or_missing_tokenizer_is_a_clear_error(tmp_path):
    from training.tokenizer import load_tokenizer

    with pytest.raises(FileNotFoundError, match="not a trained speech tokenizer"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"codebook_size": 8}))
    (tmp_path / "codebook.npz").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="corrupt speech tokenizer"):
        load_tokenizer(tmp_path)


def test_hf_speech_encoder_loads_from_a_local_directory(tmp_path):
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    from training.tokenizer import HFFeatureEncoder, TokenizerConfig, build_encoder

    cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    HubertModel(cfg).save_pretrained(tmp_path / "hubert")
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(tmp_path / "hubert")
    enc = build_encoder(TokenizerConfig(encoder="hf", model_dir=str(tmp_path / "hubert"), layer=1))
    wav = load_audio(REAL)[: 3 * SAMPLE_RATE]
    assert enc.encode(wav).shape == (150, 32)
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="not a speech encoder"):
        HFFeatureEncoder(str(tmp_path / "bert"))


# speech decoder -----------------------------------------------------------------------------------------------------
def test_decoder_output_length_and_exact_resynthesis_of_its_own_recording(whisper_tokenizer, tmp_path):
    from training.decoder import DecoderConfig, Inventory, UnitSelectionDecoder, load_decoder

    tok, wav = whisper_tokenizer
    spu = tok.config.samples_per_unit
    units = tok.units(wav)
    dec = UnitSelectionDecoder(tok.unit_distances(), spu, DecoderConfig())
    dec.add_voice("speaker", Inventory.from_pieces([(units, wav)], spu))
    # the units of a stretch of the recording select that very stretch: consecutive frames, no join paid
    piece = units[40:90]
    path = dec.select(piece, "speaker")
    assert np.array_equal(path, np.arange(40, 90))
    out = dec.synthesize(piece, "speaker")
    assert len(out) == len(piece) * spu
    assert np.allclose(out, wav[40 * spu:90 * spu], atol=1e-4)
    # an arbitrary unit sequence still gives audio of the right length
    rnd = np.random.default_rng(0).integers(0, 32, 37)
    assert len(dec.synthesize(rnd, "speaker")) == 37 * spu
    dec.save(tmp_path / "dec")
    again = load_decoder(tmp_path / "dec")
    assert np.allclose(again.synthesize(piece, "speaker"), out, atol=1e-3)
    with pytest.raises(KeyError, match="no voice 'nobody'"):
        dec.synthesize(piece, "nobody")
    with pytest.raises(ValueError, match="at least 5 s"):
        dec.add_voice("short", Inventory.from_pieces([(units[:20], wav[: 20 * spu])], spu))


def _toy_decoder(voices: dict[str, list[int]], **config):
    """A decoder over units 0..9 whose codeword distances are |a - b| (3 and 7 are near 2 and 8, far from 0 and 9),
    each voice one recording of the given units; each frame's audio is a constant = its position (to read it back)."""
    from training.decoder import DecoderConfig, Inventory, UnitSelectionDecoder

    dist = np.abs(np.subtract.outer(np.arange(10), np.arange(10))).astype(np.float32)
    dec = UnitSelectionDecoder(dist, 4, DecoderConfig(min_inventory_s=0, crossfade_ms=0, **config))
    for name, units in voices.items():
        dec.add_voice(name, Inventory.from_pieces([(units, np.repeat(np.arange(len(units)), 4).astype(np.float32))], 4))
    return dec


def test_decoder_context_cost_picks_the_frame_whose_recorded_neighbours_match():
    # unit 5 was recorded twice: between 0 and 9 (frame 1), and between 2 and 8 (frame 5)
    voices = {"v": [0, 5, 9, 9, 2, 5, 8, 0]}
    dec = _toy_decoder(voices, context_weight=0.5, join_cost=0.0)  # no reward for runs: the neighbours alone decide
    # asked for 3 5 7 (near 2 5 8): the 5 recorded between 2 and 8 fits; for 1 5 9, the one between 0 and 9
    assert dec.select(np.array([3, 5, 7]), "v")[1] == 5
    assert dec.select(np.array([1, 5, 9]), "v")[1] == 1


def test_decoder_borrows_other_voices_frames_only_when_allowed_and_prefers_its_own():
    voices = {"own": [0, 1, 2, 3, 4] * 3, "other": [9, 8, 7, 6, 5] * 3}
    own_only = _toy_decoder(voices)
    query = np.array([1, 2, 3, 8, 8])  # the voice never recorded an 8
    assert own_only.own_share(own_only.select(query, "own"), "own") == 1.0
    lend = _toy_decoder(voices, other_voice_cost=0.5)
    path = lend.select(query, "own")
    assert lend.own_share(path, "own") == pytest.approx(3 / 5)  # 1 2 3 its own, the 8s borrowed
    assert lend.synthesize(query, "own").shape == (5 * 4,)
    # what the voice has, it says itself even when others have it too
    assert lend.own_share(lend.select(np.array([0, 1, 2, 3, 4]), "own"), "own") == 1.0


# vocabulary and base model ------------------------------------------------------------------------------------------
def test_trimmed_vocabulary_round_trips_any_text_and_keeps_token_kinds_apart(tiny_lm):
    from transformers import AutoTokenizer

    from training.lm.vocab import SpeechVocab

    tok = AutoTokenizer.from_pretrained(str(tiny_lm), local_files_only=True)
    vocab = SpeechVocab.build(tok, ["Where were you last night?", "Not on my watch!"], 64, {"maggie-chen": "Maggie Chen"})
    assert vocab.size < 2000 < len(tok)  # trimmed from 262k
    for text in ["Where were you last night?", "Zyxwv quokka café 老友记 🙂"]:  # the second is out of vocabulary
        assert vocab.decode_text(vocab.encode_text(text)) == text
    ids = vocab.encode_text("Not on my watch!") + [vocab.unit(0), vocab.unit(63), vocab.character("maggie-chen")]
    assert len(set(ids[-3:])) == 3 and vocab.units_of(ids) == [0, 63]
    assert vocab.decode_text(ids) == "Not on my watch!"
    half = vocab.encode_text("é")  # out of vocabulary: two byte tokens; one alone is no character
    assert len(half) == 2 and vocab.decode_text(vocab.encode_text("Zyxwv") + half[:1] + vocab.encode_text(" quokka")) \
        == "Zyxwv quokka"
    with pytest.raises(KeyError, match="not in this model"):
        vocab.character("walt")


def test_a_prompt_carries_the_characters_profile_never_the_reply_it_teaches(tiny_lm):
    """The profile (a few of the character's train lines, before the context) is drawn per sample by seed, leaves
    out the reply that sample teaches, and is absent when asked for none."""
    from transformers import AutoTokenizer

    from training.lm.format import Turn, pick_profile, profile_lines, prompt_ids, training_sample
    from training.lm.vocab import SpeechVocab

    records = [{"split": sp, "character_key": k, "reply_text": t} for sp, k, t in [
        ("train", "walt", "Mark my words, it will rain."), ("train", "walt", "Put the kettle on, would you?"),
        ("train", "walt", "My knees can feel the frost."), ("train", "walt", "Yeah."),  # too short to stand for him
        ("validation", "walt", "Nobody writes letters anymore."), ("train", "ann", "Let me run the numbers.")]]
    lines = profile_lines(records)
    assert lines == {"walt": ["Mark my words, it will rain.", "Put the kettle on, would you?",
                              "My knees can feel the frost."], "ann": ["Let me run the numbers."]}
    picked = pick_profile(lines["walt"], 2, "0/d1", leave_out="Mark my words, it will rain.")
    assert len(picked) == 2 and "Mark my words, it will rain." not in picked
    assert picked == pick_profile(lines["walt"], 2, "0/d1", leave_out="Mark my words, it will rain.")
    assert pick_profile(lines["walt"], 0, "0/d1") == [] and pick_profile([], 3, "x") == []
    tok = AutoTokenizer.from_pretrained(str(tiny_lm), local_files_only=True)
    vocab = SpeechVocab.build(tok, lines["walt"] + ["Where were you?"], 8, {"walt": "Walt"})
    ctx = [Turn("Ann", "Where were you?")]
    plain = prompt_ids(vocab, "Show", "walt", "Walt", ctx)
    with_profile = prompt_ids(vocab, "Show", "walt", "Walt", ctx, profile=picked)
    text = vocab.decode_text(with_profile)
    assert all(p in text for p in picked) and text.index(picked[-1]) < text.index("Where were you?")
    assert with_profile.count(vocab.character("walt")) == 2 and plain.count(vocab.character("walt")) == 1
    sample = training_sample(vocab, "Show", "walt", "Walt", ctx, "Mark my words, it will rain.", [1, 2],
                             profile=picked)
    assert sample["input_ids"][: len(with_profile)] == with_profile


def test_base_model_directory_must_be_a_causal_lm(tmp_path, tiny_lm):
    from training.lm.base import resolve_base_dir

    assert resolve_base_dir(str(tiny_lm), tmp_path) == tiny_lm
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_base_dir(str(tmp_path / "nope"), tmp_path)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}))
    with pytest.raises(ValueError, match="not a causal LM"):
        resolve_base_dir(str(bert), tmp_path)


# the DeepSpeed loop -------------------------------------------------------------------------------------------------
def _spec(tmp_path: Path, tiny_lm: Path, max_steps: int = 8):
    from transformers import AutoTokenizer

    from training.lm.format import Turn, training_sample
    from training.lm.model import BASE_TOKENIZER_DIR
    from training.lm.train import TrainSpec
    from training.lm.vocab import SpeechVocab

    tok = AutoTokenizer.from_pretrained(str(tiny_lm), local_files_only=True)
    lines = ["Back in my day we walked everywhere.", "Not on my watch!", "Mark my words.", "Where is the coffee?"]
    vocab = SpeechVocab.build(tok, lines, 16, {"a": "Ann", "b": "Bob"})
    vocab_dir = tmp_path / "vocab"
    tok.save_pretrained(str(vocab_dir / BASE_TOKENIZER_DIR))
    vocab.save(vocab_dir)
    rng = np.random.default_rng(0)
    with open(tmp_path / "samples.jsonl", "w") as f:
        for i in range(24):
            key = "ab"[i % 2]
            s = training_sample(vocab, "Test Show", key, {"a": "Ann", "b": "Bob"}[key],
                                [Turn("Someone", lines[(i + 1) % 4])], lines[i % 4], rng.integers(0, 16, 12).tolist())
            f.write(json.dumps({"split": "validation" if i >= 20 else "train", "character_key": key, **s}) + "\n")
    spec = TrainSpec(out_dir=str(tmp_path / "lm"), base_dir=str(tiny_lm), samples_path=str(tmp_path / "samples.jsonl"),
                     vocab_dir=str(vocab_dir), max_steps=max_steps, micro_batch=2, lr=3e-3, warmup_steps=1,
                     eval_every=2, save_every=2, threads=1)
    (tmp_path / "spec.json").write_text(json.dumps(spec.__dict__))
    return spec


_RUNNER = "import sys; from training.lm.train import TrainSpec, train; train(TrainSpec.load(sys.argv[1]))"


def test_deepspeed_training_is_killed_and_resumes_to_the_same_step(tmp_path, tiny_lm):
    from training.lm.train import read_history

    _spec(tmp_path, tiny_lm, max_steps=8)
    # a fresh extensions folder: one CPU process must not compile DeepSpeed's shared-memory op (40 s of g++)
    extensions = tmp_path / "torch_extensions"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_EXTENSIONS_DIR": str(extensions)}
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(tmp_path / "spec.json")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = tmp_path / "lm" / "checkpoints" / "latest"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:  # kill it once a checkpoint exists (step 2 or later)
        if latest.exists() and latest.read_text().strip() >= "step000004":
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(latest.read_text().strip()[4:])
    assert killed_at < 8
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(tmp_path / "spec.json")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed from {tmp_path / 'lm' / 'checkpoints'}" in done.stdout
    history = read_history(tmp_path / "lm")
    assert [h["step"] for h in history] == list(range(1, 9))  # every step once, ending at 8
    assert latest.read_text().strip() == "step000008"
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # it learned something
    best = json.loads((tmp_path / "lm" / "best" / "best.json").read_text())
    assert best["step"] in {h["step"] for h in history if "val_loss" in h}
    assert set(best["val"]["by_character"]) == {"a", "b"}
    assert not extensions.exists() or not any(extensions.iterdir()), list(extensions.rglob("*"))[:5]


def test_training_stops_after_patience_validations_without_a_better_model_and_stays_stopped(tmp_path, tiny_lm,
                                                                                             monkeypatch):
    """Real DeepSpeed steps; the validation loss scripted (text loss 3, 2, then worse) so the rule is what is tested:
    validated every 2 steps with patience 2, the run stops at the second validation past the best (step 8 of 12),
    publishes the best step's model, and a rerun resumes at that stop instead of training on."""
    from training.lm import train as loop

    curve = iter([3.0, 2.0, 2.4, 2.1, 1.0, 0.5])  # one value per validation, in order
    real = loop.summarize_losses

    def scripted(per_sample):
        out = real(per_sample)
        return {**out, "text_loss": next(curve)}

    monkeypatch.setattr(loop, "summarize_losses", scripted)
    spec = loop.TrainSpec(**{**_spec(tmp_path, tiny_lm, max_steps=12).__dict__, "patience": 2, "select_by": "text",
                             "save_every": 4})
    result = loop.train(spec)
    assert result["stopped_early_at"] == 8 and result["steps"] == 8  # validations at 2, 4 (best), 6, 8
    assert result["best_step"] == 4 and result["best_val_loss"] == 2.0
    assert json.loads((tmp_path / "lm" / "best" / "best.json").read_text())["step"] == 4
    assert (tmp_path / "lm" / "checkpoints" / "latest").read_text().strip() == "step000008"
    again = loop.train(spec)  # resumed from the stop: no step runs, the same model stays published
    assert again["resumed_from"] == [8] and again["steps"] == 8 and again["stopped_early_at"] == 8
    assert [h["step"] for h in loop.read_history(tmp_path / "lm")] == list(range(1, 9))
    assert json.loads((tmp_path / "lm" / "best" / "best.json").read_text())["step"] == 4


def test_gains_below_min_delta_count_toward_patience_but_the_lowest_loss_is_published(tmp_path, tiny_lm,
                                                                                      monkeypatch):
    """Text loss 3.0, 2.98, 2.97 (each a little lower), validated every 2 steps with patience 2 and min_delta 0.05:
    the two small gains count as no gain, so the run stops at step 6 of 12, and publishes step 6's model, the lowest
    loss, not step 2's."""
    from training.lm import train as loop

    curve = iter([3.0, 2.98, 2.97, 1.0, 0.5, 0.2])
    real = loop.summarize_losses
    monkeypatch.setattr(loop, "summarize_losses", lambda per_sample: {**real(per_sample), "text_loss": next(curve)})
    spec = loop.TrainSpec(**{**_spec(tmp_path, tiny_lm, max_steps=12).__dict__, "patience": 2, "select_by": "text",
                             "min_delta": 0.05, "save_every": 4})
    result = loop.train(spec)
    assert result["stopped_early_at"] == 6 and result["steps"] == 6
    assert result["best_step"] == 6 and result["best_val_loss"] == 2.97
    assert json.loads((tmp_path / "lm" / "best" / "best.json").read_text())["step"] == 6


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, tiny_lm):
    from training.lm.train import train

    spec = _spec(tmp_path, tiny_lm, max_steps=2)
    ckpt = tmp_path / "lm" / "checkpoints"
    (ckpt / "step000002").mkdir(parents=True)
    (ckpt / "step000002" / "mp_rank_00_model_states.pt").write_bytes(b"garbage")
    (ckpt / "latest").write_text("step000002")
    (ckpt / "fingerprint").write_text(str(spec.extra.get("fingerprint")))  # this training's own checkpoint
    with pytest.raises(RuntimeError, match="checkpoint cannot be loaded.*--fresh"):
        train(spec)
    assert not (tmp_path / "lm" / "best").exists()


# the assets, through Dagster Pipes ----------------------------------------------------------------------------------
TINY_TRAINING = {
    "speech_tokenizer": {"codebook_size": 32},
    "speech_decoder": {"min_inventory_s": 1.0, "conversion_components": 2},
    "arp_model": {"max_steps": 4, "eval_every": 2, "save_every": 2, "micro_batch": 2, "min_train_speech_s": 1.0,
                  "threads": 1, "lr": 0.003},
    "arp_test_set": {"max_single_turn": 2, "max_multi_turn": 1, "min_train_speech_s": 1.0},
}


def test_training_and_eval_assets_materialize_through_pipes_and_go_stale(short_demo_run_copy, tiny_lm, monkeypatch,
                                                                        tmp_path):
    import dagster as dg

    from audiorole import catalog
    from audiorole.store import DataStore
    from audiorole_dagster.definitions import build_definitions
    from evaluation.replies import load_replies
    from training import RolePlayModel, Turn, stages
    from training.config import ModelConfig

    demo, data, _ = short_demo_run_copy
    monkeypatch.setenv("AUDIOROLE_BASE_LM_DIR", str(tiny_lm))
    monkeypatch.setenv("AUDIOROLE_TRAIN_LAUNCHER", "python")
    defs = build_definitions(str(demo.media_root), str(data))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("series", ["maple-street"])
    run_config = {"ops": {k: {"config": v} for k, v in TINY_TRAINING.items()}}
    result = defs.resolve_job_def("training_job").execute_in_process(
        partition_key="maple-street", instance=instance, run_config=run_config)
    assert result.success
    mats = {m.asset_key.path[-1]: m for m in result.asset_materializations_for_node("arp_model")}
    meta = mats["arp_model"].metadata
    assert meta["steps"].value == 4 and meta["tokens"].value > 0  # reported by the trainer through Pipes
    assert "data:image/png;base64" in meta["loss_curve"].value
    store = DataStore(data)
    rows = stages.character_models(store, "maple-street")
    # every main voice with train speech is trained; one the episode split left without any is named with the reason
    assert sum(r["trained"] for r in rows) >= 3
    assert all((r["val_loss"] is not None or r["n_val_samples"] == 0) if r["trained"] else r["why_not"] for r in rows)
    rows = [r for r in rows if r["trained"]]  # the model's characters
    # the same config again: current, skipped without launching a trainer
    again = defs.resolve_job_def("training_job").execute_in_process(
        partition_key="maple-street", instance=instance, run_config=run_config)
    meta2 = again.asset_materializations_for_node("arp_model")[0].metadata
    assert meta2["skipped_current"].value is True and meta2["steps"].value == 4
    # every decoder voice also learned its conversion from the bridge's TTS voice
    decoder_facts = stages.SPEECH_DECODER.read_stamp(store, "maple-street")
    assert set(decoder_facts["converted_voices"]) == set(decoder_facts["voices"])
    # and its speaking rate against that voice's, within the conversion's bounds
    assert set(decoder_facts["speaking_rates"]) == set(decoder_facts["voices"])
    assert all(1.0 <= r <= 1.4 for r in decoder_facts["speaking_rates"].values())
    measured = decoder_facts["measured_speaking_rates"]  # the applied rate is the measured one within the bounds
    assert all(decoder_facts["speaking_rates"][k] == pytest.approx(min(max(r, 1.0), 1.4), abs=1e-4)
               for k, r in measured.items()) and set(measured) == set(decoder_facts["speaking_rates"])
    # replies for one character: text + speech (by default the text read aloud, converted into the voice)
    key = f"maple-street/{rows[0]['character_key']}"
    instance.add_dynamic_partitions("characters", [key])
    rep = defs.resolve_job_def("replies_job").execute_in_process(partition_key=key, instance=instance)
    assert rep.success
    replies = load_replies(store, key)
    assert 1 <= len(replies) <= 3  # its samples of the test set (≤ 2 single-turn + 1 multi-turn)
    for r in replies:
        assert Path(r["audio_path"]).exists()
        assert r["duration_s"] == pytest.approx(len(load_audio(r["audio_path"])) / 16000, abs=1e-3)
        assert (r["duration_s"] > 0.3) == bool(r["reply_text"].strip())  # a text is spoken, no text is silence
    views = {r["character_key"] for r in catalog.query(data, "SELECT character_key FROM models WHERE trained")}
    assert views == {r["character_key"] for r in rows}
    model = RolePlayModel.load(data, "maple-street")
    ctx = [Turn("Someone", "Where were you?")]
    for speech in ("lm", "tts-units"):  # unit-selection speech: exactly the decoder's length for its units
        reply = model.reply(rows[0]["character"], ctx, seed=1, speech=speech)
        assert len(reply.wav) == len(reply.units) * 1280
    said = model.reply(rows[0]["character"], ctx, seed=1)
    assert said.text == reply.text and said.units == []  # same sampling, the same text; its speech needs no units
    with pytest.raises(ValueError, match="unknown speech source"):
        model.reply(rows[0]["character"], ctx, speech="telepathy")
    with pytest.raises(ValueError, match="nothing to speak"):  # a given line with no word is refused, not silence
        model.speak(rows[0]["character"], " ... ")
    _say_writes_a_whole_wav_or_none(data, rows[0]["character"], tmp_path / "said")
    _persona_guidance_weighs_the_profile(model, rows[0]["character"], ctx)
    _context_audio_reaches_a_model_trained_on_it(model, store, rows[0]["character"], monkeypatch)
    _eval_assets(defs, instance, data, replies, tmp_path)
    # the models sensor's planner: the model is current, so what is left is the other characters' replies
    cfg = ModelConfig(**{**TINY_TRAINING["arp_model"], "base": str(tiny_lm)})
    plan = _plan_models(demo, store, tiny_lm)
    assert {(s.job, s.partition_key) for s in plan} == {
        ("replies_job", f"maple-street/{r['character_key']}") for r in rows[1:]}
    # `audiorole run` executes the planner's steps (one runner loop): everything current → no training run; a changed
    # decoder setting (the LM itself still current) → the training job runs again, so the decoder and the replies follow
    from audiorole_dagster import runner
    from tests.conftest import SHORT_DEMO_DATASET_CONFIG

    ran = []
    monkeypatch.setattr(runner.Runner, "execute", lambda self, step, prefix="": ran.append(
        (step.job, step.partition_key)) or self.finished.__setitem__(step.run_key, True) or True)
    monkeypatch.setenv("AUDIOROLE_RUN_CONFIG", "")
    config = {**SHORT_DEMO_DATASET_CONFIG, **TINY_TRAINING}
    runner.run_pipeline(demo.media_root, data, only=["maple-street"], train=True, dataset_config=config,
                        echo=lambda *_: None)
    assert ("training_job", "maple-street") not in ran and ("replies_job", key) not in ran
    assert {("replies_job", f"maple-street/{r['character_key']}") for r in rows[1:]} <= set(ran)
    assert not any(job == "episode_job" for job, _ in ran), "current episodes start no run"
    _eval_names_the_replies_it_cannot_vouch_for(runner, data, key, rows)
    ran.clear()
    changed = {**config, "speech_decoder": {**TINY_TRAINING["speech_decoder"], "context_weight": 0.0}}
    runner.run_pipeline(demo.media_root, data, only=["maple-street"], train=True, dataset_config=changed,
                        echo=lambda *_: None)
    assert ran[0] == ("training_job", "maple-street")
    # the dialogues change upstream: the model is stale, and the planner asks for a training run
    assert stages.ARP_MODEL.current(store, "maple-street", stages.lm_inputs(cfg))
    stamp = data / "series" / "maple-street" / "_stamps" / "dialogues.json"
    saved = stamp.read_text()
    try:
        stamp.write_text(json.dumps({**json.loads(saved), "fingerprint": "changed"}))
        assert stages.ARP_MODEL.current(store, "maple-street", stages.lm_inputs(cfg)) is None
        assert stages.stale_model(store, "maple-street", stages.ModelParams(model=cfg)) == [
            "speech_tokenizer", "speech_decoder", "arp_model"]
    finally:
        stamp.write_text(saved)


def _eval_names_the_replies_it_cannot_vouch_for(runner, data, key: str, rows: list[dict]) -> None:
    """`audiorole eval` scores the replies on record: it names the characters that have none, and those whose
    replies a rebuilt speech decoder has made stale (scored as they are, not as the model would now reply)."""
    said = []
    runner.run_eval(data, series=["maple-street"], echo=said.append)
    others = [r["character_key"] for r in rows[1:]]
    assert any("no ARP-Model replies yet" in m and all(k in m for k in others) for m in said), said
    assert not any("older than" in m for m in said), said
    stamp = data / "models" / "maple-street" / "decoder" / "_stamps" / "decoder.json"
    saved = stamp.read_text()
    try:
        stamp.write_text(json.dumps({**json.loads(saved), "fingerprint": "refitted"}))
        said.clear()
        runner.run_eval(data, series=["maple-street"], echo=said.append)
        old = [m for m in said if "older than" in m]
        assert len(old) == 1 and key.split("/")[1] in old[0] and not any(k in old[0] for k in others), said
    finally:
        stamp.write_text(saved)
    # replies made with another sampling than the defaults are judged by their own record: current, though the
    # planner (default sampling) would make them again
    from audiorole.store import DataStore
    from evaluation import stages as ev
    from evaluation.replies import ARP_REPLIES, replies_inputs

    store = DataStore(data)
    stamp = ARP_REPLIES.dir(store, key) / "_stamps" / "replies.json"
    saved = stamp.read_text()
    try:
        sampling = {**json.loads(saved)["sampling"], "temperature": 0.3}
        made = ARP_REPLIES.fingerprint(store, key, replies_inputs(key, 7, sampling))
        stamp.write_text(json.dumps({**json.loads(saved), "seed": 7, "sampling": sampling, "fingerprint": made}))
        assert ev.stale_replies(store, key) and ev.reply_status(store, "maple-street")[key.split("/")[1]] == "current"
    finally:
        stamp.write_text(saved)


def _persona_guidance_weighs_the_profile(model, character: str, ctx) -> None:
    """With guidance the LM's text is sampled against the same prompt without the character's profile (its own
    lines): the two prompts share the context and the reply's head; without guidance nothing else is run."""
    seen = {}
    generate = model.lm.generate

    def spy(**kw):
        seen.clear()
        seen.update(kw)
        return generate(**kw)

    model.lm.generate = spy
    try:
        model.reply(character, ctx, seed=2, speech="tts-units", persona_guidance=2.0)
        ids, plain = seen["input_ids"][0].tolist(), seen["negative_prompt_ids"][0].tolist()
        assert seen["guidance_scale"] == 2.0 and len(plain) < len(ids)
        head = next(i for i, (a, b) in enumerate(zip(ids, plain)) if a != b)
        assert ids[:head] + ids[head + len(ids) - len(plain):] == plain  # the guided prompt = the plain + a profile
        who = model.vocab.character(model.character_key(character))
        assert ids.count(who) == 2 and plain.count(who) == 1  # the profile names the character; the plain one not
        model.reply(character, ctx, seed=2, speech="tts-units", persona_guidance=1.0)
        assert "negative_prompt_ids" not in seen and "guidance_scale" not in seen
    finally:
        model.lm.generate = generate


def _context_audio_reaches_a_model_trained_on_it(model, store, character, monkeypatch):
    """A model trained without ``context_units`` gets text only; one trained with them gets the turns' units (from
    ``Turn.audio``, or from the episode for the test set's replies)."""
    import training.roleplay as roleplay
    from training import Turn, stages

    seen = []
    real = roleplay.prompt_ids
    monkeypatch.setattr(roleplay, "prompt_ids", lambda *a, **k: seen.append((a[4], k)) or real(*a, **k))
    audio = np.zeros(16000, np.float32)
    audio[4000:12000] = 0.1 * np.sin(np.arange(8000) / 5)
    assert model.context_units is False
    model.reply(character, [Turn("Someone", "Hello.", audio=audio)], seed=1)
    assert seen[-1][1]["context_units"] is False and seen[-1][0][0].units is None
    model.context_units = True
    try:
        model.reply(character, [Turn("Someone", "Hello.", audio=audio)], seed=1)
    finally:
        model.context_units = False
    assert seen[-1][1]["context_units"] is True and len(seen[-1][0][0].units) == 13  # 1 s at 12.5 Hz
    d = next(d for d in stages.series_data(store, "maple-street")[2] if d["context"])
    from evaluation.replies import _context_units

    per_turn = _context_units(store, "maple-street", model)(d["dialogue_id"])
    assert [len(u) for u in per_turn] == [
        len(stages.units_for_span(np.zeros(10**5), t["start_s"], t["end_s"], 12.5)) for t in d["context"]]


def _plan_models(demo, store, tiny_lm):
    from audiorole.discovery import discover_episodes
    from audiorole_dagster.automation import InFlight, group_by_series, plan_models
    from tests.conftest import SHORT_DEMO_DATASET_CONFIG

    series = group_by_series(discover_episodes(demo.media_root)[0])
    kwargs = dict(config={**SHORT_DEMO_DATASET_CONFIG, **TINY_TRAINING}, base_model=str(tiny_lm))
    waiting = plan_models(series, store, InFlight({"maple-street": {"training_job"}}), **kwargs)
    assert waiting[1] == ["maple-street: a model run is in flight"], "one model run at a time per series"
    assert [(s.job, s.partition_key) for s in waiting[0]] == [("training_job", "pyannote-sample")], "never trained"
    steps, _ = plan_models(series, store, InFlight(), **kwargs)
    return [s for s in steps if s.partition_key.startswith("maple-street")]


def test_a_character_with_too_little_speech_is_named_and_left_out(short_demo_run_copy, tiny_lm):
    from audiorole.store import DataStore
    from training import stages
    from training.config import ModelConfig
    from training.tokenizer import TokenizerConfig

    _, data, _ = short_demo_run_copy
    store = DataStore(data)
    stages.run_speech_tokenizer(store, "maple-street", config=TokenizerConfig(codebook_size=32))  # on its own copy
    records, rows, warnings = stages.lm_records(store, "maple-street", ModelConfig(min_train_speech_s=1e6))
    assert records == [] and rows and not any(r["trained"] for r in rows)
    assert all("s of train-split speech" in w for w in warnings) and len(warnings) == len(rows)
    assert any(rows[0]["character"] in w for w in warnings)
    with pytest.raises(RuntimeError, match="no character has enough train-split speech"):
        stages.prepare_lm(store, "maple-street", "Maple Street", ModelConfig(base=str(tiny_lm), min_train_speech_s=1e6))
    # a series in a language no packaged voice reads: the decoder's voices stay, without conversions, and the
    # warning names the language (its replies can still speak the LM's units)
    from training.decoder import DecoderConfig

    result = stages.run_speech_decoder(store, "maple-street", config=DecoderConfig(min_inventory_s=1.0),
                                       language="tlh")
    facts = stages.SPEECH_DECODER.read_stamp(store, "maple-street")
    assert facts["voices"] and facts["converted_voices"] == {} and facts["bridge_voice"] is None
    assert any("'tlh'" in w for w in result.warnings)


def test_backchannels_are_context_and_never_a_reply_the_model_learns(short_demo_run_copy):
    """The demo's scenes hold backchannels ("Mm-hmm.", "No way."). As train targets they taught the model to answer
    with them (4 of one character's 5 test prompts in a fresh demo): a reply under ``min_reply_words`` words is no
    train or validation target, nor a profile line, but stays in the dataset and as the context of other replies."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audiorole.dataset.dialogues import MIN_REPLY_WORDS, n_words
    from audiorole.store import DataStore
    from training import stages
    from training.config import ModelConfig
    from training.tokenizer import TokenizerConfig

    from audiorole.dataset.dialogues import DIALOGUE_SCHEMA
    from audiorole.io import write_parquet_atomic

    _, data, _ = short_demo_run_copy
    store = DataStore(data)
    stages.run_speech_tokenizer(store, "maple-street", config=TokenizerConfig(codebook_size=32))
    path = store.series_dir("maple-street") / "dialogues.parquet"
    dialogues = pq.read_table(path).to_pylist()
    # the short demo's backchannels overlap other speech and are not kept: two train replies become backchannels
    said = sorted({d["reply"]["segment_id"] for d in dialogues if d["split"] == "train" and d["kind"] == "multi_turn"})
    short = dict(zip(said[:2], ["Mm-hmm.", "No way."]))
    for d in dialogues:
        for t in [d["reply"], *d["context"]]:
            t["text"] = short.get(t["segment_id"], t["text"])
    write_parquet_atomic(path, pa.Table.from_pylist(dialogues, DIALOGUE_SCHEMA))
    records, rows, _ = stages.lm_records(store, "maple-street", ModelConfig(min_train_speech_s=1.0))
    short = set(short.values())
    assert records and all(n_words(r["reply_text"]) >= MIN_REPLY_WORDS for r in records)
    assert all(n_words(line) >= MIN_REPLY_WORDS for r in records for line in r["profile"])
    assert any(t.text in short for r in records for t in r["context"]), "a backchannel is still context"
    everything, _, _ = stages.lm_records(store, "maple-street", ModelConfig(min_train_speech_s=1.0, min_reply_words=0))
    assert {r["reply_text"] for r in everything} - {r["reply_text"] for r in records} == short


def test_checkpoints_of_another_training_are_not_resumed(tmp_path, tiny_lm):
    from training.lm.train import TrainSpec, read_history, train

    spec = _spec(tmp_path, tiny_lm, max_steps=4)
    spec.extra["fingerprint"] = "config-a"
    train(spec)
    assert (tmp_path / "lm" / "checkpoints" / "latest").read_text().strip() == "step000004"
    other = TrainSpec(**{**spec.__dict__, "max_steps": 2, "extra": {"fingerprint": "config-b"}})
    result = train(other)  # a changed config trains from scratch instead of resuming a longer run
    assert result["steps"] == 2 and result["resumed_from"] == []
    assert [h["step"] for h in read_history(tmp_path / "lm")] == [1, 2]


def _eval_assets(defs, instance, data, replies, tmp_path):
    """ARP-Eval over the tiny model: anchors, Base and One-shot (on the tiny base), the ARP-Model's replies (one
    character answered: the others' samples are missing) and a dropped-in system with a silent and a corrupt reply."""
    import dagster as dg

    from audiorole import catalog
    from audiorole.store import DataStore
    from evaluation import stages as ev
    from evaluation.systems import write_reply

    store = DataStore(data)
    samples = ev.load_test_set(store, "maple-street")
    assert len(samples) >= 3
    drop = tmp_path / "dropped"
    write_reply(drop, samples[0]["sample_id"], "I have nothing to say", np.zeros(16000, np.float32))
    (drop / f"{samples[1]['sample_id']}.txt").write_text("broken audio")
    (drop / f"{samples[1]['sample_id']}.wav").write_bytes(b"RIFF junk")
    run_config = {"ops": {"arp_eval": {"config": {"extra_systems": {"dropped": str(drop)}, "n_bootstrap": 200}}}}
    result = defs.resolve_job_def("eval_job").execute_in_process(partition_key="maple-street", instance=instance,
                                                                 run_config=run_config)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"arp_model_beats_base_ap", "arp_model_beats_base_cp", "metrics_separate_characters",
                           "replies_current"}
    # one character answered: the UI's check names the others, whose samples are scored as missing (a warning)
    current = checks["replies_current"]
    assert not current.passed and current.severity == dg.AssetCheckSeverity.WARN
    answered = {r["character_key"] for r in replies}
    assert answered and not answered & set(current.metadata["missing"].value)
    assert set(current.metadata["missing"].value) == set(ev.reply_status(store, "maple-street")) - answered
    meta = result.asset_materializations_for_node("arp_eval")[0].metadata
    assert meta["scores"].value.records  # the per-character table, shown in the UI
    scores = ev.load_sample_scores(store, "maple-street")
    systems = {r["system"] for r in scores}
    assert systems == {"real-reply", "other-character", "arp-model", "base", "one-shot", "dropped"}
    every = [r for r in scores if r["metric"] in ("AP", "CP", "relevance", "CER", "train_sim")]
    assert len(every) == len(systems) * len(samples) * 5  # every system × sample × metric: nothing dropped
    # repetition: of each reply to its own system's for other turns (none for the anchor that reuses replies)
    assert not [r for r in scores if r["system"] == "other-character" and r["metric"] in ("self_sim", "cross_sim")]
    assert [r for r in scores if r["system"] == "real-reply" and r["metric"] == "cross_sim"]
    facts = json.loads((data / "eval" / "maple-street" / "eval.json").read_text())
    said = [r["raw"] for r in scores if r["system"] == "base" and r["metric"] == "train_sim"]
    assert facts["verbatim_train_lines"]["base"] == pytest.approx(sum(v == 1.0 for v in said) / len(said), abs=1e-4)
    arp = [r for r in scores if r["system"] == "arp-model" and r["metric"] == "CP"]
    assert sum(r["status"] == "missing" for r in arp) == len(samples) - len(replies)
    dropped = {r["sample_id"]: r for r in scores if r["system"] == "dropped" and r["metric"] == "AP"}
    assert dropped[samples[0]["sample_id"]]["status"] == "failed" and "silent" in dropped[samples[0]["sample_id"]]["problem"]
    assert "corrupt audio" in dropped[samples[1]["sample_id"]]["problem"]
    assert all(dropped[s["sample_id"]]["status"] == "missing" for s in samples[2:])
    real = [r for r in scores if r["system"] == "real-reply" and r["metric"] == "AP"]
    assert all(r["status"] == "ok" for r in real)
    # the report: plots and audio players
    html = (data / "eval" / "maple-street" / "report" / "index.html").read_text()
    assert "<audio" in html and "ap_cp.png" in html and "corrupt audio" in html
    assert "Replies that are a train line word for word: real-reply " in html
    # the report says whose replies it could not score as the current model's
    caveat = html.split("Warning:</b>", 1)[1].split("</p>", 1)[0]
    names = {s["character_key"]: s["character"] for s in samples}  # a trained character without samples: its key
    missing = [names.get(k, k) for k in current.metadata["missing"].value]
    assert "had no ARP-Model replies" in caveat and all(m in caveat for m in missing)
    assert not any(r["character"] in caveat for r in replies)
    assert (data / "eval" / "maple-street" / "report" / "ap_cp.png").stat().st_size > 1000
    rows = catalog.query(data, "SELECT DISTINCT system FROM eval_results WHERE kind = 'score'")
    assert {r["system"] for r in rows} == systems
    # idempotent: nothing changed, nothing recomputed
    again = defs.resolve_job_def("eval_job").execute_in_process(partition_key="maple-street", instance=instance,
                                                                run_config=run_config)
    assert again.asset_materializations_for_node("arp_eval")[0].metadata["skipped_current"].value is True
    assert again.asset_materializations_for_node("arp_baselines")[0].metadata["skipped_current"].value is True


def test_the_duration_prior_holds_speech_to_the_length_of_its_text():
    """Generation's logits processor: with 2 units per text token and 4 text tokens, the speech may end after 6
    units (0.8 × 2 × 4) and must end at 12 (1.5 × 2 × 4)."""
    import torch

    from training.roleplay import _ModalityMask

    class Vocab:
        size, n_text, bos, pad, first_unit, n_units = 20, 8, 0, 1, 12, 8
        _markers = {"<|speech|>": 8, "<|end_speech|>": 9, "<|end|>": 10}

        def marker(self, m):
            return self._markers[m]

    mask = _ModalityMask(Vocab(), prompt_len=0, max_units=50, max_text=16, units_per_text_token=2.0)

    def allowed(gen):
        scores = mask(torch.tensor([gen]), torch.zeros(1, 20))
        return {i for i in range(20) if scores[0, i] > -float("inf")}

    text = [3, 4, 5, 6, 8]  # four text tokens, then <|speech|>
    assert 9 not in allowed(text + [12] * 5)  # 5 units: too short to end
    assert 9 in allowed(text + [12] * 6) and 13 in allowed(text + [12] * 6)
    assert allowed(text + [12] * 12) == {9}  # 12 units: it ends now
    assert allowed(text + [12] * 6 + [9]) == {10}
    # no speaking rate known: the old bounds (3 units .. max_units)
    free = _ModalityMask(Vocab(), prompt_len=0, max_units=50, max_text=16)
    assert 9 in {i for i in range(20) if free(torch.tensor([text + [12] * 3]), torch.zeros(1, 20))[0, i] > -1e9}
    # a reply says something: <|speech|> (which ends a text-only reply) only once three text tokens are out
    assert 8 not in allowed([]) and 8 not in allowed([3, 4]) and {3, 4, 5} <= allowed([3])
    assert 8 in allowed([3, 4, 5])


def _say_writes_a_whole_wav_or_none(data, character, folder):
    """``audiorole say --text``: a given line spoken into a wav (written whole, then renamed), a line with no word a
    clear error (exit 2) and no file."""
    from audiorole.audio import load_audio
    from audiorole_dagster import cli

    args = ["say", "--data-dir", str(data), "--series", "maple-street", "--character", character]
    assert cli.main([*args, "--text", "A line nobody wrote before.", "--out", str(folder / "line.wav")]) == 0
    assert len(load_audio(folder / "line.wav")) > 0.5 * 16000
    assert cli.main([*args, "--text", " ... ", "--out", str(folder / "none.wav")]) == 2
    assert sorted(p.name for p in folder.iterdir()) == ["line.wav"]  # no empty wav, no temporary file left


def test_a_reply_says_no_ngram_twice_nor_a_word_right_after_itself_but_may_use_the_prompts():
    import torch

    from training.roleplay import _NoRepeatInReply

    proc = _NoRepeatInReply(prompt_len=3, n=2, text_vocab=10)
    prompt = [5, 6, 5]
    scores = proc(torch.tensor([prompt + [1, 2, 1]]), torch.zeros(1, 12))
    assert scores[0, 2] == -float("inf")  # "1 2" was said
    assert scores[0, 1] == -float("inf")  # "1 1"
    assert torch.isfinite(scores[0, [0, 3, 5, 6]]).all()
    scores = proc(torch.tensor([prompt + [5]]), torch.zeros(1, 12))
    assert scores[0, 5] == -float("inf") and torch.isfinite(scores[0, [0, 1, 2, 3, 4, 6, 7]]).all()  # "5 6": prompt's
    trigram = _NoRepeatInReply(prompt_len=0, n=3, text_vocab=10)  # a trigram rule alone allows "7 7 7" once
    assert trigram(torch.tensor([[7]]), torch.zeros(1, 12))[0, 7] == -float("inf")
    scores = proc(torch.tensor([prompt + [1, 2, 11, 1]]), torch.zeros(1, 12))
    assert torch.isfinite(scores).all()  # past the text (units repeat), nothing is banned


def test_a_gguf_file_is_parsed_once_while_the_base_is_converted(tmp_path):
    """``gguf_parsed_once``: inside it, every reader of one GGUF file is one parsed reader (transformers parses the
    packaged base anew for config, tensors and tokenizer), another file gets its own, and the class is back after."""
    import gguf
    import numpy as np

    from training.lm.base import gguf_parsed_once

    paths = []
    for name in ("a", "b"):
        w = gguf.GGUFWriter(tmp_path / f"{name}.gguf", arch="llama")
        w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(50)])
        w.add_tensor("w", np.arange(8, dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        paths.append(tmp_path / f"{name}.gguf")
    original = gguf.GGUFReader
    with gguf_parsed_once() as readers:
        first = gguf.GGUFReader(paths[0])
        assert gguf.GGUFReader(str(paths[0])) is first
        assert gguf.GGUFReader(paths[1]) is not first
        assert len(readers) == 2
        assert first.fields["tokenizer.ggml.tokens"].data and np.array_equal(first.tensors[0].data, np.arange(8))
    assert gguf.GGUFReader is original
    assert isinstance(gguf.GGUFReader(paths[0]), original)
