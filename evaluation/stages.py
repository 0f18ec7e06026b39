"""The ARP-Eval stages of a series, with the data half's stamp protocol (``audiorole.store``): ``run_<stage>``
writes its artifacts atomically, then a fingerprint stamp; a current stage is skipped; re-running is idempotent.

Layout under the data dir::

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
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiorole import dataset
from audiorole.errors import InputError
from audiorole.ingest import StageResult
from audiorole.io import write_json_atomic, write_parquet_atomic
from audiorole.store import (
    DataStore, current_stamp, file_identity, fingerprint, read_stamp, stale_from, upstream_fingerprint, write_stamp,
)
from evaluation import systems as sysmod
from evaluation.config import BaselineConfig, MetricConfig, TestSetConfig
from evaluation.schema import EVAL_RESULT_SCHEMA, SAMPLE_SCORE_SCHEMA, TEST_SAMPLE_SCHEMA
from audiorole.dialogues import UNKNOWN_SPEAKER, speaker_name
from evaluation.testset import build_test_set, n_words

TEST_SET_VERSION = "1"
BASELINES_VERSION = "1"
EVAL_VERSION = "2"  # 2: CER decoded at temperature 0 (the same on every run), capped at 1 per sample
REPORT_VERSION = "1"


def eval_dir(store: DataStore, series_key: str) -> Path:
    return store.root / "eval" / series_key


def systems_dir(store: DataStore, series_key: str) -> Path:
    return eval_dir(store, series_key) / "systems"


# test set -----------------------------------------------------------------------------------------------------------
def test_set_fingerprint(store: DataStore, series_key: str, config: TestSetConfig) -> str:
    return fingerprint("test_set", TEST_SET_VERSION,
                       upstream_fingerprint(dataset.series_dir(store, series_key), "dialogues"), asdict(config))


def run_test_set(store: DataStore, series_key: str, title: str, *, config: TestSetConfig = TestSetConfig(),
                 force: bool = False) -> StageResult:
    """The series' test set (``testset.build_test_set``); the series' title is kept with it for the prompts and
    the report."""
    out = eval_dir(store, series_key)
    fp = fingerprint(test_set_fingerprint(store, series_key, config), title)
    stamp = None if force else current_stamp(out, "test_set", fp, ["test_set.parquet"])
    if stamp:
        return StageResult("test_set", series_key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    dialogues = pq.read_table(dataset.series_dir(store, series_key) / "dialogues.parquet").to_pylist()
    mains = {k.split("/", 1)[1] for k in dataset.character_keys(store, series_key)}
    samples, facts = build_test_set(dialogues, mains, config)
    write_parquet_atomic(out / "test_set.parquet", pa.Table.from_pylist(samples, schema=TEST_SAMPLE_SCHEMA))
    warnings = [f"{series_key}: {name} has no test sample (no test-split reply of {config.min_reply_words}+ words); "
                "skipped by the evaluation" for name in facts["characters_without_samples"]]
    write_stamp(out, "test_set", fp, title=title, **facts)
    return StageResult("test_set", series_key, fp, facts, seconds=time.perf_counter() - t0, warnings=warnings)


def series_title(store: DataStore, series_key: str) -> str:
    stamp = read_stamp(eval_dir(store, series_key), "test_set")
    if stamp is None:
        raise RuntimeError(f"{eval_dir(store, series_key)}: the series' test set has not been built yet (asset arp_test_set)")
    return stamp["title"]


def load_test_set(store: DataStore, series_key: str) -> list[dict]:
    path = eval_dir(store, series_key) / "test_set.parquet"
    if read_stamp(eval_dir(store, series_key), "test_set") is None or not path.exists():
        raise RuntimeError(f"{path}: the series' test set has not been built yet (asset arp_test_set)")
    return pq.read_table(path).to_pylist()


def character_samples(store: DataStore, series_key: str, character_key: str) -> list[dict]:
    return [s for s in load_test_set(store, series_key) if s["character_key"] == character_key]


# anchors and baselines ----------------------------------------------------------------------------------------------
def _train_material(store: DataStore, series_key: str, max_clip_s: float):
    """Per main character, from the train split only: the reference clip (units, audio) of the One-shot voice, its
    profile line and one example exchange."""
    from audiorole.alignment import analysis_audio_path
    from audiorole.audio import load_audio
    from training.stages import episode_units, series_data, stage_dir
    from training.tokenizer import load_tokenizer, units_for_span

    splits, segs, dialogues = series_data(store, series_key)
    tok = load_tokenizer(stage_dir(store, series_key, "tokenizer"))
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
        single = sorted((d for d in mine if d["kind"] == "single_turn" and n_words(d["reply"]["text"]) >= 3),
                        key=lambda d: hashlib.sha1(d["dialogue_id"].encode()).hexdigest())
        if single:
            d = single[0]
            examples[key] = {"context": [{"speaker": speaker_name(t), "text": t["text"] or ""} for t in d["context"]],
                             "reply_text": d["reply"]["text"]}
    return tok, refs, profiles, examples


def _base_dir(store: DataStore, base: str) -> Path:
    from training.lm.base import resolve_base_dir

    return resolve_base_dir(base, store.root / "models" / "_base")


def baselines_fingerprint(store: DataStore, series_key: str, config: BaselineConfig) -> str:
    from training.stages import stage_dir

    ev = eval_dir(store, series_key)
    base_id = config.base if config.base.startswith("packaged:") else file_identity(Path(config.base) / "config.json")
    return fingerprint("baselines", BASELINES_VERSION, upstream_fingerprint(ev, "test_set"), asdict(config), base_id,
                       upstream_fingerprint(stage_dir(store, series_key, "tokenizer"), "tokenizer"),
                       upstream_fingerprint(stage_dir(store, series_key, "decoder"), "decoder"))


def run_anchors(store: DataStore, series_key: str, *, force: bool = False) -> StageResult:
    from evaluation.systems.anchors import write_anchors

    ev = eval_dir(store, series_key)
    fp = fingerprint("anchors", BASELINES_VERSION, upstream_fingerprint(ev, "test_set"))
    outputs = [f"systems/{n}/{sysmod.SYSTEM_FILE}" for n in sysmod.ANCHORS]
    stamp = None if force else current_stamp(ev, "anchors", fp, outputs)
    if stamp:
        return StageResult("anchors", series_key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    samples = load_test_set(store, series_key)
    write_anchors(samples, systems_dir(store, series_key))
    facts = {"n_samples": len(samples), "systems": list(sysmod.ANCHORS)}
    write_stamp(ev, "anchors", fp, **facts)
    return StageResult("anchors", series_key, fp, facts, seconds=time.perf_counter() - t0)


def run_baselines(store: DataStore, series_key: str, *, config: BaselineConfig = BaselineConfig(),
                  force: bool = False, threads: int | None = None) -> StageResult:
    """The Base and One-shot systems' replies to every test sample."""
    from evaluation.systems.baselines import BaseLM, write_baselines
    from training.stages import decoder_for

    ev = eval_dir(store, series_key)
    fp = baselines_fingerprint(store, series_key, config)
    outputs = [f"systems/{n}/{sysmod.SYSTEM_FILE}" for n in sysmod.BASELINES]
    stamp = None if force else current_stamp(ev, "baselines", fp, outputs)
    if stamp:
        return StageResult("baselines", series_key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    samples, title = load_test_set(store, series_key), series_title(store, series_key)
    tok, refs, profiles, examples = _train_material(store, series_key, config.reference_clip_max_s)
    base_dir = _base_dir(store, config.base)
    lm = BaseLM(base_dir, threads)
    warnings = [f"{series_key}/{k}: no train-split utterance for a One-shot reference clip; its One-shot replies "
                "have no audio" for k in sorted({s["character_key"] for s in samples} - set(refs))]
    write_baselines(samples, systems_dir(store, series_key), title=title, lm=lm, voice=config.default_voice,
                    tokenizer=tok, decoder=decoder_for(store, series_key),
                    references={k: (u, a) for k, (u, a, _) in refs.items()}, profiles=profiles, examples=examples,
                    max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                    facts={"base_model": str(base_dir), "greedy": True})
    facts = {"n_samples": len(samples), "base_model": str(base_dir), "default_voice": config.default_voice,
             "reference_clips": {k: {"segment_id": sid, "seconds": round(len(a) / 16000, 2)}
                                 for k, (_, a, sid) in refs.items()},
             "profiles": profiles, "seconds": round(time.perf_counter() - t0, 1)}
    write_stamp(ev, "baselines", fp, **facts)
    return StageResult("baselines", series_key, fp, facts, seconds=time.perf_counter() - t0, warnings=warnings)


def _arp_model_replies(store: DataStore, series_key: str) -> dict[str, str | None]:
    """Trained character → the fingerprint of their replies (None: no replies yet); empty without a trained model."""
    from training.stages import character_models, replies_dir

    out = {}
    for r in character_models(store, series_key):
        if r["trained"]:
            stamp = read_stamp(replies_dir(store, series_key, r["character_key"]), "replies")
            out[r["character_key"]] = stamp["fingerprint"] if stamp else None
    return out


def run_arp_model_system(store: DataStore, series_key: str, *, force: bool = False) -> StageResult | None:
    """Copy the ARP-Model's replies into its system folder (only when they changed). None without a trained model."""
    from evaluation.systems.arp_model import write_arp_model
    from training.stages import load_replies

    ev = eval_dir(store, series_key)
    fps = _arp_model_replies(store, series_key)
    if not fps:
        return None
    fp = fingerprint("arp_model_system", EVAL_VERSION, upstream_fingerprint(ev, "test_set"), fps)
    stamp = None if force else current_stamp(ev, "arp_model_system", fp, [f"systems/{sysmod.ARP_MODEL}/{sysmod.SYSTEM_FILE}"])
    if stamp:
        return StageResult("arp_model_system", series_key, fp, stamp, skipped=True)
    rows = [row for k, f in fps.items() if f for row in load_replies(store, series_key, k)]
    lm_stamp = read_stamp(store.root / "models" / series_key / "lm", "lm") or {}
    write_arp_model(rows, systems_dir(store, series_key), {"model_fingerprint": lm_stamp.get("fingerprint"),
                                                             "characters_without_replies": sorted(k for k, f in fps.items() if not f)})
    facts = {"n_replies": len(rows), "characters": sorted(k for k, f in fps.items() if f)}
    write_stamp(ev, "arp_model_system", fp, **facts)
    return StageResult("arp_model_system", series_key, fp, facts)


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


def eval_fingerprint(store: DataStore, series_key: str, config: MetricConfig, folders: dict[str, Path]) -> str:
    ev = eval_dir(store, series_key)
    return fingerprint("eval", EVAL_VERSION, upstream_fingerprint(ev, "test_set"), asdict(config),
                       {n: [str(p), sysmod.folder_identity(p)] for n, p in sorted(folders.items())})


def _scorers(store: DataStore, series_key: str, samples: list[dict], config: MetricConfig) -> dict:
    """The four metrics, fitted: AP on the test split's held-out speech, CP on the train split's lines, relevance on
    the test set's real replies."""
    from audiorole.embeddings import build_embedder
    from evaluation.metrics.acoustic import AcousticPersonalization
    from evaluation.metrics.content import ContentPersonalization
    from evaluation.metrics.intelligibility import Intelligibility
    from evaluation.metrics.relevance import Relevance, SentenceEmbedder
    from evaluation.systems.anchors import cut
    from training.stages import series_data

    splits, segs, dialogues = series_data(store, series_key)
    keys = {s["character_key"] for s in samples}
    audio_of = {d["episode_key"]: d["audio_path"] for d in dialogues}
    held_out = {}  # speech no model trained on: the test and validation splits
    for s in segs:
        if splits.get(s["episode_key"]) in ("test", "validation") and s["character_key"] in keys \
                and s["episode_key"] in audio_of:
            held_out.setdefault(s["character_key"], {})[s["segment_id"]] = cut(audio_of[s["episode_key"]], s["start_s"], s["end_s"])
    embedder = build_embedder(config.speaker_encoder, config.speaker_encoder_dir or None)
    train = [s for s in segs if splits.get(s["episode_key"]) == "train" and (s.get("text") or "").strip()]
    return {
        "AP": AcousticPersonalization(embedder).fit(held_out),
        "CP": ContentPersonalization(seed=config.seed).fit([s["text"] for s in train], [s["character_key"] for s in train]),
        "relevance": Relevance(SentenceEmbedder()).fit({s["sample_id"]: s["reply_text"] for s in samples}),
        "CER": Intelligibility(config.asr_model_dir or None),
    }


def run_eval(store: DataStore, series_key: str, *, config: MetricConfig = MetricConfig(),
             extra_systems: dict[str, str] | None = None, force: bool = False) -> StageResult:
    """Score every system folder on the test set; write samples.parquet and results.parquet."""
    from evaluation.score import aggregate, normalize_rows, score_system

    ev = eval_dir(store, series_key)
    run_arp_model_system(store, series_key, force=force)
    folders = system_folders(store, series_key, extra_systems)
    missing = [n for n in sysmod.ANCHORS if n not in folders]
    if missing:
        raise RuntimeError(f"{ev}: the anchors ({', '.join(missing)}) have not been written (asset arp_baselines)")
    fp = eval_fingerprint(store, series_key, config, folders)
    stamp = None if force else current_stamp(ev, "eval", fp, ["results.parquet", "samples.parquet"])
    if stamp:
        return StageResult("eval", series_key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    samples = load_test_set(store, series_key)
    if not samples:
        raise RuntimeError(f"{ev / 'test_set.parquet'}: the test set is empty; nothing to evaluate")
    scorers = _scorers(store, series_key, samples, config)
    rows = []
    for name, folder in folders.items():
        rows += score_system(name, folder, samples, scorers)
    rows = normalize_rows(rows)
    results = aggregate(rows, baselines=[n for n in folders if n not in sysmod.ANCHORS and n != sysmod.ARP_MODEL],
                        n_bootstrap=config.n_bootstrap, seed=config.seed)
    write_parquet_atomic(ev / "samples.parquet", pa.Table.from_pylist(rows, schema=SAMPLE_SCORE_SCHEMA))
    write_parquet_atomic(ev / "results.parquet", pa.Table.from_pylist(results, schema=EVAL_RESULT_SCHEMA))
    problems = sorted({(r["system"], r["sample_id"], r["status"], r["problem"]) for r in rows if r["status"] != "ok"})
    facts = {
        "systems": {n: str(p) for n, p in folders.items()}, "n_samples": len(samples),
        "auc": {f"{r['metric']}": round(r["value"], 4) for r in results
                if r["kind"] == "auc" and r["character_key"] == "ALL" and r["set"] == "all"},
        "n_problems": len(problems),
        "problems": [{"system": s, "sample_id": i, "status": st, "problem": p} for s, i, st, p in problems[:200]],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json_atomic(ev / "eval.json", facts)
    write_stamp(ev, "eval", fp, **facts)
    return StageResult("eval", series_key, fp, facts, seconds=time.perf_counter() - t0,
                       warnings=[f"{s}/{i}: {st} ({p})" for s, i, st, p in problems[:20]])


def load_results(store: DataStore, series_key: str) -> list[dict]:
    return pq.read_table(eval_dir(store, series_key) / "results.parquet").to_pylist()


def load_sample_scores(store: DataStore, series_key: str) -> list[dict]:
    return pq.read_table(eval_dir(store, series_key) / "samples.parquet").to_pylist()


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
    from evaluation.report import write_report

    ev = eval_dir(store, series_key)
    fp = fingerprint("report", REPORT_VERSION, upstream_fingerprint(ev, "eval"))
    stamp = None if force else current_stamp(ev, "report", fp, ["report/index.html", "report/report.md"])
    if stamp:
        return StageResult("report", series_key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    facts = write_report(ev, series_title(store, series_key), load_test_set(store, series_key), load_results(store, series_key),
                         load_sample_scores(store, series_key), json.loads((ev / "eval.json").read_text()))
    write_stamp(ev, "report", fp, **facts)
    return StageResult("report", series_key, fp, facts, seconds=time.perf_counter() - t0)


# staleness, for the automation sensor ------------------------------------------------------------------------------
def stale_stages(store: DataStore, series_key: str, title: str, *, test_set: TestSetConfig = TestSetConfig(),
                 baselines: BaselineConfig = BaselineConfig(), metrics: MetricConfig = MetricConfig()) -> list[str]:
    """ARP-Eval's stages of a series that would recompute, in DAG order, known from the stamps alone (a stage after
    a stale one counts as stale): ``test_set`` (run by training_job), then ``baselines`` (anchors and the two
    baselines), ``eval`` (a changed ARP-Model reply or system folder included) and ``report``."""
    ev = eval_dir(store, series_key)

    def eval_current():
        fps = _arp_model_replies(store, series_key)
        if fps and not current_stamp(ev, "arp_model_system", fingerprint(
                "arp_model_system", EVAL_VERSION, upstream_fingerprint(ev, "test_set"), fps),
                [f"systems/{sysmod.ARP_MODEL}/{sysmod.SYSTEM_FILE}"]):
            return None
        return current_stamp(ev, "eval", eval_fingerprint(store, series_key, metrics, system_folders(store, series_key)),
                             ["results.parquet", "samples.parquet"])

    checks = [
        ("test_set", lambda: current_stamp(ev, "test_set", fingerprint(
            test_set_fingerprint(store, series_key, test_set), title), ["test_set.parquet"])),
        ("baselines", lambda: current_stamp(ev, "baselines", baselines_fingerprint(store, series_key, baselines),
                                            [f"systems/{n}/{sysmod.SYSTEM_FILE}" for n in sysmod.BASELINES])),
        ("eval", eval_current),
        ("report", lambda: current_stamp(ev, "report", fingerprint("report", REPORT_VERSION,
                                                                   upstream_fingerprint(ev, "eval")),
                                         ["report/index.html", "report/report.md"])),
    ]
    return stale_from(checks, (RuntimeError, OSError, KeyError, ValueError, InputError))
