"""The stage protocol: every artifact of the DAG is built by a declared ``Stage`` and run by ``Stage.run``.

A stage is declared once, beside the code that computes it: its name (the Dagster asset's name), the stamp file it
keeps, its version (also the asset's ``code_version``), its scope (what a partition key names), where its outputs
live (a folder of ``store.DataStore``), its outputs and its upstream stages. The Dagster assets take their ``deps``
and ``code_version`` from the declaration, so the lineage the UI shows is the one the fingerprints read.

A stage's fingerprint is ``fingerprint(stamp, version, *upstream fingerprints, *inputs)``: the upstream stamps in
declared order (a fan-in upstream, e.g. a series reading every episode, is part of the ``inputs`` instead), then
the stage's other inputs (config, model identities, source files), all known without running anything. A stage is
*current* when its stamp holds that fingerprint and every output exists. ``Stage.run`` skips a current stage;
otherwise it takes the stage's lock (two processes materializing the same partition never both compute it: the
second waits, then finds it current), computes, and writes the stamp last, atomically, so a stage interrupted
midway is never taken for current. ``stale`` answers "what would run" for any chain of stages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from filelock import FileLock

from audiorole.store import DataStore, fingerprint, read_stamp, write_stamp

#: What a partition key names, per scope, and how to get the key of a series-scoped upstream from it.
SCOPES = ("episode", "series", "character")


class UpstreamMissing(RuntimeError):
    """An upstream stage has not been materialized (or was removed): this stage cannot be fingerprinted yet."""


@dataclass
class StageResult:
    """What a stage did: its facts (also its stamp), whether it was current and skipped, seconds, warnings."""

    stage: str
    key: str
    fingerprint: str
    row: dict
    skipped: bool = False
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stage:
    """One node of the DAG. ``folder``: the ``DataStore.folder`` kind its outputs live in; ``upstream``: asset names
    of the stages it reads, in fingerprint order; ``fan_in``: those among them it reads across partitions (their
    state is part of its inputs); ``legacy``: the fingerprint an older release wrote for the same state, given the
    canonical parts — a stamp holding it is current as it is (rewriting it would make everything downstream stale;
    the stage's next run writes the canonical one)."""

    name: str
    stamp: str
    version: str
    scope: str
    folder: str
    outputs: tuple[str, ...]
    upstream: tuple[str, ...] = ()
    fan_in: tuple[str, ...] = ()
    legacy: Callable[[list, list], str] | None = None

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ValueError(f"stage {self.name}: scope must be one of {SCOPES}, not {self.scope!r}")
        register(self)

    # where ----------------------------------------------------------------------------------------------------
    def dir(self, store: DataStore, key: str) -> Path:
        return store.folder(self.folder, key)

    def read_stamp(self, store: DataStore, key: str) -> dict | None:
        return read_stamp(self.dir(store, key), self.stamp)

    # fingerprints ---------------------------------------------------------------------------------------------
    def upstream_fingerprints(self, store: DataStore, key: str) -> list[str]:
        """The fingerprints of the upstream stages this one reads in its own partition; ``UpstreamMissing`` naming
        the first that has not been materialized."""
        out = []
        for name in self.upstream:
            if name in self.fan_in:
                continue
            up = STAGES[name]
            up_key = partition_of(key, self.scope, up.scope)
            stamp = up.read_stamp(store, up_key)
            if stamp is None:
                raise UpstreamMissing(f"{up_key}: upstream stage '{up.name}' has not been materialized yet")
            out.append(stamp["fingerprint"])
        return out

    def fingerprint(self, store: DataStore, key: str, inputs: Iterable[Any] = ()) -> str:
        return fingerprint(self.stamp, self.version, *self.upstream_fingerprints(store, key), *inputs)

    def current(self, store: DataStore, key: str, inputs: Iterable[Any] = (), fp: str | None = None) -> dict | None:
        """The stamp if the stage is current for these inputs (and every output exists), else None."""
        inputs = list(inputs)
        fp = fp or self.fingerprint(store, key, inputs)
        folder = self.dir(store, key)
        stamp = read_stamp(folder, self.stamp)
        if stamp is None or not all((folder / o).exists() for o in self.outputs):
            return None
        if stamp.get("fingerprint") == fp:
            return stamp
        if self.legacy and stamp.get("fingerprint") == self.legacy(self.upstream_fingerprints(store, key), inputs):
            return stamp  # the same state, stamped by an older release: kept, so its downstream stays current too
        return None

    # running --------------------------------------------------------------------------------------------------
    def run(self, store: DataStore, key: str, inputs: Iterable[Any], compute: Callable[[Path], Any], *,
            force: bool = False) -> StageResult:
        """Skip when current; else, holding the stage's lock, ``compute(folder)`` writes the outputs (atomically)
        and returns its facts (or ``(facts, warnings)``); the stamp (fingerprint + facts) is written last."""
        inputs = list(inputs)
        fp = self.fingerprint(store, key, inputs)
        if not force and (stamp := self.current(store, key, inputs, fp)):
            return self._skipped(key, stamp)
        folder = self.dir(store, key)
        (folder / "_stamps").mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / "_stamps" / f"{self.stamp}.lock")):
            if not force and (stamp := self.current(store, key, inputs, fp)):  # another process built it meanwhile
                return self._skipped(key, stamp)
            t0 = time.perf_counter()
            out = compute(folder)
            facts, warnings = out if isinstance(out, tuple) else (out, [])
            write_stamp(folder, self.stamp, fp, **facts)
        return StageResult(self.name, key, fp, facts, seconds=time.perf_counter() - t0, warnings=list(warnings))

    def _skipped(self, key: str, stamp: dict) -> StageResult:
        return StageResult(self.name, key, stamp["fingerprint"], {k: v for k, v in stamp.items() if k != "fingerprint"},
                           skipped=True)


#: Every declared stage by name (the asset's name): the DAG, as the fingerprints read it.
STAGES: dict[str, Stage] = {}


def register(stage: Stage) -> None:
    known = STAGES.get(stage.name)
    if known is not None and known != stage:
        raise ValueError(f"stage {stage.name!r} is declared twice")
    missing = [u for u in stage.upstream if u not in STAGES]
    if missing:
        raise ValueError(f"stage {stage.name!r}: upstream {missing} must be declared first")
    STAGES[stage.name] = stage


def partition_of(key: str, scope: str, upstream_scope: str) -> str:
    """The upstream partition a key reads: the same key, or its series (``<series>/<x>`` → ``<series>``)."""
    if scope == upstream_scope:
        return key
    if upstream_scope == "series":
        return key.split("/", 1)[0]
    raise ValueError(f"a {scope} stage reads a {upstream_scope} upstream across partitions: declare it in fan_in")


#: What ``stale`` treats as "not current": an upstream not built yet, a source file gone, a stamp or input unreadable.
NOT_READY = (UpstreamMissing, OSError, KeyError, ValueError)


def stale(store: DataStore, checks: Iterable[tuple[Stage, str, Callable[[], Iterable[Any]]]]) -> list[str]:
    """``checks``: (stage, partition key, ``inputs()``) in DAG order. The names of the stages that would run: from
    the first that is not current to the end (a stage after a stale one cannot be fingerprinted yet)."""
    checks = list(checks)
    for i, (stage, key, inputs) in enumerate(checks):
        try:
            ok = stage.current(store, key, inputs()) is not None
        except NOT_READY:
            ok = False
        if not ok:
            return [s.name for s, _, _ in checks[i:]]
    return []

