"""Recipes: real voice-acted corpora from registry packages, turned into a media root of episodes and ground truth
in the demo's truth formats (like lhotse's ``recipes/``: a reader per corpus, one builder for all).

A reader (``amazon_queen``, ``fish_fillets``) fetches its package through the registry's ordinary client into a
cache, verifies it, and returns a ``Corpus``: the corpus's scenes in their real order, each a list of ``Line`` (who
speaks, what, and the clip). ``build`` lays scenes out as episodes (natural gaps, a noise floor or music bed,
subtitles in the spoken language with speaker tags on part of the cues, long lines split over cues, a realistic
offset and drift) and writes the truth files. The domain library never imports a recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Line:
    """One spoken line: ``character`` as the corpus names the speaker, ``text`` as spoken (the voice's language),
    ``audio`` a clip ffmpeg can read; ``text_en`` an English text where the corpus gives one."""

    character: str
    text: str
    audio: Path
    text_en: str | None = None


@dataclass(frozen=True)
class Scene:
    """Lines in the order they are spoken; ``key`` is stable across runs (a dialogue, cut-scene or level id)."""

    key: str
    lines: tuple[Line, ...]


@dataclass
class Corpus:
    """A reader's output. ``characters``: name → facts (e.g. ``{"main": True}``; ``"actor"`` where known: one actor
    may voice several characters, and they stay different characters)."""

    name: str
    title: str
    language: str
    license: str
    scenes: list[Scene]
    characters: dict[str, dict] = field(default_factory=dict)


class RecipeError(RuntimeError):
    """A recipe cannot run: its package or registry is missing, or the package is not what the reader expects.
    The message names the package and what to do."""
