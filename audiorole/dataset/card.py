"""The dataset card of a series: Markdown and HTML with PNG plots, per series and per character.

Written to ``<data dir>/series/<series key>/card/``: ``README.md`` (Hugging Face style, with a YAML header),
``index.html`` (the same content, the plots inline), and the PNGs both refer to.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from pathlib import Path

from audiorole.io import atomic_path, write_text_atomic

PLOTS = ("hours_per_character.png", "durations.png", "rejections.png", "episodes.png")


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def plot_card(out: Path, stats: dict) -> list[str]:
    """The card's PNGs. ``stats`` as built by ``card_stats``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chars = stats["characters"]
    names = [c["character"] for c in chars]

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    ax.barh(names[::-1], [c["minutes"] for c in chars][::-1], color="#4c72b0")
    ax.set_xlabel("kept speech (minutes)")
    ax.set_title("Speech per character")
    _save(fig, out / PLOTS[0])
    plt.close(fig)

    main = [c for c in chars if c["durations"]]
    cols = min(3, max(1, len(main)))
    rows = max(1, -(-len(main) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False, sharex=True)
    for ax, c in zip(axes.flat, main):
        ax.hist(c["durations"], bins=20, range=(0, max(1.0, stats["max_duration_s"])), color="#55a868")
        ax.set_title(c["character"], fontsize=9)
        ax.tick_params(labelbottom=True)  # every panel keeps its duration axis (empty panels may close a row)
    for ax in list(axes.flat)[len(main):]:
        ax.axis("off")
    fig.supxlabel("utterance duration (s)")
    fig.suptitle("Utterance durations per character")
    fig.tight_layout()
    _save(fig, out / PLOTS[1])
    plt.close(fig)

    reasons = stats["reject_reasons"]
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(1, len(reasons)) + 1.2))
    ax.barh(list(reasons)[::-1] or ["(none)"], [r["minutes"] for r in reasons.values()][::-1] or [0], color="#c44e52")
    ax.set_xlabel("rejected speech (minutes)")
    ax.set_title("Why speech was rejected")
    _save(fig, out / PLOTS[2])
    plt.close(fig)

    eps = stats["episodes"]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(eps) + 2), 3))
    ax.bar([e["episode"] for e in eps], [100 * e["kept_share"] for e in eps], color="#8172b2")
    ax.set_ylabel("kept / all segment time (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Kept share per episode")
    ax.tick_params(axis="x", rotation=45)
    _save(fig, out / PLOTS[3])
    plt.close(fig)
    return list(PLOTS)


def card_stats(title: str, series_key: str, segments: list[dict], voices: list[dict], dialogues: list[dict],
               splits: dict[str, str], missing: list[str], language: str = "en") -> dict:
    """Everything the card shows, from the segments (with ``character``), voices, dialogues and splits."""
    per_char: dict[str, dict] = defaultdict(lambda: {"minutes": 0.0, "segments": 0, "durations": [],
                                                     "dialogues": 0, "episodes": set(), "tagged": 0.0})
    reasons: dict[str, dict] = defaultdict(lambda: {"segments": 0, "minutes": 0.0})
    per_ep: dict[str, dict] = defaultdict(lambda: {"kept": 0.0, "all": 0.0})
    for s in segments:
        d = s["end_s"] - s["start_s"]
        per_ep[s["episode_key"]]["all"] += d
        if s["keep"] and s.get("character"):
            c = per_char[s["character"]]
            c["minutes"] += d / 60
            c["tagged"] += d / 60 if s.get("attribution") == "subtitle_tag" else 0.0
            c["segments"] += 1
            c["durations"].append(d)
            c["episodes"].add(s["episode_key"])
            per_ep[s["episode_key"]]["kept"] += d
        elif not s["keep"]:
            reasons[s["reject_reason"]]["segments"] += 1
            reasons[s["reject_reason"]]["minutes"] += d / 60
    for dlg in dialogues:
        per_char[dlg["character"]]["dialogues"] += 1
    source = {v["character"]: v["name_source"] for v in voices}
    chars = [{"character": k, "minutes": round(v["minutes"], 2), "segments": v["segments"],
              "dialogues": v["dialogues"], "episodes": len(v["episodes"]), "durations": v["durations"],
              "name_source": source.get(k, "none"),
              # the share of its speech whose own cue names it; the rest is attributed by voice alone
              "named_on_cue": round(v["tagged"] / v["minutes"], 3) if v["minutes"] else 0.0}
             for k, v in sorted(per_char.items(), key=lambda kv: -kv[1]["minutes"])]
    all_d = [d for c in chars for d in c["durations"]]
    return {
        "title": title, "series_key": series_key, "language": language, "characters": chars,
        "reject_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1]["minutes"])),
        "episodes": [{"episode": k.split("/", 1)[1], "split": splits.get(k, "?"),
                      "kept_share": v["kept"] / v["all"] if v["all"] else 0.0} for k, v in sorted(per_ep.items())],
        "splits": dict(Counter(splits.values())), "missing": missing,
        "kept_hours": sum(c["minutes"] for c in chars) / 60, "n_dialogues": len(dialogues),
        "kinds": dict(Counter(d["kind"] for d in dialogues)), "max_duration_s": max(all_d) if all_d else 1.0,
    }


