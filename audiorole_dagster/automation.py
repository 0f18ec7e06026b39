"""The one planner: what runs next, for the sensors, the schedules and ``audiorole run`` / ``audiorole eval`` alike.

Per series, in order: its stale episodes (``episode_job``), then its stale series stages (``series_job``), then its
characters' stale shards (``shards_job``), then (opt-in) its ARP-Model and test set (``training_job``), its
characters' replies (``replies_job``) and ARP-Eval (``eval_job``). What is stale is answered by the stage protocol
(``audiorole.stage.stale`` over the chains of ``audiorole.pipeline``, ``training.stages``, ``evaluation.stages``),
from the stamps and the configured parameters alone.

Why sensors and not automation conditions: a series depends on *its* episodes only, and Dagster has no partition
mapping from ``<series>/<episode>`` keys to ``<series>`` (custom partition mappings are deprecated). Through the
all-partitions mapping the lineage graph uses, an eager condition would rebuild every series whenever any episode
anywhere changed. The planner reads the stamps instead, so it knows per series what is stale.

A series waits while any of its episodes is queued, running, or new and not yet run, so a batch of episodes
(a dropped-in series, a backfill) rebuilds its series once. Every step's run key is the state the run would start
from: Dagster never launches the same work twice, and a run that failed on bad input is not retried until its input
changes. ``audiorole run`` passes the run keys it has finished in this invocation (``finished``): a succeeded step
lets the planner go on to the next, a failed one holds its series back, as Dagster's run keys do for the sensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from audiorole.dataset import stages as dataset
from audiorole.discovery import EpisodeSource, SeriesSpec
from audiorole.pipeline import (
    EPISODE_STAGES,
    SERIES_STAGES,
    EpisodeParams,
    SeriesParams,
    source_fingerprint,
    stale_episode,
    stale_series,
    stale_shards,
)
from audiorole.segments.stages import ALIGNED_SEGMENTS
from audiorole.store import DataStore, fingerprint
from evaluation.config import BaselineConfig, MetricConfig, TestSetConfig
from evaluation.replies import DEFAULT_SAMPLING, reply_fingerprints, trained_characters
from evaluation.stages import EvalParams, stale_eval, stale_replies, stale_test_set
from training.config import ModelConfig
from training.decoder import DecoderConfig
from training.stages import ARP_MODEL, MODEL_STAGES, ModelParams, stale_model
from training.tokenizer import TokenizerConfig

DATASET_JOBS = ("series_job", "shards_job")
MODEL_JOBS = ("training_job", "replies_job", "eval_job")
#: Which assets' run config each job takes (the rest of a run config is not passed on).
JOB_ASSETS = {
    "episode_job": ("aligned_segments",),
    "series_job": ("characters", "dialogues"),
    "shards_job": ("character_shards",),
    "training_job": ("speech_tokenizer", "speech_decoder", "arp_model", "arp_test_set"),
    "replies_job": ("arp_replies",),
    "eval_job": ("arp_baselines", "arp_eval", "arp_eval_report"),
}
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


@dataclass(frozen=True)
class Settings:
    """Everything a plan depends on besides the store: the run config by asset name (carried to the runs), the
    parameters it implies for each chain, and ``force`` (every stage counts as stale: ``audiorole run --force``)."""

    config: dict = field(default_factory=dict)
    episode: EpisodeParams = field(default_factory=EpisodeParams)
    series: SeriesParams = field(default_factory=SeriesParams)
    base_model: str | None = None
    force: bool = False

    @classmethod
    def of(cls, config: dict | None = None, *, episode: EpisodeParams = EpisodeParams(),
           embedder_name: str = "resemblyzer", base_model: str | None = None, force: bool = False) -> "Settings":
        config = config or {}
        return cls(config, replace(episode, embedder_name=embedder_name),
                   SeriesParams.from_run_config(config, embedder_name), base_model, force)

    def run_config(self, job: str) -> dict:
        ops = {k: {"config": v} for k, v in self.config.items() if k in JOB_ASSETS[job]}
        return {"ops": ops} if ops else {}

    def model_params(self):
        model = ModelConfig(**self.config.get("arp_model", {}))
        if self.base_model and model.base == ModelConfig.base:
            model = replace(model, base=self.base_model)
        return ModelParams(TokenizerConfig(**self.config.get("speech_tokenizer", {})),
                           DecoderConfig(**self.config.get("speech_decoder", {})), model)

    def eval_params(self):
        baselines = BaselineConfig(**self.config.get("arp_baselines", {}))
        if self.base_model and baselines.base == BaselineConfig.base:
            baselines = replace(baselines, base=self.base_model)
        replies = {"seed": 0, **DEFAULT_SAMPLING, **self.config.get("arp_replies", {})}
        seed = replies.pop("seed")
        metrics = {k: v for k, v in self.config.get("arp_eval", {}).items() if k != "extra_systems"}
        return EvalParams(TestSetConfig(**self.config.get("arp_test_set", {})), baselines, MetricConfig(**metrics),
                          seed, replies)


def _key(job: str, partition_key: str, *state) -> str:
    return f"{job}:{partition_key}@{fingerprint(*state)}"


def _step(settings: Settings, job: str, key: str, stale: list[str], *state) -> Step:
    return Step(job, key, _key(job, key, stale, *state, settings.config), "stale: " + ", ".join(stale),
                settings.run_config(job))


def _names(stages) -> list[str]:
    return [s.name for s in stages]


class _Finished:
    """The run keys ``audiorole run`` finished in this invocation: succeeded ones are done, failed ones block."""

    def __init__(self, finished: dict[str, bool] | None):
        self.finished = finished or {}

    def pending(self, step: Step | None) -> bool:
        return step is not None and step.run_key not in self.finished

    def failed(self, step: Step | None) -> bool:
        return step is not None and self.finished.get(step.run_key) is False


# episodes -------------------------------------------------------------------------------------------------------------
def plan_episodes(episodes: list[EpisodeSource], store: DataStore, settings: Settings = Settings(),
                  finished: dict[str, bool] | None = None) -> list[Step]:
    """An ``episode_job`` run for each episode with a stale stage (new or changed files, config or code)."""
    done, steps = _Finished(finished), []
    for ep in episodes:
        stale = _names(EPISODE_STAGES) if settings.force else stale_episode(ep, store, settings.episode)
        step = _step(settings, "episode_job", ep.key, stale, source_fingerprint(ep)) if stale else None
        if done.pending(step):
            steps.append(step)
    return steps


# the dataset ----------------------------------------------------------------------------------------------------------
def series_step(spec: SeriesSpec, episodes: list[EpisodeSource], store: DataStore,
                settings: Settings = Settings()) -> Step | None:
    """The series run to request, if its characters, dialogues or card are stale."""
    stale = _names(SERIES_STAGES) if settings.force else stale_series(spec, episodes, store, settings.series)
    if not stale:
        return None
    state = [(ep.key, (ALIGNED_SEGMENTS.read_stamp(store, ep.key) or {}).get("fingerprint")) for ep in episodes]
    return _step(settings, "series_job", spec.key, stale, state)


def shard_steps(series_key: str, store: DataStore, settings: Settings = Settings()) -> list[Step]:
    """One shards run per main character whose shards are not current."""
    dialogues = (dataset.DIALOGUES.read_stamp(store, series_key) or {}).get("fingerprint")
    steps = []
    for key in dataset.character_keys(store, series_key):
        stale = ["character_shards"] if settings.force else stale_shards(key, store, settings.series)
        if stale:
            steps.append(_step(settings, "shards_job", key, stale, dialogues))
    return steps


def plan_dataset(series: dict[str, tuple[SeriesSpec, list[EpisodeSource]]], store: DataStore, in_flight: InFlight,
                 pending_episodes: set[str], *, config: dict | None = None, embedder_name: str = "resemblyzer",
                 settings: Settings | None = None, finished: dict[str, bool] | None = None
                 ) -> tuple[list[Step], list[str]]:
    """(runs to request, why each waiting series waits). ``pending_episodes``: episode keys that are stale and will
    run (new, or queued) — not those whose last run failed, which the series goes on without. ``config``: run config
    by asset name (``{"characters": {...}}``), passed on to the runs (or ``settings``, which carries it)."""
    settings = settings or Settings.of(config, embedder_name=embedder_name)
    done, steps, waiting = _Finished(finished), [], []
    for key, (spec, episodes) in sorted(series.items()):
        if in_flight.busy(key, ("episode_job",)) or any(ep.key in pending_episodes for ep in episodes):
            waiting.append(f"{key}: waiting for its episodes")
        elif in_flight.busy(key, DATASET_JOBS):
            waiting.append(f"{key}: a series or shards run is in flight")
        elif not any(ALIGNED_SEGMENTS.read_stamp(store, ep.key) for ep in episodes):
            waiting.append(f"{key}: no episode has segments (yet)")
        elif done.failed(step := series_step(spec, episodes, store, settings)):
            waiting.append(f"{key}: its series run failed")
        elif done.pending(step):
            steps.append(step)
        else:
            steps += [s for s in shard_steps(key, store, settings) if done.pending(s)]
    return steps, waiting


def dataset_settled(spec: SeriesSpec, episodes: list[EpisodeSource], store: DataStore, in_flight: InFlight,
                    settings: Settings, finished: dict[str, bool] | None = None) -> bool:
    steps, waiting = plan_dataset({spec.key: (spec, episodes)}, store, in_flight, set(), settings=settings,
                                  finished=finished)
    return not in_flight.busy(spec.key, ("episode_job", *DATASET_JOBS)) and not steps and not waiting


# the models -----------------------------------------------------------------------------------------------------------
def plan_models(series: dict[str, tuple[SeriesSpec, list[EpisodeSource]]], store: DataStore, in_flight: InFlight,
                *, config: dict | None = None, base_model: str | None = None, embedder_name: str = "resemblyzer",
                settings: Settings | None = None, finished: dict[str, bool] | None = None
                ) -> tuple[list[Step], list[str]]:
    """For each series whose dataset is settled: the training run if a model stage (or the test set) is stale, else
    a replies run per trained character whose replies are stale, else the evaluation run if ARP-Eval is stale.

    ``config``: run config per asset, dataset and model assets alike (``{"arp_model": {...}, "speech_tokenizer":
    {...}, ...}``), passed on to the runs; ``base_model``: the deployment's base LM (``TrainingResource``)."""

    settings = settings or Settings.of(config, embedder_name=embedder_name, base_model=base_model)
    model_params, eval_params = settings.model_params(), settings.eval_params()
    done, steps, waiting = _Finished(finished), [], []
    for key, (spec, episodes) in sorted(series.items()):
        if not dataset_settled(spec, episodes, store, in_flight, settings, finished):
            waiting.append(f"{key}: waiting for its dataset")
            continue
        if in_flight.busy(key, MODEL_JOBS):
            waiting.append(f"{key}: a model run is in flight")
            continue
        if not dataset.character_keys(store, key):
            waiting.append(f"{key}: no main character to train")
            continue
        dialogues = (dataset.DIALOGUES.read_stamp(store, key) or {}).get("fingerprint")
        stale = (_names(MODEL_STAGES) + ["arp_test_set"] if settings.force else
                 stale_model(store, key, model_params, spec.language)
                 + stale_test_set(store, key, spec.title, eval_params, spec.language))
        training = _step(settings, "training_job", key, stale, dialogues) if stale else None
        if done.failed(training):
            waiting.append(f"{key}: its training run failed")
            continue
        if done.pending(training):
            steps.append(training)
            continue
        lm = (model_stamp := _lm_stamp(store, key)) and model_stamp.get("fingerprint")
        replies = []
        for character in trained_characters(store, key):
            ck = f"{key}/{character}"
            stale = ["arp_replies"] if settings.force else stale_replies(store, ck, eval_params)
            if stale and done.pending(step := _step(settings, "replies_job", ck, stale, lm)):
                replies.append(step)
        if replies:
            steps += replies
            continue
        stale = (["anchors", "arp_baselines", "arp_eval", "arp_eval_report"] if settings.force
                 else stale_eval(store, key, eval_params))
        if stale:
            step = _step(settings, "eval_job", key, stale, lm, sorted(reply_fingerprints(store, key).items()))
            if done.pending(step):
                steps.append(step)
    return steps, waiting


def _lm_stamp(store: DataStore, series_key: str) -> dict | None:
    return ARP_MODEL.read_stamp(store, series_key)


def group_by_series(episodes: list[EpisodeSource], known_series: set[str] | None = None
                    ) -> dict[str, tuple[SeriesSpec, list[EpisodeSource]]]:
    """Discovered episodes by series (only the series Dagster knows as partitions, when given)."""
    out: dict[str, tuple[SeriesSpec, list[EpisodeSource]]] = {}
    for ep in episodes:
        if known_series is None or ep.series_key in known_series:
            out.setdefault(ep.series_key, (ep.series, []))[1].append(ep)
    return out
