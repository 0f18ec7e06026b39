"""Flight of the Amazon Queen (John Passfield & Steven Stamatiadis, 1995; freeware CD "talkie" release, English,
professional voice actors) as a corpus of dialogues, cut-scenes and Joe's remarks.

Package: Debian ``flight-of-the-amazon-queen`` (bookworm, main, 1.0.0-9; license "Flight-of-the-Amazon-Queen-License" in
``usr/share/doc/flight-of-the-amazon-queen/copyright``: free to redistribute, not to sell), fetched with
``apt-get download`` and unpacked with ``dpkg-deb -x``. One file holds everything:
``usr/share/scummvm/flight-of-the-amazon-queen/queen.1c`` (54,108,887 bytes in 1.0.0-9).

Format (checked on that file; names and layouts as documented by ScummVM's ``engines/queen`` sources —
``resource.cpp``, ``talk.cpp``, ``cutaway.cpp``, ``logic.cpp``, ``structs.h``, ``sound.cpp``; no code copied):

* Container: ``"QTBL"``, 6-byte version string (``"CEM10\\0"``: CD, English, 1.0), 2 bytes (0), 1-byte
  compression (1 = MP3), entry count (uint16 BE, 7,671), then the table **inside the file** (a "rebuilt" data file;
  the original releases keep it in a separate ``queen.tbl``): 21-byte entries = 12-byte NUL-padded name, bundle
  byte (always 1 = this file), offset and size (uint32 BE, from the start of the file). Names are sorted; the data
  follow the table back to back.
* Speech: 6,745 ``*.SB`` entries, each a bare MPEG-2.5 layer III stream (no header before the frames: every one
  starts ``FF E3 20``), 11,025 Hz mono, 16 kbit/s, ~4.6 h in all; some are sound effects (``##SSSSSS.SB``...).
  ``clip`` writes the payload to ``<cache>/amazon_queen/clips/<NAME>.mp3``; ``decode`` makes a 16 kHz mono WAV.
* Resources ``.DOG``/``.CUT``/``QUEEN.JAS`` start with a 20-byte AMOS bank header (``"AmBk"``) that the engine skips.
  Strings are Pascal-style (length byte + text), the next field aligned to 2 (4 in a dialogue's string lists).
* ``QUEEN.JAS`` (big-endian tables): rooms, objects (16 bytes: name, x, y, description, entry object, room, state,
  image; image -3/-4 = a person), ... the command list (20 bytes: verb, noun 1, noun 2, ...; verb 8 = "talk to") and
  its game-state table (id, slot, value, speak value = a description number), ..., actors (24 bytes: room, bob
  number, actor name, game-state slot/value, ...). ``QUEEN2.JAS`` is CRLF text: descriptions (724), object names
  (325), room names (126), verbs (12), Joe's 40 stock responses, actor anims, actor names (74), actor files.
* Dialogues, ``<X>.DOG`` (73): header ``levelMax, uniqueKey, talkKey, jMax, pMax``, two item tests, the offsets of
  the partner's strings, of the closing cut-scene and of the return-visit pair; the tree (levelMax × 6 nodes × 16
  bytes) at 32; Joe's strings right after (``jMax`` × ``(int16, id, string)``), the partner's at their offset.
  A partner's answer to Joe's option ``id`` is the partner string with the same ``id``; ``id`` 0 of Joe's list is his
  opening line, partner ``id`` 1 the greeting; the return-visit pair is Joe's then the partner's line.
  Clips: ``"%02d%04X" % (talkKey, id)`` + ``J``/``P`` + segment (hex, from 1); ``SSSS`` = Joe's opening, ``XXXX`` =
  the return-visit pair (e.g. ``570006J1.SB``, ``13SSSSJ1.SB``). A text is cut into segments at ``*`` + a two-letter
  command (``*03`` an animation, ``*FL`` a facing, ``*WT`` a pause, ``*XY00(xxx,yyy)`` a walk, ``*GD``/``*GM`` a
  grab that is not spoken); each segment is one clip. A text ``"0"`` means none.
* Cut-scenes, ``<X>.CUT`` (301): header ``comPanel, objectCount, flags, gameStateOff, sentencesOff, banksOff``, then
  per object 17 int16 (object number first: 0 Joe, -1 Joe after a room fade, >0 an object, -2/-3/-4 on-screen text)
  + the persons switched on + (for executed animations) frames up to a -2; the sentences, one per object, at
  ``sentencesOff`` (after an entry string); the banks, then the dialogue a cut-scene starts (``.DOG`` + the object
  talked to). Clips: the name padded with ``_`` to 5 + the object's 1-based index (2 digits) + segment
  (``C1A__012.SB``, ``C100A032.SB``).
* Joe's remarks: ``JOE%04d`` + segment: description number ≤ 40 = a stock response, else an object description
  (number − 40) (``JOE00011.SB``).

Speakers, from the data: Joe for his lines (the engine names him ``JOE``). A dialogue's partner is the person object
of the "talk to" command whose game-state entry names the ``.DOG`` (64 dialogues), or the object a cut-scene hands
the dialogue to (9). A cut-scene speaker is its person object. An object's character is its actor: the actors in the
object's room with its bob number (``X4_``-style prefixes and ``-H``/``-E``/``-F``/``_SHOWER``/``_STAND`` suffixes
are costumes of one character); the character's name is a capitalised name of an object Joe talks to, else a
capitalised name of one of its objects, else an object name Joe talks to ("bellboy"), else the actor name. Cut-scenes
often borrow an object (a "note", a "torch") for an actor: that is why the actor decides. Objects whose room and bob
hold several actors (switched by game state: the ferryman/Henry, Frank or Sparky in the valley, ...) are left out of
cut-scenes (the dialogue then keeps the object's name), and so is on-screen text read aloud (objects -2/-3: the data
names no speaker). ``ReadStats`` counts what was left out.

Order: the data has no play-through order (the game is non-linear). The CD intro (``CDINT.CUT``) comes first (the
engine plays it before the first room; the floppy intro ``CINTR.CUT`` reuses its clips byte for byte, so a clip
already in a line is left out). Then scenes follow their room number (a cut-scene's ``C<room><letter>`` name, a
dialogue's partner room); a cut-scene that starts a dialogue, or a dialogue whose closing cut-scene is named, is
followed by it (the links in the data); Joe's remarks close each room. Within a dialogue: Joe's opening, the
greeting, then each of Joe's options in file order followed by the partner's answer, then the return-visit pair;
segments in order. Within a cut-scene: object order.

In 1.0.0-9: 383 scenes (73 dialogues, 244 cut-scenes, 66 remark scenes), 6,278 lines, 4.32 h, 38 characters (Joe
101 min). Of the 6,745 clips: 136 sound effects, 280 without a known speaker (195 objects of several actors, 85
on-screen text), 29 duplicates, 22 without a text (unused takes such as ``MIK_0019.SB``, ``570020P3.SB``).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import struct
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from audiorole.recipes import Corpus, Line, RecipeError, Scene

log = logging.getLogger(__name__)

NAME = "amazon_queen"
TITLE = "Flight of the Amazon Queen"
LANGUAGE = "en"
PACKAGE = "flight-of-the-amazon-queen"
DATA_SUBDIR = Path("usr/share/scummvm/flight-of-the-amazon-queen")
COPYRIGHT = Path("usr/share/doc/flight-of-the-amazon-queen/copyright")
CONTAINER = "queen.1c"
JOE = "Joe"  # the lead; the engine speaks his lines as person "JOE"
INTRO = "CDINT.CUT"  # the CD version's intro, played before the first room (ScummVM queen.cpp); first scene

AMBK_HEADER = 20  # "AmBk" bank header before .DOG/.CUT/QUEEN.JAS data
JOE_RESPONSE_MAX = 40
VERB_TALK_TO = 8
PERSON_IMAGES = (-3, -4)
SPEECH_COMMANDS_SILENT = {"GD", "GM"}  # grab commands: no segment is spoken

_TALK_CLIP = re.compile(r"^(\d\d)([0-9A-F]{4}|SSSS|XXXX)([JP])([0-9A-F])\.SB$")
_JOE_CLIP = re.compile(r"^JOE(\d{4})([0-9A-F])\.SB$")
_CUT_ROOM = re.compile(r"^C(\d+)[A-Z]$")
_COSTUME = re.compile(r"^X\d+_|(-[A-Z]|_SHOWER|_STAND)$")


# --------------------------------------------------------------------------------------------------- fetch


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as exc:
        raise RecipeError(f"{NAME}: {cmd[0]} is not installed; Debian package {PACKAGE!r} needs apt and dpkg") from exc
    except subprocess.TimeoutExpired as exc:
        raise RecipeError(f"{NAME}: {' '.join(cmd)} for Debian package {PACKAGE!r} timed out") from exc


def _fail(cmd: list[str], proc: subprocess.CompletedProcess) -> RecipeError:
    tail = (proc.stderr or proc.stdout).strip()[-600:]
    return RecipeError(f"{NAME}: {' '.join(cmd)} failed for Debian package {PACKAGE!r} (exit {proc.returncode}): "
                       f"{tail}. Is the Debian archive reachable, and does `apt-get update` list {PACKAGE}?")


def fetch(cache_dir: Path) -> Path:
    """Download (``apt-get download``) and unpack (``dpkg-deb -x``) the package into ``cache_dir/amazon_queen``;
    return the folder holding ``queen.1c``. Cached (a second call does nothing); a lock keeps parallel callers from
    racing. ``apt-get update`` runs once, as root only, when the lists do not know the package."""
    base = Path(cache_dir) / NAME
    debs, tree = base / "debs", base / "root"
    root = tree / DATA_SUBDIR
    marker = base / ".unpacked"
    debs.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (marker.exists() and (root / CONTAINER).is_file()):
            found = sorted(debs.glob(f"{PACKAGE}_*.deb"))
            if not found:
                if shutil.which("apt-get") is None:
                    raise RecipeError(f"{NAME}: cannot fetch Debian package {PACKAGE!r}: apt-get is not installed "
                                      f"(needs a Debian/Ubuntu system with apt and dpkg)")
                cmd = ["apt-get", "download", PACKAGE]
                proc = _run(cmd, cwd=debs)
                if proc.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0 and re.search(
                        r"Unable to locate|no installation candidate|has no candidate", proc.stderr or ""):
                    _run(["apt-get", "update"])  # lists missing or stale: one try
                    proc = _run(cmd, cwd=debs)
                if proc.returncode != 0:
                    raise _fail(cmd, proc)
                found = sorted(debs.glob(f"{PACKAGE}_*.deb"))
                if not found:
                    raise RecipeError(f"{NAME}: apt-get download {PACKAGE} left no {PACKAGE}_*.deb in {debs}")
            if shutil.which("dpkg-deb") is None:
                raise RecipeError(f"{NAME}: dpkg-deb is not installed; cannot unpack Debian package {PACKAGE!r}")
            cmd = ["dpkg-deb", "-x", str(found[-1]), str(tree)]
            proc = _run(cmd)
            if proc.returncode != 0:
                raise _fail(cmd, proc)
            if not (root / CONTAINER).is_file():
                raise RecipeError(f"{NAME}: {found[-1].name} unpacked without {DATA_SUBDIR / CONTAINER}: "
                                  f"not the package layout this reader expects")
            marker.write_text(found[-1].name + "\n")
    return root


def license_text(root: Path) -> str:
    """The license's name from the package's copyright file (``root`` is what ``fetch`` returned)."""
    copyright_file = root.parents[len(DATA_SUBDIR.parts) - 1] / COPYRIGHT
    name = "Flight-of-the-Amazon-Queen-License"
    if copyright_file.is_file():
        m = re.search(r"^License:\s*(\S+)", copyright_file.read_text(encoding="utf-8", errors="replace"), re.M)
        name = m.group(1) if m else name
    return f"{name} (freeware: redistribute freely, do not sell; see /{COPYRIGHT})"


# ----------------------------------------------------------------------------------------------- container


@dataclass(frozen=True)
class Entry:
    name: str
    bundle: int
    offset: int
    size: int


class Resource:
    """``queen.1c``: the QTBL header, its table of entries, and their bytes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            head = f.read(15)
            if len(head) < 15 or head[:4] != b"QTBL":
                raise RecipeError(f"{NAME}: {self.path} has no QTBL header: only the rebuilt data file with its "
                                  f"table inside (as in Debian's {PACKAGE}) is supported")
            self.version = head[4:10].rstrip(b"\0").decode("ascii", "replace")
            self.compression = head[12]
            (count,) = struct.unpack(">H", head[13:15])
            table = f.read(21 * count)
        if len(table) != 21 * count:
            raise RecipeError(f"{NAME}: {self.path}: table of {count} entries is truncated")
        size = self.path.stat().st_size
        self.entries: dict[str, Entry] = {}
        for i in range(count):
            raw = table[21 * i: 21 * i + 21]
            name = raw[:12].split(b"\0", 1)[0].decode("ascii", "replace")
            offset, length = struct.unpack(">II", raw[13:21])
            if raw[12] != 1 or offset + length > size:
                raise RecipeError(f"{NAME}: {self.path}: entry {name!r} is outside the file (bundle {raw[12]})")
            self.entries[name] = Entry(name, raw[12], offset, length)
        self.table_end = 15 + 21 * count

    def __contains__(self, name: str) -> bool:
        return name.upper() in self.entries

    def names(self, suffix: str = "") -> list[str]:
        return sorted(n for n in self.entries if n.endswith(suffix.upper()))

    def read(self, name: str, skip: int = 0) -> bytes:
        entry = self.entries.get(name.upper())
        if entry is None:
            raise RecipeError(f"{NAME}: no entry {name!r} in {self.path}")
        with open(self.path, "rb") as f:
            f.seek(entry.offset + skip)
            return f.read(entry.size - skip)


