"""What every asset does around its stage: the lineage from the stage's declaration, force flag, errors, metadata."""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Callable

import dagster as dg
import pydantic

from audiorole.errors import InputError
from audiorole.stage import STAGES, Stage, StageResult

#: Run tag that makes every asset of the run recompute even when current (``audiorole run --force``).
FORCE_TAG = "audiorole/force"

INGEST = "ingest"
DATASET = "dataset"
SEGMENTS = "segments"
TRAINING = "training"
EVALUATION = "evaluation"

#: Dagster pool of the steps that load the trained model (training, replies); its limit is set in the instance's
#: dagster.yaml: one at a time.
TRAINING_POOL = "training"


def stage_asset(stage: Stage, **kwargs):
    """``dg.asset`` for a declared stage: its name, ``code_version`` and ``deps`` come from the declaration (an
    upstream in another partitioning through the all-partitions mapping), so the lineage the UI shows is the one
    the stage's fingerprint reads."""
    deps = [dg.AssetKey(u) if STAGES[u].scope == stage.scope else
            dg.AssetDep(u, partition_mapping=dg.AllPartitionMapping()) for u in stage.upstream]
    return dg.asset(name=stage.name, code_version=stage.version, deps=deps, **kwargs)


def config_class(name: str, settings) -> type[dg.Config]:
    """A Dagster run-config class with the fields and documented defaults of a domain settings dataclass, so
    thresholds are written once (in ``audiorole``) and settable per run in the launchpad."""
    hints = typing.get_type_hints(settings)
    return pydantic.create_model(
        name, __base__=dg.Config, **{f.name: (hints[f.name], f.default) for f in dataclasses.fields(settings)})


def is_forced(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(FORCE_TAG, "false").lower() == "true"


def run_stage(context: dg.AssetExecutionContext, fn: Callable[[], StageResult]) -> StageResult:
    """Run a stage; bad input becomes a ``dg.Failure`` whose message names the file and the problem."""
    try:
        result = fn()
    except InputError as err:
        raise dg.Failure(
            description=str(err),
            metadata={"file": err.path or "", "problem": err.problem},
            allow_retries=False,
        ) from err
    for w in result.warnings:
        context.log.warning(w)
    if result.skipped:
        context.log.info(f"{result.stage} of {result.key} is current (fingerprint {result.fingerprint}); skipped")
    return result


#: Facts that name a file: shown as paths in the UI.
PATH_FACTS = {"source_path", "audio_path", "subtitle_path", "card", "report", "markdown", "model_dir", "loss_plot"}


def fact_value(name: str, value):
    """A stage fact as Dagster metadata: numbers and text as they are, files as paths, the rest as JSON."""
    if isinstance(value, dg.MetadataValue):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, (dict, list, tuple)):
        return dg.MetadataValue.json(value)
    return dg.MetadataValue.path(value) if name in PATH_FACTS and value else value


def stage_metadata(result: StageResult, **extra) -> dict:
    """What the UI shows of a materialization: current or ran, seconds, fingerprint, warnings, then the stage's
    facts (its stamp) and ``extra``."""
    meta = {
        "skipped_current": result.skipped,
        "stage_seconds": round(result.seconds, 3),
        "fingerprint": result.fingerprint,
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in result.warnings) or "none"),
    }
    facts = {k: v for k, v in result.row.items() if k != "warnings"}
    meta.update({k: fact_value(k, v) for k, v in {**facts, **extra}.items() if v is not None})
    return meta


def materialize_result(result: StageResult, **extra) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=stage_metadata(result, **extra), data_version=dg.DataVersion(result.fingerprint))


#: Episodes per run of a backfill: one run loads each model once for this many episodes (README, "Backfills";
#: ``AUDIOROLE_EPISODES_PER_RUN``, 1 for one episode per run).
EPISODES_PER_BACKFILL_RUN = int(os.environ.get("AUDIOROLE_EPISODES_PER_RUN", "4"))
EPISODE_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=EPISODES_PER_BACKFILL_RUN)


def run_keys(context) -> list[str]:
    """The partitions this step materializes: one, or each key of a ranged (multi-partition backfill) run."""
    return list(context.partition_keys) if context.has_partition_key_range else [context.partition_key]


