"""Subtitle parsing: SRT, ASS/SSA and WebVTT through pysubs2, with encoding detection, markup and SDH removal,
and the structure TV subtitles carry kept: speaker tags (``JOEY: ...``) and two-speaker dash cues.

``cue_index`` is the position of the cue after cleaning (empty and invalid cues removed) and sorting by start
time; a dash cue's parts share it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from audiorole.errors import SubtitleError
from audiorole.schema import CUE_SCHEMA

FORMATS = {".srt": "srt", ".ass": "ass", ".ssa": "ssa", ".vtt": "vtt"}

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
]
#: charset-normalizer guesses that are subsets of a better codec, and the codec used instead.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "ascii": "utf-8", "iso-8859-1": "cp1252", "latin_1": "cp1252"}

# --- cleaning ---------------------------------------------------------------------------------------------------
_ASS_TAG = re.compile(r"\{[^}]*\}")  # {\i1}, {\pos(1,2)}
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")  # <i>, <font color=...>
_SDH = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫][^♪♫]*(?:[♪♫]|$)")  # [music], (laughs), ♪ la la ♪
_SPACES = re.compile(r"[ \t\u00a0]+")
_DASH = re.compile(r"^\s*[-–—]\s*")
#: A speaker tag: an upper-case name (1–3 words, may have MR./DR., digits like GUARD 2) or a Title-case name
#: of 1–2 words, followed by a colon and text. "at 10:30" never matches (a tag starts the line, has no digit first).
_TAG = re.compile(
    r"^\s*(?P<tag>(?:[A-Z][A-Z'.\-]*\.?)(?:\s+[A-Z0-9][A-Z0-9'.\-]*){0,3}|[A-Z][a-z'\-]+(?:\s+[A-Z][a-z'\-]+)?)"
    r"\s*:\s+(?P<rest>\S.*)$"
)
_VTT_VOICE = re.compile(r"<v(?:\.[^\s>]+)?\s+([^>]+)>")
#: A bracketed speaker ID opening a line, the form of the SDH style guides that put speaker IDs in brackets (Netflix's
#: English SDH: "[Fred] Are you coming?", sound effects in lower case: "[door closes]"): a proper name of 1-3
#: capitalized words (or upper case) in [] or (), then the spoken text. ">>" (a caption's speaker change) may precede.
_BRACKET_ID = re.compile(
    r"^(?P<lead>\s*(?:>>\s*)?(?:[-–—]\s*)?)[\[(](?P<tag>[A-Z][\w'.\-]*(?:\s+[A-Z0-9][\w'.\-]*){0,2})[\])]\s*:?\s+"
    r"(?P<rest>\S.*)$"
)
#: Capitalized sound descriptions ("[Laughs] Okay.", "(SIGHS) Fine.") are not speakers: words of sound, and a thing
#: doing something ("[Phone Ringing]", "[Engine Starting]": two or more words, the last in -ing). A name may end in
#: -ing ("[Viking 1]", "[King Arthur]")
_SOUND_WORDS = frozenset("""
    laughs laugh laughter chuckles chuckle giggles sighs sigh groans groan gasps gasp screams scream shrieks cries
    sobs sniffs sniffles coughs cough sneezes grunts grunt moans moan whispers whisper shouts shout yells yell
    exclaims mutters mumbles murmurs stammers stutters hums hum whistles whistle clears throat exhales inhales
    breathes breath panting pants snores snorts scoffs sneers growls growl barks bark howls meows purrs hisses
    music song singing applause cheers cheer cheering clapping claps silence static beep beeps ring rings knock
    knocks door phone thunder explosion gunshot gunshots footsteps crowd indistinct inaudible muffled distant
    echoes echoing continues continuing softly quietly loudly sarcastically angrily crying laughing sighing
    sobbing screaming shouting yelling whispering groaning moaning gasping coughing chuckling giggling humming
    whistling snoring breathing grunting mumbling muttering murmuring sniffing sniffling stammering stuttering
    ringing knocking banging beeping buzzing playing chattering barking growling
    in on over english spanish french foreign language tv radio voice-over
    """.split())  # the last line: manner and language notes ("[In Spanish]", "(Over Phone)")


@dataclass(frozen=True)
class SubtitleCue:
    cue_index: int
    part: int
    n_parts: int
    start_s: float
    end_s: float
    text: str
    raw_text: str
    speaker_tag: str | None


@dataclass
class ParsedSubtitles:
    path: str
    format: str
    encoding: str
    cues: list[SubtitleCue]
    n_raw_events: int
    n_dropped: int
    warnings: list[str] = field(default_factory=list)

    def to_table(self, episode_key: str) -> pa.Table:
        rows = [{"episode_key": episode_key, **c.__dict__} for c in self.cues]
        return pa.Table.from_pylist(rows, schema=CUE_SCHEMA)


# --- decoding ---------------------------------------------------------------------------------------------------
def _looks_like_text(text: str) -> bool:
    """Decoded text of a subtitle file: few control characters, no replacement characters."""
    if not text.strip():
        return False
    bad = sum(1 for c in text if (ord(c) < 32 and c not in "\r\n\t") or c == "\ufffd")
    return bad <= max(2, len(text) // 200)


def decode_subtitle_bytes(data: bytes, path=None) -> tuple[str, str]:
    """(text, encoding). BOMs first, then UTF-16 without BOM (NUL-byte pattern), strict UTF-8, then
    charset-normalizer's best guess; SubtitleError when nothing decodes into plausible text."""
    if not data.strip(b"\x00 \r\n\t"):
        raise SubtitleError(path, "empty subtitle file")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(enc.replace("-sig", ""), errors="replace"), enc
    head = data[:4000]
    if len(head) >= 4 and b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        enc = "utf-16-le" if odd > 3 * max(even, 1) else "utf-16-be" if even > 3 * max(odd, 1) else None
        if enc:
            try:
                text = data.decode(enc)
                if _looks_like_text(text):
                    return text, enc
            except UnicodeDecodeError:
                pass
        raise SubtitleError(path, "unknown text encoding (binary data: NUL bytes that are not UTF-16)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise SubtitleError(path, "unknown text encoding (no candidate decodes the file)")
    enc = _SUPERSETS.get(best.encoding.lower(), best.encoding.lower())
    # single-byte code pages (Windows, ISO, Mac, DOS) are hard to tell apart: a CP1252 file with curly quotes is
    # often guessed as cp1250, mac_latin2 or even cp852. Score CP1252 itself and prefer it, the most common one,
    # when it decodes about as cleanly (text in another script, e.g. Cyrillic, scores far worse under CP1252)
    if enc != "cp1252" and enc.startswith(("cp", "iso8859", "latin", "mac_")) and not enc.startswith("cp9"):
        western = from_bytes(data, cp_isolation=["cp1252"]).best()
        if western is not None and western.chaos <= best.chaos + 0.05:
            enc = "cp1252"
    # short Chinese texts are often guessed as another CJK codec: prefer GB18030 when it decodes cleanly to Han
    if best.encoding.lower() in {"big5", "euc_jp", "shift_jis", "euc_kr", "cp949", "johab", "gb2312", "gbk"}:
        try:
            han = data.decode("gb18030")
            if sum("\u4e00" <= c <= "\u9fff" for c in han) >= len(han.strip()) // 4:
                enc = "gb18030"
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError):
        raise SubtitleError(path, f"unknown text encoding (best guess {best.encoding} does not decode)") from None
    if not _looks_like_text(text):
        raise SubtitleError(path, f"unknown text encoding (best guess {enc} gives binary-looking text)")
    return text, enc


