"""The ARP-Eval stages of a series, each declared once (``audiorole.stage.Stage``) and run by ``run_<stage>``:
the test set (``evaluation.testset``) → the anchors and baselines → the ARP-Model's replies (``evaluation.replies``)
→ the scores of every system → the report. Layout under the data dir (``audiorole.store``)::

    eval/<series key>/
      test_set.parquet                 the fixed test set (samples + anchors)
      systems/<system>/                <sample_id>.txt + <sample_id>.wav per sample, system.json
      samples.parquet                  every system × sample × metric: raw, normalized, status, problem
      results.parquet                  per character × system × metric (and set): mean, 95% interval, n; paired
                                       differences; the anchors' AUCs (the catalog's ``eval_results``)
      report/                          report.md, index.html, *.png
      _stamps/<stage>.json             test_set, anchors, baselines, arp_model_system, eval, report
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiorole.audio import load_audio
from audiorole.dataset.dialogues import MIN_REPLY_WORDS, UNKNOWN_SPEAKER, n_words, speaker_name
from audiorole.dataset.stages import character_keys
from audiorole.embeddings import build_embedder
from audiorole.errors import InputError
from audiorole.io import write_json_atomic, write_parquet_atomic
from audiorole.segments.language import language_code
from audiorole.segments.stages import analysis_audio_path
from audiorole.stage import Stage, StageResult, stale
from audiorole.store import DataStore, file_identity, fingerprint
from evaluation import systems as sysmod
from evaluation.config import BaselineConfig, MetricConfig, TestSetConfig
from evaluation.metrics.acoustic import AcousticPersonalization
from evaluation.metrics.content import ContentPersonalization
from evaluation.metrics.intelligibility import Intelligibility
from evaluation.metrics.relevance import Relevance, SentenceEmbedder
from evaluation.metrics.repetition import VERBATIM, Repetition
from evaluation.replies import (
    ARP_MODEL,
    ARP_REPLIES,
    DEFAULT_SAMPLING,
    load_replies,
    replies_inputs,
    reply_fingerprints,
    trained_characters,
)
from evaluation.report import write_report
from evaluation.schema import EVAL_RESULT_SCHEMA, SAMPLE_SCORE_SCHEMA
from evaluation.score import (
    HELD_OUT,
    aggregate,
    held_out_separation,
    normalize_rows,
    pairs_under_target,
    score_system,
)
from evaluation.systems.anchors import cut, write_anchors
from evaluation.systems.arp_model import write_arp_model
from evaluation.systems.baselines import BaseLM, write_baselines
from evaluation.testset import ARP_TEST_SET, load_test_set, series_language, series_title, test_set_inputs
from training import decoder_for, episode_units, load_tokenizer, resolve_base_dir, series_data, units_for_span

_SERIES = dict(scope="series", folder="eval")


def _baselines_legacy(upstream: list, inputs: list) -> str:
    """Releases before the stage protocol put the config between the test set and the models."""
    return fingerprint("baselines", ARP_BASELINES.version, upstream[0], *inputs, *upstream[1:])


#: Part of ``arp_baselines``: the anchors (the real reply, another character's real reply) need no model.
ANCHORS = Stage("anchors", stamp="anchors", version="1", **_SERIES,
                outputs=tuple(f"systems/{n}/{sysmod.SYSTEM_FILE}" for n in sysmod.ANCHORS), upstream=("arp_test_set",))
ARP_BASELINES = Stage("arp_baselines", stamp="baselines", version="1", **_SERIES,
                      outputs=tuple(f"systems/{n}/{sysmod.SYSTEM_FILE}" for n in sysmod.BASELINES),
                      upstream=("arp_test_set", "speech_tokenizer", "speech_decoder"), legacy=_baselines_legacy)
# 2: CER decoded at temperature 0 (the same on every run), capped at 1 per sample; 3: the AUCs with intervals, and
# over every held-out reply (set "held_out"), AP's reference holding every main character's held-out speech; 4: the
# held-out AUC of each pair of characters (``auc_pair`` rows)
# 5: AP adds the cosine in the series' speaker space (a discriminant analysis of the train split's segments), and the
# facts name the ARP-Model replies that were stale or missing when scored (the report says so)
# 6: each reply's repetition (train_sim, self_sim, cross_sim), and the share of each system's replies that are a train
# line word for word
_EVAL_VERSION = "6"
#: Part of ``arp_eval``: the ARP-Model's replies copied into its system folder when they changed.
ARP_MODEL_SYSTEM = Stage("arp_model_system", stamp="arp_model_system", version="2", **_SERIES,
                         outputs=(f"systems/{sysmod.ARP_MODEL}/{sysmod.SYSTEM_FILE}",),
                         upstream=("arp_test_set", "arp_replies"), fan_in=("arp_replies",))
#: The scores read every system folder (the baselines', the ARP-Model's, dropped-in ones) by their identity.
ARP_EVAL = Stage("arp_eval", stamp="eval", version=_EVAL_VERSION, **_SERIES,
                 outputs=("results.parquet", "samples.parquet"),
                 upstream=("arp_test_set", "arp_baselines", "arp_replies"), fan_in=("arp_baselines", "arp_replies"))
ARP_EVAL_REPORT = Stage("arp_eval_report", stamp="report", version="1", **_SERIES,
                        outputs=("report/index.html", "report/report.md"), upstream=("arp_eval",))


def systems_dir(store: DataStore, series_key: str) -> Path:
    return store.eval_dir(series_key) / "systems"


# anchors and baselines ----------------------------------------------------------------------------------------------
def _train_material(store: DataStore, series_key: str, max_clip_s: float):
    """Per main character, from the train split only: the reference clip (units, audio) of the One-shot voice, its
    profile line and one example exchange."""

    splits, segs, dialogues = series_data(store, series_key)
    tok = load_tokenizer(store.model_dir(series_key, "tokenizer"))
    rate, spu = tok.config.unit_rate_hz, tok.config.samples_per_unit
    train = [s for s in segs if splits.get(s["episode_key"]) == "train" and s["end_s"] - s["start_s"] <= max_clip_s]
    refs = {}
    for key in sorted({s["character_key"] for s in train}):
        s = max((s for s in train if s["character_key"] == key), key=lambda s: (s["end_s"] - s["start_s"], s["segment_id"]))
        units = units_for_span(episode_units(store, series_key, s["episode_key"]), s["start_s"], s["end_s"], rate)
        a = int(np.floor(s["start_s"] * rate)) * spu
        refs[key] = (units, load_audio(analysis_audio_path(store, s["episode_key"]))[a:a + len(units) * spu],
                     s["segment_id"])
    profiles, examples = {}, {}
    for key in sorted({d["character_key"] for d in dialogues}):
        mine = [d for d in dialogues if d["character_key"] == key and d["split"] == "train"]
        if not mine:
            continue
        partners: dict[str, int] = {}
        for d in mine:
            for t in d["context"]:
                name = speaker_name(t)
                if name not in (mine[0]["character"], UNKNOWN_SPEAKER):
                    partners[name] = partners.get(name, 0) + 1
        top = sorted(partners, key=lambda n: (-partners[n], n))[:3]
        profiles[key] = (f"{mine[0]['character']} often talks with {', '.join(top)}." if top else "")
        single = sorted((d for d in mine
                         if d["kind"] == "single_turn" and n_words(d["reply"]["text"]) >= MIN_REPLY_WORDS),
                        key=lambda d: hashlib.sha1(d["dialogue_id"].encode()).hexdigest())
        if single:
            d = single[0]
            examples[key] = {"context": [{"speaker": speaker_name(t), "text": t["text"] or ""} for t in d["context"]],
                             "reply_text": d["reply"]["text"]}
    return tok, refs, profiles, examples


def _base_dir(store: DataStore, base: str) -> Path:
    return resolve_base_dir(base, store.base_model_cache)


def baselines_inputs(config: BaselineConfig) -> list:
    base_id = config.base if config.base.startswith("packaged:") else file_identity(Path(config.base) / "config.json")
    return [asdict(config), base_id]


def run_anchors(store: DataStore, series_key: str, *, force: bool = False) -> StageResult:
    def compute(out: Path) -> dict:
        samples = load_test_set(store, series_key)
        write_anchors(samples, systems_dir(store, series_key))
        return {"n_samples": len(samples), "systems": list(sysmod.ANCHORS)}

    return ANCHORS.run(store, series_key, [], compute, force=force)


def run_baselines(store: DataStore, series_key: str, *, config: BaselineConfig = BaselineConfig(),
                  force: bool = False, threads: int | None = None) -> StageResult:
    """The Base and One-shot systems' replies to every test sample."""
    return ARP_BASELINES.run(store, series_key, baselines_inputs(config),
                             lambda out: _baselines(store, series_key, config, threads), force=force)


