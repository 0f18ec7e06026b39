"""Jobs: one per partitioning and stage family. ``episode_job`` builds an episode, ``series_job`` a series'
characters, dialogues and card, ``shards_job`` one character's shards, ``training_job`` a series' ARP-Model,
``replies_job`` one character's replies, ``eval_job`` a series' ARP-Eval."""

import dagster as dg

from assets._common import INGEST, SEGMENTS
from assets.dataset import series_assets, shard_assets
from assets.evaluation import evaluation_assets, reply_assets, test_set_assets
from assets.training import series_training_assets
from audiorole_dagster.deploy import parallel_executor
from assets.partitions import character_partitions, episode_partitions, series_partitions

EPISODE_GROUPS = [INGEST, SEGMENTS]

episode_job = dg.define_asset_job(
    "episode_job",
    executor_def=parallel_executor(),
    selection=dg.AssetSelection.groups(*EPISODE_GROUPS),
    partitions_def=episode_partitions,
    description="Everything per episode: ingest (probe, audio, subtitles), then alignment (VAD, enhancement, "
    "subtitle sync, diarization, ASR, aligned segments).",
)

series_job = dg.define_asset_job(
    "series_job",
    selection=dg.AssetSelection.assets(*series_assets),
    partitions_def=series_partitions,
    description="Per series, from the episodes' segments: characters (voices across episodes, named), dialogues "
    "(scenes, context → reply, splits by episode) and the dataset card.",
)

shards_job = dg.define_asset_job(
    "shards_job",
    selection=dg.AssetSelection.assets(*shard_assets),
    partitions_def=character_partitions,
    description="Per character: parquet shards with FLAC audio, manifest with checksums, lhotse cuts.",
)

training_job = dg.define_asset_job(
    "training_job",
    executor_def=parallel_executor(),
    selection=dg.AssetSelection.assets(*series_training_assets, *test_set_assets),
    partitions_def=series_partitions,
    description="Per series, from its dialogues: speech tokenizer (units), speech decoder (voices) and the ARP-Model "
    "speech LM, trained with DeepSpeed out of process (Dagster Pipes), one training at a time (pool 'training'); "
    "and the ARP-Eval test set the model will answer.",
)

replies_job = dg.define_asset_job(
    "replies_job",
    selection=dg.AssetSelection.assets(*reply_assets),
    partitions_def=character_partitions,
    description="Per character: the trained ARP-Model's replies (text + speech) to the test set's contexts.",
)

eval_job = dg.define_asset_job(
    "eval_job",
    executor_def=parallel_executor(),
    selection=dg.AssetSelection.assets(*evaluation_assets),
    partitions_def=series_partitions,
    description="Per series, ARP-Eval: the anchor and baseline systems, the scores of every system (AP, CP, "
    "relevance, CER, per character, with intervals) and the report.",
)
