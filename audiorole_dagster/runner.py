"""``audiorole run`` and ``audiorole eval``: the planner's steps (``automation``), executed in process.

Each step is a run of the same job the sensors would request, against the Dagster instance under
``<data dir>/dagster_home`` (so the UI shows every run and its lineage afterwards). The loop asks the planner for the
next steps until it has none: episodes first, then each series' dataset, then (with training) its ARP-Model, replies
and ARP-Eval. A current data dir gives no step, so no run starts. A failed partition is reported with the file and
the problem, and the others go on.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from audiorole.store import DataStore
from audiorole_dagster import automation

#: The shipped local instance config (run queue and pool limits); see its comments.
INSTANCE_YAML_PATH = Path(__file__).with_name("dagster.yaml")
_OURS = "# AudioRole local instance"
_QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
#: How a failed step is named in the report (an episode by its key).
LABELS = {"episode_job": "{}", "series_job": "series {}", "shards_job": "shards {}", "training_job": "model {}",
          "replies_job": "replies {}", "eval_job": "eval {}"}


@dataclass
class RunReport:
    succeeded: list[str] = field(default_factory=list)  # episodes (and evaluations) that ran
    skipped: list[str] = field(default_factory=list)  # episodes that were current
    failed: dict[str, str] = field(default_factory=dict)  # label -> why

    @property
    def ok(self) -> bool:
        return not self.failed


def prepare_dagster_home(data_dir: Path) -> Path:
    """``<data dir>/dagster_home`` with the shipped ``dagster.yaml`` (an older copy of ours is replaced, a
    curator's own file is kept); sets ``DAGSTER_HOME``."""
    home = DataStore(data_dir).dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config, shipped = home / "dagster.yaml", INSTANCE_YAML_PATH.read_text()
    if not config.exists() or (config.read_text().startswith(_OURS) and config.read_text() != shipped) \
            or "concurrency:" not in config.read_text():  # ours, or from before the pools existed
        config.write_text(shipped)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def open_instance(home: Path):
    """The Dagster instance under ``home``, as ``audiorole run`` uses it. A new instance's storage is created by the
    first process to open it, holding a lock: two runs started at once on a new data dir would otherwise both create
    its databases.

    The runs executed here claim no pool slots (pool granularity ``run``): the pools queue the steps of runs the UI
    and the sensors launch, while a CLI run executes its steps one after another in this process, and two CLI runs on
    one partition are serialized by the stage locks (``audiorole.stage``). Claiming per step from two processes at
    once could leave a step waiting forever on the sqlite storage (a pending claim that a slot freed a moment earlier
    never reaches); measured as 1 hang in 5 runs of the two-process test."""
    import dagster as dg
    import yaml
    from dagster._core.instance.ref import InstanceRef
    from filelock import FileLock

    config = yaml.safe_load((Path(home) / "dagster.yaml").read_text()) or {}
    concurrency = dict(config.get("concurrency") or {})
    concurrency["pools"] = {**(concurrency.get("pools") or {}), "granularity": "run"}
    with FileLock(str(Path(home) / "instance.lock")):
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides={"concurrency": concurrency}))
        instance.get_runs(limit=1)  # creates the run, event log and schedule storage
    return instance


def failure_reasons(result) -> list[str]:
    """The messages of failed steps (a dg.Failure's description names the file and the problem)."""
    reasons = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            err = event.step_failure_data.error
            msg = err.message.strip() if err else "unknown error"
            reasons.append(f"{event.step_key}: {msg.splitlines()[-1] if msg else msg}")
    return reasons


class Runner:
    """Executes steps in process and remembers which run keys finished (the planner's ``finished``)."""

    def __init__(self, defs, instance, report: RunReport, echo=print, force: bool = False):
        self.defs, self.instance, self.report, self.echo, self.force = defs, instance, report, echo, force
        self.finished: dict[str, bool] = {}

    def execute(self, step: automation.Step, prefix: str = "") -> bool:
        from assets._common import FORCE_TAG

        label = LABELS[step.job].format(step.partition_key)
        t0 = time.perf_counter()
        result = self.defs.resolve_job_def(step.job).execute_in_process(
            partition_key=step.partition_key, instance=self.instance, raise_on_error=False,
            tags={FORCE_TAG: "true"} if self.force else None, run_config={**_QUIET, **step.run_config})
        seconds = time.perf_counter() - t0
        self.finished[step.run_key] = result.success
        if result.success:
            if step.job in ("episode_job", "eval_job"):
                self.report.succeeded.append(label)
            self.echo(f"{prefix or label}: ok ({seconds:.1f} s; {step.why})")
        else:
            why = "; ".join(failure_reasons(result)) or "run failed"
            self.report.failed[label] = why
            self.echo(f"{prefix or label}: FAILED ({seconds:.1f} s) {why}")
        return result.success

    def drain(self, plan) -> None:
        """Execute ``plan(finished)``'s steps until it has none left."""
        while steps := plan(self.finished):
            for step in steps:
                self.execute(step)


