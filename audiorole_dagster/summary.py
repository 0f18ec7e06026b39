"""What ``audiorole summary`` and ``audiorole eval`` print: the catalog's episodes, characters and models, and the
per-character ARP-Eval table of each evaluated series."""

from __future__ import annotations

import json
from pathlib import Path

from audiorole import catalog
from audiorole.store import DataStore
from evaluation import stages as ev
from evaluation.report import auc_rows, difference_rows, verbatim_line
from evaluation.score import pairs_under_target, table
from resources.storage import refresh_catalog


MAX_PAIRS_SHOWN = 8  # pairs under target printed by ``print_eval``


def pairs_line(results: list[dict]) -> str | None:
    """The held-out pairs of characters under their metric's target, lowest first, at most ``MAX_PAIRS_SHOWN`` of
    them (a series of many characters can have dozens; the report lists every pair); None when there is none."""
    under = pairs_under_target(results)
    if not under:
        return None
    shown = ", ".join(f"{r['metric']} {r['character']} vs {r['versus']} {r['auc']:.3f}"
                      for r in under[:MAX_PAIRS_SHOWN])
    if len(under) > MAX_PAIRS_SHOWN:
        shown += f", and {len(under) - MAX_PAIRS_SHOWN} more (the report lists them)"
    return f"pairs of characters a measure does not tell apart (held out, AUC under its target): {shown}"


def print_eval(data_dir: str | Path, series_key: str, echo=print) -> None:
    """The per-character ARP-Eval table of a series (normalized AP and CP with 95% intervals), its metric AUCs and
    which characters the ARP-Model beats the baselines for."""

    store = DataStore(data_dir)
    try:
        results = ev.load_results(store, series_key)
    except FileNotFoundError:
        echo(f"{series_key}: not evaluated yet")
        return
    echo(f"\nARP-Eval of {series_key} (AP, CP normalized: 0 = another character's real reply, 1 = own real reply; "
         "95% bootstrap intervals; CER raw):")
    _echo_table(table(results), echo)
    aucs = [r for r in auc_rows(results) if r["character"] == "ALL"]
    for replies in ("test set", "all held out"):
        line = ", ".join(f"{r['metric']} {r['AUC']} (n {r['n']})" for r in aucs if r["replies"] == replies)
        if line:
            echo(f"metric AUC, own real reply vs another character's (all characters, {replies}): {line}")
    line = pairs_line(results)
    if line:
        echo(line)
    diffs = [r for r in difference_rows(results) if r["character"] != "ALL"]
    for comp in sorted({r["comparison"] for r in diffs}):
        for m in ("AP", "CP"):
            lost = [r["character"] for r in diffs if r["comparison"] == comp and r["metric"] == m and r["beats"] != "yes"]
            echo(f"{comp} on {m}: " + ("beats it for every character" if not lost else f"does NOT beat it for {', '.join(lost)}"))
    facts_path = store.eval_dir(series_key) / "eval.json"
    line = verbatim_line(json.loads(facts_path.read_text())) if facts_path.exists() else None
    if line:
        echo(line)
    echo(f"report: {store.eval_dir(series_key) / 'report' / 'index.html'}")


def _echo_table(rows: list[dict], echo) -> None:
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    echo("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def print_summary(data_dir: str | Path, echo=print) -> None:
    refresh_catalog(data_dir)
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
