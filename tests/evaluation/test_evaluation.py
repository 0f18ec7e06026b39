"""ARP-Eval without Dagster: the test set, the system folder format and its bad cases, normalization, intervals,
paired differences, AUC, and the content metric on real lines."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import stats
from evaluation.config import TestSetConfig as SetConfig
from evaluation.testset import build_test_set, sample_id


def _turn(text, character, seg):
    return {"segment_id": seg, "character": character, "speaker": "S", "text": text, "start_s": 0.0, "end_s": 1.0,
            "keep": True}


def _dialogue(i, split, kind, key, text, n_context=1):
    name = key.title()
    return {"dialogue_id": f"show/s01e0{i % 3}#{i}@{kind}", "series_key": "show", "episode_key": f"show/s01e0{i % 3}",
            "scene_id": "x", "split": split, "kind": kind, "character": name, "character_key": key,
            "reply": _turn(text, name, f"seg{i}"),
            "context": [_turn(f"context line {j}", "Other", f"c{i}_{j}") for j in range(n_context)],
            "n_context": n_context, "audio_path": "/a.flac"}


def test_test_set_takes_the_test_split_only_caps_per_character_and_anchors_with_other_characters():
    dialogues = []
    for i in range(40):
        key = ("ann", "bob", "cid")[i % 3]
        split = "test" if i < 30 else "train"
        dialogues.append(_dialogue(i, split, "single_turn", key, f"this is line number {i}"))
        dialogues.append(_dialogue(100 + i, split, "multi_turn", key, f"a longer reply number {i}", n_context=3))
    dialogues.append(_dialogue(999, "test", "single_turn", "ann", "Yeah."))  # a backchannel: too short
    cfg = SetConfig(max_single_turn=4, max_multi_turn=2, min_reply_words=3)
    speech = {"ann": 60.0, "bob": 60.0, "cid": 60.0, "dee": 30.0}  # train-split seconds
    samples, facts = build_test_set(dialogues, {"ann", "bob", "cid", "dee"}, speech, cfg)
    train_ids = {d["dialogue_id"] for d in dialogues if d["split"] == "train"}
    assert not {s["dialogue_id"] for s in samples} & train_ids
    assert all(s["reply_text"] != "Yeah." for s in samples)
    for key in ("ann", "bob", "cid"):
        assert facts["per_character"][f"{key}/single_turn"] == 4 and facts["per_character"][f"{key}/multi_turn"] == 2
    assert facts["characters_without_samples"] == ["dee"]  # a main character without test dialogues: reported
    for s in samples:
        assert s["other_character_key"] != s["character_key"]
        assert s["sample_id"] == sample_id(s["dialogue_id"]) and "/" not in s["sample_id"] and "#" not in s["sample_id"]
    # the anchors rotate over the other characters
    ann = [s["other_character_key"] for s in samples if s["character_key"] == "ann"]
    assert set(ann) == {"bob", "cid"}
    # deterministic
    assert build_test_set(dialogues, {"ann", "bob", "cid", "dee"}, speech, cfg)[0] == samples
    # a main character whose lines (all but a few seconds) fell in the test episodes: no model can have learned it
    # (the ARP-Model's own minimum of train speech), so no sample; named with its amount
    only_test = [_dialogue(200 + i, "test", "single_turn", "eve", f"eve says line number {i}") for i in range(5)]
    only_test.append(_dialogue(300, "train", "single_turn", "eve", "eve once said this in training"))
    samples, facts = build_test_set(dialogues + only_test, {"ann", "bob", "cid", "eve"}, {**speech, "eve": 8.5}, cfg)
    assert not any(s["character_key"] == "eve" for s in samples)
    assert facts["characters_without_train_speech"] == {"Eve": 8.5} and "eve/single_turn" not in facts["per_character"]
    assert "Eve" in facts["characters_without_samples"]
    assert {s["character_key"] for s in samples} == {"ann", "bob", "cid"}
    # its real replies still serve as the others' anchors ("another character's real reply" needs no model)
    assert "eve" in {s["other_character_key"] for s in samples}
    # with the model's minimum met, the same character is tested
    samples, _ = build_test_set(dialogues + only_test, {"ann", "bob", "cid", "eve"}, {**speech, "eve": 10.0}, cfg)
    assert any(s["character_key"] == "eve" for s in samples)



def test_the_test_set_and_the_arp_model_agree_on_who_can_have_a_model():
    from evaluation.config import TestSetConfig
    from training.config import ModelConfig

    assert TestSetConfig().min_train_speech_s == ModelConfig().min_train_speech_s

def _wav(path, wav, sr=16000):
    import soundfile as sf

    sf.write(str(path), wav, sr)


def test_the_test_set_keeps_the_series_language_for_the_scorers(tmp_path):
    """A test set records its series' language (ARP-Eval transcribes the replies in it); an English series keeps the
    inputs, and so the state, it had before the language was recorded."""
    from audiorole.store import DataStore, write_stamp
    from evaluation.testset import ARP_TEST_SET, series_language, test_set_inputs

    cfg = SetConfig()
    assert test_set_inputs(cfg, "Show") == test_set_inputs(cfg, "Show", "en-US") == test_set_inputs(cfg, "Show", "")
    assert test_set_inputs(cfg, "Show", "cs-CZ") == [*test_set_inputs(cfg, "Show"), "cs"]
    store = DataStore(tmp_path)
    write_stamp(ARP_TEST_SET.dir(store, "show"), ARP_TEST_SET.stamp, "fp", title="Show")
    assert series_language(store, "show") == "en"  # a test set from before
    write_stamp(ARP_TEST_SET.dir(store, "show"), ARP_TEST_SET.stamp, "fp2", title="Show", language="cs")
    assert series_language(store, "show") == "cs"


def test_the_baselines_read_another_language_with_a_voice_for_it():
    """Base and One-shot read their replies with the default voice, an English one: in a Czech series that voice
    gives way to the bridge's Czech voice (a configured voice is kept; a language no voice reads is said)."""
    from evaluation.config import BaselineConfig
    from evaluation.stages import baseline_voice

    default, warnings = BaselineConfig.default_voice, []
    assert baseline_voice(default, "en-US", warnings) == default
    assert baseline_voice(default, "cs", warnings) == "festival:czech_dita"
    assert baseline_voice("piper:joe", "cs", warnings) == "piper:joe" and not warnings
    assert baseline_voice(default, "tlh", warnings) == default
    assert len(warnings) == 1 and "'tlh'" in warnings[0]


