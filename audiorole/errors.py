"""Errors that name the offending file and the problem, so a curator can act on them."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input: a corrupt media file, a broken subtitle, an undecodable encoding, empty audio.

    The message always starts with the file path, then the problem, e.g.
    ``/media/Show/ep1.mkv: no audio stream``.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class MediaError(InputError):
    """The media container cannot be probed or decoded, or holds no usable audio."""


class SubtitleError(InputError):
    """A subtitle file cannot be decoded or parsed."""
