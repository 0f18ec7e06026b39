"""The ARP-Eval report of a series: ``report/report.md`` and ``report/index.html`` (tables, PNG plots, and audio
players for a few samples per character, relative links into ``systems/``)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from audiorole.io import atomic_path
from evaluation.score import ALL, HELD_OUT, PAIR_KIND, table, under_target
from evaluation.systems import ARP_MODEL, BUILT_IN, OTHER_CHARACTER, REAL_REPLY
from evaluation.testset import context_text

COLORS = {REAL_REPLY: "#4c956c", OTHER_CHARACTER: "#bcbcbc", ARP_MODEL: "#d1495b", "base": "#00798c",
          "one-shot": "#edae49"}


def _systems(results: list[dict]) -> list[str]:
    found = {r["system"] for r in results if r["kind"] == "score"}
    return [s for s in BUILT_IN if s in found] + sorted(found - set(BUILT_IN))


def _bars(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = _systems(results)
    chars = sorted({r["character"] for r in results if r["kind"] == "score" and r["character"] != ALL}) + [ALL]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=False)
    width = 0.8 / max(len(systems), 1)
    for ax, metric in zip(axes, ("AP", "CP")):
        for j, sys in enumerate(systems):
            vals, lo, hi = [], [], []
            for c in chars:
                r = next((r for r in results if r["kind"] == "score" and r["set"] == "all" and r["system"] == sys
                          and r["metric"] == metric and r["character"] == c), None)
                v = r["value"] if r else np.nan
                vals.append(v)
                lo.append(v - r["ci_low"] if r and r["ci_low"] is not None and np.isfinite(r["ci_low"]) else 0)
                hi.append(r["ci_high"] - v if r and r["ci_high"] is not None and np.isfinite(r["ci_high"]) else 0)
            x = np.arange(len(chars)) + (j - (len(systems) - 1) / 2) * width
            ax.bar(x, vals, width, yerr=[lo, hi], capsize=2, label=sys, color=COLORS.get(sys))
        ax.axhline(0, color="k", lw=0.6)
        ax.axhline(1, color="k", lw=0.6, ls=":")
        ax.set_xticks(np.arange(len(chars)), chars, rotation=20, ha="right", fontsize=8)
        ax.set_title(f"{metric} (normalized: 0 = another character's real reply, 1 = own real reply)", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(systems), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _scatter(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 5))
    for sys in _systems(results):
        pts = {}
        for r in results:
            if r["kind"] == "score" and r["set"] == "all" and r["system"] == sys and r["metric"] in ("AP", "CP") \
                    and r["character"] != ALL:
                pts.setdefault(r["character"], {})[r["metric"]] = r["value"]
        xs = [p.get("AP", np.nan) for p in pts.values()]
        ys = [p.get("CP", np.nan) for p in pts.values()]
        ax.scatter(xs, ys, label=sys, color=COLORS.get(sys), s=40, alpha=0.85)
    ax.set_xlabel("AP (normalized)")
    ax.set_ylabel("CP (normalized)")
    ax.set_title("AP × CP, one point per character and system", fontsize=9)
    ax.axhline(0, color="k", lw=0.5), ax.axvline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _separation(scores: list[dict], path: Path) -> None:
    """The measures measured: raw AP and CP of the own real reply vs another character's real reply."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, metric in zip(axes, ("AP", "CP")):
        for sys in (REAL_REPLY, OTHER_CHARACTER):
            vals = [r["raw"] for r in scores if r["system"] == sys and r["metric"] == metric and r["status"] == "ok"]
            ax.hist(vals, bins=20, alpha=0.6, label=sys, color=COLORS[sys])
        ax.set_title(f"raw {metric}: own real reply vs another character's", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    return ("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
            + "".join("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |\n" for r in rows))


def _html_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def difference_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        if r["kind"] == "difference" and r["set"] == "all" and r["metric"] in ("AP", "CP"):
            ok = r["ci_low"] is not None and np.isfinite(r["ci_low"]) and r["ci_low"] > 0
            rows.append({"character": r["character"], "comparison": r["system"], "metric": r["metric"],
                         "difference": f"{r['value']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
                         if r["ci_low"] is not None and np.isfinite(r["ci_low"]) else f"{r['value']:+.2f}",
                         "n": r["n"], "beats": "yes" if ok else "NO"})
    return sorted(rows, key=lambda r: (r["character"] == ALL, r["character"], r["comparison"], r["metric"]))


def auc_rows(results: list[dict]) -> list[dict]:
    """The anchors' AUCs on the test set's samples and over every held-out reply (``score.held_out_separation``)."""
    rows = []
    for r in results:
        if r["kind"] == "auc" and r["set"] in ("all", HELD_OUT):
            ci = (f" [{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if r.get("ci_low") is not None
                  and np.isfinite(r["ci_low"]) else "")
            rows.append({"character": r["character"], "metric": r["metric"],
                         "replies": "test set" if r["set"] == "all" else "all held out",
                         "AUC": f"{r['value']:.3f}{ci}", "n": r["n"]})
    return sorted(rows, key=lambda r: (r["character"] == ALL, r["character"], r["metric"], r["replies"]))


PAIRS_TITLE = ("Each pair of characters (held-out replies; AUC of the first's replies against the second's, in the "
               "first's column)")


def pair_rows(results: list[dict]) -> list[dict]:
    """The held-out AUC of each pair of characters (``score.held_out_separation``'s ``auc_pair`` rows): one row per
    (character, versus) with AP and CP, a value under its target (``score.under_target``) marked."""
    by: dict = {}
    for r in results:
        if r["kind"] == PAIR_KIND:
            cell = f"{r['value']:.3f}" + (" (under target)" if under_target(r) else "")
            by.setdefault((r["character"], r["system"]), {"character": r["character"], "versus": r["system"],
                                                          "AP": "", "CP": ""})[r["metric"]] = cell
    return [by[k] for k in sorted(by)]


def verbatim_line(facts: dict) -> str | None:
    """Which share of each system's replies is a train-split line word for word (the eval facts'
    ``verbatim_train_lines``), the real replies' own share first; None before that was measured."""
    shares = facts.get("verbatim_train_lines") or {}
    if not shares:
        return None
    order = sorted(shares, key=lambda n: (n != REAL_REPLY, n))
    return ("Replies that are a train line word for word: "
            + ", ".join(f"{n} {100 * shares[n]:.0f}%" for n in order))


def replies_caveat(replies: dict, names: dict[str, str] | None = None) -> str:
    """What the report says of the ARP-Model's replies when they were not the current model's (``replies``: the
    eval facts' ``arp_model_replies``, the keys of the trained characters whose replies were stale or missing when
    scored; ``names``: character key → name)."""
    def who(keys: list[str]) -> str:
        return ", ".join((names or {}).get(k, k) for k in keys)

    parts = []
    if replies.get("stale"):
        parts.append(f"the ARP-Model replies of {who(replies['stale'])} were older than their model, speech "
                     "decoder or test set when scored: their rows are an older model's")
    if replies.get("missing"):
        parts.append(f"{who(replies['missing'])} had no ARP-Model replies when scored: their samples count "
                     "as missing")
    return "; ".join(parts) + ("." if parts else "")


def write_report(ev: Path, title: str, samples: list[dict], results: list[dict], scores: list[dict], facts: dict,
                 per_character: int = 2) -> dict:
    out = ev / "report"
    out.mkdir(parents=True, exist_ok=True)
    _bars(results, out / "ap_cp.png")
    _scatter(results, out / "ap_x_cp.png")
    _separation(scores, out / "separation.png")
    main, single, multi = table(results, "all"), table(results, "single_turn"), table(results, "multi_turn")
    diffs, aucs, pairs = difference_rows(results), auc_rows(results), pair_rows(results)
    problems = facts.get("problems", [])
    systems = _systems(results)
    text = {(r["system"], r["sample_id"]): r for r in scores if r["metric"] == "CER"}

    picks = []
    for key in sorted({s["character_key"] for s in samples}):
        picks += [s for s in samples if s["character_key"] == key][:per_character]

    verbatim = verbatim_line(facts)
    caveat = replies_caveat(facts.get("arp_model_replies") or {}, {s["character_key"]: s["character"] for s in samples})
    md = [f"# ARP-Eval: {title}", "",
          f"{facts.get('n_samples', len(samples))} test samples; systems: {', '.join(systems)}. AP and CP are "
          "normalized per character: 0 = another character's real reply, 1 = the character's own held-out reply; "
          "intervals are 95% bootstrap intervals over samples. CER is Whisper's transcript of the reply's audio "
          "against the reply's text (raw, lower is better). train_sim, self_sim, cross_sim: how near the reply's "
          "words are to the nearest train line, to the system's reply for the same character to another turn, and "
          "for another character (1 = word for word; raw, lower is newer; the real replies give the series' own "
          "level).", "", *([f"**Warning:** {caveat}", ""] if caveat else []),
          *([verbatim + ".", ""] if verbatim else []),
          "## Do the metrics separate the characters? (own real reply vs another character's, AUC)", "",
          _md_table(aucs), "", f"### {PAIRS_TITLE}", "", _md_table(pairs),
          "", "## Per character and system (all samples)", "", _md_table(main), "",
          "## ARP-Model against the baselines (paired differences, normalized)", "", _md_table(diffs), "",
          "![AP and CP](ap_cp.png)", "", "![AP x CP](ap_x_cp.png)", "", "![separation](separation.png)", "",
          "## Single-turn samples", "", _md_table(single), "", "## Multi-turn samples", "", _md_table(multi), "",
          f"## Samples that could not be scored ({facts.get('n_problems', len(problems))})", ""]
    md += [f"- {p['system']} / {p['sample_id']}: {p['status']} ({p['problem']})" for p in problems] or ["none"]
    md += ["", "## Listen", ""]
    for s in picks:
        md += [f"### {s['character']} — {s['sample_id']}", "", "```", context_text(s), "```", ""]
        for sys in systems:
            r = text.get((sys, s["sample_id"]))
            md.append(f"- **{sys}**: {r['reply_text'] if r and r['reply_text'] is not None else '(missing)'} "
                      f"([audio](../systems/{sys}/{s['sample_id']}.wav))")
        md.append("")
    with atomic_path(out / "report.md") as tmp:
        Path(tmp).write_text("\n".join(md), encoding="utf-8")

    style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}"
             "th{background:#f3f3f3}.ctx{white-space:pre-wrap;background:#f7f7f7;padding:6px;font-size:13px}"
             "audio{height:28px;vertical-align:middle}.sys{display:inline-block;width:130px;font-weight:600}")
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>ARP-Eval: {html.escape(title)}</title>"
         f"<style>{style}</style></head><body>", f"<h1>ARP-Eval: {html.escape(title)}</h1>",
         f"<p>{html.escape(md[2])}</p>", *([f"<p style='color:#a15c00'><b>Warning:</b> {html.escape(caveat)}</p>"]
                                          if caveat else []),
         *([f"<p>{html.escape(verbatim)}.</p>"] if verbatim else []),
         "<h2>Do the metrics separate the characters?</h2>", _html_table(aucs),
         f"<h3>{html.escape(PAIRS_TITLE)}</h3>", _html_table(pairs),
         "<img src='separation.png' width='900'>",
         "<h2>Per character and system</h2>", _html_table(main),
         "<img src='ap_cp.png' width='1150'><br><img src='ap_x_cp.png' width='560'>",
         "<h2>ARP-Model against the baselines</h2>", _html_table(diffs),
         "<h2>Single-turn</h2>", _html_table(single), "<h2>Multi-turn</h2>", _html_table(multi),
         f"<h2>Samples that could not be scored ({len(problems)})</h2><ul>"
         + "".join(f"<li>{html.escape(p['system'])} / {html.escape(p['sample_id'])}: {html.escape(p['status'])} "
                   f"({html.escape(str(p['problem']))})</li>" for p in problems) + "</ul>",
         "<h2>Listen</h2>"]
    for s in picks:
        h.append(f"<h3>{html.escape(s['character'])} <small>{html.escape(s['sample_id'])}</small></h3>"
                 f"<div class='ctx'>{html.escape(context_text(s))}</div>")
        for sys in systems:
            r = text.get((sys, s["sample_id"]))
            said = r["reply_text"] if r and r["reply_text"] is not None else "(missing)"
            heard = f" <small>heard: “{html.escape(r['transcript'])}”</small>" if r and r.get("transcript") else ""
            h.append(f"<div><span class='sys'>{html.escape(sys)}</span><audio controls preload='none' "
                     f"src='../systems/{html.escape(sys)}/{html.escape(s['sample_id'])}.wav'></audio> "
                     f"{html.escape(said)}{heard}</div>")
    h.append("</body></html>")
    with atomic_path(out / "index.html") as tmp:
        Path(tmp).write_text("\n".join(h), encoding="utf-8")
    return {"report": str(out / "index.html"), "markdown": str(out / "report.md"),
            "plots": [str(out / p) for p in ("ap_cp.png", "ap_x_cp.png", "separation.png")]}