def _baselines(store: DataStore, series_key: str, config: BaselineConfig, threads: int | None) -> tuple[dict, list]:
    t0 = time.perf_counter()
    samples, title = load_test_set(store, series_key), series_title(store, series_key)
    tok, refs, profiles, examples = _train_material(store, series_key, config.reference_clip_max_s)
    base_dir = _base_dir(store, config.base)
    lm = BaseLM(base_dir, threads)
    warnings = [f"{series_key}/{k}: no train-split utterance for a One-shot reference clip; its One-shot replies "
                "have no audio" for k in sorted({s["character_key"] for s in samples} - set(refs))]
    voice = baseline_voice(config.default_voice, series_language(store, series_key), warnings)
    write_baselines(samples, systems_dir(store, series_key), title=title, lm=lm, voice=voice,
                    tokenizer=tok, decoder=decoder_for(store, series_key),
                    references={k: (u, a) for k, (u, a, _) in refs.items()}, profiles=profiles, examples=examples,
                    max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                    facts={"base_model": str(base_dir), "greedy": True})
    facts = {"n_samples": len(samples), "base_model": str(base_dir), "default_voice": voice,
             "reference_clips": {k: {"segment_id": sid, "seconds": round(len(a) / 16000, 2)}
                                 for k, (_, a, sid) in refs.items()},
             "profiles": profiles, "seconds": round(time.perf_counter() - t0, 1)}
    return facts, warnings


