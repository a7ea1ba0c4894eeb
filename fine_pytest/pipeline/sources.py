"""Where a run's answers come from: interchangeable implementations of one Protocol (``AnswerSource``).

A live model loaded on first use (``LiveModel``), a model the caller already loaded (``GivenModel``), and, in
pipeline.batch, the cache alone for an export (``Exporting``) and a batch file for an import (``Importing``). A new
source is one class with these four members (``Source`` gives the hooks a source does not need); pipeline.run never
asks which one it has.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from fine_pytest.backends.base import Model, ModelContext
from fine_pytest.core.dataset import Pair
from fine_pytest.core.safe_text import visible
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.evaluate import Lazy, Request
from fine_pytest.pipeline.plan import RunPlan
from fine_pytest.pipeline.progress import Progress
from fine_pytest.pipeline.settings import Settings

T = TypeVar("T")


class StopRun(Exception):
    """An answer source ends the run before it is complete: an export found prompts that nobody has answered."""

    def __init__(self, requests: Sequence[Request]) -> None:
        super().__init__(f"{len(requests)} prompts to ask elsewhere")
        self.requests = list(requests)


@runtime_checkable
class AnswerSource(Protocol):
    """Where the answers the cache lacks come from."""

    model: Lazy[Model]  # answers what the cache lacks; loaded on first use, released by the run
    exports: bool  # answers nothing: the run ends by handing back what is left to ask ([] once nothing is)

    def start(self, pairs: Sequence[Pair], plan: RunPlan, cache: Cache) -> None:
        """Before anything is asked (an import stores its file here); raise ``StopRun`` to end the run now."""

    def before_round(self, requests: Sequence[Request], cache: Cache, run: str) -> None:
        """Before a shrink round is asked; raise ``StopRun`` to end the run with the round's missing prompts."""

    def use(self, partition: int) -> None:
        """The partition about to be filled: a model loaded now should use that partition's device."""


class Source:
    """An answer source that needs none of the hooks: a subclass sets ``model`` and overrides what it uses."""

    model: Lazy[Model]
    exports = False

    def start(self, pairs: Sequence[Pair], plan: RunPlan, cache: Cache) -> None:
        pass

    def before_round(self, requests: Sequence[Request], cache: Cache, run: str) -> None:
        pass

    def use(self, partition: int) -> None:
        pass


def load_noted(
    settings: Settings,
    context: ModelContext,
    cache: Cache,
    run: str,
    partition: int,
    progress: Progress,
    loader: str,
    shown: contextlib.AbstractContextManager[object] | None = None,
) -> Model:
    """Load the run's model for a partition: the load recorded in the cache (reports count loads, and who loaded),
    the wait shown as progress, and the rate's clock restarted after it, so the load is not counted as generation.
    ``shown``: around the load (the plugin shows an engine's start-up log there with -v)."""
    from fine_pytest import backends

    cache.record(run, "load", partition, loader)
    started = time.monotonic()
    progress.note(f"loading the model {visible(settings.model_spec)}")
    with shown or contextlib.nullcontext():
        loaded = backends.load_model(settings.model_spec, context=context)
    progress.note(f"the model is ready ({time.monotonic() - started:.0f} s)")
    progress.restart_clock()
    return loaded


class LiveModel(Source):
    """A model loaded in this process on first use: ``load(partition)`` loads it for that partition's device."""

    def __init__(self, load: Callable[[int], Model]) -> None:
        self._partition = 0
        self.model = Lazy(lambda: load(self._partition))

    def use(self, partition: int) -> None:
        self._partition = partition


class Kept(Lazy[T]):
    """A model or judge the caller loaded and closes itself: the run uses it and leaves it open."""

    def release(self) -> None:
        pass


class GivenModel(Source):
    """A model already loaded in this process (benchmarks, tests, a caller that reuses one engine)."""

    def __init__(self, model: Model) -> None:
        self.model = Kept.of(model)