def run_pipeline(media_root: str | Path, data_dir: str | Path, *, force: bool = False, only: list[str] | None = None,
                 dataset_config: dict | None = None, train: bool = False, training_config: dict | None = None,
                 eval_config: dict | None = None, echo=print) -> RunReport:
    """Discover every episode and run what the planner says is stale: episodes, then each series' dataset and
    shards, then (``train``) each series' ARP-Model, its characters' replies and ARP-Eval. The configs are run config
    by asset name (e.g. ``{"characters": {"min_character_s": 10.0}}``)."""

    from assets.partitions import add_partitions, episode_partitions, series_partitions
    from audiorole.discovery import discover_episodes
    from audiorole_dagster.definitions import build_definitions
    from resources.models import episode_params
    from resources.storage import refresh_catalog

    media_root, data_dir = Path(media_root).resolve(), Path(data_dir).resolve()
    home = prepare_dagster_home(data_dir)
    defs = build_definitions(str(media_root), str(data_dir))
    store, report = DataStore(data_dir), RunReport()
    settings = automation.Settings.of(
        {**(dataset_config or {}), **(training_config or {}), **(eval_config or {})},
        episode=episode_params(defs.resources), embedder_name=defs.resources["speaker_embedding"].backend,
        base_model=defs.resources["training"].base_model, force=force)
    episodes, problems = discover_episodes(media_root)
    for err in problems:
        report.failed[str(err.path)] = str(err)
    if only:
        episodes = [ep for ep in episodes if ep.key in only or ep.series_key in only or ep.series.title in only]
    series = automation.group_by_series(episodes)
    with open_instance(home) as instance:
        add_partitions(instance, series_partitions, sorted(series))
        add_partitions(instance, episode_partitions, [e.key for e in episodes])
        runner = Runner(defs, instance, report, echo, force)
        echo(f"{len(episodes)} episodes under {media_root}" + (f" ({len(problems)} series skipped)" if problems else ""))
        steps = {s.partition_key: s for s in automation.plan_episodes(episodes, store, settings)}
        for i, ep in enumerate(episodes, 1):
            prefix = f"[{i}/{len(episodes)}] {ep.key}"
            if ep.key in steps:
                runner.execute(steps[ep.key], prefix)
            else:
                report.skipped.append(ep.key)
                echo(f"{prefix}: current, skipped")
        runner.drain(lambda finished: automation.plan_dataset(series, store, automation.InFlight(), set(),
                                                              settings=settings, finished=finished)[0])
        if train:
            runner.drain(lambda finished: automation.plan_models(series, store, automation.InFlight(),
                                                                 settings=settings, finished=finished)[0])
    refresh_catalog(data_dir)
    return report


def run_eval(data_dir: str | Path, *, series: list[str] | None = None, systems: dict[str, str] | None = None,
             force: bool = False, config: dict | None = None, echo=print) -> RunReport:
    """ARP-Eval (``eval_job``) of every series with a test set (or of ``series``), when the planner's ARP-Eval chain
    says it is stale; ``systems``: more system folders to score (name → folder); ``config``: run config by asset."""

    from audiorole_dagster.definitions import build_definitions
    from evaluation.stages import reply_status, reply_warnings, stale_eval
    from evaluation.testset import ARP_TEST_SET

    data_dir = Path(data_dir).resolve()
    store, report = DataStore(data_dir), RunReport()
    home = prepare_dagster_home(data_dir)
    defs = build_definitions(data_dir=str(data_dir))
    config = dict(config or {})
    if systems:
        config["arp_eval"] = {**config.get("arp_eval", {}), "extra_systems": dict(systems)}
    settings = automation.Settings.of(config, base_model=defs.resources["training"].base_model, force=force)
    keys = series or sorted(p.name for p in store.eval_root.glob("*") if ARP_TEST_SET.read_stamp(store, p.name))
    params = settings.eval_params()
    with open_instance(home) as instance:
        runner = Runner(defs, instance, report, echo, force)
        for key in keys:
            if ARP_TEST_SET.read_stamp(store, key) is None:
                report.failed[f"eval {key}"] = "no test set (run the training_job or `audiorole run` first)"
                echo(f"eval {key}: no test set, skipped")
                continue
            for message in reply_warnings(reply_status(store, key)):
                echo(f"eval {key}: warning: {message}")
            stale = ["arp_eval"] if force or systems else stale_eval(store, key, params)
            if not stale:
                echo(f"eval {key}: current")
                report.skipped.append(f"eval {key}")
                continue
            step = automation.Step("eval_job", key, "", "stale: " + ", ".join(stale), settings.run_config("eval_job"))
            runner.execute(step)
    return report
