"""Scheduled re-materialization: every night, re-run the episodes whose stages are not current."""


import dagster as dg

from audiorole.freshness import source_fingerprint, stale_stages
from audiorole.store import fingerprint
from audiorole_dagster.jobs import episode_job
from audiorole_dagster.partitions import episode_partitions
from resources import DataStoreResource, MediaRootResource
from resources.models import (
    AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource, stage_params,
)


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