def baseline_voice(configured: str, language: str, warnings: list[str]) -> str:
    """The baselines' default voice for a series: the configured one, except that the default (an English voice)
    gives way to the bridge's voice for the series' language, so that Base and One-shot are not judged on English
    letter-to-sound readings of another language."""
    from training.bridge import BridgeUnavailable, bridge_voice

    if configured != BaselineConfig.default_voice or language_code(language) == "en":
        return configured
    try:
        return bridge_voice(language)
    except BridgeUnavailable as err:
        warnings.append(f"the baselines read {language!r} replies with {configured}: {err}")
        return configured


def run_arp_model_system(store: DataStore, series_key: str, *, force: bool = False) -> StageResult | None:
    """Copy the ARP-Model's replies into its system folder (only when they changed). None without a trained model."""

    fps = reply_fingerprints(store, series_key)
    if not fps:
        return None

    def compute(out: Path) -> dict:
        rows = [row for k, f in fps.items() if f for row in load_replies(store, f"{series_key}/{k}")]
        lm_stamp = ARP_MODEL.read_stamp(store, series_key) or {}
        write_arp_model(rows, systems_dir(store, series_key), {
            "model_fingerprint": lm_stamp.get("fingerprint"),
            "characters_without_replies": sorted(k for k, f in fps.items() if not f)})
        return {"n_replies": len(rows), "characters": sorted(k for k, f in fps.items() if f)}

    return ARP_MODEL_SYSTEM.run(store, series_key, [fps], compute, force=force)


# scoring ------------------------------------------------------------------------------------------------------------
def system_folders(store: DataStore, series_key: str, extra: dict[str, str] | None = None) -> dict[str, Path]:
    """Every system to score: the folders under ``systems/`` (built-in and dropped in) and ``extra`` (name → path)."""
    root = systems_dir(store, series_key)
    found = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")} if root.exists() else {}
    for name, path in (extra or {}).items():
        p = Path(path)
        if not p.is_dir():
            raise InputError(str(p), f"system {name!r}: not a folder of <sample_id>.txt/.wav replies")
        found[name] = p
    return found


def eval_inputs(config: MetricConfig, folders: dict[str, Path]) -> list:
    return [asdict(config), {n: [str(p), sysmod.folder_identity(p)] for n, p in sorted(folders.items())}]


