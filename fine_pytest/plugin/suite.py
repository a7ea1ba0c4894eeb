"""When the bundled suite runs: a run was asked on the command line (``--model``, ``--fine-dataset`` or a gate
threshold) and collection found no test requesting ``fine_pair``. So ``pytest --model=SPEC --fine-threshold=0.8``
works in any repository, while a repository with FINE tests of its own runs those. Settings alone (an ini file, a
cache folder, a report path) never add it: a unit-test run must not start a model."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from fine_pytest.plugin.option_table import DATASET, MIN_CS, MIN_CSS, MODEL, THRESHOLD
from fine_pytest.plugin.roles import FIXTURE, pair_of

SUITE = Path(__file__).with_name("bundled_suite.py")
NODE_ID = "fine-pytest"  # the bundled tests' ids read fine-pytest::test_pair[privacy-1], wherever it is installed


# The options that ask for a run (options not given read None: see options.Option.keywords).
ASKING = (MODEL, DATASET, THRESHOLD, MIN_CS, MIN_CSS)


def requested(config: pytest.Config) -> bool:
    """A FINE run was asked for on the command line."""
    return any(getattr(config.option, option.ini, None) is not None for option in ASKING)


# A test requesting any of these is the repository's own FINE test (the verdict baseline's too).
FINE_FIXTURES = frozenset((FIXTURE, "fine_verdicts", "fine_verdict_snapshot"))


def is_fine(item: pytest.Item) -> bool:
    return pair_of(item) is not None or not FINE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


class _SuiteModule(pytest.Module):
    """The bundled module, collected whatever the project's ``python_functions`` say and imported as the package's
    own module (pytest's import modes would put its folder on ``sys.path``)."""

    def _getobj(self) -> Any:
        return importlib.import_module("fine_pytest.plugin.bundled_suite")

    def istestfunction(self, obj: object, name: str) -> bool:
        return name == "test_pair" and callable(obj)

    def istestclass(self, obj: object, name: str) -> bool:
        return False


def selects_tests(config: pytest.Config) -> bool:
    """The command line names tests (``file.py::test``): those run, and nothing is added to them."""
    return any("::" in str(argument) for argument in config.args)


class BundledSuite:
    """Adds the bundled suite's tests before -k, -m and --fine-shard select among them."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not requested(config) or selects_tests(config) or any(is_fine(item) for item in items):
            return
        module = _SuiteModule.from_parent(session, path=SUITE, nodeid=NODE_ID)
        items.extend(session.genitems(module))
