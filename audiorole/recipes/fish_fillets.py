"""Fish Fillets – Next Generation (ALTAR interactive / fillets.sourceforge.net, GPL-2.0-only): Czech (or Dutch)
voiced puzzle-game dialogue as a corpus of levels.

Packages (Debian ``main``, fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``):
``fillets-ng-data`` (scripts, subtitles in all languages, music) and ``fillets-ng-data-cs`` (Czech voices) or
``fillets-ng-data-nl`` (Dutch voices). Both unpack under ``usr/share/games/fillets-ng/`` (the data root).

Format (as found in 1.0.1-1.1):

* Levels: ``script/worldmap.lua`` declares the map as a tree, ``branch_addNode(parent, codename, datafile, x, y, …)``,
  one world after another (Fish House, its New-Generation branch, Ship Wrecks, Silver's Ship, City in the Deep, UFO,
  Coral Reef, Treasure Cave, Dump, Secret Computer), each world's levels in play order; ``branch_setEnding`` adds
  ``ending``. Declaration order is a topological order of the tree (every parent comes first): it is our scene
  order. 80 levels + the ending; in Czech 78 are voiced, followed by four scenes of shared lines (``share-*``).
* Texts: ``script/<level>/[<prefix>]dialogs_<lang>.lua`` (UTF-8, no BOM, LF) is a list of
  ``dialogId("<id>", "<font>", "<English prime text>")`` each followed by ``dialogStr("<translation>")`` (Lua
  double-quoted strings, ``\\\\`` escapes; a call may span lines). Prefixes: ``brief_`` (the briefcase message
  played as a demo), ``demo_`` (the poster shown after a world; unvoiced). ``dialogs_en.lua`` holds the English
  prime text (``dialogId`` only) and wins over the third argument (identical in every Czech file of 1.0.1-1.1).
  Shared lines (bored jokes, deaths, "we have a job to do", exit shouts) live in ``script/share/<group>_dialogs_*``
  with their clips in ``sound/share/<dir>/<lang>/``.
* Speaker: the font. ``font_small`` / ``font_big`` are the two fish (~40 min each); guests have their own font
  (``font_parrot``, ``font_viking1``…) or borrow a colour (``font_white``, ``font_lightgrey``, …) that names a
  different character in each level — ``LEVEL_FONT_CHARACTERS`` resolves those per level. ``font_both`` is both
  fish at once. Empty font + empty text: numbers spliced into templated lines (the gods' battleship coordinates,
  the ending's hour count); those and the ``%1`` templates themselves are left out (their text does not match the
  clip).
* Clips: ``sound/<level>/<lang>/<id>.ogg`` (Ogg Vorbis, mono 22.05 kHz; some 44.1 kHz, 74 stereo). Czech: 1,882
  clips (100 of them shared), ~105 min; 3 clips no dialogs file names (``fdto``). Ids without a Czech clip: ``key``
  and ``electromagnet`` are not voiced in Czech, posters are unvoiced, and the elk's Russian lines (with a clicking
  sound or two) are language-independent clips in ``sound/<level>/en/`` of ``fillets-ng-data`` — not read: not the
  voice's language. Dutch voices only the two fish (1,615 lines, ~96 min). ``cabin2`` replays seven of ``cabin1``'s
  parrot clips (byte-identical files); both levels keep them.
* Play order: ``script/<level>/code.lua`` schedules lines with ``addm(delay, id)`` / ``addv(delay, id)`` (small /
  big fish), ``model:talk(id)``, ``model:planDialog(delay, id)``, ``planDialogSet(delay, id, …)``, from
  condition-driven state machines; ids are literals or a literal prefix plus a random / state suffix
  (``"l-halo"..lebka.volfaze``). A level's lines are ordered by the first place the code names them (a literal
  prefix places all its variants together, in file order; ``level_newDemo("…/demo_x.lua")`` is read in place);
  lines the code never names follow the line that precedes them in the dialogs file. ``ReadStats.order`` says
  per level how many lines were placed by code and how many by file order.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from audiorole.recipes import Corpus, Line, RecipeError, Scene
from audiorole.recipes.debian import PackageUnavailable, fetch_packages  # noqa: F401 (raised through fetch)

log = logging.getLogger(__name__)


NAME = "fish_fillets"
TITLE = "Fish Fillets – Next Generation"
LICENSE = "GPL-2.0-only"
DATA_PACKAGE = "fillets-ng-data"
VOICE_PACKAGES = {"cs": "fillets-ng-data-cs", "nl": "fillets-ng-data-nl"}
DATA_SUBDIR = Path("usr/share/games/fillets-ng")

#: font → character, where the font is one character's everywhere
FONT_CHARACTERS: dict[str, str] = {
    "font_small": "Small fish",
    "font_big": "Big fish",
    "font_both": "Both fish",
    "font_parrot": "Parrot",
    "font_elk": "Elk",
    "font_statue": "Statue",
    "font_robodog": "Robodog",
    "font_crab": "Crab",
    "font_snail": "Snail",
    "font_pizla": "Escargot",  # the snail's brother on the phone (bathyscaph)
    "font_linuxer1": "Linux user 1",
    "font_linuxer2": "Linux user 2",
    "font_viking1": "Viking 1",
    "font_viking2": "Viking 2",
    "font_viking3": "Viking 3",
    "font_viking4": "Viking 4",
    "font_viking5": "Viking 5",
    "font_viking6": "Viking 6",
    "font_viking8": "Viking 8",
    "font_poster": "Poster narrator",
}

#: (level, font) → character, for colour fonts that name a different character per level (and the odd borrowed font)
LEVEL_FONT_CHARACTERS: dict[tuple[str, str], str] = {
    ("start", "font_darkgrey"): "Steel cylinder",
    ("briefcase", "font_white"): "Boss",
    ("fdto", "font_white"): "FDTO sign",
    ("hole", "font_lightgrey"): "Winnetou's skull",
    ("hole", "font_green"): "Telephone receiver",
    ("submarine", "font_white"): "Torpedo bay",
    ("bathyscaph", "font_statue"): "Inspector Clouseau",
    ("bathyscaph", "font_green"): "Answering machine",
    ("viking2", "font_lightgrey"): "Ship's figurehead",
    ("gods", "font_yellow"): "Yellow god",
    ("gods", "font_cyan"): "Blue god",
    ("captain", "font_lightgrey"): "Pirate skull",
    ("captain", "font_brown"): "Hook",
    ("map", "font_yellow"): "Snails",
    ("elevator1", "font_lightgrey"): "Old man",
    ("elevator2", "font_lightgrey"): "Old man",
    ("city", "font_white"): "Statue's customer",
    ("pearls", "font_parrot"): "Pearl oyster",
    ("dump", "font_magenta"): "Jellyfish",
    ("barrel", "font_white"): "Pld's father",
    ("hardware", "font_white"): "Computer",
    ("floppy", "font_darkgrey"): "Cockroach",
    ("ending", "font_white"): "Boss",
}

MAIN_CHARACTERS = ("Small fish", "Big fish")

#: shared lines: (scene key, dialogs prefix in script/share/, clip folder in sound/share/, the code that plays them)
SHARED_GROUPS = (
    ("share-bore", "bore_", "borejokes", "borejokes.lua"),
    ("share-black", "black_", "blackjokes", "blackjokes.lua"),
    ("share-border", "border_", "border", "prog_border.lua"),
    ("share-shout", "shout_", "border", "bordershout.lua"),
)

_STR = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_LUA_TOKEN = re.compile(
    r"(?P<comment>--\[(?P<ceq>=*)\[.*?\](?P=ceq)\]|--[^\n]*)"
    r"|(?P<long>\[(?P<leq>=*)\[.*?\](?P=leq)\])"
    r'|"(?P<dq>(?:[^"\\\n]|\\.)*)"'
    r"|'(?P<sq>(?:[^'\\\n]|\\.)*)'",
    re.S,
)
_DIALOG_CALL = re.compile(
    rf"\bdialogId\s*\(\s*(?P<id>{_STR})\s*,\s*(?P<font>{_STR})\s*,\s*(?P<en>{_STR})\s*\)"
    rf"|\bdialogStr\s*\(\s*(?P<str>{_STR})\s*\)",
    re.S,
)
_NODE = re.compile(r'\bbranch_addNode\s*\(\s*"[^"]*"\s*,\s*"(?P<code>[^"]+)"')
_ENDING = re.compile(r'\bbranch_setEnding\s*\(\s*"(?P<code>[^"]+)"')
_TEMPLATE = re.compile(r"%\d")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


@dataclass(frozen=True)
class Dialog:
    """One ``dialogId`` (+ ``dialogStr``) entry of a dialogs file."""

    id: str
    font: str
    text_en: str
    text: str | None  # the translation; None where the file has no dialogStr for the id


@dataclass
class ReadStats:
    """What ``read`` left out and how it ordered the lines."""

    lines: int = 0
    no_clip: int = 0  # dialog ids of the language's files without sound/<level>/<lang>/<id>.ogg
    no_text: int = 0  # clips whose line has no (or an empty) text: spliced numbers
    templated: int = 0  # texts with a %1 placeholder (the clip says only part of the text)
    orphan_clips: int = 0  # level clips no dialogs file names (never played)
    levels: int = 0  # levels in the world map (with the ending)
    empty_levels: list[str] = field(default_factory=list)  # levels without a single voiced line
    #: scene key → (lines placed by the code's order, lines placed by the dialogs file's order)
    order: dict[str, tuple[int, int]] = field(default_factory=dict)
    no_clip_by_level: Counter = field(default_factory=Counter)


# ----------------------------------------------------------------------------------------------------- fetch


def _packages(language: str) -> tuple[str, str]:
    if language not in VOICE_PACKAGES:
        raise RecipeError(f"{NAME}: no voices for language {language!r}; voiced: {sorted(VOICE_PACKAGES)}")
    return DATA_PACKAGE, VOICE_PACKAGES[language]


def fetch(cache_dir: Path, language: str = "cs") -> Path:
    """Download (``apt-get download``) and unpack (``dpkg-deb -x``) the data and voice packages into
    ``cache_dir/fish_fillets``; return the data root (``…/usr/share/games/fillets-ng``). Cached: a package is
    unpacked once (a marker records it, the .deb is then deleted); a lock keeps parallel callers from racing.
    ``PackageUnavailable`` (a ``RecipeError``) where apt/dpkg or the archive cannot be reached."""
    root = fetch_packages(NAME, cache_dir, _packages(language)) / DATA_SUBDIR
    _verify(root, language)
    return root


def _verify(root: Path, language: str) -> None:
    data, voices = _packages(language)
    if not (root / "script" / "worldmap.lua").is_file() or not (root / "script" / "start").is_dir():
        raise RecipeError(f"{NAME}: {data} unpacked without script/worldmap.lua under {root}: not the expected layout")
    if not any((root / "sound" / "start" / language).glob("*.ogg")):
        raise RecipeError(f"{NAME}: {voices} unpacked without sound/start/{language}/*.ogg under {root}")


# ----------------------------------------------------------------------------------------------------- lua


def _unquote(literal: str) -> str:
    """A Lua short string literal (with its quotes) → its value (Lua 5.1 escapes; unknown ones keep the char)."""
    body = literal[1:-1]

    def escape(m: re.Match) -> str:
        c = m.group(1)
        if c.isdigit():
            return chr(int(c))
        return _ESCAPES.get(c, c)

    return re.sub(r"\\(\d{1,3}|.)", escape, body, flags=re.S)


def _strip_comments(text: str) -> str:
    return _LUA_TOKEN.sub(lambda m: " " if m.group("comment") is not None else m.group(0), text)


def parse_dialogs(path: Path) -> list[Dialog]:
    """The ``dialogId``/``dialogStr`` entries of a dialogs file, in file order (a later duplicate id is dropped)."""
    out: dict[str, Dialog] = {}
    current: list | None = None

    def flush() -> None:
        if current is not None and current[0] not in out:
            out[current[0]] = Dialog(*current)

    for m in _DIALOG_CALL.finditer(_strip_comments(path.read_text(encoding="utf-8"))):
        if m.group("id") is not None:
            flush()
            current = [_unquote(m.group("id")), _unquote(m.group("font")), _unquote(m.group("en")), None]
        elif current is not None:
            current[3] = _unquote(m.group("str"))
    flush()
    return list(out.values())


def _code_literals(text: str) -> list[tuple[str, bool]]:
    """String literals of Lua code in order, each with whether it is concatenated on (``"x-"..n``)."""
    out = []
    for m in _LUA_TOKEN.finditer(text):
        value = m.group("dq") if m.group("dq") is not None else m.group("sq")
        if value is None:
            continue
        prefix = re.match(r"\s*\.\.", text[m.end():m.end() + 64]) is not None
        out.append((_unquote('"' + value + '"'), prefix))
    return out


def level_order(root: Path) -> list[str]:
    """Level codenames in the world map's declaration order, the ending last."""
    text = _strip_comments((root / "script" / "worldmap.lua").read_text(encoding="utf-8"))
    levels = [m.group("code") for m in _NODE.finditer(text)]
    levels += [m.group("code") for m in _ENDING.finditer(text)]
    if not levels:
        raise RecipeError(f"{NAME}: no branch_addNode in {root / 'script' / 'worldmap.lua'}")
    return list(dict.fromkeys(levels))


