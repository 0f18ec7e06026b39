"""What runs by itself after episodes change: each series' stages, then its character shards, then (opt-in) its
ARP-Model and ARP-Eval — decided by the data store's stamps, the one staleness protocol of the whole DAG.

Why sensors and not automation conditions: a series depends on *its* episodes only, and Dagster has no partition
mapping from ``<series>/<episode>`` keys to ``<series>`` (custom partition mappings are deprecated). Through the
all-partitions mapping the lineage graph uses, an eager condition would rebuild every series whenever any episode
anywhere changed. The planner below reads the stamps instead, so it knows per series what is stale.

A series waits while any of its episodes is queued, running, or new and not yet run, so a batch of episodes
(a dropped-in series, a backfill) rebuilds its series once. Every request's run key is the fingerprint the run
would produce: Dagster never launches the same work twice, and a run that failed on bad input is not retried
until its input changes.

``plan_dataset`` and ``plan_models`` are plain functions over the store (tested without Dagster); the sensors and
schedules in ``sensors.py`` / ``schedules.py`` feed them the instance's in-flight runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audiorole import dataset
from audiorole.discovery import EpisodeSource, SeriesSpec
from audiorole.store import DataStore, fingerprint

DATASET_JOBS = ("series_job", "shards_job")
MODEL_JOBS = ("training_job", "replies_job", "eval_job")
#: Run tags that carry a run's partition (one key, or the two ends of a ranged backfill run).
PARTITION_TAGS = ("dagster/partition", "dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
#: Stands for "a running backfill targets a partition of this series": the series is busy for every job.
BACKFILL = "backfill"


@dataclass(frozen=True)
class Step:
    """One run to request: ``job`` on ``partition_key``; ``run_key`` names the state it would build."""

    job: str
    partition_key: str
    run_key: str
    why: str
    run_config: dict = field(default_factory=dict)


@dataclass
class InFlight:
    """What is queued or running, by series: series key → names of the jobs (``episode_job``, ``series_job``…)."""

    jobs: dict[str, set[str]] = field(default_factory=dict)

    def add(self, job: str, partition_key: str) -> None:
        self.jobs.setdefault(partition_key.split("/", 1)[0], set()).add(job)

    def busy(self, series_key: str, jobs) -> bool:
        running = self.jobs.get(series_key, set())
        return BACKFILL in running or bool(running & set(jobs))


def _key(job: str, partition_key: str, *state) -> str:
    return f"{job}:{partition_key}@{fingerprint(*state)}"


def _ops(config: dict, assets) -> dict:
    ops = {k: {"config": v} for k, v in config.items() if k in assets}
    return {"ops": ops} if ops else {}


def series_step(spec: SeriesSpec, episodes: list[EpisodeSource], store: DataStore, *, config: dict | None = None,
                embedder_name: str = "resemblyzer") -> Step | None:
    """The series run to request, if its characters, dialogues or card are stale. ``config``: run config per asset
    (``{"characters": {...}, "dialogues": {...}}``, as ``audiorole run`` takes it), passed on to the run."""
    from audiorole.characters import CharacterConfig
    from audiorole.dialogues import DialogueConfig

    config = config or {}
    stale = dataset.stale_series_stages(spec, store, episodes, embedder_name=embedder_name,
                                        characters=CharacterConfig(**config.get("characters", {})),
                                        dialogues=DialogueConfig(**config.get("dialogues", {})))
    if not stale:
        return None
    state = [(ep.key, (store.read_stamp(ep.key, "segments") or {}).get("fingerprint")) for ep in episodes]
    return Step("series_job", spec.key, _key("series_job", spec.key, stale, state, config), "stale: " + ", ".join(stale),
                _ops(config, ("characters", "dialogues")))


def shard_steps(series_key: str, store: DataStore, config: dict | None = None) -> list[Step]:
    """One shards run per main character whose shards are not current."""
    from audiorole.shards import ShardConfig

    config = config or {}
    settings = ShardConfig(**config.get("character_shards", {}))
    steps = []
    dialogues = (dataset.read_stamp(dataset.series_dir(store, series_key), "dialogues") or {}).get("fingerprint")
    for key in dataset.character_keys(store, series_key):
        if not dataset.shards_current(store, *key.split("/", 1), settings):
            steps.append(Step("shards_job", key, _key("shards_job", key, dialogues, config), "shards not current",
                              _ops(config, ("character_shards",))))
    return steps


def plan_dataset(series: dict[str, tuple[SeriesSpec, list[EpisodeSource]]], store: DataStore, in_flight: InFlight,
                 pending_episodes: set[str], *, config: dict | None = None, embedder_name: str = "resemblyzer"
                 ) -> tuple[list[Step], list[str]]:
    """(runs to request, why each waiting series waits). ``pending_episodes``: episode keys that are stale and will
    run (new, or queued) — not those whose last run failed, which the series goes on without."""
    steps, waiting = [], []
    for key, (spec, episodes) in sorted(series.items()):
        if in_flight.busy(key, ("episode_job",)) or any(ep.key in pending_episodes for ep in episodes):
            waiting.append(f"{key}: waiting for its episodes")
            continue
        if in_flight.busy(key, DATASET_JOBS):
            waiting.append(f"{key}: a series or shards run is in flight")
            continue
        if not any(store.read_stamp(ep.key, "segments") for ep in episodes):
            waiting.append(f"{key}: no episode has segments (yet)")
            continue
        step = series_step(spec, episodes, store, config=config, embedder_name=embedder_name)
        steps += [step] if step else shard_steps(key, store, config)
    return steps, waiting


def dataset_settled(spec: SeriesSpec, episodes: list[EpisodeSource], store: DataStore, in_flight: InFlight, *,
                    config: dict | None = None, embedder_name: str = "resemblyzer") -> bool:
    return (not in_flight.busy(spec.key, ("episode_job", *DATASET_JOBS))
            and series_step(spec, episodes, store, config=config, embedder_name=embedder_name) is None
            and not shard_steps(spec.key, store, config))


def plan_models(series: dict[str, tuple[SeriesSpec, list[EpisodeSource]]], store: DataStore, in_flight: InFlight,
                *, config: dict | None = None, base_model: str | None = None, embedder_name: str = "resemblyzer"
                ) -> tuple[list[Step], list[str]]:
    """For each series whose dataset is settled: the training run if a model stage (or the test set) is stale, else
    a replies run per trained character whose replies are stale, else the evaluation run if ARP-Eval is stale.

    ``config``: run config per asset, dataset and model assets alike (``{"arp_model": {...}, "speech_tokenizer":
    {...}, ...}``), passed on to the runs; ``base_model``: the deployment's base LM (``TrainingResource``)."""
    from dataclasses import replace

    from evaluation import stages as ev
    from evaluation.config import BaselineConfig, TestSetConfig
    from training import stages as tr
    from training.config import ModelConfig
    from training.decoder import DecoderConfig
    from training.tokenizer import TokenizerConfig

    config = config or {}
    model = ModelConfig(**config.get("arp_model", {}))
    baselines = BaselineConfig(**config.get("arp_baselines", {}))
    if base_model and model.base == ModelConfig.base:
        model = replace(model, base=base_model)
    if base_model and baselines.base == BaselineConfig.base:
        baselines = replace(baselines, base=base_model)
    replies_cfg = {"temperature": 0.8, "top_p": 0.9, "seed": 0, **config.get("arp_replies", {})}
    seed = replies_cfg.pop("seed")
    steps, waiting = [], []
    for key, (spec, episodes) in sorted(series.items()):
        if not dataset_settled(spec, episodes, store, in_flight, config=config, embedder_name=embedder_name):
            waiting.append(f"{key}: waiting for its dataset")
            continue
        if in_flight.busy(key, MODEL_JOBS):
            waiting.append(f"{key}: a model run is in flight")
            continue
        if not dataset.character_keys(store, key):
            waiting.append(f"{key}: no main character to train")
            continue
        lm_stale = tr.stale_stages(store, key, tokenizer=TokenizerConfig(**config.get("speech_tokenizer", {})),
                                   decoder=DecoderConfig(**config.get("speech_decoder", {})), model=model)
        eval_stale = ev.stale_stages(store, key, spec.title, baselines=baselines,
                                     test_set=TestSetConfig(**config.get("arp_test_set", {})))
        dialogues = (dataset.read_stamp(dataset.series_dir(store, key), "dialogues") or {}).get("fingerprint")
        if lm_stale or eval_stale[:1] == ["test_set"]:
            why = lm_stale + eval_stale[:1] if eval_stale[:1] == ["test_set"] else lm_stale
            steps.append(Step("training_job", key, _key("training_job", key, dialogues, why, config),
                              "stale: " + ", ".join(why),
                              _ops(config, ("speech_tokenizer", "speech_decoder", "arp_model", "arp_test_set"))))
            continue
        lm = (tr.read_stamp(tr.stage_dir(store, key, "lm"), "lm") or {}).get("fingerprint")
        replies = [Step("replies_job", f"{key}/{r['character_key']}",
                        _key("replies_job", f"{key}/{r['character_key']}", lm, config), "replies not current",
                        _ops(config, ("arp_replies",)))
                   for r in tr.character_models(store, key)
                   if r["trained"] and not tr.replies_current(store, key, r["character_key"], seed, replies_cfg)]
        if replies:
            steps += replies
        elif eval_stale:
            state = [lm, sorted(ev._arp_model_replies(store, key).items()), config]
            steps.append(Step("eval_job", key, _key("eval_job", key, eval_stale, state), "stale: " + ", ".join(eval_stale),
                              _ops(config, ("arp_baselines", "arp_eval", "arp_eval_report"))))
    return steps, waiting


def group_by_series(episodes: list[EpisodeSource], known_series: set[str] | None = None
                    ) -> dict[str, tuple[SeriesSpec, list[EpisodeSource]]]:
    """Discovered episodes by series (only the series Dagster knows as partitions, when given)."""
    out: dict[str, tuple[SeriesSpec, list[EpisodeSource]]] = {}
    for ep in episodes:
        if known_series is None or ep.series_key in known_series:
            out.setdefault(ep.series_key, (ep.series, []))[1].append(ep)
    return out