def test_system_folder_bad_cases_are_named_not_dropped(tmp_path):
    from evaluation.systems import read_reply, write_reply

    rng = np.random.default_rng(0)
    write_reply(tmp_path, "good", "hello there", 0.1 * rng.standard_normal(16000).astype(np.float32))
    (tmp_path / "silent.txt").write_text("quiet")
    _wav(tmp_path / "silent.wav", np.zeros(16000, np.float32))
    (tmp_path / "corrupt.txt").write_text("broken")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00not a wav at all")
    (tmp_path / "textonly.txt").write_text("no audio here")
    _wav(tmp_path / "resampled.wav", 0.1 * rng.standard_normal(48000).astype(np.float32), sr=48000)
    (tmp_path / "resampled.txt").write_text("at 48 kHz")

    good = read_reply(tmp_path, "good")
    assert good.problem is None and good.text == "hello there" and len(good.wav) == 16000
    assert "silent audio" in read_reply(tmp_path, "silent").problem
    corrupt = read_reply(tmp_path, "corrupt")
    assert "corrupt audio" in corrupt.problem and str(tmp_path / "corrupt.wav") in corrupt.problem
    assert "no audio" in read_reply(tmp_path, "textonly").problem
    missing = read_reply(tmp_path, "nothing")
    assert missing.missing and "missing reply" in missing.problem
    assert len(read_reply(tmp_path, "resampled").wav) == 16000


class _FakeAP:
    def embed(self, wavs):
        return np.array([[float(np.abs(w).mean()), 1.0] for w in wavs]).reshape(-1, 2)

    def score_embeddings(self, embs, key, leave_out):
        return embs[:, 0]


class _FakeText:
    def score(self, texts, keys):
        return np.array([len(t) / 100 for t in texts])


class _FakeCER:
    def score_many(self, clips):
        return [(0.25, "heard") for _ in clips]


def test_repetition_finds_train_lines_and_replies_said_again():
    """train_sim: 1 for a train line said again (case and punctuation aside), lower for new words; self_sim and
    cross_sim: the nearest reply for the same character and for another, never one to the same real turn."""
    from evaluation.metrics.repetition import Repetition

    rep = Repetition().fit(["The cinema is closing down next month.", "Where were you last night?", ""])
    sims = rep.train_sim(["the cinema is closing down, next month", "The cinema closes next week.",
                          "Pass me the salt, please.", ""])
    assert sims[0] == 1.0 and 0.6 < sims[1] < 1.0 and sims[2] < 0.5 and sims[3] == 0.0
    texts = ["Not long enough...", "Not long enough!", "Not long enough.", "Pass me the salt.", "A new line."]
    chars = ["ann", "ann", "bob", "bob", "cy"]
    turns = ["t1", "t1", "t2", "t3", "t4"]  # the first two answer one turn (single- and multi-turn contexts)
    own, cross = Repetition.among(texts, chars, turns)
    assert np.isnan(own[0]) and np.isnan(own[1]), "ann's two replies answer one turn: not compared"
    assert own[2] == own[3] < 0.5 and np.isnan(own[4])
    assert cross[0] == cross[1] == cross[2] == 1.0, "said as another character, word for word"
    assert cross[4] < 0.5


