"""Sensors: dropping a series folder in is all a curator does.

- ``media_root_sensor`` (on): new series and episodes become partitions; episodes that are new or whose files
  changed, and are not already current in the store, get an ``episode_job`` run.
- ``dataset_sensor`` (on): once a series' episodes are settled, its stale series stages (``series_job``), then
  its characters' stale shards (``shards_job``).
- ``models_sensor`` (off: training and evaluation are expensive; turn it on in the Automation page): once a series'
  dataset is settled, its ARP-Model (``training_job``), its characters' replies (``replies_job``), then ARP-Eval
  (``eval_job``).

What to request is the one planner's answer (``audiorole_dagster.automation``), the same ``audiorole run`` follows.
"""

from __future__ import annotations

import json
import os

import dagster as dg

from audiorole.pipeline import source_fingerprint
from audiorole.segments.stages import ALIGNED_SEGMENTS
from audiorole.store import fingerprint
from audiorole_dagster import automation
from audiorole_dagster.jobs import eval_job, episode_job, replies_job, series_job, shards_job, training_job
from assets.partitions import episode_partitions, series_partitions
from resources import AutomationConfigResource, DataStoreResource, MediaRootResource
from resources.models import (
    AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource, episode_params,
)
from resources.training import TrainingResource

#: Seconds between sensor ticks (``AUDIOROLE_SENSOR_INTERVAL_S``; the UI test shortens it).
SENSOR_INTERVAL_S = int(os.environ.get("AUDIOROLE_SENSOR_INTERVAL_S", "30"))
#: ``AUDIOROLE_AUTOMATION=off`` starts the media-root and dataset sensors stopped (e.g. to backfill by hand only).
_ON = (dg.DefaultSensorStatus.STOPPED if os.environ.get("AUDIOROLE_AUTOMATION", "on") == "off"
       else dg.DefaultSensorStatus.RUNNING)
IN_FLIGHT_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                      dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
FINISHED_BAD = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def in_flight(instance: dg.DagsterInstance) -> automation.InFlight:
    """Queued and running runs by series, plus every series a running backfill targets."""
    out = automation.InFlight()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT_STATUSES)):
        for tag in automation.PARTITION_TAGS:
            if tag in run.tags:
                out.add(run.job_name, run.tags[tag])
    from dagster._core.execution.backfill import BulkActionStatus

    for backfill in instance.get_backfills(status=BulkActionStatus.REQUESTED):
        data = backfill.asset_backfill_data
        for ap in data.target_subset.iterate_asset_partitions() if data is not None else ():
            if ap.partition_key:
                out.add(automation.BACKFILL, ap.partition_key)
    return out


def last_run_failed(instance: dg.DagsterInstance, job_name: str, partition_key: str) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, tags={"dagster/partition": partition_key}),
                             limit=1)
    return bool(runs) and runs[0].status in FINISHED_BAD


def _series_digests(sources: dict[str, str]) -> dict[str, str]:
    by_series: dict[str, list] = {}
    for key, fp in sorted(sources.items()):
        by_series.setdefault(key.split("/", 1)[0], []).append((key, fp))
    return {s: fingerprint(items) for s, items in by_series.items()}


@dg.sensor(job=episode_job, minimum_interval_seconds=SENSOR_INTERVAL_S, default_status=_ON)
def media_root_sensor(context: dg.SensorEvaluationContext, media_root: MediaRootResource,
                      data_store: DataStoreResource, vad: VadResource, enhancement: EnhancementResource,
                      asr: AsrResource, speaker_embedding: SpeakerEmbeddingResource,
                      diarization: DiarizationResource):
    """Scan the media root; add new series/episodes as partitions; request runs for the episodes that are new or
    whose files changed and are not current in the store.

    The cursor holds one digest per series (of its episodes' file identities), so a tick over 10k unchanged
    episodes is one directory scan and a comparison; only a series whose digest changed is looked at episode by
    episode. Each run key names the episode's sources and what is stale: the same state is never requested twice.
    """
    episodes, problems = media_root.discover()
    for err in problems:
        context.log.warning(str(err))
    sources = {ep.key: source_fingerprint(ep) for ep in episodes}
    digests = _series_digests(sources)
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = {s for s, d in digests.items() if previous.get(s) != d}
    if not changed:
        return dg.SkipReason(f"media root unchanged ({len(episodes)} episodes, {len(digests)} series)")

    known_eps = set(context.instance.get_dynamic_partitions(episode_partitions.name))
    known_series = set(context.instance.get_dynamic_partitions(series_partitions.name))
    params = episode_params({"vad": vad, "enhancement": enhancement, "asr": asr,
                             "speaker_embedding": speaker_embedding, "diarization": diarization})
    mine = [ep for ep in episodes if ep.series_key in changed]
    steps = automation.plan_episodes(mine, data_store.store, automation.Settings.of(
        episode=params, embedder_name=speaker_embedding.backend))
    requests, current = _requests(steps), len(mine) - len(steps)
    new_eps = sorted(k for k in sources if k not in known_eps)
    new_series = sorted(set(digests) - known_series)
    context.log.info(f"{len(episodes)} episodes; changed series: {len(changed)}; new: {len(new_eps)} episodes, "
                     f"{len(new_series)} series; {len(requests)} runs requested, {current} already current")
    dynamic = []
    if new_series:
        dynamic.append(series_partitions.build_add_request(new_series))
    if new_eps:
        dynamic.append(episode_partitions.build_add_request(new_eps))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=dynamic, cursor=json.dumps(digests))