def held_out_replies(dialogues: list[dict], main_keys: set[str]) -> list[dict]:
    """Every reply of a main character in the validation and test splits (each turn once: its single-turn record)
    with at least ``MIN_REPLY_WORDS`` words, as the test set takes its samples."""
    return [{"character_key": d["character_key"], "character": d["character"], "text": d["reply"]["text"],
             "segment_ids": list(d["reply"]["segment_ids"])}
            for d in dialogues if d["split"] in ("validation", "test") and d["kind"] == "single_turn"
            and d["character_key"] in main_keys and n_words(d["reply"]["text"]) >= MIN_REPLY_WORDS]


def space_segments(segs: list[dict], splits: dict[str, str], episodes: set[str], max_per_character: int,
                   min_s: float = 1.0) -> list[dict]:
    """The train split's segments AP's series space learns from: every named character's (the series' own guests
    too: more voices to tell apart), ``min_s`` or longer, at most ``max_per_character`` each, spread evenly over
    the character's segments in episode order (a lead's thousands would cost minutes to embed and add little)."""
    by: dict[str, list[dict]] = {}
    for s in sorted(segs, key=lambda s: (s["episode_key"], s["start_s"])):
        if splits.get(s["episode_key"]) == "train" and s["episode_key"] in episodes and s.get("character_key") \
                and s["end_s"] - s["start_s"] >= min_s:
            by.setdefault(s["character_key"], []).append(s)
    out = []
    for key in sorted(by):
        rows = by[key]
        pick = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), max_per_character)).round().astype(int))
        out += [rows[i] for i in pick]
    return out


def _scorers(store: DataStore, series_key: str, samples: list[dict], config: MetricConfig) -> tuple[dict, list]:
    """The metrics, fitted: AP on the held-out speech (validation and test splits) of every main character and
    its series space on the train split's segments, CP and repetition on the train split's lines, relevance on the
    test set's real replies; and the held-out replies the AUCs of ``held_out_separation`` read."""

    splits, segs, dialogues = series_data(store, series_key)
    mains = {k.split("/", 1)[1] for k in character_keys(store, series_key)}
    keys = {s["character_key"] for s in samples} | mains
    audio_of = {d["episode_key"]: d["audio_path"] for d in dialogues}
    held_out = {}  # speech no model trained on: the test and validation splits
    for s in segs:
        if splits.get(s["episode_key"]) in ("test", "validation") and s["character_key"] in keys \
                and s["episode_key"] in audio_of:
            held_out.setdefault(s["character_key"], {})[s["segment_id"]] = cut(audio_of[s["episode_key"]], s["start_s"], s["end_s"])
    # ARP-Eval has the machine to itself while it embeds
    embedder = build_embedder(config.speaker_encoder, config.speaker_encoder_dir or None,
                              onnx_threads=min(4, os.cpu_count() or 1))
    train = [s for s in segs if splits.get(s["episode_key"]) == "train" and (s.get("text") or "").strip()]
    space = space_segments(segs, splits, set(audio_of), config.ap_space_max_segments) \
        if config.ap_series_space_weight > 0 else []
    return {
        "AP": AcousticPersonalization(embedder, config.ap_series_space_weight).fit(
            held_out, ((cut(audio_of[s["episode_key"]], s["start_s"], s["end_s"]) for s in space),
                       [s["character_key"] for s in space])),
        "CP": ContentPersonalization(seed=config.seed).fit([s["text"] for s in train], [s["character_key"] for s in train]),
        "relevance": Relevance(SentenceEmbedder()).fit({s["sample_id"]: s["reply_text"] for s in samples}),
        "CER": Intelligibility(config.asr_model_dir or None, language=series_language(store, series_key)),
        "repetition": Repetition().fit([s["text"] for s in train]),
    }, held_out_replies(dialogues, mains)


def run_eval(store: DataStore, series_key: str, *, config: MetricConfig = MetricConfig(),
             extra_systems: dict[str, str] | None = None, force: bool = False) -> StageResult:
    """Score every system folder on the test set; write samples.parquet and results.parquet."""
    run_arp_model_system(store, series_key, force=force)
    folders = system_folders(store, series_key, extra_systems)
    missing = [n for n in sysmod.ANCHORS if n not in folders]
    if missing:
        raise RuntimeError(f"{store.eval_dir(series_key)}: the anchors ({', '.join(missing)}) have not been written "
                           "(asset arp_baselines)")
    return ARP_EVAL.run(store, series_key, eval_inputs(config, folders),
                        lambda ev: _score(store, series_key, config, folders, ev), force=force)