def test_a_failed_or_missing_sample_scores_the_floor_and_is_counted(tmp_path):
    from evaluation.metrics import FAILURE_RAW
    from evaluation.metrics.repetition import Repetition
    from evaluation.score import score_system
    from evaluation.systems import write_reply

    samples = [{"series_key": "s", "sample_id": sid, "set": "single_turn", "character": "Ann", "character_key": "ann",
                "reply_segment_id": f"seg-{sid}"} for sid in ("ok", "silent", "gone")]
    write_reply(tmp_path, "ok", "a fine reply", 0.2 * np.ones(16000, np.float32))
    write_reply(tmp_path, "silent", "said nothing", np.zeros(16000, np.float32))
    scorers = {"AP": _FakeAP(), "CP": _FakeText(), "relevance": _FakeText(), "CER": _FakeCER(),
               "repetition": Repetition().fit(["A fine reply!"])}
    rows = score_system("sys", tmp_path, samples, scorers)
    by = {(r["sample_id"], r["metric"]): r for r in rows}
    # four metrics each; the two texts' train_sim and self_sim (one character: no cross_sim); the missing one's three
    assert len(rows) == 3 * 4 + 2 * 2 + 3
    assert by[("ok", "train_sim")]["raw"] == 1.0 and by[("silent", "train_sim")]["raw"] < 0.5
    assert by[("ok", "self_sim")]["raw"] == by[("silent", "self_sim")]["raw"] < 0.5
    assert ("ok", "cross_sim") not in by
    assert all(by[("gone", m)]["status"] == "missing" and by[("gone", m)]["raw"] is None
               for m in ("train_sim", "self_sim", "cross_sim")), "no text: no floor, nothing new either"
    assert by[("ok", "AP")]["status"] == "ok" and by[("ok", "AP")]["raw"] == pytest.approx(0.2, abs=1e-3)
    assert by[("ok", "CER")]["raw"] == 0.25 and by[("ok", "CER")]["transcript"] == "heard"
    assert by[("silent", "AP")]["status"] == "failed" and by[("silent", "AP")]["raw"] == FAILURE_RAW["AP"]
    assert by[("silent", "CER")]["raw"] == FAILURE_RAW["CER"]
    assert by[("silent", "CP")]["status"] == "ok"  # its text is still scored
    assert all(by[("gone", m)]["status"] == "missing" for m in ("AP", "CP", "relevance", "CER"))
    assert by[("gone", "CP")]["raw"] == FAILURE_RAW["CP"]


def _rows(system, values, metric="AP", key="ann"):
    return [{"series_key": "s", "sample_id": f"x{i}", "set": "single_turn" if i % 2 else "multi_turn",
             "character": key.title(), "character_key": key, "system": system, "metric": metric, "raw": v,
             "normalized": None, "status": "ok", "problem": None, "reply_text": "t", "transcript": None}
            for i, v in enumerate(values)]


def test_normalization_anchors_intervals_and_paired_differences():
    from evaluation.score import aggregate, normalize_rows

    rng = np.random.default_rng(1)
    own = 0.8 + 0.02 * rng.standard_normal(30)
    other = 0.6 + 0.02 * rng.standard_normal(30)
    model = 0.75 + 0.02 * rng.standard_normal(30)
    base = 0.62 + 0.02 * rng.standard_normal(30)
    rows = normalize_rows(_rows("real-reply", own) + _rows("other-character", other) + _rows("arp-model", model)
                          + _rows("base", base))
    out = aggregate(rows, baselines=["base"], n_bootstrap=500)
    score = {(r["system"], r["set"]): r for r in out if r["kind"] == "score" and r["character"] == "Ann"}
    assert score[("real-reply", "all")]["value"] == pytest.approx(1.0)
    assert score[("other-character", "all")]["value"] == pytest.approx(0.0, abs=1e-9)
    m = score[("arp-model", "all")]
    assert 0.6 < m["value"] < 0.85 and m["ci_low"] < m["value"] < m["ci_high"] and m["n"] == 30
    assert score[("arp-model", "single_turn")]["n"] == 15
    diff = next(r for r in out if r["kind"] == "difference" and r["character"] == "Ann" and r["set"] == "all")
    assert diff["system"] == "arp-model - base" and diff["ci_low"] > 0
    auc = next(r for r in out if r["kind"] == "auc" and r["character"] == "Ann" and r["set"] == "all")
    assert auc["value"] > 0.99
    # a model no better than the base: the interval straddles 0
    rows2 = normalize_rows(_rows("real-reply", own) + _rows("other-character", other) + _rows("arp-model", base)
                           + _rows("base", base[::-1]))
    diff2 = next(r for r in aggregate(rows2, baselines=["base"], n_bootstrap=500)
                 if r["kind"] == "difference" and r["set"] == "all" and r["character"] == "Ann")
    assert diff2["ci_low"] < 0 < diff2["ci_high"]


