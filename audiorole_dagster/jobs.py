"""Jobs. ``episode_job`` materializes every episode-partitioned asset for one episode."""

import dagster as dg

from assets._common import INGEST, SEGMENTS
from audiorole_dagster.partitions import episode_partitions

EPISODE_GROUPS = [INGEST, SEGMENTS]

episode_job = dg.define_asset_job(
    "episode_job",
    selection=dg.AssetSelection.groups(*EPISODE_GROUPS),
    partitions_def=episode_partitions,
    description="Everything per episode: ingest (probe, audio, subtitles), then alignment (VAD, enhancement, "
    "subtitle sync, diarization, ASR, aligned segments).",
)