def _score(store: DataStore, series_key: str, config: MetricConfig, folders: dict[str, Path],
           ev: Path) -> tuple[dict, list[str]]:
    t0 = time.perf_counter()
    samples = load_test_set(store, series_key)
    if not samples:
        raise RuntimeError(f"{ev / 'test_set.parquet'}: the test set is empty; nothing to evaluate")
    status = reply_status(store, series_key)  # the ARP-Model's replies as they are when scored (the report says so)
    scorers, replies = _scorers(store, series_key, samples, config)
    rows = []
    for name, folder in folders.items():
        rows += score_system(name, folder, samples, scorers)
    rows = normalize_rows(rows)
    results = aggregate(rows, baselines=[n for n in folders if n not in sysmod.ANCHORS and n != sysmod.ARP_MODEL],
                        n_bootstrap=config.n_bootstrap, seed=config.seed)
    results += held_out_separation(replies, scorers, series_key=series_key, n_bootstrap=config.n_bootstrap,
                                   seed=config.seed)
    write_parquet_atomic(ev / "samples.parquet", pa.Table.from_pylist(rows, schema=SAMPLE_SCORE_SCHEMA))
    write_parquet_atomic(ev / "results.parquet", pa.Table.from_pylist(results, schema=EVAL_RESULT_SCHEMA))
    problems = sorted({(r["system"], r["sample_id"], r["status"], r["problem"]) for r in rows if r["status"] != "ok"})
    facts = {
        "systems": {n: str(p) for n, p in folders.items()}, "n_samples": len(samples),
        **_overall_aucs(results, "all", "auc"),
        # the same over every held-out reply of the main characters (validation and test splits)
        **_overall_aucs(results, HELD_OUT, "auc_held_out"),
        "n_held_out_replies": len(replies),
        # pairs of characters a measure does not tell apart (e.g. two characters of one actor, for AP)
        "pairs_under_target": pairs_under_target(results),
        # trained characters whose ARP-Model replies were older than their model, decoder or test set, or missing
        "arp_model_replies": {state: sorted(k for k, v in status.items() if v == state)
                              for state in ("stale", "missing")},
        # each system's share of replies (with text) that are a train-split line word for word
        "verbatim_train_lines": verbatim_shares(rows),
        "n_problems": len(problems),
        "problems": [{"system": s, "sample_id": i, "status": st, "problem": p} for s, i, st, p in problems[:200]],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json_atomic(ev / "eval.json", facts)
    return facts, [f"{s}/{i}: {st} ({p})" for s, i, st, p in problems[:20]]


def verbatim_shares(rows: list[dict]) -> dict[str, float]:
    """System → the share of its scored replies whose ``train_sim`` is 1: a train-split line, word for word."""
    out = {}
    for name in sorted({r["system"] for r in rows}):
        sims = [r["raw"] for r in rows if r["system"] == name and r["metric"] == "train_sim" and r["raw"] is not None]
        if sims:
            out[name] = round(float(np.mean(np.asarray(sims) >= VERBATIM)), 4)
    return out


def _overall_aucs(results: list[dict], set_: str, name: str) -> dict:
    """``{name: {metric: AUC}, name_interval: {metric: [low, high]}}`` of the ALL rows of one set."""
    rows = [r for r in results if r["kind"] == "auc" and r["character_key"] == "ALL" and r["set"] == set_]
    return {name: {r["metric"]: round(r["value"], 4) for r in rows},
            f"{name}_interval": {r["metric"]: [round(x, 4) if x is not None and np.isfinite(x) else None
                                               for x in (r["ci_low"], r["ci_high"])] for r in rows}}


def load_results(store: DataStore, series_key: str) -> list[dict]:
    return pq.read_table(store.eval_dir(series_key) / "results.parquet").to_pylist()


def load_sample_scores(store: DataStore, series_key: str) -> list[dict]:
    return pq.read_table(store.eval_dir(series_key) / "samples.parquet").to_pylist()


def beats(results: list[dict], baseline: str, metric: str) -> dict[str, bool]:
    """Per character (set "all"): does ARP-Model beat ``baseline`` on ``metric``, i.e. is the paired interval above 0?"""
    out = {}
    for r in results:
        if r["kind"] == "difference" and r["set"] == "all" and r["system"] == f"{sysmod.ARP_MODEL} - {baseline}" \
                and r["metric"] == metric and r["character_key"] != "ALL":
            out[r["character"]] = r["ci_low"] is not None and np.isfinite(r["ci_low"]) and r["ci_low"] > 0
    return out


# report -------------------------------------------------------------------------------------------------------------
def run_report(store: DataStore, series_key: str, *, force: bool = False) -> StageResult:
    def compute(ev: Path) -> dict:
        return write_report(ev, series_title(store, series_key), load_test_set(store, series_key),
                            load_results(store, series_key), load_sample_scores(store, series_key),
                            json.loads((ev / "eval.json").read_text()))

    return ARP_EVAL_REPORT.run(store, series_key, [], compute, force=force)


# what would run -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalParams:
    test_set: TestSetConfig = field(default_factory=TestSetConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    metrics: MetricConfig = field(default_factory=MetricConfig)
    seed: int = 0  # the replies' sampling
    sampling: dict = field(default_factory=lambda: dict(DEFAULT_SAMPLING))


def stale_test_set(store: DataStore, series_key: str, title: str, params: EvalParams = EvalParams(),
                   language: str = "en") -> list[str]:
    return stale(store, [(ARP_TEST_SET, series_key, lambda: test_set_inputs(params.test_set, title, language))])


def stale_replies(store: DataStore, key: str, params: EvalParams = EvalParams()) -> list[str]:
    """``key``: ``<series>/<character key>``."""
    return stale(store, [(ARP_REPLIES, key, lambda: replies_inputs(key, params.seed, params.sampling))])


def reply_status(store: DataStore, series_key: str) -> dict[str, str]:
    """Trained character → ``"missing"`` (no replies yet), ``"stale"`` (made before their model, speech decoder
    or test set changed) or ``"current"``. Judged with the seed and sampling the replies were made with (their
    stamp's record; the defaults for a stamp older than that record), so replies made with another sampling than
    the defaults are not called stale for it."""
    out = {}
    for k in trained_characters(store, series_key):
        stamp = ARP_REPLIES.read_stamp(store, f"{series_key}/{k}")
        if stamp is None:
            out[k] = "missing"
            continue
        made = EvalParams(seed=stamp.get("seed", 0), sampling=stamp.get("sampling") or dict(DEFAULT_SAMPLING))
        out[k] = "stale" if stale_replies(store, f"{series_key}/{k}", made) else "current"
    return out


def reply_warnings(status: dict[str, str]) -> list[str]:
    """What ARP-Eval cannot vouch for: it scores the ARP-Model's replies on record and does not make them (``audiorole
    run``, the replies job and the sensors do). One message for the characters whose replies are stale, one for those
    with none (``status``: ``reply_status``'s)."""
    def some(state: str) -> str:
        keys = sorted(k for k, v in status.items() if v == state)
        return ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "") if keys else ""

    out = []
    if old := some("stale"):
        out.append(f"the ARP-Model replies of {old} are older than their model, speech decoder or test set: they are "
                   "scored as they are, not as the current model would reply; `audiorole run` (or the replies job) "
                   "makes them again")
    if missing := some("missing"):
        out.append(f"no ARP-Model replies yet for {missing} (not scored; `audiorole run` or the replies job makes "
                   "them)")
    return out


def stale_eval(store: DataStore, series_key: str, params: EvalParams = EvalParams()) -> list[str]:
    """The series' ARP-Eval stages after its test set that would run, in DAG order: the anchors and baselines, the
    scores (a changed ARP-Model reply or system folder included) and the report."""
    fps = reply_fingerprints(store, series_key)
    chain = [(ANCHORS, series_key, lambda: []),
             (ARP_BASELINES, series_key, lambda: baselines_inputs(params.baselines))]
    if fps:
        chain.append((ARP_MODEL_SYSTEM, series_key, lambda: [fps]))
    chain += [(ARP_EVAL, series_key, lambda: eval_inputs(params.metrics, system_folders(store, series_key))),
              (ARP_EVAL_REPORT, series_key, lambda: [])]
    return stale(store, chain)