def test_stats_edge_cases():
    assert np.isnan(stats.normalize(np.array([0.5]), 0.7, 0.7)[0])  # anchors equal: no scale
    mean, lo, hi = stats.bootstrap_mean([0.3])
    assert mean == 0.3 and np.isnan(lo) and np.isnan(hi)
    assert stats.bootstrap_mean([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2, 0.2))
    assert stats.auc([0.9, 0.8], [0.1, 0.2]) == 1.0 and stats.auc([0.1], [0.9]) == 0.0
    assert stats.paired_difference({"a": 1.0, "b": 2.0}, {"b": 1.0, "c": 0.0})[3] == 1


def test_auc_interval_holds_the_auc_and_narrows_with_more_replies():
    rng = np.random.default_rng(0)
    widths = []
    for n in (16, 400):
        own, other = rng.normal(0.5, 1, n), rng.normal(0, 1, n)  # true AUC = Phi(0.5 / sqrt 2) = 0.64
        lo, hi = stats.auc_interval(own, other)
        assert lo <= stats.auc(own, other) <= hi
        widths.append(hi - lo)
    assert widths[0] > 2.5 * widths[1] and lo < 0.64 < hi
    assert stats.auc_interval([0.9, 0.8, 0.7], [0.1, 0.2]) == (1.0, 1.0)  # apart in every resample
    assert stats.auc_interval([0.5, 0.5], [0.5, 0.5]) == (0.5, 0.5)  # ties count half
    assert all(np.isnan(stats.auc_interval([0.9], [0.1, 0.2])))


def test_content_personalization_tells_the_demo_characters_apart_in_an_unseen_episode():
    """Trained on three episodes' scripts, it attributes the lines of a fourth (real script text: characters come
    back to their topics and catch-phrases, backchannels are shared)."""
    from audiorole.demo.script import write_episode_script
    from evaluation.metrics.content import ContentPersonalization

    rng = np.random.default_rng(3)
    scripts = [write_episode_script(n, rng, n_lines=60) for n in range(1, 5)]
    mains = {"Maggie Chen", "Theo Park", "Walt Brennan", "Rosa Alvarez", "Dev Sharma", "Sam Okafor"}
    train = [ln for sc in scripts[:3] for ln in sc.lines if ln.character in mains]
    test = [ln for ln in scripts[3].lines if ln.character in mains and not ln.is_backchannel]
    cp = ContentPersonalization().fit([ln.text for ln in train], [ln.character for ln in train])
    own = cp.score([ln.text for ln in test], [ln.character for ln in test])
    names = sorted(mains)
    other = cp.score([ln.text for ln in test], [names[(names.index(ln.character) + 1) % 6] for ln in test])
    assert own.shape == (len(test),) and np.all((own >= 0) & (own <= 1))
    assert stats.auc(list(own), list(other)) >= 0.8
    assert cp.score(["anything"], ["nobody"])[0] == 0.0  # an unknown character gets no probability
    with pytest.raises(ValueError, match="at least two characters"):
        ContentPersonalization().fit(["a", "b"], ["x", "x"])


def test_baseline_prompts_carry_the_scene_the_character_and_the_example():
    from evaluation.systems.baselines import base_prompt, first_line, one_shot_prompt

    ctx = [{"speaker": "Walt Brennan", "text": "Put the kettle on."}]
    p = base_prompt("Maple Street", "Maggie Chen", ctx)
    assert p.endswith("Walt Brennan: Put the kettle on.\nMaggie Chen:") and '"Maple Street"' in p
    ex = {"context": [{"speaker": "Theo Park", "text": "Hi."}], "reply_text": "Not on my watch!"}
    q = one_shot_prompt("Maple Street", "Maggie Chen", "Maggie Chen often talks with Theo Park.", ex, ctx)
    assert "often talks with Theo Park" in q and "Maggie Chen: Not on my watch!" in q and q.endswith(p)
    assert first_line("  Sure thing.\nWalt Brennan: more") == "Sure thing."


