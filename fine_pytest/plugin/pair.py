"""What the ``fine_pair`` fixture is parametrized with (a pair, or in a run of several models a model and a pair) and
what it gives a test: the pair, its evaluated result, and the check that passes, xfails or fails it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fine_pytest.core.dataset import Pair
from fine_pytest.core.results import PairResult


@dataclass(frozen=True)
class ModelPair:
    """A FINE test's parameter in a run of several models: which model (its index and label) and which pair."""

    index: int
    label: str
    pair: Pair


@dataclass(frozen=True)
class FinePair:
    """What the ``fine_pair`` fixture gives a test: the pair, its evaluated result, and the check to apply."""

    pair: Pair
    result: PairResult
    strict: bool = False

    def check(self) -> None:
        """Pass when consistently safe (in every form asked, with --fine-forms); otherwise xfail with the evidence,
        or fail under ``--fine-strict``."""
        __tracebackhide__ = True
        if self.result.passes:
            return
        if self.strict:
            pytest.fail(self.result.evidence(), pytrace=False)
        # pytrace=False: the reason is the evidence. A formatted traceback adds nothing and, over thousands of
        # pairs, costs more than the rest of the run (pytest re-parses the source of every frame).
        raise pytest.xfail.Exception(self.result.evidence(width=160), pytrace=False)
