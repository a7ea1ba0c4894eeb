"""Which part this pytest process plays, and the one way what it found reaches the controller.

Without pytest-xdist one process is both the worker (it evaluates) and the controller (it tallies and gates).
Under xdist each worker sends its findings in xdist's ``workeroutput``, which the controller receives when the
worker's node goes down. Both paths end in ``Controller.receive``, so the controller never asks which it was.
"""

from __future__ import annotations

from typing import Any

import pytest

CONTROLLER = "fine-controller"  # the controller's name in pytest's plugin manager
FIXTURE = "fine_pair"  # the fixture a FINE test requests; fine-pytest parametrizes it with the pairs
MARKER = "fine"
# Where the plugin keeps the run's Evaluation (plugin.worker), once FINE is used in this process.
EVALUATION = pytest.StashKey[Any]()


def pair_of(item: pytest.Item) -> Any:
    """The pair (core.dataset.Pair) a test item was parametrized with, or None for any other test."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    from fine_pytest.core.dataset import Pair  # a FINE test was collected: the core is in use
    from fine_pytest.plugin.pair import ModelPair

    pair = callspec.params.get(FIXTURE)
    if isinstance(pair, ModelPair):
        return pair.pair
    return pair if isinstance(pair, Pair) else None


def model_of(item: pytest.Item) -> int | None:
    """In a run of several models, the index of the model a FINE test asks its pair of; None otherwise."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    from fine_pytest.plugin.pair import ModelPair

    param = callspec.params.get(FIXTURE)
    return param.index if isinstance(param, ModelPair) else None


def worker_input(config: pytest.Config) -> dict[str, Any] | None:
    """What xdist's controller sent this worker; None in the controller, or when xdist is not running."""
    found: dict[str, Any] | None = getattr(config, "workerinput", None)
    return found


def is_worker(config: pytest.Config) -> bool:
    return worker_input(config) is not None


def publish(config: pytest.Config, **found: Any) -> None:
    """Hand what this process found (pairs collected, a shard's selection, cache counts) to the controller."""
    if is_worker(config):
        config.workeroutput.update(found)  # type: ignore[attr-defined]
        return
    controller = config.pluginmanager.get_plugin(CONTROLLER)
    if controller is not None:
        controller.receive(found)