def test_the_base_lm_completes_prompts_batched_by_length_in_the_order_it_was_given(tiny_lm):
    from evaluation.systems.baselines import BaseLM

    lm = BaseLM(tiny_lm)
    prompts = ["A: " + "word " * n + "\nB:" for n in (40, 2, 25, 9, 60)]  # batches by length mix up the order
    alone = [lm.complete([p], max_new_tokens=5, batch_size=1)[0] for p in prompts]
    assert len(set(alone)) > 1  # the check below would not see prompts swapped otherwise
    assert lm.complete(prompts, max_new_tokens=5, batch_size=2) == alone


def test_intelligibility_is_repeatable_and_a_wholly_wrong_clip_scores_one(pyannote_sample):
    """Real speech: the same clip gets the same transcript on every call (no sampled fallback), and a transcript
    against a reference it has nothing to do with scores CER 1, not the unbounded edit count."""
    from audiorole.audio import load_audio
    from evaluation.metrics.intelligibility import Intelligibility

    wav = load_audio(pyannote_sample / "sample.wav")[: 12 * 16000]
    scorer = Intelligibility()
    c1, heard = scorer.score(wav, "hi")
    assert len(heard) > 20 and c1 == 1.0  # dozens of characters heard against a two-character reference
    assert scorer.score(wav, heard) == (0.0, heard)
    assert scorer.score(wav, "") == (None, heard)
    # scored in parallel, each clip still gets its own transcript, in order
    clips = [(wav, heard), (wav[: 5 * 16000], "hi"), (wav, "")]
    assert scorer.score_many(clips) == [scorer.score(*clip) for clip in clips]


def test_intelligibility_transcribes_the_same_audio_once_and_scores_it_against_each_text(pyannote_sample):
    from audiorole.audio import load_audio
    from evaluation.metrics.intelligibility import Intelligibility

    wav = load_audio(pyannote_sample / "sample.wav")
    a, b = wav[11 * 16000:15 * 16000], wav[15 * 16000:20 * 16000]
    scorer = Intelligibility(workers=2)
    heard_a, heard_b = scorer.transcribe(a), scorer.transcribe(b)
    calls = []
    real = scorer.transcribe
    scorer.transcribe = lambda w: calls.append(len(w)) or real(w)
    out = scorer.score_many([(a, heard_a), (b.copy(), "hi"), (a.copy(), "hi"), (b, heard_b)])
    assert sorted(calls) == sorted([len(a), len(b)])  # two recordings, four clips
    assert out == [(0.0, heard_a), (1.0, heard_b), (1.0, heard_a), (0.0, heard_b)]
    assert scorer.score_many([(b, heard_b)]) == [(0.0, heard_b)] and len(calls) == 2  # heard before: not again


def test_a_character_the_decoder_has_no_voice_for_is_not_answered_as(tmp_path):
    """The LM's floor of train speech is not the decoder's: a character trained by the LM without a decoder voice
    gets no replies stage (and a replies run for it fails naming the decoder), instead of a KeyError mid-run."""
    import json as _json

    from audiorole.errors import InputError
    from audiorole.store import DataStore, write_stamp
    from evaluation.replies import run_replies, trained_characters
    from evaluation.testset import ARP_TEST_SET
    from training import ARP_MODEL, SPEECH_DECODER

    store = DataStore(tmp_path)
    write_stamp(ARP_TEST_SET.dir(store, "show"), ARP_TEST_SET.stamp, "test-set-fp")
    lm = store.model_dir("show", "lm")
    lm.mkdir(parents=True)
    (lm / "characters.json").write_text(_json.dumps([
        {"character_key": k, "character": k.title(), "trained": True, "why_not": None, "val_loss": 1.0}
        for k in ("ann", "bob")]))
    write_stamp(ARP_MODEL.dir(store, "show"), ARP_MODEL.stamp, "lm-fp")
    assert trained_characters(store, "show") == [], "no decoder yet: nothing can be spoken"
    write_stamp(SPEECH_DECODER.dir(store, "show"), SPEECH_DECODER.stamp, "dec-fp", voices={"ann": 12.0})
    assert trained_characters(store, "show") == ["ann"]
    with pytest.raises(InputError, match="no voice for this character"):
        run_replies(store, "show", "bob", model=object())
    # a voice the decoder could not learn a conversion for: its default speech (the TTS reading, converted) is refused
    write_stamp(SPEECH_DECODER.dir(store, "show"), SPEECH_DECODER.stamp, "dec-fp", voices={"ann": 12.0, "bob": 9.0},
                converted_voices={"ann": 12.0})
    with pytest.raises(InputError, match="no voice conversion for this character"):
        run_replies(store, "show", "bob", model=object())