# --- cleaning ---------------------------------------------------------------------------------------------------
def _strip_markup(line: str) -> str:
    return _HTML_TAG.sub("", _ASS_TAG.sub("", line))


def _clean_line(line: str) -> str:
    line = _SDH.sub(" ", _strip_markup(line)).replace(">>", " ")
    return _SPACES.sub(" ", line).strip()


def _bracket_id(line: str) -> tuple[str | None, str]:
    """``[Fred] Hi.`` → ``("Fred", "Hi.")`` (``- [Fred] Hi.`` → ``("Fred", "- Hi.")``), before the SDH cleaning
    would drop the bracket; a sound description in brackets is left in the line for the cleaning to drop."""
    m = _BRACKET_ID.match(line)
    if not m:
        return None, line
    words = m.group("tag").lower().split()
    if any(w.strip(".") in _SOUND_WORDS for w in words) or (len(words) > 1 and words[-1].endswith("ing")):
        return None, line
    return m.group("tag").strip(), f"{m.group('lead').replace('>>', '').lstrip()}{m.group('rest')}"


def _split_tag(line: str) -> tuple[str | None, str]:
    m = _TAG.match(line)
    if m and not m.group("tag").isdigit():
        return m.group("tag").strip(), m.group("rest").strip()
    return None, line


