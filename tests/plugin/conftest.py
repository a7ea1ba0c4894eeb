"""Fixtures for the plugin's own tests."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from support import SCRIPTED_MODEL, SCRIPTED_PAIRS, SUITE, pair_lines

import fine_pytest


def _import_the_package() -> None:
    """pytester takes a snapshot of sys.modules before each test and restores it after, so a module first imported
    inside an inner run is imported again, assertion rewriting and all, by every test that runs pytest. The plugin
    loads its run lazily, so the outer run would hold almost none of it: import it all once here (no heavy library
    comes with it; what loading the plugin imports is measured in a subprocess, tests/plugin/plugin/test_options.py).
    """
    for module in pkgutil.walk_packages(fine_pytest.__path__, "fine_pytest."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    importlib.import_module("tqdm")


_import_the_package()


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # The outer run has imported fine_pytest already, so inner runs cannot assert-rewrite it and would warn.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning")
    # Under CI (env CI or BUILD_NUMBER) pytest's short summary repeats whole messages; inner runs must print
    # the same on a laptop and in CI, or output assertions pass here and fail there.
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
    return pytester


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with the scripted model, the five-pair dataset and a one-line FINE suite."""
    pytester.makepyfile(scripted=SCRIPTED_MODEL, test_suite=SUITE)
    Path(pytester.path, "pairs.jsonl").write_text(pair_lines(SCRIPTED_PAIRS), encoding="utf-8")
    return pytester