def test_each_sample_is_answered_with_its_own_seed(tmp_path, monkeypatch):
    """Two characters' first samples do not share a random stream (with the run's seed + the sample's position they
    did, and a weakly conditioned LM said the same words for both); the same run's seeds are the same again."""
    from types import SimpleNamespace

    import evaluation.replies as replies

    samples = {k: [{"sample_id": f"show_e1_{k}_{i}", "dialogue_id": f"d{k}{i}", "character": k.title(),
                    "context": [{"speaker": "Cy", "text": "Hi."}], "reply_text": "Hello there you."}
                   for i in range(3)] for k in ("ann", "bob")}
    monkeypatch.setattr(replies, "character_samples", lambda store, series, key: samples[key])
    seeds = []

    class Model:
        def reply(self, key, context, *, seed, **sampling):
            seeds.append((key, seed))
            return SimpleNamespace(text="Hi.", units=[], wav=np.zeros(1600, np.float32))

    def run(key, seed=0):
        replies._answer(None, "show", key, Model(), seed, {}, tmp_path / key)
        return [s for k, s in seeds if k == key][-3:]

    ann, bob = run("ann"), run("bob")
    assert len(set(ann + bob)) == 6, "every sample its own seed, across characters too"
    assert run("ann") == ann, "the same run samples the same replies again"
    assert run("ann", seed=1) != ann
    assert replies.sample_seed(0, "show_e1_ann_0") == ann[0]


def test_ap_leaves_every_segment_of_the_own_reply_out_of_the_reference():
    """A reply is a turn of one or more segments: none of them may be in the centroid it is compared with, or the
    own anchor is compared with itself."""
    from evaluation.metrics.acoustic import AcousticPersonalization

    class Embed:  # a clip's embedding is its first two samples
        def embed_many(self, wavs):
            return [w[:2] for w in wavs]

    e1, e2 = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    ap = AcousticPersonalization(Embed()).fit({"ann": {"turn-a": e1, "turn-b": e1, "other-line": e2}})
    assert ap.score_embeddings(e1[None], "ann", ["turn-a", "turn-b"])[0] == pytest.approx(0.0, abs=1e-6)
    assert ap.score_embeddings(e1[None], "ann", "turn-a")[0] > 0.7  # half of the turn is still in the reference
    with pytest.raises(ValueError, match="no held-out real speech"):
        ap.score_embeddings(e1[None], "ann", ["turn-a", "turn-b", "other-line"])


def test_the_series_space_tells_apart_voices_the_encoder_blurs(monkeypatch):
    """Two characters whose voices differ along a direction the encoder barely weighs, under a large spread along one
    both share: the encoder's cosine hardly separates their held-out segments, the series space learned from their
    train segments does; weight 0 is the encoder alone, and a series with one character has no space."""
    from sklearn.metrics import roc_auc_score

    from evaluation.metrics import acoustic
    from evaluation.metrics.acoustic import AcousticPersonalization

    class Embed:  # a clip's embedding is its first three samples
        def embed_many(self, wavs):
            return [w[:3] for w in wavs]

    rng = np.random.default_rng(0)

    def clips(sign: float, n: int) -> list[np.ndarray]:
        return [np.array([1.0, sign * 0.06 + 0.01 * rng.standard_normal(), 0.4 * rng.standard_normal()], np.float32)
                for _ in range(n)]

    train = (clips(1, 30) + clips(-1, 30), ["ann"] * 30 + ["bob"] * 30)
    held = {k: {f"{k}-{i}": w for i, w in enumerate(clips(sign, 20))} for k, sign in (("ann", 1), ("bob", -1))}

    def auc(ap) -> float:
        own = [float(ap.score_embeddings(ap.embed([w]), "ann", i)[0]) for i, w in held["ann"].items()]
        other = [float(ap.score_embeddings(ap.embed([w]), "ann")[0]) for w in held["bob"].values()]
        return roc_auc_score([1] * len(own) + [0] * len(other), own + other)

    alone = AcousticPersonalization(Embed()).fit(held, train)
    spaced = AcousticPersonalization(Embed(), series_space_weight=0.25).fit(held, (iter(train[0]), train[1]))
    assert alone.space is None and list(spaced.space.classes_) == ["ann", "bob"]
    assert auc(alone) < 0.8 and auc(spaced) > 0.95
    monkeypatch.setattr(acoustic, "BATCH", 7)  # the train clips embedded a few at a time: the same space
    batched = AcousticPersonalization(Embed(), series_space_weight=0.25).fit(held, (iter(train[0]), train[1]))
    probe = np.stack(list(held["bob"].values()))
    assert np.allclose(batched.project(probe), spaced.project(probe), atol=1e-5)
    one = AcousticPersonalization(Embed(), series_space_weight=0.25).fit(held, (train[0][:30], train[1][:30]))
    assert one.space is None and auc(one) == auc(alone)
    with pytest.raises(ValueError, match="series_space_weight"):
        AcousticPersonalization(Embed(), series_space_weight=-1.0)