# ------------------------------------------------------------------------------------------------- audio

_MP3_BITRATES = {  # kbit/s by (MPEG-1?) and index, layer III
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_duration(data: bytes) -> float:
    """Seconds of a layer III stream, from its frame headers (0 if none)."""
    i, seconds, n = 0, 0.0, len(data)
    while i + 4 <= n:
        b1, b2 = data[i + 1], data[i + 2]
        version = (b1 >> 3) & 3
        if data[i] != 0xFF or (b1 & 0xE0) != 0xE0 or version == 1 or ((b1 >> 1) & 3) != 1:
            i += 1  # not a layer III frame header: resync
            continue
        br_idx, sr_idx = b2 >> 4, (b2 >> 2) & 3
        if br_idx in (0, 15) or sr_idx == 3:
            i += 1
            continue
        mpeg1 = version == 3
        rate = _MP3_RATES[version][sr_idx]
        bitrate = _MP3_BITRATES[mpeg1][br_idx] * 1000
        samples = 1152 if mpeg1 else 576
        length = samples // 8 * bitrate // rate + ((b2 >> 1) & 1)
        seconds += samples / rate
        i += max(length, 1)
    return seconds


def clip(res: Resource, name: str, clips_dir: Path) -> Path:
    """The MP3 payload of speech entry ``name`` (``XXXXXXXX.SB``) as ``clips_dir/XXXXXXXX.mp3`` (written once)."""
    entry = res.entries[name.upper()]
    out = Path(clips_dir) / (Path(name).stem.upper() + ".mp3")
    if not (out.is_file() and out.stat().st_size == entry.size):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(res.read(entry.name))
        tmp.replace(out)
    return out


def decode(clip_path: Path, out: Path, rate: int = 16_000) -> Path:
    """A clip (MP3) as a mono WAV at ``rate`` (ffmpeg)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(clip_path), "-ac", "1",
                           "-ar", str(rate), "-c:a", "pcm_s16le", str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RecipeError(f"{NAME}: ffmpeg could not decode {clip_path}: {proc.stderr.strip()[-300:]}")
    return out


# ------------------------------------------------------------------------------------------------ strings


def _pstring(data: bytes, offset: int, align: int = 2) -> tuple[str, int]:
    """A length-prefixed string at ``offset`` and the offset after it (aligned as the engine reads it)."""
    n = data[offset]
    offset += 1
    text = data[offset: offset + n].decode("latin-1")
    if n:
        offset = (offset + n + align - 1) & ~(align - 1)
    return text, offset


def speech_segments(sentence: str) -> list[tuple[int, str, str | None]]:
    """``(index from 1, text, command after it)`` for each segment of a spoken text: a ``*`` and a two-letter command
    end a segment (``*XY00(xxx,yyy)`` carries 11 more characters); each index has its own clip."""
    out: list[tuple[int, str, str | None]] = []
    i = start = 0
    while i < len(sentence):
        if sentence[i] == "*":
            text = sentence[start:i]
            command = sentence[i + 1: i + 3]
            i += 3 + (11 if command == "XY" else 0)
            out.append((len(out) + 1, text, command))
            start = i
        else:
            i += 1
    if start < len(sentence):
        out.append((len(out) + 1, sentence[start:], None))
    return out


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# ------------------------------------------------------------------------------------------------- logic


@dataclass
class GameData:
    """What the reader needs from ``QUEEN.JAS`` and ``QUEEN2.JAS``."""

    texts: list[str]
    num: dict[str, int]
    objects: list[tuple]  # [0] unused; (name, x, y, description, entry, room, state, image)
    room_first: list[int]  # object number before a room's first object
    commands: list[tuple]  # [0] unused; (verb, noun1, noun2, ...)
    command_states: list[tuple]  # (command id, slot, value, speak value)
    actors: list[tuple]  # [0] unused; (room, bob, name, gs slot, gs value, ...)
    object_descriptions: list[tuple]  # [0] unused; (object, type, last description, last seen)
    offsets: dict[str, int] = field(default_factory=dict)

    def description(self, i: int) -> str:
        return self.texts[i - 1] if 1 <= i <= self.num["descriptions"] else ""

    def object_name(self, obj: int) -> str:
        i = abs(self.objects[obj][0])
        return self.texts[self.offsets["names"] + i - 1] if 1 <= i <= self.num["names"] else ""

    def joe_response(self, i: int) -> str:
        return self.texts[self.offsets["responses"] + i - 1]

    def actor_name(self, i: int) -> str:
        return self.texts[self.offsets["actor_names"] + i - 1]

    def is_person(self, obj: int) -> bool:
        return 0 < obj < len(self.objects) and self.objects[obj][7] in PERSON_IMAGES

    def person_number(self, obj: int) -> int:
        """The object's bob number among the persons of its room (the engine's ``findPersonNumber``)."""
        room = self.objects[obj][5]
        return sum(1 for i in range(self.room_first[room] + 1, obj + 1) if self.is_person(i))

    def actors_of(self, obj: int) -> set[str]:
        room, bob = self.objects[obj][5], self.person_number(obj)
        return {self.actor_name(a[2]) for a in self.actors[1:] if a[0] == room and a[1] == bob}


def parse_jas(res: Resource) -> GameData:
    jas = res.read("QUEEN.JAS", AMBK_HEADER)
    texts = res.read("QUEEN2.JAS").decode("latin-1").split("\r\n")
    p = 0

    def words(fmt: str, count: int) -> list[tuple]:
        nonlocal p
        size = struct.calcsize(fmt)
        out = [()] + [struct.unpack_from(fmt, jas, p + size * i) for i in range(count)]
        p += size * count
        return out

    def word() -> int:
        nonlocal p
        (v,) = struct.unpack_from(">h", jas, p)
        p += 2
        return v

    def skip(record: int) -> None:  # a counted table we do not need
        nonlocal p
        count = word()
        p += record * count

    try:
        rooms, names, num_objects, descriptions = word(), word(), word(), word()
        objects = words(">hHHHhHHh", num_objects)
        room_first = [0] + [word() for _ in range(rooms + 1)]
        p += 2 * rooms  # sfx per room
        skip(10)  # items
        skip(10)  # graphics
        for _ in range(rooms):  # grid: object max, then areas of 16 bytes
            word()
            skip(16)
        p += 8 * num_objects  # object boxes
        skip(6)  # walk-offs
        object_descriptions = words(">HHHH", word())
        commands = words(">hhhhHHHHhh", word())
        skip(6)  # command areas
        skip(6)  # command objects
        skip(6)  # command inventory
        command_states = words(">hhhH", word())[1:]
        word()  # entry object
        skip(4)  # furniture
        num_actors, num_anims, num_actor_names, num_actor_files = word(), word(), word(), word()
        actors = words(">hhHhhHHHHHHH", num_actors)
    except struct.error as exc:
        raise RecipeError(f"{NAME}: QUEEN.JAS is shorter than its tables: not the data this reader expects") from exc
    num = {"rooms": rooms, "names": names, "objects": num_objects, "descriptions": descriptions,
           "anims": num_anims, "actor_names": num_actor_names, "actor_files": num_actor_files}
    offsets = {"names": descriptions}
    offsets["rooms"] = offsets["names"] + names
    offsets["verbs"] = offsets["rooms"] + rooms
    offsets["responses"] = offsets["verbs"] + 12
    offsets["anims"] = offsets["responses"] + JOE_RESPONSE_MAX
    offsets["actor_names"] = offsets["anims"] + num_anims
    if len(texts) < offsets["actor_names"] + num_actor_names or texts[offsets["verbs"] + VERB_TALK_TO - 1] != "talk to":
        raise RecipeError(f"{NAME}: QUEEN2.JAS does not line up with QUEEN.JAS (no verb 'talk to' where expected)")
    return GameData(texts, num, objects, room_first, commands, command_states, actors, object_descriptions, offsets)


# ---------------------------------------------------------------------------------------------- dialogues


@dataclass
class Dialogue:
    name: str
    talk_key: int
    levels: int
    first_head: int
    joe: list[tuple[int, str]]  # (id, text) in file order; id 0 = Joe's opening
    person: list[tuple[int, str]]
    return_visit: tuple[str, str]  # (the partner's line, Joe's line)
    cutaway: str  # the closing cut-scene ("" if none)


def _string_list(data: bytes, offset: int, count: int) -> list[tuple[int, str]]:
    out = []
    for _ in range(count):
        (ident,) = struct.unpack_from(">h", data, offset + 2)
        text, offset = _pstring(data, offset + 4, 4)
        out.append((ident, text))
    return out


def parse_dog(data: bytes, name: str = "") -> Dialogue:
    """A ``.DOG`` resource (bytes after the AmBk header)."""
    levels, _unique, talk_key, j_max, p_max = struct.unpack_from(">5h", data, 0)
    levels = abs(levels)
    person_off, cut_off, person2_off = struct.unpack_from(">3H", data, 22)
    (first_head,) = struct.unpack_from(">h", data, 32 + 2)
    joe = _string_list(data, 32 + levels * 96, j_max)
    person = _string_list(data, person_off, p_max)
    p2, o = _pstring(data, person2_off)
    j2, _ = _pstring(data, o)
    cutaway, _ = _pstring(data, cut_off + 4)
    return Dialogue(name, talk_key, levels, first_head, joe, person, (p2, j2), cutaway)


@dataclass
class CutObject:
    number: int
    kind: str  # person | anim | still | text
    room: int


@dataclass
class Cutaway:
    name: str
    objects: list[CutObject]
    sentences: list[str]
    talk_file: str
    talk_to: int


def parse_cut(data: bytes, game: GameData, name: str = "") -> Cutaway:
    """A ``.CUT`` resource (bytes after the AmBk header). The object kinds follow the engine's rules (a person object
    without animation frames speaks; an executed animation carries frames up to a -2)."""
    _panel, count, _flags, _gs_off, sentence_off, banks_off = struct.unpack_from(">hhhHHH", data, 0)
    count = abs(count)
    p = 12
    objects = []
    for _ in range(count):
        rec = struct.unpack_from(">17h", data, p)
        p += 34
        (persons,) = struct.unpack_from(">h", data, p)
        p += 2 + 2 * persons
        number, anim_list, execute, from_object, room = rec[0], rec[4], rec[5], rec[12], rec[15]
        n = 0 if number == -1 else number
        kind = "anim"
        if n == 0 and not anim_list:
            kind = "person"
        elif n > 0 and not anim_list and game.is_person(n):
            kind = "person"
        if from_object > 0:
            kind = "still"
        if n in (-2, -3, -4):
            kind = "text" if n != -4 else "still"  # -4: displayed, not spoken
        if kind == "anim" and not execute:
            kind = "still"
        if kind == "anim":
            while True:
                (header,) = struct.unpack_from(">h", data, p)
                p += 2
                if header == -2:
                    break
                p += 18  # frame, speed, bank, mx, my, cx, cy, scale, song
        objects.append(CutObject(number, kind, room))
    _entry, o = _pstring(data, sentence_off)
    sentences = []
    for _ in range(count):
        s, o = _pstring(data, o)
        sentences.append(s)
    (banks,) = struct.unpack_from(">H", data, banks_off)
    o = banks_off + 2
    for _ in range(banks):
        _, o = _pstring(data, o)
    talk_file, o = _pstring(data, o)
    (talk_to,) = struct.unpack_from(">h", data, o) if o + 2 <= len(data) else (0,)
    return Cutaway(name, objects, sentences, talk_file, talk_to)


def cut_clip_prefix(name: str, index: int) -> str:
    """``C1A`` object 1 → ``C1A__01`` (the engine's ``findCdCut``); the segment digit follows."""
    base = Path(name).stem.upper()
    return base[:5].ljust(5, "_") + f"{index:02d}"


# ------------------------------------------------------------------------------------------------ speakers


def _cap(name: str) -> str:
    return name[:1].upper() + name[1:]


class Speakers:
    """Characters from the data: an object → its actor (room + bob), an actor → a name (module docstring)."""

    def __init__(self, game: GameData, talk_targets: dict[str, int]):
        self.game = game
        talked: dict[str, Counter] = defaultdict(Counter)
        named: dict[str, Counter] = defaultdict(Counter)
        for obj in talk_targets.values():
            c = self.characters_of(obj)
            if len(c) == 1 and game.object_name(obj):
                talked[next(iter(c))][game.object_name(obj)] += 1
        for obj in range(1, len(game.objects)):
            if game.is_person(obj) and game.objects[obj][0] != 0:
                c = self.characters_of(obj)
                label = game.object_name(obj)
                if len(c) == 1 and label[:1].isupper():
                    named[next(iter(c))][label] += 1
        self._names: dict[str, str] = {"JOE": JOE}
        for code in set(talked) | set(named):
            if code == "JOE":
                continue
            proper = Counter({k: v for k, v in talked[code].items() if k[:1].isupper()})
            votes = proper or named.get(code) or talked[code]
            self._names[code] = _cap(sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0])
        self.codes: dict[str, set[str]] = defaultdict(set)

    @staticmethod
    def canonical(actor: str) -> str:
        return _COSTUME.sub("", _COSTUME.sub("", actor))

    def characters_of(self, obj: int) -> set[str]:
        return {self.canonical(a) for a in self.game.actors_of(obj)}

    def name_of_code(self, code: str) -> str:
        name = self._names.get(code) or _cap(code.title())
        self.codes[name].add(code)
        return name

    def of_object(self, obj: int) -> str | None:
        """The character an object stands for; None when the data does not tell one (several actors share it)."""
        if obj <= 0:
            return JOE
        c = self.characters_of(obj)
        if len(c) == 1:
            return self.name_of_code(next(iter(c)))
        label = self.game.object_name(obj)
        if not c and label[:1].isupper():
            return label
        return None

    def partner(self, obj: int) -> str:
        """A dialogue's partner: the object's character, else the name the game shows ("Talk to <name>")."""
        return self.of_object(obj) or _cap(self.game.object_name(obj) or f"object {obj}")