def split_cue_text(plain: str) -> list[tuple[str | None, str]]:
    """Plain cue text → [(speaker_tag, text), ...]: one entry per speaker of a dash cue (or of a line opening with a
    bracketed speaker ID), else one entry."""
    lines, ids = [], []
    for raw in plain.split("\n"):
        tag, line = _bracket_id(_strip_markup(raw))
        line = _clean_line(line)
        if line:
            lines.append(line)
            ids.append(tag)
    dashed = [bool(_DASH.match(ln)) for ln in lines]
    # "- Hi.\n- Hello." or "Hi.\n- Hello.": one part per speaker; "- Hi, how are\nyou?" stays one part
    dash_cue = len(lines) >= 2 and (sum(dashed) >= 2 or all(dashed[1:]))
    parts: list[tuple[str | None, list[str]]] = []  # (bracketed speaker ID, lines)
    for ln, is_dash, tag in zip(lines, dashed, ids):
        if not parts or tag or (dash_cue and is_dash):
            parts.append((tag, [_DASH.sub("", ln)]))
        else:
            parts[-1][1].append(ln)
    out = []
    for bracketed, group in parts:
        tag, text = (bracketed, " ".join(group)) if bracketed else _split_tag(" ".join(group))
        text = _clean_line(text)
        if text and re.search(r"\w", text):
            out.append((tag, text))
    return out


# --- parsing ----------------------------------------------------------------------------------------------------
def _cut_malformed(text: str) -> tuple[str, bool]:
    """pysubs2 appends an SRT block it cannot parse to the previous cue after an empty line: cut it off."""
    if "\n\n" in text.strip("\n"):
        return text.strip("\n").split("\n\n", 1)[0], True
    return text, False


def parse_subtitle_text(text: str, *, fmt: str, path=None, encoding: str = "utf-8",
                        max_time_s: float | None = None) -> ParsedSubtitles:
    import pysubs2

    if fmt == "vtt":
        text = _VTT_VOICE.sub(lambda m: f"{m.group(1).strip()}: ", text)
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    except Exception as err:  # pysubs2 raises several types for malformed files
        raise SubtitleError(path, f"cannot parse {fmt} subtitles ({type(err).__name__}: {err})") from None
    warnings: list[str] = []
    drops = {"end before start": 0, "negative start": 0, "beyond the media duration": 0, "malformed block": 0}
    n_empty = 0
    kept = []
    events = [e for e in subs if not e.is_comment]
    for ev in events:
        start, end = ev.start / 1000.0, ev.end / 1000.0
        plain, malformed = _cut_malformed(ev.plaintext)
        drops["malformed block"] += malformed
        if start < 0:
            drops["negative start"] += 1
            continue
        if end <= start:
            drops["end before start"] += 1
            continue
        if max_time_s is not None and start > max_time_s:
            drops["beyond the media duration"] += 1
            continue
        parts = split_cue_text(plain)
        if not parts:
            n_empty += 1
            continue
        kept.append((start, end, ev.plaintext, parts))
    if events and not kept and n_empty < len(events):
        raise SubtitleError(path, f"no valid cue in {len(events)} ({', '.join(f'{v} {k}' for k, v in drops.items() if v)})")
    if not events:
        raise SubtitleError(path, f"no {fmt} cue found (not a {fmt} file, or every block is malformed)")
    for kind, n in drops.items():
        if n:
            warnings.append(f"{n} cue(s) dropped or cut: {kind}" if kind != "malformed block"
                            else f"{n} malformed block(s) skipped (unreadable timestamps)")
    kept.sort(key=lambda k: (k[0], k[1]))
    cues = [
        SubtitleCue(i, p, len(parts), start, end, text_, raw, tag)
        for i, (start, end, raw, parts) in enumerate(kept)
        for p, (tag, text_) in enumerate(parts)
    ]
    n_dropped = sum(v for k, v in drops.items() if k != "malformed block") + n_empty
    return ParsedSubtitles(str(path), fmt, encoding, cues, len(events), n_dropped, warnings)


def parse_subtitle_file(path, *, fmt: str | None = None, max_time_s: float | None = None) -> ParsedSubtitles:
    path = Path(path)
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SubtitleError(path, f"unknown subtitle format {path.suffix!r} (expected .srt, .ass, .ssa or .vtt)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SubtitleError(path, f"cannot read ({err.strerror})") from None
    text, encoding = decode_subtitle_bytes(data, path)
    return parse_subtitle_text(text, fmt=fmt, path=path, encoding=encoding, max_time_s=max_time_s)
