"""ARP-Eval assets: the fixed test set of a series (before any model answers it) → the anchor and baseline systems,
and each character's ARP-Model replies (per character) → the scores of every system → the report. Asset checks turn
red when the ARP-Model does not beat the Base on AP or CP for a character and when a metric cannot tell the real
characters apart, and yellow when the replies scored are missing or older than the model that should have made them."""

import dagster as dg

from assets._common import (
    EVALUATION, GPU_STEP, TRAINING_POOL, config_class, is_forced, materialize_result, png_metadata, run_stage, stage_asset,
)
from assets.dataset import _series
from assets.partitions import character_partitions, series_partitions
from evaluation import replies, stages, testset
from evaluation.config import BaselineConfig, MetricConfig, TestSetConfig
from evaluation.score import MIN_AUC, TABLE_COLUMNS, table
from resources import DataStoreResource, MediaRootResource
from resources.training import TrainingResource

TestSetRunConfig = config_class("TestSetRunConfig", TestSetConfig)
BaselinesRunConfig = config_class("BaselinesRunConfig", BaselineConfig)


class ArpEvalConfig(config_class("MetricRunConfig", MetricConfig)):
    extra_systems: dict[str, str] = {}  # more systems to score: name → folder of <sample_id>.txt/.wav


#: Dagster pool of the evaluation's model steps (baseline LM generation, scoring with Whisper/resemblyzer/MiniLM).
EVALUATION_POOL = "evaluation"
_SERIES = dict(partitions_def=series_partitions, group_name=EVALUATION,
               backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1))


@stage_asset(testset.ARP_TEST_SET, **_SERIES, kinds={"parquet"},
          description=("ARP-Eval test set: per main character, single- and multi-turn samples from the test split only "
                       "(context → the real reply and its audio), capped, each with its anchor (another character's "
                       "real reply). Every system answers exactly these samples."))
def arp_test_set(context: dg.AssetExecutionContext, config: TestSetRunConfig, media_root: MediaRootResource,
                 data_store: DataStoreResource) -> dg.MaterializeResult:
    spec, _ = _series(context, media_root)
    r = run_stage(context, lambda: testset.run_test_set(data_store.store, context.partition_key, spec.title,
                                                       config=TestSetConfig(**config.model_dump()),
                                                       language=spec.language, force=is_forced(context)))
    data_store.refresh_catalog()
    return materialize_result(r)


@stage_asset(stages.ARP_BASELINES, **_SERIES, kinds={"pytorch", "wav"}, pool=EVALUATION_POOL, op_tags=GPU_STEP,
          description=("The systems ARP-Model is judged against, on the test set: the anchors (the real reply, another "
                       "character's real reply), Base (the untrained base LM, default voice) and One-shot (profile + one "
                       "example in the prompt, the voice of one reference clip)."))
def arp_baselines(context: dg.AssetExecutionContext, config: BaselinesRunConfig, data_store: DataStoreResource,
                  training: TrainingResource) -> dg.MaterializeResult:
    store, key = data_store.store, context.partition_key
    cfg = BaselineConfig(**config.model_dump())
    if training.base_model and cfg.base == BaselineConfig.base:
        cfg = BaselineConfig(**{**config.model_dump(), "base": training.base_model})
    anchors = run_stage(context, lambda: stages.run_anchors(store, key, force=is_forced(context)))
    r = run_stage(context, lambda: stages.run_baselines(store, key, config=cfg, force=is_forced(context)))
    return materialize_result(r, anchors_skipped=anchors.skipped)


class RepliesConfig(dg.Config):
    seed: int = 0  # sampling seed of the first sample (sample i uses seed + i)
    temperature: float = replies.DEFAULT_SAMPLING["temperature"]
    top_p: float = replies.DEFAULT_SAMPLING["top_p"]
    speech: str = replies.DEFAULT_SAMPLING["speech"]  # tts-vc | tts-units | lm (training.roleplay.SPEECH_SOURCES)
    # the character's profile weighed against the same prompt without it (classifier-free guidance; 1: off)
    persona_guidance: float = replies.DEFAULT_SAMPLING["persona_guidance"]
    no_repeat_ngram: int = replies.DEFAULT_SAMPLING["no_repeat_ngram"]  # no n-gram twice in a reply's text (0: off)


def _replies_md(rows: list[dict], n: int = 6) -> dg.MetadataValue:
    lines = ["| context (last turn) | reply | real reply |", "|---|---|---|"]
    for r in rows[:n]:
        last = r["context"].splitlines()[-1] if r["context"] else ""
        lines.append("| " + " | ".join(x.replace("|", "/") for x in (last, r["reply_text"], r["reference_text"])) + " |")
    return dg.MetadataValue.md("\n".join(lines))


@stage_asset(replies.ARP_REPLIES, partitions_def=character_partitions, group_name=EVALUATION, kinds={"pytorch", "wav"},
             pool=TRAINING_POOL, op_tags=GPU_STEP, backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
          description="The character's ARP-Model replies (text + speech in their voice) to their samples of the test set.")