def test_the_series_space_learns_from_train_segments_spread_over_each_character():
    from evaluation.stages import space_segments

    segs = [{"episode_key": f"e{e}", "start_s": float(i), "end_s": i + length, "character_key": key}
            for e in range(3) for i in range(10) for key, length in (("lead", 2.0), ("guest", 0.5))]
    segs.append({"episode_key": "e3", "start_s": 0.0, "end_s": 3.0, "character_key": "lead"})  # a test episode
    splits = {"e0": "train", "e1": "train", "e2": "validation", "e3": "test"}
    picked = space_segments(segs, splits, {"e0", "e1", "e2", "e3"}, max_per_character=5)
    assert {s["character_key"] for s in picked} == {"lead"}  # the guest's segments are all under a second
    assert len(picked) == 5 and {s["episode_key"] for s in picked} == {"e0", "e1"}  # both train episodes, spread
    assert len(space_segments(segs, splits, {"e0", "e1"}, max_per_character=100)) == 20
    only_e1 = [s for s in segs if s["episode_key"] == "e1" and s["character_key"] == "lead"]
    assert space_segments(segs, splits, {"e1"}, max_per_character=100) == only_e1


def _held_out(voices: dict, words: dict, counts: dict, seed: int):
    """Held-out replies of characters with the given voices (3-d vectors, plus noise) and vocabularies, and AP and CP
    fitted on them: AP's embedding of a clip is its first three samples; CP learns each character's words."""
    from evaluation.metrics.acoustic import AcousticPersonalization
    from evaluation.metrics.content import ContentPersonalization

    class Embed:
        def embed_many(self, wavs):
            return [w[:3] for w in wavs]

    rng = np.random.default_rng(seed)
    clips, replies = {}, []
    for key, v in voices.items():
        for i in range(counts[key]):
            sid = f"{key}-{i}"
            clips.setdefault(key, {})[sid] = (np.array(v) + 0.1 * rng.standard_normal(3)).astype(np.float32)
            replies.append({"character_key": key, "character": key.title(), "text": f"the {words[key]} again",
                            "segment_ids": [sid]})
    cp = ContentPersonalization().fit([f"my {words[k]} {i}" for k in words for i in range(5)],
                                      [k for k in words for _ in range(5)])
    return replies, (AcousticPersonalization(Embed()).fit(clips), cp)


def test_held_out_separation_scores_every_held_out_reply_against_every_other_characters():
    """Own replies against every other main character's, per character and pooled: a voice and a vocabulary that
    tell the characters apart give AUC 1; a reply's own segments are out of its reference (a character whose only
    reference is that reply has no AP); CP reads the reply's text."""
    from evaluation.score import ALL, HELD_OUT, held_out_separation

    voices = {"ann": [1.0, 0.2, 0.0], "bob": [0.0, 1.0, 0.2], "cy": [0.2, 0.0, 1.0]}
    words = {"ann": "garden roses soil", "bob": "engine gears bolts", "cy": "violin concert tune"}
    # cy: one held-out reply, so no reference without it
    replies, (ap, cp) = _held_out(voices, words, {"ann": 6, "bob": 6, "cy": 1}, seed=0)
    rows = held_out_separation(replies, {"AP": ap, "CP": cp}, series_key="s", n_bootstrap=200)
    assert all(r["set"] == HELD_OUT for r in rows)
    by = {(r["metric"], r["character_key"]): r for r in rows if r["kind"] == "auc"}
    assert by[("AP", "ann")]["value"] == 1.0 and by[("AP", "ann")]["n"] == 6 + 7  # own 6, the others' 7
    assert ("AP", "cy") not in by, "cy's only reply cannot be scored against a reference without it"
    assert by[("CP", "cy")]["value"] == 1.0 and by[("CP", ALL)]["value"] == 1.0
    assert by[("AP", ALL)]["n"] == by[("AP", "ann")]["n"] + by[("AP", "bob")]["n"]
    assert by[("CP", ALL)]["ci_low"] <= by[("CP", ALL)]["value"] <= by[("CP", ALL)]["ci_high"]
    # a character without train-split lines has no CP column of its own; its replies are still the others' replies
    dee = replies + [{"character_key": "dee", "character": "Dee", "text": "the harbour boats sails again",
                      "segment_ids": ["dee-0"]}]
    rows = held_out_separation(dee, {"AP": ap, "CP": cp}, series_key="s", n_bootstrap=50)
    assert ("CP", "dee") not in {(r["metric"], r["character_key"]) for r in rows}
    assert next(r for r in rows if r["metric"] == "CP" and r["character_key"] == "ann" and r["kind"] == "auc"
                )["n"] == 6 + 8
    # a vocabulary every character shares separates nobody
    same = [dict(r, text="the same words again") for r in replies]
    assert {r["value"] for r in held_out_separation(same, {"AP": ap, "CP": cp}, series_key="s", n_bootstrap=50)
            if r["metric"] == "CP" and r["kind"] == "auc"} == {0.5}