CHARACTER_COLUMNS = ["character", "minutes", "segments", "dialogues", "episodes", "name from", "named on its cue"]


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def render_markdown(stats: dict) -> str:
    s = stats
    char_rows = [[c["character"], c["minutes"], c["segments"], c["dialogues"], c["episodes"], c["name_source"],
                  f"{100 * c['named_on_cue']:.0f}%"] for c in s["characters"]]
    reason_rows = [[k, v["segments"], round(v["minutes"], 2)] for k, v in s["reject_reasons"].items()]
    ep_rows = [[e["episode"], e["split"], f"{100 * e['kept_share']:.1f}%"] for e in s["episodes"]]
    parts = [
        "---", f"pretty_name: {s['title']} (AudioRole)", "task_categories:", "- text-to-speech",
        "- automatic-speech-recognition", "language:", f"- {s['language']}", "---", "",
        f"# {s['title']}: character-grounded speech", "",
        f"{s['kept_hours']:.3f} hours of kept speech by {len(s['characters'])} characters, "
        f"{s['n_dialogues']} context→reply dialogues ({', '.join(f'{k}: {v}' for k, v in s['kinds'].items()) or 'none'}). "
        f"Splits by episode: {', '.join(f'{k}: {v}' for k, v in sorted(s['splits'].items()))}.", "",
    ]
    if s["missing"]:
        parts += [f"**Missing episodes** (failed or not yet processed upstream): {', '.join(s['missing'])}", ""]
    parts += [
        "## Characters", "", _table(CHARACTER_COLUMNS, char_rows), "",
        "*named on its cue*: the share of the character's speech whose own subtitle cue names them; the rest is "
        "attributed by voice alone.", "", "![speech per character](hours_per_character.png)", "",
        "![utterance durations](durations.png)", "", "## Rejected speech", "",
        _table(["reason", "segments", "minutes"], reason_rows) if reason_rows else "Nothing was rejected.", "",
        "![rejections](rejections.png)", "", "## Episodes", "", _table(["episode", "split", "kept share"], ep_rows),
        "", "![kept share per episode](episodes.png)", "",
    ]
    return "\n".join(parts)


def render_html(stats: dict) -> str:
    s = stats
    esc = html.escape

    def table(header, rows):
        head = "".join(f"<th>{esc(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{esc(str(x))}</td>" for x in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    chars = table(CHARACTER_COLUMNS,
                  [[c["character"], c["minutes"], c["segments"], c["dialogues"], c["episodes"], c["name_source"],
                    f"{100 * c['named_on_cue']:.0f}%"] for c in s["characters"]])
    reasons = table(["reason", "segments", "minutes"],
                    [[k, v["segments"], round(v["minutes"], 2)] for k, v in s["reject_reasons"].items()])
    eps = table(["episode", "split", "kept share"],
                [[e["episode"], e["split"], f"{100 * e['kept_share']:.1f}%"] for e in s["episodes"]])
    missing = (f"<p class=warn><b>Missing episodes</b> (failed or not yet processed upstream): "
               f"{esc(', '.join(s['missing']))}</p>") if s["missing"] else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(s['title'])} (AudioRole)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}
.warn{{background:#fff3cd;padding:.5em}}img{{max-width:100%}}</style></head><body>
<h1>{esc(s['title'])}: character-grounded speech</h1>
<p>{s['kept_hours']:.3f} hours of kept speech by {len(s['characters'])} characters,
{s['n_dialogues']} context→reply dialogues. Splits by episode:
{esc(', '.join(f'{k}: {v}' for k, v in sorted(s['splits'].items())))}.</p>{missing}
<h2>Characters</h2>{chars}<img src="hours_per_character.png" alt="speech per character">
<img src="durations.png" alt="utterance durations">
<h2>Rejected speech</h2>{reasons}<img src="rejections.png" alt="rejections">
<h2>Episodes</h2>{eps}<img src="episodes.png" alt="kept share per episode">
</body></html>
"""


def write_card(out: Path, stats: dict) -> list[str]:
    """Write the PNGs, README.md and index.html; returns the file names."""
    out.mkdir(parents=True, exist_ok=True)
    files = plot_card(out, stats)
    write_text_atomic(out / "README.md", render_markdown(stats))
    write_text_atomic(out / "index.html", render_html(stats))
    return [*files, "README.md", "index.html"]
