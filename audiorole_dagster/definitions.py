"""The code location: ``dagster dev`` (workspace.yaml) and ``audiorole run`` load the same Definitions.

Paths come from ``AUDIOROLE_MEDIA_ROOT`` and ``AUDIOROLE_DATA_DIR`` (default: the demo series under
``demo_data/``). Nothing heavy is imported here: model libraries load inside resources at execution time.
"""

from __future__ import annotations

import os
import warnings

import dagster as dg

# partitioned asset checks are a Dagster "preview" feature: we rely on them knowingly, curators needn't be told
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)  # backfill_policy on assets

from assets.dataset import series_assets, series_checks, shard_assets, shard_checks
from assets.evaluation import evaluation_assets, reply_assets, test_set_assets
from assets.ingest import ingest_assets, ingest_checks
from assets.segments import segment_assets, segment_checks
from assets.training import series_training_assets
from audiorole_dagster.deploy import executor
from audiorole_dagster.jobs import eval_job, episode_job, replies_job, series_job, shards_job, training_job
from audiorole_dagster.schedules import schedules
from audiorole_dagster.sensors import dataset_sensor, media_root_sensor, models_sensor
from resources import AutomationConfigResource, DataStoreResource, MediaRootResource
from resources.training import TrainingResource
from resources.models import (
    AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource,
)

DEFAULT_MEDIA_ROOT = "demo_data/media"
DEFAULT_DATA_DIR = "demo_data/data"


def env_number(name: str) -> float | None:
    """A numeric setting from the environment: None when unset or empty, a clear error when it is no number."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: a number expected (or leave it unset)") from None


def build_definitions(media_root: str | None = None, data_dir: str | None = None) -> dg.Definitions:
    media_root = media_root or os.environ.get("AUDIOROLE_MEDIA_ROOT", DEFAULT_MEDIA_ROOT)
    data_dir = data_dir or os.environ.get("AUDIOROLE_DATA_DIR", DEFAULT_DATA_DIR)
    return dg.Definitions(
        assets=[*ingest_assets, *segment_assets, *series_assets, *shard_assets, *series_training_assets,
                *reply_assets, *test_set_assets, *evaluation_assets],
        asset_checks=[*ingest_checks, *segment_checks, *series_checks, *shard_checks],
        jobs=[episode_job, series_job, shards_job, training_job, replies_job, eval_job],
        sensors=[media_root_sensor, dataset_sensor, models_sensor],
        schedules=schedules,
        executor=executor(),  # AUDIOROLE_DEPLOYMENT: local (multiprocess + pools) or k8s (a pod per step)
        resources={
            "media_root": MediaRootResource(path=os.path.abspath(media_root)),
            "data_store": DataStoreResource(data_dir=os.path.abspath(data_dir)),
            "automation_config": AutomationConfigResource(path=os.environ.get("AUDIOROLE_RUN_CONFIG") or None),
            "vad": VadResource(tail_margin_db=env_number("AUDIOROLE_VAD_TAIL_DB")),
            "enhancement": EnhancementResource(mode=os.environ.get("AUDIOROLE_ENHANCEMENT", "auto")),
            "asr": AsrResource(model_dir=os.environ.get("AUDIOROLE_WHISPER_DIR") or None),
            "speaker_embedding": SpeakerEmbeddingResource(
                backend="ecapa" if os.environ.get("AUDIOROLE_ECAPA_DIR") else "resemblyzer",
                model_dir=os.environ.get("AUDIOROLE_ECAPA_DIR") or None,
            ),
            "training": TrainingResource(base_model=os.environ.get("AUDIOROLE_BASE_LM_DIR") or None,
                                         launcher=os.environ.get("AUDIOROLE_TRAIN_LAUNCHER", "torchrun")),
            "pipes_subprocess_client": dg.PipesSubprocessClient(),
            "diarization": DiarizationResource(
                backend="pyannote" if os.environ.get("AUDIOROLE_PYANNOTE_DIR") else "default",
                pipeline_dir=os.environ.get("AUDIOROLE_PYANNOTE_DIR") or None,
                overlap_detection=os.environ.get("AUDIOROLE_OVERLAP_DETECTION", "off"),
            ),
        },
    )


defs = build_definitions()