def dialogue_targets(game: GameData, cutaways: dict[str, Cutaway]) -> dict[str, int]:
    """``X.DOG`` → the object Joe talks to: from "talk to" commands whose game-state entry speaks the dialogue's name,
    and from cut-scenes that hand over to a dialogue. The first found wins."""
    out: dict[str, int] = {}
    for cmd_id, _slot, _value, speak in game.command_states:
        text = game.description(speak).upper()
        if text.endswith(".DOG") and 0 < cmd_id < len(game.commands):
            verb, noun = game.commands[cmd_id][0], game.commands[cmd_id][1]
            if verb == VERB_TALK_TO and noun > 0:
                out.setdefault(text, noun)
    for cut in cutaways.values():
        if cut.talk_file.upper().endswith(".DOG") and cut.talk_to > 0:
            out.setdefault(cut.talk_file.upper(), cut.talk_to)
    return out


# -------------------------------------------------------------------------------------------------- scenes


@dataclass
class ReadStats:
    dialogues: int = 0
    cutscenes: int = 0
    remark_scenes: int = 0
    lines: int = 0
    lines_by_kind: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)  # per character
    no_clip: int = 0  # a text segment without a clip (left out)
    no_text: int = 0  # a speech clip no text names (left out)
    no_text_clips: list[str] = field(default_factory=list)
    unattributed: int = 0  # cut-scene clips whose speaker the data does not tell (left out)
    unattributed_by: Counter = field(default_factory=Counter)
    not_speech: int = 0  # .SB entries that are sound effects (by name)
    duplicates: int = 0  # clips byte-identical to one already in a line (left out)
    dialogue_partners: dict[str, str] = field(default_factory=dict)