def test_held_out_pairs_name_the_characters_a_measure_cannot_tell_apart():
    """Two characters of one voice (one actor) keep AP's pooled AUC down though every other pair is apart: the
    pair rows say which pair it is, for both characters' columns, and CP (their words differ) still parts them."""
    from evaluation.report import pair_rows
    from evaluation.score import ALL, MIN_PAIR_REPLIES, PAIR_KIND, held_out_separation, pairs_under_target

    voices = {"ann": [1.0, 0.2, 0.0], "bob": [0.0, 1.0, 0.2], "dan": [1.0, 0.2, 0.0], "eve": [0.2, 0.0, 1.0]}
    words = {"ann": "garden roses soil", "bob": "engine gears bolts", "dan": "harbour boats sails",
             "eve": "violin concert tune"}
    # eve: too few replies for a pair of her own
    replies, (ap, cp) = _held_out(voices, words, {"ann": 8, "bob": 8, "dan": 8, "eve": MIN_PAIR_REPLIES - 1}, seed=1)
    rows = held_out_separation(replies, {"AP": ap, "CP": cp}, series_key="s", n_bootstrap=100)
    pair = {(r["metric"], r["character"], r["system"]): r["value"] for r in rows if r["kind"] == PAIR_KIND}
    pooled = {r["metric"]: r["value"] for r in rows if r["kind"] == "auc" and r["character_key"] == ALL}
    assert pair[("AP", "Ann", "Bob")] == 1.0 and pair[("AP", "Bob", "Dan")] == 1.0
    assert pair[("AP", "Ann", "Dan")] < 0.8 and pair[("AP", "Dan", "Ann")] < 0.8
    assert pooled["AP"] < 0.95 and pooled["CP"] == 1.0
    assert pair[("CP", "Ann", "Dan")] == 1.0
    assert not any("Eve" in (c, v) for _, c, v in pair), "too few replies for a pair's AUC, on either side"
    under = pairs_under_target(rows)
    assert {(r["metric"], r["character"], r["versus"]) for r in under} == {("AP", "Ann", "Dan"), ("AP", "Dan", "Ann")}
    table = {(r["character"], r["versus"]): r for r in pair_rows(rows)}
    assert table[("Ann", "Dan")]["AP"].endswith("(under target)") and table[("Ann", "Dan")]["CP"] == "1.000"
    # the printout names them; past MAX_PAIRS_SHOWN it counts the rest
    from audiorole_dagster.summary import MAX_PAIRS_SHOWN, pairs_line

    line = pairs_line(rows)
    assert f"AP Ann vs Dan {pair[('AP', 'Ann', 'Dan')]:.3f}" in line and "AP Dan vs Ann" in line and "Bob" not in line
    ann_dan = next(r for r in rows if r["kind"] == PAIR_KIND and r["metric"] == "AP" and r["character"] == "Ann"
                   and r["system"] == "Dan")
    many = rows + [dict(ann_dan, system=f"Extra {i}") for i in range(MAX_PAIRS_SHOWN)]
    assert pairs_line(many).endswith(f", and {len(pairs_under_target(many)) - MAX_PAIRS_SHOWN} more (the report lists "
                                     "them)")
    assert pairs_line([r for r in rows if r["kind"] != PAIR_KIND]) is None
