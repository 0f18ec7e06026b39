"""Scheduled re-materialization of whatever is stale, each off by default (turn them on in the Automation page):
episodes every night at 03:00, series and shards at 04:00, models and their evaluation on Sundays at 05:00.

A schedule catches what no file change announces: a new code version, a changed threshold or model. The same
stamps decide as for the sensors, so a schedule never re-runs current work.
"""

import dagster as dg

from assets._common import DATASET, EVALUATION, TRAINING
from assets.dataset import series_assets, shard_assets
from assets.evaluation import evaluation_assets, test_set_assets
from assets.training import character_training_assets, series_training_assets
from audiorole.freshness import source_fingerprint, stale_stages
from audiorole.store import fingerprint
from audiorole_dagster.jobs import episode_job
from audiorole_dagster.partitions import episode_partitions
from audiorole_dagster.sensors import dataset_requests, model_requests
from resources import DataStoreResource, MediaRootResource
from resources.models import (
    AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource, stage_params,
)
from resources.training import TrainingResource

#: The assets each automation job name stands for, so a schedule can target them as an asset selection.
JOB_ASSETS = {
    "series_job": series_assets, "shards_job": shard_assets,
    "training_job": [*series_training_assets, *test_set_assets], "replies_job": character_training_assets,
    "eval_job": evaluation_assets,
}


def _asset_requests(steps) -> list[dg.RunRequest]:
    return [dg.RunRequest(run_key=s.run_key, partition_key=s.partition_key, tags={"audiorole/automation": s.why},
                          run_config=s.run_config,
                          asset_selection=[a.key for a in JOB_ASSETS[s.job]]) for s in steps]


@dg.schedule(job=episode_job, cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def stale_episodes_schedule(
    context: dg.ScheduleEvaluationContext, media_root: MediaRootResource, data_store: DataStoreResource,
    vad: VadResource, enhancement: EnhancementResource, asr: AsrResource,
    speaker_embedding: SpeakerEmbeddingResource, diarization: DiarizationResource,
):
    """Request a run for each known episode partition with a stale stage (changed source, config or code)."""
    episodes, _ = media_root.discover()
    known = set(context.instance.get_dynamic_partitions(episode_partitions.name))
    params = stage_params({"vad": vad, "enhancement": enhancement, "asr": asr,
                           "speaker_embedding": speaker_embedding, "diarization": diarization})
    store = data_store.store
    requests = []
    for ep in episodes:
        stale = stale_stages(ep, store, params) if ep.key in known else []
        if stale:
            # the same stale state is requested once: the run key names the sources and what is stale
            run_key = f"{ep.key}@{fingerprint(source_fingerprint(ep), stale)}"
            requests.append(dg.RunRequest(run_key=run_key, partition_key=ep.key, tags={"stale_stages": ",".join(stale)}))
    return requests or dg.SkipReason("every episode is current")


@dg.schedule(target=dg.AssetSelection.groups(DATASET), cron_schedule="0 4 * * *",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def stale_dataset_schedule(context: dg.ScheduleEvaluationContext, media_root: MediaRootResource,
                           data_store: DataStoreResource, speaker_embedding: SpeakerEmbeddingResource):
    """Re-materialize the stale series stages, then (on a later tick, once they are current) the stale shards."""
    steps, waiting = dataset_requests(context, media_root, data_store, speaker_embedding)
    return _asset_requests(steps) or dg.SkipReason("; ".join(waiting) or "every series and shard is current")


@dg.schedule(target=dg.AssetSelection.groups(TRAINING, EVALUATION), cron_schedule="0 5 * * 0",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def stale_models_schedule(context: dg.ScheduleEvaluationContext, media_root: MediaRootResource,
                          data_store: DataStoreResource, speaker_embedding: SpeakerEmbeddingResource,
                          training: TrainingResource):
    """Retrain the stale ARP-Models, then their replies, then ARP-Eval (one family per tick, in that order)."""
    steps, waiting = model_requests(context, media_root, data_store, speaker_embedding, training)
    return _asset_requests(steps) or dg.SkipReason("; ".join(waiting) or "every model and evaluation is current")