def arp_replies(context: dg.AssetExecutionContext, config: RepliesConfig,
                data_store: DataStoreResource) -> dg.MaterializeResult:
    series_key, character_key = context.partition_key.split("/", 1)
    store = data_store.store
    r = run_stage(context, lambda: replies.run_replies(store, series_key, character_key, seed=config.seed,
                                                      temperature=config.temperature, top_p=config.top_p,
                                                      speech=config.speech, persona_guidance=config.persona_guidance,
                                                      no_repeat_ngram=config.no_repeat_ngram, force=is_forced(context)))
    data_store.refresh_catalog()
    rows = replies.load_replies(store, context.partition_key)
    extra = {"first_reply_audio": dg.MetadataValue.path(rows[0]["audio_path"])} if rows else {}
    return materialize_result(r, replies=_replies_md(rows), **extra)


def _table(results: list[dict]) -> dg.TableMetadataValue:
    rows = table(results)
    cols = list(TABLE_COLUMNS)
    return dg.MetadataValue.table(
        records=[dg.TableRecord({c: (str(r.get(c, "")) if c not in ("n", "failed") else int(r.get(c) or 0))
                                 for c in cols}) for r in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, "int" if c in ("n", "failed") else "string") for c in cols]))


@stage_asset(stages.ARP_EVAL, **_SERIES, kinds={"pytorch"}, pool=EVALUATION_POOL, op_tags=GPU_STEP,
          check_specs=[dg.AssetCheckSpec("arp_model_beats_base_ap", asset="arp_eval",
                                         description="ARP-Model's AP beats Base's for every character (paired 95% interval above 0)."),
                       dg.AssetCheckSpec("arp_model_beats_base_cp", asset="arp_eval",
                                         description="ARP-Model's CP beats Base's for every character (paired 95% interval above 0)."),
                       dg.AssetCheckSpec("metrics_separate_characters", asset="arp_eval", description=(
                           "On real replies (every held-out reply of the main characters), AUC own vs another "
                           "character's ≥ 0.95 (AP) and ≥ 0.80 (CP).")),
                       dg.AssetCheckSpec("replies_current", asset="arp_eval", description=(
                           "Every trained character's ARP-Model replies exist and were made by the current model, "
                           "speech decoder and test set (a warning: ARP-Eval scores the replies on record, it does not "
                           "make them)."))],
          description=("ARP-Eval scores: AP, CP (normalized between the anchors), relevance and CER of every system "
                       "(built-in and dropped-in folders) on the test set, per character, with bootstrap intervals and "
                       "ARP-Model − baseline paired differences."))
def arp_eval(context: dg.AssetExecutionContext, config: ArpEvalConfig, data_store: DataStoreResource):
    store, key = data_store.store, context.partition_key
    metric_cfg = MetricConfig(**{k: v for k, v in config.model_dump().items() if k != "extra_systems"})
    status = stages.reply_status(store, key)  # the replies scored below, as they are
    for message in stages.reply_warnings(status):
        context.log.warning(f"{key}: {message}")
    r = run_stage(context, lambda: stages.run_eval(store, key, config=metric_cfg, extra_systems=config.extra_systems,
                                                   force=is_forced(context)))
    data_store.refresh_catalog()
    results = stages.load_results(store, key)
    yield materialize_result(r, scores=_table(results), problems=None, systems=sorted(r.row["systems"]))
    for metric in ("AP", "CP"):
        won = stages.beats(results, "base", metric)
        yield dg.AssetCheckResult(
            check_name=f"arp_model_beats_base_{metric.lower()}", passed=bool(won) and all(won.values()),
            metadata={"characters_not_beating_base": dg.MetadataValue.json(sorted(c for c, ok in won.items() if not ok)),
                      "characters": len(won)})
    aucs = r.row.get("auc_held_out") or r.row["auc"]  # every held-out reply where there are some: more than a test set
    yield dg.AssetCheckResult(check_name="metrics_separate_characters",
                              passed=all(aucs.get(m, 0) >= t for m, t in MIN_AUC.items()),
                              metadata={**{f"auc_{m}": aucs.get(m) for m in MIN_AUC},
                                        **{f"auc_{m}_test_set": r.row["auc"].get(m) for m in MIN_AUC},
                                        "n_held_out_replies": r.row.get("n_held_out_replies"),
                                        # which pairs of characters keep a pooled AUC down
                                        "pairs_under_target": dg.MetadataValue.json(
                                            r.row.get("pairs_under_target") or [])})
    yield dg.AssetCheckResult(check_name="replies_current", passed=all(v == "current" for v in status.values()),
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={state: dg.MetadataValue.json(sorted(k for k, v in status.items() if v == state))
                                        for state in ("stale", "missing")})


@stage_asset(stages.ARP_EVAL_REPORT, **_SERIES, kinds={"html"},
          description="The ARP-Eval report: tables, AP/CP plots with intervals, AP×CP scatter, audio players per character.")
def arp_eval_report(context: dg.AssetExecutionContext, data_store: DataStoreResource) -> dg.MaterializeResult:
    r = run_stage(context, lambda: stages.run_report(data_store.store, context.partition_key, force=is_forced(context)))
    return materialize_result(r, plot=png_metadata(r.row["plots"][0], "AP and CP"))


test_set_assets = [arp_test_set]
reply_assets = [arp_replies]
evaluation_assets = [arp_baselines, arp_eval, arp_eval_report]