def _code_stream(level_dir: Path, first: str = "code.lua") -> list[tuple[str, bool]]:
    """Literals of a level's code: ``first``, with ``.lua`` files of the level dir it names read in place, then
    any other code file of the level (not init/models/dialogs)."""
    seen: set[str] = set()

    def read(name: str) -> list[tuple[str, bool]]:
        seen.add(name)
        path = level_dir / name
        if not path.is_file():
            return []
        out = []
        for value, prefix in _code_literals(path.read_text(encoding="utf-8", errors="replace")):
            out.append((value, prefix))
            base = value.rsplit("/", 1)[-1]
            if base.endswith(".lua") and base not in seen and (level_dir / base).is_file():
                out.extend(read(base))
        return out

    stream = read(first)
    for path in sorted(level_dir.glob("*.lua")):
        name = path.name
        if name in seen or name in ("init.lua", "models.lua") or "dialogs" in name:
            continue
        stream.extend(read(name))
    return stream


def play_order(ids: list[str], stream: list[tuple[str, bool]]) -> tuple[list[str], int]:
    """``ids`` (file order) ordered by where the code stream first names them; an id the code never names follows
    its predecessor in file order. Returns the order and how many ids the code placed."""
    pending = dict.fromkeys(ids)
    placed: list[str] = []
    for value, concatenated in stream:
        if value in pending:
            placed.append(value)
            del pending[value]
        elif concatenated and len(value) >= 2:
            group = [i for i in pending if i.startswith(value)]
            for i in group:
                placed.append(i)
                del pending[i]
    by_code = len(placed)
    order = list(placed)
    for k, i in enumerate(ids):
        if i not in pending:
            continue
        if k == 0:
            order.insert(0, i)
        else:
            order.insert(order.index(ids[k - 1]) + 1, i)
    return order, by_code


