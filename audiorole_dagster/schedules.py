"""Scheduled re-materialization of whatever is stale, each off by default (turn them on in the Automation page):
episodes every night at 03:00, series at 04:00, shards at 04:30; models, replies and evaluation on Sundays.

A schedule catches what no file change announces: a new code version, a changed threshold or model. The same
stamps decide as for the sensors, so a schedule never re-runs current work.
"""

import dagster as dg

from audiorole_dagster import automation
from audiorole_dagster.jobs import eval_job, episode_job, replies_job, series_job, shards_job, training_job
from assets.partitions import episode_partitions
from audiorole_dagster.sensors import dataset_requests, model_requests
from resources import AutomationConfigResource, DataStoreResource, MediaRootResource
from resources.models import (
    AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource, episode_params,
)
from resources.training import TrainingResource


@dg.schedule(job=episode_job, cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def stale_episodes_schedule(
    context: dg.ScheduleEvaluationContext, media_root: MediaRootResource, data_store: DataStoreResource,
    vad: VadResource, enhancement: EnhancementResource, asr: AsrResource,
    speaker_embedding: SpeakerEmbeddingResource, diarization: DiarizationResource,
):
    """Request a run for each known episode partition with a stale stage (changed source, config or code)."""
    episodes, _ = media_root.discover()
    known = set(context.instance.get_dynamic_partitions(episode_partitions.name))
    params = episode_params({"vad": vad, "enhancement": enhancement, "asr": asr,
                             "speaker_embedding": speaker_embedding, "diarization": diarization})
    steps = automation.plan_episodes([ep for ep in episodes if ep.key in known], data_store.store,
                                     automation.Settings.of(episode=params, embedder_name=speaker_embedding.backend))
    # the same stale state is requested once: the run key names the sources and what is stale
    requests = [dg.RunRequest(run_key=s.run_key, partition_key=s.partition_key, tags={"stale_stages": s.why})
                for s in steps]
    return requests or dg.SkipReason("every episode is current")


def _stale_schedule(job, cron: str, plan, description: str) -> dg.ScheduleDefinition:
    """A schedule requesting the ``plan``'s runs of ``job`` (the sensors' planner, so the same stamps decide)."""

    @dg.schedule(name=f"stale_{job.name.removesuffix('_job')}_schedule", job=job, cron_schedule=cron,
                 default_status=dg.DefaultScheduleStatus.STOPPED, description=description)
    def _schedule(context: dg.ScheduleEvaluationContext, media_root: MediaRootResource, data_store: DataStoreResource,
                  speaker_embedding: SpeakerEmbeddingResource, training: TrainingResource,
                  automation_config: AutomationConfigResource):
        steps, waiting = plan(context, media_root, data_store, speaker_embedding, training, automation_config)
        requests = [dg.RunRequest(run_key=s.run_key, partition_key=s.partition_key, run_config=s.run_config,
                                  tags={"audiorole/automation": s.why}) for s in steps if s.job == job.name]
        return requests or dg.SkipReason("; ".join(waiting) or f"nothing stale for {job.name}")

    return _schedule


def _dataset_plan(context, media_root, data_store, speaker_embedding, training, automation_config):
    return dataset_requests(context, media_root, data_store, speaker_embedding, automation_config)


stale_series_schedule = _stale_schedule(series_job, "0 4 * * *", _dataset_plan,
                                        "Nightly: rebuild the stale series stages (characters, dialogues, card).")
stale_shards_schedule = _stale_schedule(shards_job, "30 4 * * *", _dataset_plan,
                                        "Nightly: rebuild the stale character shards of current series.")
stale_training_schedule = _stale_schedule(training_job, "0 5 * * 0", model_requests,
                                          "Weekly: retrain the ARP-Models whose dialogues, config or code changed.")
stale_replies_schedule = _stale_schedule(replies_job, "0 9 * * 0", model_requests,
                                         "Weekly: answer the test set again where a model changed.")
stale_eval_schedule = _stale_schedule(eval_job, "0 11 * * 0", model_requests,
                                      "Weekly: re-score ARP-Eval where replies, systems or metrics changed.")

#: Every schedule, each off by default (the Automation page turns them on).
schedules = [stale_episodes_schedule, stale_series_schedule, stale_shards_schedule, stale_training_schedule,
             stale_replies_schedule, stale_eval_schedule]
