"""What every episode asset does around its stage function: force flag, errors, metadata, catalog refresh."""

from __future__ import annotations

import dataclasses
import typing
from typing import Callable

import dagster as dg
import pydantic

from audiorole.errors import InputError
from audiorole.ingest import StageResult

#: Run tag that makes every asset of the run recompute even when current (``audiorole run --force``).
FORCE_TAG = "audiorole/force"

INGEST = "ingest"
DATASET = "dataset"
SEGMENTS = "segments"
TRAINING = "training"
EVALUATION = "evaluation"


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


def stage_metadata(result: StageResult, **extra) -> dict:
    meta = {
        "skipped_current": result.skipped,
        "stage_seconds": round(result.seconds, 3),
        "fingerprint": result.fingerprint,
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in result.warnings) or "none"),
    }
    meta.update({k: v.item() if hasattr(v, "item") else v for k, v in extra.items() if v is not None})
    return meta


def materialize_result(result: StageResult, **extra) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=stage_metadata(result, **extra), data_version=dg.DataVersion(result.fingerprint))
