"""The media-root sensor: dropping a series folder in is all a curator does."""


import dagster as dg

from audiorole.freshness import source_fingerprint
from audiorole.store import fingerprint
from audiorole_dagster.jobs import episode_job
from audiorole_dagster.partitions import episode_partitions, series_partitions
from resources import MediaRootResource


@dg.sensor(job=episode_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def media_root_sensor(context: dg.SensorEvaluationContext, media_root: MediaRootResource):
    """Scan the media root; add new series/episodes as partitions and request their runs.

    Idempotent: partitions already known are not re-added; each run request's key is the episode key plus the
    fingerprint of its source files, so an unchanged episode is never requested twice while a replaced file
    or subtitle is. The cursor is a digest of the whole scan, so an unchanged media root costs one scan.
    """
    episodes, problems = media_root.discover()
    for err in problems:
        context.log.warning(str(err))
    sources = {ep.key: source_fingerprint(ep) for ep in episodes}
    digest = fingerprint(sorted(sources.items()))
    if context.cursor == digest:
        return dg.SkipReason(f"media root unchanged ({len(episodes)} episodes)")

    known_eps = set(context.instance.get_dynamic_partitions(episode_partitions.name))
    known_series = set(context.instance.get_dynamic_partitions(series_partitions.name))
    new_eps = sorted(k for k in sources if k not in known_eps)
    new_series = sorted({ep.series_key for ep in episodes} - known_series)
    requests = [dg.RunRequest(run_key=f"{key}@{fp}", partition_key=key) for key, fp in sorted(sources.items())]
    context.log.info(f"{len(episodes)} episodes; new: {len(new_eps)} episodes, {len(new_series)} series")
    dynamic = []
    if new_series:
        dynamic.append(series_partitions.build_add_request(new_series))
    if new_eps:
        dynamic.append(episode_partitions.build_add_request(new_eps))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=dynamic, cursor=digest)
