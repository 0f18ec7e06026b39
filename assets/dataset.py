"""Per-series dataset assets (characters → dialogues → dataset card) and per-character shards.

Series assets read every episode of their series from the data store; Dagster records the dependency on
``aligned_segments`` with an all-partitions mapping (episode keys are ``<series>/<episode>``, and Dagster has no
built-in prefix mapping), so the lineage graph shows it while the series' own fingerprint decides what is stale.
"""

import dagster as dg

from assets._common import (
    DATASET, check_result, config_class, for_each_partition, is_forced, materialize_result, png_metadata, run_keys,
    run_stage, stage_asset,
)
from audiorole.dataset import stages as dataset
from audiorole.dataset.card import PLOTS
from audiorole.dataset.characters import CharacterConfig, character_summary
from audiorole.dataset.dialogues import DialogueConfig
from audiorole.dataset.shards import ShardConfig
from assets.partitions import add_partitions, character_partitions, series_partitions
from resources import DataStoreResource, MediaRootResource
from resources.models import SpeakerEmbeddingResource

CharactersConfig = config_class("CharactersConfig", CharacterConfig)
DialoguesConfig = config_class("DialoguesConfig", DialogueConfig)
ShardsConfig = config_class("ShardsConfig", ShardConfig)

#: One series per run: a series is a unit of isolation (its own voices, splits, card).
SERIES_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
_SERIES = dict(partitions_def=series_partitions, group_name=DATASET, backfill_policy=SERIES_BACKFILL_POLICY)


def _series(context, media_root: MediaRootResource):
    episodes, problems = media_root.discover()
    mine = [ep for ep in episodes if ep.series_key == context.partition_key]
    if not mine:
        why = "; ".join(str(p) for p in problems) or "no episodes found"
        raise dg.Failure(f"series {context.partition_key!r} is not under the media root ({why})")
    return mine[0].series, mine