class SceneBuilder:
    """Scenes from parsed resources: a line per spoken segment that has a clip and a text (clips written under
    ``clips_dir``); what it leaves out is counted in ``stats``. One builder per corpus: a clip goes into one line."""

    def __init__(self, res: Resource, game: GameData, speakers: Speakers, clips_dir: Path, stats: ReadStats):
        self.res, self.game, self.speakers, self.clips_dir, self.stats = res, game, speakers, clips_dir, stats
        self.used: set[str] = set()
        self.digests: set[str] = set()

    def add(self, lines: list[Line], character: str, text: str, prefix: str, kind: str) -> None:
        """One line per segment of ``text`` with a clip named ``prefix`` + segment."""
        if text in ("", "0", "*"):
            return
        for index, segment, command in speech_segments(text):
            sb = f"{prefix}{index:X}.SB"
            words = clean(segment)
            if sb not in self.res.entries:
                if words and command not in SPEECH_COMMANDS_SILENT:
                    self.stats.no_clip += 1
                continue
            if sb in self.used:
                continue
            self.used.add(sb)
            if not words:
                self.stats.no_text += 1
                self.stats.no_text_clips.append(sb)
                continue
            payload = self.res.read(sb)
            digest = hashlib.sha1(payload).hexdigest()
            if digest in self.digests:  # the same recording again (the floppy intro's lines in the CD intro)
                self.stats.duplicates += 1
                continue
            self.digests.add(digest)
            path = clip(self.res, sb, self.clips_dir)
            self.stats.seconds[character] += mp3_duration(payload)
            self.stats.lines_by_kind[kind] += 1
            lines.append(Line(character=character, text=words, audio=path))

    def dialogue(self, dog: Dialogue, partner: str) -> Scene | None:
        key = f"{dog.talk_key:02d}"
        lines: list[Line] = []
        person = {i: s for i, s in dog.person if i > 0}
        opening = next((s for i, s in dog.joe if i == 0), "")
        self.add(lines, JOE, opening, f"{key}SSSSJ", "dialogue")
        done = {dog.first_head}
        self.add(lines, partner, person.get(dog.first_head, ""), f"{key}{dog.first_head:04X}P", "dialogue")
        for ident, text in dog.joe:
            if ident <= 0:
                continue
            self.add(lines, JOE, text, f"{key}{ident:04X}J", "dialogue")
            if ident in person and ident not in done:
                done.add(ident)
                self.add(lines, partner, person[ident], f"{key}{ident:04X}P", "dialogue")
        for ident, text in dog.person:  # answers no option of Joe's leads to
            if ident > 0 and ident not in done:
                done.add(ident)
                self.add(lines, partner, text, f"{key}{ident:04X}P", "dialogue")
        partner2, joe2 = dog.return_visit
        self.add(lines, JOE, joe2, f"{key}XXXXJ", "dialogue")
        self.add(lines, partner, partner2, f"{key}XXXXP", "dialogue")
        return Scene(key=dog.name.upper(), lines=tuple(lines)) if lines else None

    def cutscene(self, cut: Cutaway) -> Scene | None:
        lines: list[Line] = []
        for index, (obj, sentence) in enumerate(zip(cut.objects, cut.sentences), start=1):
            if sentence in ("", "*") or sentence.startswith("#"):  # "#..." starts the credits
                continue
            prefix = cut_clip_prefix(cut.name, index)
            if obj.kind == "text":
                self._unattributed(f"{prefix}1.SB", "on-screen text")
                continue
            if obj.kind != "person":
                continue
            who = self.speakers.of_object(obj.number)
            if who is None:
                for i, _, _ in speech_segments(sentence):
                    self._unattributed(f"{prefix}{i:X}.SB", "object of several actors")
                continue
            self.add(lines, who, sentence, prefix, "cutscene")
        return Scene(key=cut.name.upper(), lines=tuple(lines)) if lines else None

    def _unattributed(self, sb: str, why: str) -> None:
        if sb in self.res.entries and sb not in self.used:
            self.used.add(sb)
            self.stats.unattributed += 1
            self.stats.unattributed_by[why] += 1

    def remarks(self, key: str, numbers: list[int]) -> Scene | None:
        lines: list[Line] = []
        for desc in numbers:
            text = self.game.joe_response(desc) if desc <= JOE_RESPONSE_MAX else self.game.description(
                desc - JOE_RESPONSE_MAX)
            self.add(lines, JOE, text, f"JOE{desc:04d}", "remark")
        return Scene(key=key, lines=tuple(lines)) if lines else None