def _requests(steps: list[automation.Step]) -> list[dg.RunRequest]:
    return [dg.RunRequest(job_name=s.job, partition_key=s.partition_key, run_key=s.run_key, run_config=s.run_config,
                          tags={"audiorole/automation": s.why}) for s in steps]


def _known_series(context, media_root: MediaRootResource):
    episodes, _ = media_root.discover()
    known = set(context.instance.get_dynamic_partitions(series_partitions.name))
    return automation.group_by_series(episodes, known)


def dataset_requests(context, media_root: MediaRootResource, data_store: DataStoreResource,
                     speaker_embedding: SpeakerEmbeddingResource, automation_config: AutomationConfigResource):
    """The stale series and shards runs, for the dataset sensor and schedule."""
    series = _known_series(context, media_root)
    store, instance = data_store.store, context.instance
    known_eps = set(instance.get_dynamic_partitions(episode_partitions.name))
    pending = set()
    for _, episodes in series.values():
        for ep in episodes:
            # an episode the media-root sensor will request (or has queued) holds its series back; one whose last
            # run failed does not: the series goes on without it (its characters stamp names it missing)
            if ep.key not in known_eps or (ALIGNED_SEGMENTS.read_stamp(store, ep.key) is None
                                           and not last_run_failed(instance, "episode_job", ep.key)):
                pending.add(ep.key)
    steps, waiting = automation.plan_dataset(series, store, in_flight(instance), pending,
                                             config=automation_config.config(), embedder_name=speaker_embedding.backend)
    return steps, waiting


@dg.sensor(jobs=[series_job, shards_job], minimum_interval_seconds=SENSOR_INTERVAL_S, default_status=_ON)
def dataset_sensor(context: dg.SensorEvaluationContext, media_root: MediaRootResource, data_store: DataStoreResource,
                   speaker_embedding: SpeakerEmbeddingResource, automation_config: AutomationConfigResource):
    """After a series' episodes settle: its stale series stages, then its characters' stale shards."""
    steps, waiting = dataset_requests(context, media_root, data_store, speaker_embedding, automation_config)
    for w in waiting:
        context.log.info(w)
    return _requests(steps) or dg.SkipReason("; ".join(waiting) or "every series and shard is current")


def model_requests(context, media_root: MediaRootResource, data_store: DataStoreResource,
                   speaker_embedding: SpeakerEmbeddingResource, training: TrainingResource,
                   automation_config: AutomationConfigResource):
    """The stale training, replies and evaluation runs, for the models sensor and schedule."""
    series = _known_series(context, media_root)
    return automation.plan_models(series, data_store.store, in_flight(context.instance), base_model=training.base_model,
                                  config=automation_config.config(), embedder_name=speaker_embedding.backend)


@dg.sensor(jobs=[training_job, replies_job, eval_job], minimum_interval_seconds=2 * SENSOR_INTERVAL_S,
           default_status=dg.DefaultSensorStatus.STOPPED)
def models_sensor(context: dg.SensorEvaluationContext, media_root: MediaRootResource, data_store: DataStoreResource,
                  speaker_embedding: SpeakerEmbeddingResource, training: TrainingResource,
                  automation_config: AutomationConfigResource):
    """Opt-in: after a series' dataset settles, train its ARP-Model, answer its test set, evaluate."""
    steps, waiting = model_requests(context, media_root, data_store, speaker_embedding, training, automation_config)
    for w in waiting:
        context.log.info(w)
    return _requests(steps) or dg.SkipReason("; ".join(waiting) or "every model and evaluation is current")