def _table_md(rows: list[dict], cols: list[str]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return dg.MetadataValue.md("\n".join(lines))


@stage_asset(dataset.CHARACTERS, **_SERIES, kinds={"sklearn"},
          description=("Recurring voices of the series, clustered across all its episodes and named (curator mapping "
                       "characters.yaml > enrollment clips > subtitle tags); minor voices grouped as 'other'. "
                       "Registers one `characters` partition per main character."))
def characters(context: dg.AssetExecutionContext, config: CharactersConfig, media_root: MediaRootResource,
               data_store: DataStoreResource, speaker_embedding: SpeakerEmbeddingResource) -> dg.MaterializeResult:
    spec, episodes = _series(context, media_root)
    store = data_store.store
    r = run_stage(context, lambda: dataset.run_characters(
        spec, store, episodes, speaker_embedding.get, config=CharacterConfig(**config.model_dump()),
        embedder_name=speaker_embedding.backend, force=is_forced(context)))
    keys = dataset.character_keys(store, spec.key)
    instance = context.instance
    add_partitions(instance, character_partitions, keys)
    retired = dataset.retire_characters(store, spec.key, keys)
    for k in retired:
        if instance.has_dynamic_partition(character_partitions.name, k):
            instance.delete_dynamic_partition(character_partitions.name, k)
    data_store.refresh_catalog()
    summary = character_summary(dataset.read_voices(store, spec.key))
    for s in summary:
        s["minutes"] = round(s.pop("speech_s") / 60, 2)
    return materialize_result(
        r, characters=_table_md(summary, ["character", "role", "minutes", "n_segments", "name_source", "voices"]),
        character_partitions=keys, retired_partitions=retired)


@stage_asset(dataset.DIALOGUES, **_SERIES,
          description=("Context → reply dialogues: every kept utterance of a main character with the preceding turns "
                       "of its scene (single- and multi-turn records); scenes; train/validation/test split by episode."))
def dialogues(context: dg.AssetExecutionContext, config: DialoguesConfig, media_root: MediaRootResource,
              data_store: DataStoreResource) -> dg.MaterializeResult:
    spec, _ = _series(context, media_root)
    r = run_stage(context, lambda: dataset.run_dialogues(
        spec, data_store.store, config=DialogueConfig(**config.model_dump()), force=is_forced(context)))
    data_store.refresh_catalog()
    return materialize_result(r)


@stage_asset(dataset.DATASET_CARD, **_SERIES, kinds={"html"},
          description="Dataset card: hours, segments, dialogues, durations and rejections per character (Markdown, HTML, PNG).")
def dataset_card(context: dg.AssetExecutionContext, media_root: MediaRootResource,
                 data_store: DataStoreResource) -> dg.MaterializeResult:
    spec, _ = _series(context, media_root)
    store = data_store.store
    r = run_stage(context, lambda: dataset.run_card(spec, store, force=is_forced(context)))
    card = store.series_dir(spec.key) / "card"
    readme = (card / "README.md").read_text()
    plots = {f"plot_{name.removesuffix('.png')}": png_metadata(card / name, name.removesuffix(".png").replace("_", " "))
             for name in PLOTS}
    return materialize_result(r, preview=dg.MetadataValue.md(readme.split("---", 2)[-1]), **plots)


@stage_asset(dataset.CHARACTER_SHARDS, partitions_def=character_partitions, group_name=DATASET, kinds={"parquet"},
             backfill_policy=dg.BackfillPolicy.single_run(),
          description=("One character's utterances with audio (FLAC bytes), text, context and metadata in size-bounded "
                       "parquet shards per split, a manifest with checksums, and a lhotse CutSet."))
def character_shards(context: dg.AssetExecutionContext, config: ShardsConfig,
                     data_store: DataStoreResource) -> dg.MaterializeResult:
    store = data_store.store
    return for_each_partition(context, lambda key, force: dataset.run_shards(
        *key.split("/", 1), store, config=ShardConfig(**config.model_dump()), force=force),
        extra=lambda key: {"manifest": dg.MetadataValue.path(str(store.shard_dir(key) / "manifest.json"))},
        catalog=data_store)


@dg.asset_check(asset=characters, partitions_def=series_partitions,
                description="Most kept segments are attributed with confidence (named by their own "
                            "subtitle tag, or a margin over the runner-up voice ≥ 0.05: ≥ 90%).")
def attribution_confidence(context: dg.AssetCheckExecutionContext, data_store: DataStoreResource) -> dg.AssetCheckResult:
    stamp = dataset.CHARACTERS.read_stamp(data_store.store, context.partition_key) or {}
    share = stamp.get("confident_share") or 0.0
    return dg.AssetCheckResult(passed=share >= 0.9, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"confident_share": share, "missing_episodes": len(stamp.get("missing_episodes", []))})


@dg.asset_check(asset=dialogues, partitions_def=series_partitions, blocking=True,
                description="No episode or scene appears in two splits (train/validation/test leakage).")
def no_split_leakage(context: dg.AssetCheckExecutionContext, data_store: DataStoreResource) -> dg.AssetCheckResult:
    leaks = dataset.split_leaks(data_store.store, context.partition_key)
    return dg.AssetCheckResult(passed=not leaks, metadata={"leaks": dg.MetadataValue.json(leaks[:20])})


@dg.asset_check(asset=character_shards, partitions_def=character_partitions,
                description="The character's shards are not empty and match their manifest (files, rows, sha256).")
def shards_sound(context: dg.AssetCheckExecutionContext, data_store: DataStoreResource) -> dg.AssetCheckResult:
    rows = {}
    for key in run_keys(context):
        problems = dataset.shard_problems(data_store.store, *key.split("/", 1))
        rows[key] = {"problems": problems, "passed": not problems}
    return check_result(rows)


series_assets = [characters, dialogues, dataset_card]
series_checks = [attribution_confidence, no_split_leakage]
shard_assets = [character_shards]
shard_checks = [shards_sound]
