"""``audiorole``: the command line.

    audiorole demo --out DIR [--profile hard]             write the embedded demo series (media + ground truth)
    audiorole run --media-root DIR --data-dir DIR [--force] [--only KEY_OR_SERIES ...]
    audiorole summary --data-dir DIR                      what the catalog holds
    audiorole say --data-dir DIR --series S --character NAME --context "WALT: ..." [--out reply.wav]

``run`` materializes the same Definitions that ``dagster dev`` serves, in process, against the Dagster instance
under ``<data-dir>/dagster_home`` (so the UI shows every run and its lineage afterwards). Current partitions are
skipped unless ``--force``; the exit code is non-zero when any partition failed, and each failure is printed with
the file and the problem.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


#: The local instance: telemetry off; pools (the ``training`` pool of ``arp_model``) take one step at a time.
#: The shipped local instance config (run queue and pool limits); see its comments.
INSTANCE_YAML_PATH = Path(__file__).with_name("dagster.yaml")
_OURS = "# AudioRole local instance"


@dataclass
class RunReport:
    succeeded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why

    @property
    def ok(self) -> bool:
        return not self.failed


def prepare_dagster_home(data_dir: Path) -> Path:
    """``<data dir>/dagster_home`` with the shipped ``dagster.yaml`` (an older copy of ours is replaced, a
    curator's own file is kept); sets ``DAGSTER_HOME``."""
    home = Path(data_dir) / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    config, shipped = home / "dagster.yaml", INSTANCE_YAML_PATH.read_text()
    if not config.exists() or (config.read_text().startswith(_OURS) and config.read_text() != shipped) \
            or "concurrency:" not in config.read_text():  # ours, or from before the pools existed
        config.write_text(shipped)
    os.environ["DAGSTER_HOME"] = str(home)
    return home



def _failure_reasons(result) -> list[str]:
    """The messages of failed steps (a dg.Failure's description names the file and the problem)."""
    reasons = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            err = event.step_failure_data.error
            msg = err.message.strip() if err else "unknown error"
            reasons.append(f"{event.step_key}: {msg.splitlines()[-1] if msg else msg}")
    return reasons


def run_pipeline(
    media_root: str | Path,
    data_dir: str | Path,
    *,
    force: bool = False,
    only: list[str] | None = None,
    dataset_config: dict | None = None,
    train: bool = False,
    training_config: dict | None = None,
    eval_config: dict | None = None,
    echo=print,
) -> RunReport:
    """Discover every episode and materialize the episode job for each one that is not current, then each series'
    dataset assets and each character's shards. ``dataset_config``: run config of the series/shard assets by asset
    name, e.g. ``{"characters": {"min_character_s": 10.0}}``. ``train``: then train each series' ARP-Model and
    answer its characters' test contexts (``training_config``: run config of the training assets by asset name),
    then evaluate it (ARP-Eval; ``eval_config``: run config of the evaluation assets by asset name)."""
    import dagster as dg

    from assets._common import FORCE_TAG
    from audiorole import catalog
    from audiorole.discovery import discover_episodes
    from audiorole.freshness import stale_stages
    from audiorole.store import DataStore
    from audiorole_dagster.definitions import build_definitions
    from audiorole_dagster.partitions import episode_partitions, series_partitions
    from resources.models import stage_params

    media_root, data_dir = Path(media_root).resolve(), Path(data_dir).resolve()
    prepare_dagster_home(data_dir)
    defs = build_definitions(str(media_root), str(data_dir))
    job = defs.resolve_job_def("episode_job")
    store = DataStore(data_dir)
    params = stage_params(defs.resources)
    report = RunReport()
    episodes, problems = discover_episodes(media_root)
    for err in problems:
        report.failed[str(err.path)] = str(err)
    if only:
        episodes = [ep for ep in episodes if ep.key in only or ep.series_key in only or ep.series.title in only]
    with dg.DagsterInstance.get() as instance:
        for name, keys in (
            (series_partitions.name, sorted({ep.series_key for ep in episodes})),
            (episode_partitions.name, [ep.key for ep in episodes]),
        ):
            new = [k for k in keys if not instance.has_dynamic_partition(name, k)]
            if new:
                instance.add_dynamic_partitions(name, new)

        n = len(episodes)
        echo(f"{n} episodes under {media_root}" + (f" ({len(problems)} series skipped)" if problems else ""))
        for i, ep in enumerate(episodes, 1):
            prefix = f"[{i}/{n}] {ep.key}"
            stale = stale_stages(ep, store, params)
            if not force and not stale:
                report.skipped.append(ep.key)
                echo(f"{prefix}: current, skipped")
                continue
            t0 = time.perf_counter()
            result = job.execute_in_process(
                partition_key=ep.key,
                instance=instance,
                raise_on_error=False,
                tags={FORCE_TAG: "true"} if force else None,
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            )
            seconds = time.perf_counter() - t0
            if result.success:
                report.succeeded.append(ep.key)
                echo(f"{prefix}: ok ({seconds:.1f} s; ran {', '.join(stale) if not force else 'all (forced)'})")
            else:
                why = "; ".join(_failure_reasons(result)) or "run failed"
                report.failed[ep.key] = why
                echo(f"{prefix}: FAILED ({seconds:.1f} s) {why}")
        _run_dataset(defs, instance, store, episodes, report, force, dataset_config or {}, echo)
        if train:
            _run_training(defs, instance, store, episodes, report, force, training_config or {}, echo)
            trained = [k for k in sorted({ep.series_key for ep in episodes})
                       if any(r["trained"] for r in _character_models(store, k))]
            if trained:
                run_eval(data_dir, series=trained, force=force, config=eval_config, echo=echo, instance=instance,
                         defs=defs, report=report, show=False)
    catalog.refresh_catalog(data_dir)
    return report


def _character_models(store, series_key: str) -> list[dict]:
    from training import stages

    return stages.character_models(store, series_key)


def _execute(job, key: str, label: str, report: RunReport, echo, **kwargs) -> bool:
    """Run ``job`` for one partition in process; echo the outcome, record a failure under ``label``."""
    t0 = time.perf_counter()
    result = job.execute_in_process(partition_key=key, raise_on_error=False, **kwargs)
    if result.success:
        echo(f"{label}: ok ({time.perf_counter() - t0:.1f} s)")
        return True
    why = "; ".join(_failure_reasons(result)) or "run failed"
    report.failed[label.strip()] = why
    echo(f"{label}: FAILED {why}")
    return False


def _run_dataset(defs, instance, store, episodes, report: RunReport, force: bool, config: dict, echo) -> None:
    """Series stages (characters, dialogues, card) for every series with episodes, then each character's shards.
    A series is built from the episodes that succeeded; failed ones are reported as missing by the series. Like
    episodes, current series and shards are skipped without a run."""
    from assets._common import FORCE_TAG
    from audiorole import dataset
    from audiorole.characters import CharacterConfig
    from audiorole.dialogues import DialogueConfig
    from audiorole.shards import ShardConfig

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    series_config = {**quiet, "ops": {k: {"config": v} for k, v in config.items() if k != "character_shards"}}
    shard_config = {**quiet, "ops": {k: {"config": v} for k, v in config.items() if k == "character_shards"}}
    settings = dict(characters=CharacterConfig(**config.get("characters", {})),
                    dialogues=DialogueConfig(**config.get("dialogues", {})),
                    embedder_name=defs.resources["speaker_embedding"].backend)
    shard_settings = ShardConfig(**config.get("character_shards", {}))
    tags = {FORCE_TAG: "true"} if force else None
    series_job, shards_job = defs.resolve_job_def("series_job"), defs.resolve_job_def("shards_job")
    for series_key in sorted({ep.series_key for ep in episodes}):
        mine = [ep for ep in episodes if ep.series_key == series_key]
        if not any(store.read_stamp(ep.key, "segments") for ep in mine):
            echo(f"series {series_key}: no episode has segments yet, skipped")
            continue
        stale = dataset.stale_series_stages(mine[0].series, store, mine, **settings)
        if stale or force:
            t0 = time.perf_counter()
            result = series_job.execute_in_process(partition_key=series_key, instance=instance, raise_on_error=False,
                                                   tags=tags, run_config=series_config)
            if not result.success:
                why = "; ".join(_failure_reasons(result)) or "run failed"
                report.failed[f"series {series_key}"] = why
                echo(f"series {series_key}: FAILED {why}")
                continue
            state = f"ok ({time.perf_counter() - t0:.1f} s; ran {', '.join(stale) if not force else 'all (forced)'})"
        else:
            state = "current"
        stamp = dataset.read_stamp(dataset.series_dir(store, series_key), "characters") or {}
        missing = stamp.get("missing_episodes") or []
        echo(f"series {series_key}: {state}; characters: {', '.join(stamp.get('characters') or []) or 'none'}"
             + (f"; MISSING episodes: {', '.join(missing)}" if missing else ""))
        for key in dataset.character_keys(store, series_key):
            if not force and dataset.shards_current(store, series_key, key.split("/", 1)[1], shard_settings):
                echo(f"  shards {key}: current")
                continue
            _execute(shards_job, key, f"  shards {key}", report, echo, instance=instance, tags=tags,
                     run_config=shard_config)


def _run_training(defs, instance, store, episodes, report: RunReport, force: bool, config: dict, echo) -> None:
    """Each series with main characters: ``training_job`` (tokenizer, decoder, ARP-Model; skipped when current),
    then ``replies_job`` for every trained character."""
    from assets._common import FORCE_TAG
    from audiorole import dataset
    from training import stages
    from audiorole.store import read_stamp
    from training.config import ModelConfig
    from training.decoder import DecoderConfig
    from training.tokenizer import TokenizerConfig

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    series_config = {**quiet, "ops": {k: {"config": v} for k, v in config.items() if k != "arp_replies"}}
    replies_config = {**quiet, "ops": {k: {"config": v} for k, v in config.items() if k == "arp_replies"}}
    model_config = defs.resources["training"].with_base(ModelConfig(**config.get("arp_model", {})))
    tags = {FORCE_TAG: "true"} if force else None
    training_job, replies_job = defs.resolve_job_def("training_job"), defs.resolve_job_def("replies_job")
    for series_key in sorted({ep.series_key for ep in episodes}):
        if f"series {series_key}" in report.failed or dataset.read_stamp(dataset.series_dir(store, series_key), "dialogues") is None:
            continue
        if not dataset.character_keys(store, series_key):
            echo(f"model {series_key}: no main character, nothing to train")
            continue
        from evaluation.stages import eval_dir

        stale = stages.stale_stages(store, series_key, tokenizer=TokenizerConfig(**config.get("speech_tokenizer", {})),
                                    decoder=DecoderConfig(**config.get("speech_decoder", {})), model=model_config)
        if force or stale or read_stamp(eval_dir(store, series_key), "test_set") is None:
            if not _execute(training_job, series_key, f"model {series_key}", report, echo, instance=instance,
                            tags=tags, run_config=series_config):
                continue
        else:
            echo(f"model {series_key}: current")
        for row in stages.character_models(store, series_key):
            key = f"{series_key}/{row['character_key']}"
            if not row["trained"]:
                echo(f"  replies {key}: not trained ({row['why_not']})")
                continue
            _execute(replies_job, key, f"  replies {key}", report, echo, instance=instance, tags=tags,
                     run_config=replies_config)


def run_eval(data_dir: str | Path, *, series: list[str] | None = None, systems: dict[str, str] | None = None,
             force: bool = False, config: dict | None = None, echo=print, instance=None, defs=None,
             report: RunReport | None = None, show: bool = True) -> RunReport:
    """ARP-Eval (``eval_job``) of every series with a test set and a trained model (or of ``series``);
    ``systems``: more system folders to score (name → folder); ``config``: run config by asset name."""
    import dagster as dg

    from assets._common import FORCE_TAG
    from audiorole.store import DataStore, read_stamp
    from audiorole_dagster.definitions import build_definitions
    from evaluation.stages import eval_dir

    data_dir = Path(data_dir).resolve()
    store, report = DataStore(data_dir), report or RunReport()
    if defs is None:
        prepare_dagster_home(data_dir)
        defs = build_definitions(data_dir=str(data_dir))
    config = dict(config or {})
    if systems:
        config["arp_eval"] = {**config.get("arp_eval", {}), "extra_systems": dict(systems)}
    run_config = {"loggers": {"console": {"config": {"log_level": "ERROR"}}},
                  "ops": {k: {"config": v} for k, v in config.items()}}
    root = data_dir / "eval"
    keys = series or (sorted(p.name for p in root.iterdir() if read_stamp(p, "test_set")) if root.exists() else [])
    job = defs.resolve_job_def("eval_job")

    def go(inst):
        for key in keys:
            if read_stamp(eval_dir(store, key), "test_set") is None:
                report.failed[f"eval {key}"] = "no test set (run the training_job or `audiorole run` first)"
                echo(f"eval {key}: no test set, skipped")
                continue
            if _execute(job, key, f"eval {key}", report, echo, instance=inst,
                        tags={FORCE_TAG: "true"} if force else None, run_config=run_config):
                report.succeeded.append(f"eval {key}")
                if show:
                    print_eval(data_dir, key, echo)

    if instance is not None:
        go(instance)
    else:
        with dg.DagsterInstance.get() as inst:
            go(inst)
    return report


def print_eval(data_dir: str | Path, series_key: str, echo=print) -> None:
    """The per-character ARP-Eval table of a series (normalized AP and CP with 95% intervals), its metric AUCs and
    which characters the ARP-Model beats the baselines for."""
    from audiorole.store import DataStore
    from evaluation import stages as ev
    from evaluation.report import auc_rows, difference_rows
    from evaluation.score import table

    store = DataStore(data_dir)
    try:
        results = ev.load_results(store, series_key)
    except FileNotFoundError:
        echo(f"{series_key}: not evaluated yet")
        return
    echo(f"\nARP-Eval of {series_key} (AP, CP normalized: 0 = another character's real reply, 1 = own real reply; "
         "95% bootstrap intervals; CER raw):")
    _echo_table(table(results), echo)
    echo("metric AUC, own real reply vs another character's (all characters): "
         + ", ".join(f"{r['metric']} {r['AUC']}" for r in auc_rows(results) if r["character"] == "ALL"))
    diffs = [r for r in difference_rows(results) if r["character"] != "ALL"]
    for comp in sorted({r["comparison"] for r in diffs}):
        for m in ("AP", "CP"):
            lost = [r["character"] for r in diffs if r["comparison"] == comp and r["metric"] == m and r["beats"] != "yes"]
            echo(f"{comp} on {m}: " + ("beats it for every character" if not lost else f"does NOT beat it for {', '.join(lost)}"))
    echo(f"report: {ev.eval_dir(store, series_key) / 'report' / 'index.html'}")


def _echo_table(rows: list[dict], echo) -> None:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    echo("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def print_summary(data_dir: str | Path, echo=print) -> None:
    from audiorole import catalog

    catalog.refresh_catalog(data_dir)
    rows = catalog.query(
        data_dir,
        """WITH seg AS (
               SELECT episode_key, count(*) AS segments, sum(CASE WHEN keep THEN 1 ELSE 0 END) AS kept,
                      round(sum(CASE WHEN keep THEN duration_s ELSE 0 END) / 60, 1) AS kept_min,
                      count(DISTINCT CASE WHEN keep THEN speaker END) AS speakers,
                      mode(reject_reason) AS top_reject
               FROM segments GROUP BY episode_key)
           SELECT e.series, e.episode, round(e.duration_s, 1) AS duration_s, e.n_subtitle_cues AS cues,
                  e.subtitle_source AS subs, e.encoding, seg.segments, seg.kept, seg.kept_min, seg.speakers,
                  seg.top_reject
           FROM episodes e LEFT JOIN seg USING (episode_key) ORDER BY e.series, e.episode""",
    )
    if not rows:
        echo(f"catalog at {Path(data_dir) / 'catalog.duckdb'} holds no episodes yet")
        return
    _echo_table(rows, echo)
    total_h = sum(r["duration_s"] or 0 for r in rows) / 3600
    chars = catalog.query(
        data_dir,
        """SELECT c.series_key AS series, c.character, c.role, round(c.hours * 60, 2) AS minutes, c.n_segments AS segments,
                  c.name_source, (SELECT count(*) FROM dialogues d WHERE d.series_key = c.series_key
                                  AND d.character = c.character) AS dialogues,
                  (SELECT sum(rows) FROM shards s WHERE s.series_key = c.series_key AND s.character = c.character) AS shard_rows
           FROM characters c ORDER BY c.series_key, c.role, c.hours DESC""",
    )
    if chars:
        echo("")
        _echo_table(chars, echo)
    models = catalog.query(
        data_dir,
        """SELECT m.series_key AS series, m.character, m.trained, round(m.train_speech_s, 1) AS train_speech_s,
                  m.n_train_samples AS train_samples, round(m.val_loss, 3) AS val_loss, m.steps,
                  (SELECT count(*) FROM replies r WHERE r.series_key = m.series_key
                   AND r.character_key = m.character_key) AS test_replies
           FROM models m ORDER BY m.series_key, m.character""",
    )
    if models:
        echo("\nARP-Model (one speech LM per series, conditioned on the character):")
        _echo_table(models, echo)
        sample = catalog.query(data_dir, "SELECT character, context, reply_text, audio_path FROM replies "
                                         "ORDER BY character, sample_id LIMIT 3")
        for r in sample:
            echo(f"  [{r['character']}] after \"{r['context'].splitlines()[-1]}\" → \"{r['reply_text']}\" ({r['audio_path']})")
    for key in sorted({r["series_key"] for r in catalog.query(data_dir, "SELECT DISTINCT series_key FROM eval_results")}):
        print_eval(data_dir, key, echo)
    echo(f"\n{len(rows)} episodes, {total_h:.2f} h of audio; catalog: {Path(data_dir).resolve() / 'catalog.duckdb'}")


def _say(args) -> int:
    import soundfile as sf
    from audiorole.discovery import slug
    from training import RolePlayModel, parse_context

    series_key = slug(args.series)
    try:
        model = RolePlayModel.load(args.data_dir, series_key)
        reply = model.reply(args.character, parse_context(args.context), seed=args.seed)
    except (FileNotFoundError, KeyError, ValueError) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(args.out), reply.wav, 16000)
    print(f"{model.characters[model.character_key(args.character)]}: {reply.text}")
    print(f"speech: {args.out} ({len(reply.wav) / 16000:.2f} s, {len(reply.units)} units)")
    return 0


def _name_path(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"--system {text!r}: expected NAME=PATH")
    return name.strip(), str(Path(path.strip()).resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audiorole", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p_demo = sub.add_parser("demo", help="write the embedded demo series (media root + ground truth)")
    p_demo.add_argument("--out", required=True, type=Path)
    p_demo.add_argument("--profile", choices=("tv", "hard"), default="tv",
                        help="tv (default): the subtitled TV series; hard: far-field meeting-like episodes without "
                             "subtitles (reverberant rooms, quiet talkers, 15-20%% overlapped speech)")
    p_demo.add_argument("--minutes", type=float, help="minutes per episode (default 3.5; hard: 15)")
    p_demo.add_argument("--episodes", type=int, help="episodes of the main demo series (default 3; hard: 4)")
    p_demo.add_argument("--seed", type=int, default=0)

    p_run = sub.add_parser("run", help="materialize every asset for every episode under the media root")
    p_run.add_argument("--media-root", required=True, type=Path)
    p_run.add_argument("--data-dir", required=True, type=Path)
    p_run.add_argument("--force", action="store_true", help="recompute even what is current")
    p_run.add_argument("--only", nargs="+", metavar="KEY", help="episode keys, series keys or series titles")

    p_run.add_argument("--no-train", action="store_true", help="build the dataset only (no ARP-Model training)")
    p_run.add_argument("--profile", default="cpu", help="ARP-Model training profile: cpu (default), quality, gpu")

    p_say = sub.add_parser("say", help="a trained ARP-Model answers a context as a character (text + speech)")
    p_say.add_argument("--data-dir", required=True, type=Path)
    p_say.add_argument("--series", required=True, help="series key (e.g. maple-street) or title")
    p_say.add_argument("--character", required=True, help="character name or key")
    p_say.add_argument("--context", required=True, help='preceding turns, "NAME: text" per line or separated by |')
    p_say.add_argument("--out", type=Path, default=Path("reply.wav"))
    p_say.add_argument("--seed", type=int, default=0)

    p_eval = sub.add_parser("eval", help="ARP-Eval: score the ARP-Model, the baselines and any system folder")
    p_eval.add_argument("--data-dir", required=True, type=Path)
    p_eval.add_argument("--series", nargs="+", help="series keys (default: every series with a test set)")
    p_eval.add_argument("--system", action="append", default=[], metavar="NAME=PATH",
                        help="also score this folder of <sample_id>.txt/.wav replies (repeatable)")
    p_eval.add_argument("--force", action="store_true", help="recompute even what is current")

    p_ui = sub.add_parser("ui", help="the Dagster UI (dagster dev) on a media root and data dir, with the sensors on")
    p_ui.add_argument("--media-root", required=True, type=Path)
    p_ui.add_argument("--data-dir", required=True, type=Path)
    p_ui.add_argument("--port", type=int, default=3000)
    p_ui.add_argument("--host", default="127.0.0.1")

    p_sum = sub.add_parser("summary", help="print what the catalog holds")
    p_sum.add_argument("--data-dir", required=True, type=Path)

    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.profile == "hard":
            from audiorole.demo.hard import build_hard_demo

            manifest = build_hard_demo(args.out, minutes_per_episode=args.minutes or 15.0,
                                       n_episodes=args.episodes or 4, seed=args.seed)
        else:
            from audiorole.demo import build_demo

            manifest = build_demo(args.out, minutes_per_episode=args.minutes or 3.5, n_episodes=args.episodes or 3,
                                  seed=args.seed)
        print(f"demo media root: {manifest.media_root}\nground truth:    {manifest.truth_root}")
        return 0
    if args.command == "run":
        if not args.media_root.is_dir():
            print(f"error: {args.media_root}: media root is not a folder", file=sys.stderr)
            return 2
        from dataclasses import asdict

        from training.config import PROFILES

        if args.profile not in PROFILES:
            print(f"error: unknown training profile {args.profile!r} (use {', '.join(PROFILES)})", file=sys.stderr)
            return 2
        report = run_pipeline(args.media_root, args.data_dir, force=args.force, only=args.only, train=not args.no_train,
                              training_config={"arp_model": asdict(PROFILES[args.profile])})
        print(
            f"\n{len(report.succeeded)} materialized, {len(report.skipped)} current (skipped), "
            f"{len(report.failed)} failed"
        )
        for key, why in report.failed.items():
            print(f"  FAILED {key}: {why}", file=sys.stderr)
        return 0 if report.ok else 1
    if args.command == "say":
        return _say(args)
    if args.command == "eval":
        try:
            systems = dict(_name_path(s) for s in args.system)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        report = run_eval(args.data_dir, series=args.series, systems=systems, force=args.force)
        for key, why in report.failed.items():
            print(f"  FAILED {key}: {why}", file=sys.stderr)
        return 0 if report.ok and report.succeeded else 1
    if args.command == "summary":
        print_summary(args.data_dir)
        return 0
    if args.command == "ui":
        return ui(args.media_root, args.data_dir, port=args.port, host=args.host)
    return 2


def ui(media_root: Path, data_dir: Path, *, port: int = 3000, host: str = "127.0.0.1") -> int:
    """``dagster dev`` on this media root and data dir: the webserver and the daemon (sensors, schedules, run
    queue), with the instance of ``audiorole run`` (so its runs and materializations show)."""
    media_root.mkdir(parents=True, exist_ok=True)
    home = prepare_dagster_home(data_dir.resolve())
    env = {**os.environ, "AUDIOROLE_MEDIA_ROOT": str(media_root.resolve()), "AUDIOROLE_DATA_DIR": str(data_dir.resolve()),
           "DAGSTER_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [str(dagster), "dev", "-w", str(workspace), "-p", str(port), "-h", host]
    print("starting: " + " ".join(cmd) + f"\n  DAGSTER_HOME={home}", flush=True)
    os.chdir(workspace.parent)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    sys.exit(main())
