"""Discover series and episodes under a media root.

Input contract (what a curator drops in)::

    <media root>/
      <Series Name>/                 one folder per series (any name: spaces, accents, CJK are fine)
        series.yaml                  optional: title, language, characters (name, aliases, enrollment clips),
                                     splits (episode names pinned to train/validation/test)
        characters.yaml              optional: the curator's voice → character mapping (see audiorole.dataset.characters)
        S01E01.mkv                   episodes: any container ffmpeg reads, directly in the series folder
        S01E02.mp4  S01E02.srt       same-stem sidecar subtitles: .srt .ass .ssa .vtt (also S01E02.en.srt)
        enrollment/maggie.wav        sub-folders are never scanned for episodes

Partition keys are derived from the names: ``<series slug>/<episode slug>`` — stable, readable, ASCII
(``Maple Street/S01E01.mkv`` → ``maple-street/s01e01``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from slugify import slugify

from audiorole.errors import InputError

MEDIA_EXTENSIONS = frozenset(
    ".mkv .mp4 .m4v .mov .avi .webm .ts .mts .wav .flac .mp3 .m4a .aac .ogg .oga .opus .wma .mka".split()
)
SUBTITLE_EXTENSIONS = (".srt", ".ass", ".ssa", ".vtt")
SERIES_FILE = "series.yaml"
KEY_SEPARATOR = "/"


@dataclass(frozen=True)
class CharacterSpec:
    name: str
    aliases: tuple[str, ...] = ()
    enrollment: tuple[str, ...] = ()  # absolute paths of enrollment clips


@dataclass(frozen=True)
class SeriesSpec:
    key: str
    folder: Path
    title: str
    language: str = "en"
    characters: tuple[CharacterSpec, ...] = ()
    splits: tuple[tuple[str, str], ...] = ()  # (episode name, split) pinned by the curator

    @property
    def split_overrides(self) -> dict[str, str]:
        """Episode key -> split, from ``splits:`` in series.yaml."""
        return {episode_key(self.key, name): split for name, split in self.splits}


@dataclass(frozen=True)
class EpisodeSource:
    key: str  # partition key: "<series key>/<episode slug>"
    series: SeriesSpec
    episode: str  # episode name as the curator wrote it (file stem)
    media_path: Path
    subtitle_paths: tuple[Path, ...] = field(default=())  # sidecars, preferred first

    @property
    def series_key(self) -> str:
        return self.series.key


def slug(name: str) -> str:
    """ASCII slug of a name; transliterates accents and CJK. Falls back to a short hash when nothing is left."""
    s = slugify(name, lowercase=True, max_length=60, word_boundary=True)
    return s or "x" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def episode_key(series_key: str, episode_name: str) -> str:
    return f"{series_key}{KEY_SEPARATOR}{slug(episode_name)}"


def split_episode_key(key: str) -> tuple[str, str]:
    series_key, sep, ep = key.partition(KEY_SEPARATOR)
    if not sep or not series_key or not ep:
        raise ValueError(f"not an episode key (expected '<series>/<episode>'): {key!r}")
    return series_key, ep


def load_series_spec(folder: Path, key: str) -> SeriesSpec:
    """Read ``series.yaml`` (optional). A malformed file is an InputError naming it."""
    path = folder / SERIES_FILE
    if not path.exists():
        return SeriesSpec(key=key, folder=folder, title=folder.name)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(path, f"invalid series.yaml ({err})") from None
    if not isinstance(raw, dict):
        raise InputError(path, "series.yaml must be a mapping with title, language, characters")
    characters = []
    for i, ch in enumerate(raw.get("characters") or []):
        if isinstance(ch, str):
            ch = {"name": ch}
        if not isinstance(ch, dict) or not ch.get("name"):
            raise InputError(path, f"characters[{i}] needs a 'name'")
        clips = tuple(str((folder / c).resolve()) for c in ch.get("enrollment") or [])
        missing = [c for c in clips if not Path(c).is_file()]
        if missing:
            raise InputError(path, f"enrollment clip not found for {ch['name']}: {missing[0]}")
        characters.append(
            CharacterSpec(name=str(ch["name"]), aliases=tuple(str(a) for a in ch.get("aliases") or []), enrollment=clips)
        )
    splits = raw.get("splits") or {}
    if not isinstance(splits, dict) or set(splits) - {"train", "validation", "test"} or not all(
            isinstance(v, list) for v in splits.values()):
        raise InputError(path, "splits must map train/validation/test to lists of episode names")
    return SeriesSpec(
        key=key,
        folder=folder,
        title=str(raw.get("title") or folder.name),
        language=str(raw.get("language") or "en"),
        characters=tuple(characters),
        splits=tuple((str(name), split) for split, names in splits.items() for name in names),
    )


def find_sidecar_subtitles(media_path: Path, language: str | None = None) -> tuple[Path, ...]:
    """Same-stem subtitle files next to ``media_path``: ``stem.srt`` or ``stem.<lang>.srt`` (series language first)."""
    stem = media_path.stem
    found = []
    for p in sorted(media_path.parent.iterdir()):
        if not p.is_file() or p.suffix.lower() not in SUBTITLE_EXTENSIONS:
            continue
        base = p.name[: -len(p.suffix)]
        if base == stem:
            found.append((0, p))
        elif base.startswith(stem + ".") and "." not in base[len(stem) + 1 :]:
            tag = base[len(stem) + 1 :].lower()
            found.append((1 if language and tag.startswith(language.lower()) else 2, p))
    return tuple(p for _, p in sorted(found, key=lambda t: (t[0], SUBTITLE_EXTENSIONS.index(t[1].suffix.lower()))))


def _unique_keys(names: list[str]) -> dict[str, str]:
    """Slug each name; names whose slugs collide get a short hash of the name appended (deterministic)."""
    by_slug: dict[str, list[str]] = {}
    for n in names:
        by_slug.setdefault(slug(n), []).append(n)
    keys = {}
    for s, group in by_slug.items():
        for n in group:
            keys[n] = s if len(group) == 1 else f"{s}-{hashlib.sha1(n.encode('utf-8')).hexdigest()[:6]}"
    return keys


def discover_episodes(media_root: str | Path) -> tuple[list[EpisodeSource], list[InputError]]:
    """All episodes under the media root, plus the problems met (a bad series.yaml skips only that series)."""
    root = Path(media_root)
    if not root.is_dir():
        raise InputError(root, "media root is not a folder")
    episodes: list[EpisodeSource] = []
    problems: list[InputError] = []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    series_keys = _unique_keys([f.name for f in folders])
    for folder in folders:
        try:
            spec = load_series_spec(folder, series_keys[folder.name])
        except InputError as err:
            problems.append(err)
            continue
        media = sorted(
            p for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in MEDIA_EXTENSIONS
        )
        # key by stem; by full name only where two files share a stem (S01E01.mkv beside S01E01.wav)
        stems = [p.stem for p in media]
        names = [p.name if stems.count(p.stem) > 1 else p.stem for p in media]
        ep_keys = _unique_keys(names)
        for p, name in zip(media, names):
            episodes.append(
                EpisodeSource(
                    key=f"{spec.key}{KEY_SEPARATOR}{ep_keys[name]}",
                    series=spec,
                    episode=p.stem,
                    media_path=p,
                    subtitle_paths=find_sidecar_subtitles(p, spec.language),
                )
            )
    return episodes, problems


def resolve_episode(media_root: str | Path, key: str) -> EpisodeSource:
    """The episode behind a partition key; InputError if it no longer exists under the media root."""
    series_key, _ = split_episode_key(key)
    episodes, problems = discover_episodes(media_root)
    for ep in episodes:
        if ep.key == key:
            return ep
    for err in problems:
        if err.path and slug(Path(err.path).parent.name) == series_key:
            raise err
    raise InputError(Path(media_root), f"episode {key!r} not found under the media root")