def for_each_partition(context: dg.AssetExecutionContext, stage: Callable[[str, bool], StageResult], *,
                       extra: Callable[[str], dict] = lambda key: {}, catalog=None) -> dg.MaterializeResult:
    """Run ``stage(partition_key, force) -> result`` (``run_stage``: bad input named) for the run's partition, or for
    every partition of a ranged run, so one run pays the model loads once for many episodes; ``extra(key)``: more
    metadata; ``catalog``: the data store resource whose catalog is refreshed after.

    A ranged run records one materialization per partition; its metadata is the run's table (one row per
    partition: current or ran, seconds, fingerprint, warnings). A bad partition does not stop the others: they are
    all tried, the good ones are recorded with their own metadata, then the step fails naming each bad one (file and
    problem), so the backfill shows exactly which partitions failed.
    """
    def one(key: str) -> tuple[StageResult, dict]:
        return run_stage(context, lambda: stage(key, is_forced(context))), extra(key)

    out = _each(context, one)
    if catalog is not None:
        catalog.refresh_catalog()
    return out


def _each(context: dg.AssetExecutionContext, stage: Callable[[str], tuple[StageResult, dict]]) -> dg.MaterializeResult:
    if not context.has_partition_key_range:
        result, extra = stage(context.partition_key)
        return materialize_result(result, **extra)
    done, failed = {}, {}
    for key in run_keys(context):
        try:
            done[key] = stage(key)
        except dg.Failure as err:
            failed[key] = err.description or str(err)
            context.log.error(f"{key}: {failed[key]}")
    if failed:
        for key, (result, extra) in done.items():
            context.log_event(dg.AssetMaterialization(
                asset_key=context.asset_key, partition=key, metadata=stage_metadata(result, **extra)))
        raise dg.Failure(
            description=f"{len(failed)} of {len(failed) + len(done)} partitions failed: "
            + "; ".join(f"{k}: {why}" for k, why in failed.items()),
            metadata={"failed_partitions": dg.MetadataValue.json(failed), "succeeded": len(done)},
            allow_retries=False)
    rows = ["| partition | current (skipped) | seconds | fingerprint | warnings |", "|---|---|---|---|---|"]
    rows += [f"| {k} | {r.skipped} | {r.seconds:.1f} | {r.fingerprint} | {len(r.warnings)} |" for k, (r, _) in done.items()]
    return dg.MaterializeResult(metadata={
        "partitions_in_run": len(done), "skipped_current": sum(r.skipped for r, _ in done.values()),
        "stage_seconds": round(sum(r.seconds for r, _ in done.values()), 3),
        "per_partition": dg.MetadataValue.md("\n".join(rows)),
        "warnings": dg.MetadataValue.md("\n".join(f"- {k}: {w}" for k, (r, _) in done.items() for w in r.warnings)
                                        or "none")})


def check_result(rows: dict[str, dict], *, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
                 ) -> dg.AssetCheckResult:
    """One check result for the step's partitions (``rows``: partition → facts with ``passed``). For one partition
    its facts are the metadata; a ranged run's result covers all its partitions and names the failing ones."""
    failing = sorted(k for k, r in rows.items() if not r["passed"])
    if len(rows) == 1:
        (row,) = rows.values()
        metadata = {k: v for k, v in row.items() if k != "passed"}
    else:
        metadata = {"failing_partitions": dg.MetadataValue.json(failing),
                    "partitions": dg.MetadataValue.json({k: {f: v for f, v in r.items() if f != "passed"}
                                                         for k, r in rows.items()})}
    return dg.AssetCheckResult(passed=not failing, severity=severity, metadata=metadata)


def png_metadata(path, alt: str) -> dg.MetadataValue:
    """A PNG as Markdown metadata (inline data URI): Dagster has no image metadata type, and the UI renders this."""
    import base64
    from pathlib import Path

    png = Path(path)
    if not png.exists():
        return dg.MetadataValue.md(f"({alt}: {png.name} not written)")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()})")


#: What a step asks of Kubernetes when it runs under the k8s profile (``k8s_job_executor``: one pod per step;
#: ``deploy/k8s/``). Model steps (ASR, diarization, enhancement, speaker embeddings, training, replies, scoring) ask
#: for a GPU; every other step gets the executor's small default pod. The local profile ignores these tags.
GPU_STEP = {"dagster-k8s/config": {
    "container_config": {"resources": {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                                       "limits": {"memory": "32Gi", "nvidia.com/gpu": "1"}}},
    "pod_spec_config": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                        "node_selector": {"audiorole/accelerator": "gpu"}},
}}
