"""Debian packages of a recipe: downloaded with the registry's ordinary client (``apt-get download``) and unpacked
with ``dpkg-deb -x`` into a cache, once (a marker per unpacked package, the .deb then deleted; a lock keeps parallel
callers from racing)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

from audiorole.recipes import RecipeError


class PackageUnavailable(RecipeError):
    """apt/dpkg or the Debian archive cannot deliver a package."""


def _run(name: str, cmd: list[str], package: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError as exc:
        raise PackageUnavailable(f"{name}: cannot fetch Debian package {package!r}: {cmd[0]} is not installed "
                                 f"(needs a Debian/Ubuntu system with apt and dpkg)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PackageUnavailable(f"{name}: {' '.join(cmd)} for package {package!r} timed out") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-600:]
        raise PackageUnavailable(f"{name}: {' '.join(cmd)} failed for Debian package {package!r} (exit "
                                 f"{proc.returncode}): {tail}. Is the Debian archive reachable and does "
                                 f"`apt-get update` list {package}?")


def fetch_packages(name: str, cache_dir: Path, packages: tuple[str, ...] | list[str]) -> Path:
    """Download and unpack ``packages`` into ``cache_dir/<name>``; return the unpacked tree (``…/root``). A package
    already unpacked is not fetched again. ``PackageUnavailable`` where apt/dpkg or the archive cannot be reached."""
    base = Path(cache_dir) / name
    debs, tree = base / "debs", base / "root"
    debs.mkdir(parents=True, exist_ok=True)
    tree.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for package in packages:
            marker = base / f".unpacked-{package}"
            if marker.exists():
                continue
            found = sorted(debs.glob(f"{package}_*.deb"))
            if not found:
                if shutil.which("apt-get") is None:
                    raise PackageUnavailable(f"{name}: cannot fetch Debian package {package!r}: apt-get is not "
                                             "installed (needs a Debian/Ubuntu system with apt and dpkg)")
                _run(name, ["apt-get", "download", package], package, cwd=debs)
                found = sorted(debs.glob(f"{package}_*.deb"))
                if not found:
                    raise RecipeError(f"{name}: apt-get download {package} left no {package}_*.deb in {debs}")
            _run(name, ["dpkg-deb", "-x", str(found[-1]), str(tree)], package)
            marker.write_text(found[-1].name + "\n")
            found[-1].unlink()  # the unpacked tree is the cache
    return tree
