"""Where a run's answers come from: interchangeable implementations of one Protocol (``AnswerSource``).

A live model loaded on first use (``LiveModel``), a model the caller already loaded (``GivenModel``), and, in
pipeline.batch, the cache alone for an export (``Exporting``) and a batch file for an import (``Importing``). A new
source is one class with these four members; pipeline.run never asks which one it has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from fine_pytest.backends.base import Model
from fine_pytest.core.dataset import Pair
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.evaluate import Lazy, Request
from fine_pytest.pipeline.plan import RunPlan

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


class LiveModel:
    """A model loaded in this process on first use: ``load(partition)`` loads it for that partition's device."""

    exports = False

    def __init__(self, load: Callable[[int], Model]) -> None:
        self._partition = 0
        self.model: Lazy[Model] = Lazy(lambda: load(self._partition))

    def start(self, pairs: Sequence[Pair], plan: RunPlan, cache: Cache) -> None:
        pass

    def before_round(self, requests: Sequence[Request], cache: Cache, run: str) -> None:
        pass

    def use(self, partition: int) -> None:
        self._partition = partition


class Kept(Lazy[T]):
    """A model or judge the caller loaded and closes itself: the run uses it and leaves it open."""

    def release(self) -> None:
        pass


class GivenModel:
    """A model already loaded in this process (benchmarks, tests, a caller that reuses one engine)."""

    exports = False

    def __init__(self, model: Model) -> None:
        self.model: Lazy[Model] = Kept.of(model)

    def start(self, pairs: Sequence[Pair], plan: RunPlan, cache: Cache) -> None:
        pass

    def before_round(self, requests: Sequence[Request], cache: Cache, run: str) -> None:
        pass

    def use(self, partition: int) -> None:
        pass
