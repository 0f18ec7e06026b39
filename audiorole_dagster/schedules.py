"""Scheduled re-materialization: every night, re-run the episodes whose stages are not current."""

from __future__ import annotations

import dagster as dg

from audiorole.freshness import stale_stages
from audiorole_dagster.jobs import episode_job
from audiorole_dagster.partitions import episode_partitions
from resources.models import stage_params

MODEL_RESOURCES = {"vad", "enhancement", "asr", "speaker_embedding", "diarization"}


@dg.schedule(job=episode_job, cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED,
             required_resource_keys={"media_root", "data_store", *MODEL_RESOURCES})
def stale_episodes_schedule(context: dg.ScheduleEvaluationContext):
    """Request a run for each known episode partition with a stale stage (changed source, config or code)."""
    res = context.resources
    episodes, _ = res.media_root.discover()
    known = set(context.instance.get_dynamic_partitions(episode_partitions.name))
    params = stage_params({k: getattr(res, k) for k in MODEL_RESOURCES})
    store = res.data_store.store
    stale = [ep for ep in episodes if ep.key in known and stale_stages(ep, store, params)]
    if not stale:
        return dg.SkipReason("every episode is current")
    stamp = context.scheduled_execution_time.strftime("%Y%m%d") if context.scheduled_execution_time else "now"
    return [dg.RunRequest(run_key=f"{ep.key}@{stamp}", partition_key=ep.key) for ep in stale]