def _description_rooms(game: GameData) -> dict[int, int]:
    """Object description number → the room of its object (first description and its run of alternatives)."""
    rooms: dict[int, int] = {}
    for obj in range(1, len(game.objects)):
        first = game.objects[obj][3]
        if first:
            rooms.setdefault(first, game.objects[obj][5])
    for rec in game.object_descriptions[1:]:
        obj, _type, last, _ = rec
        if 0 < obj < len(game.objects) and game.objects[obj][3]:
            for d in range(game.objects[obj][3], last + 1):
                rooms.setdefault(d, game.objects[obj][5])
    return rooms


def _is_sound_effect(name: str) -> bool:
    """Sound effects are named by number and ``S`` padding (``10SSSSSS.SB``, ``103ASSSS.SB``)."""
    return bool(re.match(r"^\d+[A-Z]?S+\.SB$", name))


def scan(cache_dir: Path) -> tuple[Corpus, ReadStats]:
    """``read`` with the counts of what it left out."""
    root = fetch(cache_dir)
    res = Resource(root / CONTAINER)
    if res.compression != 1:
        raise RecipeError(f"{NAME}: {CONTAINER} compression {res.compression}, expected 1 (MP3 speech)")
    clips_dir = Path(cache_dir) / NAME / "clips"
    game = parse_jas(res)
    stats = ReadStats()
    cutaways = {n: parse_cut(res.read(n, AMBK_HEADER), game, n) for n in res.names(".CUT")}
    dogs = {n: parse_dog(res.read(n, AMBK_HEADER), n) for n in res.names(".DOG")}
    targets = dialogue_targets(game, cutaways)
    speakers = Speakers(game, targets)
    builder = SceneBuilder(res, game, speakers, clips_dir, stats)

    # nodes: (room, group, name) → scene; links: cut-scene → dialogue it starts, dialogue → its closing cut-scene
    order: list[tuple[tuple, str]] = []
    scenes: dict[str, Scene] = {}
    links: dict[str, list[str]] = defaultdict(list)
    for name, dog in dogs.items():
        obj = targets.get(name)
        partner = speakers.partner(obj) if obj else _cap(Path(name).stem.lower())
        stats.dialogue_partners[Path(name).stem.upper()] = partner
        scene = builder.dialogue(dog, partner)
        if scene:
            stats.dialogues += 1
            scenes[name] = scene
            order.append(((game.objects[obj][5] if obj else 0, 1, name), name))
            nxt = dog.cutaway.upper()
            if nxt.endswith(".CUT") and nxt in cutaways:
                links[name].append(nxt)
    for name, cut in sorted(cutaways.items(), key=lambda kv: kv[0] != INTRO):  # the intro's clips win duplicates
        scene = builder.cutscene(cut)
        m = _CUT_ROOM.match(Path(name).stem.upper())
        room = int(m.group(1)) if m else next((o.room for o in cut.objects if o.room > 0), 0)
        if cut.talk_file.upper() in dogs:
            links[name].append(cut.talk_file.upper())
        if scene:
            stats.cutscenes += 1
            scenes[name] = scene
            order.append(((-1 if name == INTRO else room, 0, name), name))
    desc_rooms = _description_rooms(game)
    remarks: dict[int, list[int]] = defaultdict(list)
    for sb in res.names(".SB"):
        m = _JOE_CLIP.match(sb)
        if m:
            desc = int(m.group(1))
            room = desc_rooms.get(desc - JOE_RESPONSE_MAX, 0) if desc > JOE_RESPONSE_MAX else 0
            if desc not in remarks[room]:
                remarks[room].append(desc)
    for room, numbers in sorted(remarks.items(), key=lambda kv: (kv[0] == 0, kv[0])):
        key = f"JOE_ROOM{room:03d}" if room else "JOE_OTHER"
        scene = builder.remarks(key, numbers)
        if scene:
            stats.remark_scenes += 1
            scenes[key] = scene
            order.append(((room if room else 10_000, 2, key), key))

    placed: list[Scene] = []
    seen: set[str] = set()

    def place(node: str) -> None:
        if node in seen:
            return
        seen.add(node)
        if node in scenes:
            placed.append(scenes[node])
        for nxt in links.get(node, ()):
            place(nxt)

    for _, node in sorted(order):
        place(node)

    for sb in res.names(".SB"):
        if sb in builder.used:
            continue
        if _is_sound_effect(sb):
            stats.not_speech += 1
        else:
            stats.no_text += 1
            stats.no_text_clips.append(sb)
    stats.lines = sum(len(s.lines) for s in placed)
    if not placed:
        raise RecipeError(f"{NAME}: no voiced lines in {res.path}: {PACKAGE} is not what the reader expects")
    characters: dict[str, dict] = {}
    for scene in placed:
        for line in scene.lines:
            facts = characters.setdefault(line.character, {"main": line.character == JOE, "lines": 0})
            facts["lines"] += 1
    for name, facts in characters.items():
        facts["minutes"] = round(stats.seconds[name] / 60, 2)
        codes = sorted(speakers.codes.get(name, ()))
        if name == JOE:
            codes = ["JOE"]
        if codes:
            facts["engine_names"] = codes
    corpus = Corpus(name=NAME, title=TITLE, language=LANGUAGE, license=license_text(root), scenes=placed,
                    characters=characters)
    return corpus, stats


def read(cache_dir: Path) -> Corpus:
    """The corpus: dialogues, cut-scenes and Joe's remarks by room (see the module docstring for the order and how
    speakers are derived); clips are the MP3 payloads under ``cache_dir/amazon_queen/clips``."""
    corpus, stats = scan(cache_dir)
    log.info("%s: %d scenes (%d dialogues, %d cut-scenes, %d remark scenes), %d lines, %d characters; left out "
             "%d clips without text, %d cut-scene clips without a known speaker, %d texts without clip",
             NAME, len(corpus.scenes), stats.dialogues, stats.cutscenes, stats.remark_scenes, stats.lines,
             len(corpus.characters), stats.no_text, stats.unattributed, stats.no_clip)
    return corpus
