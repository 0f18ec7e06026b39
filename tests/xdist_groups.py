"""xdist scheduling for ``make test`` (``-n 2 --dist loadgroup``): the short demo's tests run on one worker, the long
tests start first. Registered from ``tests/conftest.py`` (``pytest_plugins``); without xdist only the ordering hook
runs and the rest is inert.

The rule: every test that uses a short-demo session fixture (``SHORT_DEMO_FIXTURES``, directly or through another
fixture) is in the xdist group ``short_demo``, so those fixtures (building the demo and running the whole pipeline
over it, the costliest setup of the suite) are built once per run, as in a serial run.

Why the scheduler glue below exists: xdist 3.8 hands a test's ``xdist_group`` to the controller only as a suffix of
its node id (``item._nodeid`` + ``@group``), and pytest 9.2 no longer reads that attribute (node ids live in
``item._id``). The suffix is lost, every test becomes its own group, ``loadgroup`` degrades to ``load``, and the
short demo and its pipeline run are built once per worker (the suite's costliest setup done twice, by two workers
sharing the CPUs). So each worker writes the groups it collected to a file in a folder the controller
gives it (``pytest_configure_node``), and the controller's scheduler reads them back (``pytest_xdist_make_scheduler``).
Drop this plugin's scheduler glue once xdist passes the group in a way pytest reads again: without it, ``make test``
must still run every short-demo test on one worker (``-v`` shows one ``[gwN]`` for them all).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

#: session fixtures that build the short demo and run the pipeline over it: every test using one is kept on one worker
#: (one xdist group) so they are built once, as in a serial run
SHORT_DEMO_FIXTURES = {"short_demo", "short_demo_run"}
#: the long tests outside that group, scheduled first (in this order; a scheduling hint only) so the many short ones
#: fill in at the end and both workers finish together: the DeepSpeed kill-and-resume test (it builds ``tiny_lm``
#: early, before the group's training test needs it), the browser test (it mostly waits on the Dagster daemon),
#: then the modules with the other long ones
LONG_FIRST = ("tests/training/test_training.py::test_deepspeed_training_is_killed", "tests/orchestration/test_ui_browser.py::",
              "tests/training/test_training.py::", "tests/orchestration/test_orchestration.py::", "tests/segments/test_enhance.py::")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    grouped = set()
    for item in items:
        if SHORT_DEMO_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("short_demo"))
            grouped.add(item.nodeid)

    def rank(item) -> int:  # the group's tests stay in collection order (any order works: those that write to the
        # demo's data dir work on a copy of it, see conftest.py); LONG_FIRST only moves tests outside the group
        return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)
                     and item.nodeid not in grouped), len(LONG_FIRST))

    items.sort(key=rank)  # stable: otherwise collection order
    groups_dir = getattr(config, "workerinput", {}).get("xdist_groups_dir")
    if groups_dir:  # an xdist worker: tell the controller's scheduler (below) which group each test is in
        groups = {}
        for item in items:
            names = {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                     for m in item.iter_markers("xdist_group")}
            if names:
                groups[item.nodeid] = "_".join(sorted(names))
        (Path(groups_dir) / f"{config.workerinput['workerid']}.json").write_text(json.dumps(groups))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller, per worker: where the worker writes its tests' groups."""
    config = node.config
    if not hasattr(config, "_xdist_groups_dir"):
        config._xdist_groups_dir = tempfile.mkdtemp(prefix="pytest-xdist-groups-")
        config.add_cleanup(lambda: shutil.rmtree(config._xdist_groups_dir, ignore_errors=True))
    node.workerinput["xdist_groups_dir"] = config._xdist_groups_dir


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the groups the workers collected. xdist 3.8 passes a test's group to the controller
    as a suffix of its node id (``item._nodeid``), which pytest 9.2 no longer reads (node ids live in ``item._id``):
    every test would be its own group, and the short demo would be built once per worker."""
    if config.getvalue("dist") != "loadgroup" or not hasattr(config, "_xdist_groups_dir"):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class CollectedGroupScheduling(LoadGroupScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first called once every worker has collected (and written its file)
                self.groups = {}
                for f in sorted(Path(config._xdist_groups_dir).glob("*.json")):
                    self.groups.update(json.loads(f.read_text()))
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

    return CollectedGroupScheduling(config, log)