# ----------------------------------------------------------------------------------------------------- read


def character_for(level: str, font: str) -> str:
    """The readable speaker of ``font`` in ``level``; an unknown font keeps its name."""
    return LEVEL_FONT_CHARACTERS.get((level, font)) or FONT_CHARACTERS.get(font) or font or "unknown"


def _english(dialog_files: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in dialog_files:
        if not path.is_file():
            continue
        for d in parse_dialogs(path):
            out.setdefault(d.id, d.text_en)
    return out


def _scene(key: str, speaker_level: str, dialogs: list[Dialog], english: dict[str, str], sound_dir: Path,
           stream: list[tuple[str, bool]], stats: ReadStats) -> Scene | None:
    by_id = {d.id: d for d in dialogs}
    kept: list[str] = []
    for d in dialogs:
        clip = sound_dir / f"{d.id}.ogg"
        if not clip.is_file():
            stats.no_clip += 1
            stats.no_clip_by_level[key] += 1
        elif not (d.text or "").strip():
            stats.no_text += 1
        elif _TEMPLATE.search(d.text):
            stats.templated += 1
        else:
            kept.append(d.id)
    if not kept:
        return None
    order, by_code = play_order(kept, stream)
    stats.order[key] = (by_code, len(kept) - by_code)
    lines = []
    for i in order:
        d = by_id[i]
        en = english.get(i) or d.text_en
        lines.append(Line(character=character_for(speaker_level, d.font), text=" ".join(d.text.split()),
                          audio=sound_dir / f"{i}.ogg", text_en=" ".join(en.split()) if en and en.strip() else None))
    stats.lines += len(lines)
    return Scene(key=key, lines=tuple(lines))


def scan(cache_dir: Path, language: str = "cs") -> tuple[Corpus, ReadStats]:
    """``read`` with the counts of what it left out and how it ordered each scene."""
    root = fetch(cache_dir, language)
    stats = ReadStats()
    scenes: list[Scene] = []
    levels = level_order(root)
    stats.levels = len(levels)
    for level in levels:
        level_dir = root / "script" / level
        suffix = f"dialogs_{language}.lua"  # the level's own file first, then brief_ / demo_ ones
        files = sorted(level_dir.glob(f"*{suffix}"), key=lambda p: (p.name != suffix, p.name))
        dialogs: list[Dialog] = []
        seen: set[str] = set()
        for path in files:
            for d in parse_dialogs(path):
                if d.id not in seen:
                    seen.add(d.id)
                    dialogs.append(d)
        english = _english([p.with_name(p.name[: -len(suffix)] + "dialogs_en.lua") for p in files])
        sound_dir = root / "sound" / level / language
        scene = _scene(level, level, dialogs, english, sound_dir, _code_stream(level_dir), stats)
        stats.orphan_clips += len({p.stem for p in sound_dir.glob("*.ogg")} - seen)
        if scene is None:
            stats.empty_levels.append(level)
        else:
            scenes.append(scene)
    share = root / "script" / "share"
    for key, prefix, sound, code in SHARED_GROUPS:
        path = share / f"{prefix}dialogs_{language}.lua"
        if not path.is_file():
            continue
        english = _english([share / f"{prefix}dialogs_en.lua"])
        scene = _scene(key, "share", parse_dialogs(path), english, root / "sound" / "share" / sound / language,
                       _code_stream(share, code), stats)
        if scene is not None:
            scenes.append(scene)
    if not scenes:
        raise RecipeError(f"{NAME}: no voiced lines for {language!r} under {root}: {VOICE_PACKAGES[language]} "
                          f"is not what the reader expects")
    characters: dict[str, dict] = {}
    for scene in scenes:
        for line in scene.lines:
            facts = characters.setdefault(line.character, {"main": line.character in MAIN_CHARACTERS, "scenes": []})
            if scene.key not in facts["scenes"]:
                facts["scenes"].append(scene.key)
    if "Both fish" in characters:
        characters["Both fish"]["together"] = list(MAIN_CHARACTERS)
    corpus = Corpus(name=NAME, title=TITLE, language=language, license=LICENSE, scenes=scenes, characters=characters)
    return corpus, stats


def read(cache_dir: Path, language: str = "cs") -> Corpus:
    """The corpus: one scene per voiced level in world-map order (then the shared bore / death / border / exit
    lines), each level's lines in the order its code plays them (see the module docstring)."""
    corpus, stats = scan(cache_dir, language)
    by_file = sum(1 for _, f in stats.order.values() if f)
    log.info("%s (%s): %d scenes, %d lines; left out %d without clip, %d without text, %d templated; "
             "%d scenes partly in dialogs-file order; empty levels: %s", NAME, language, len(corpus.scenes),
             stats.lines, stats.no_clip, stats.no_text, stats.templated, by_file, ", ".join(stats.empty_levels))
    return corpus
