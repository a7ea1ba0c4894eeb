"""core.conclude: the one function that turns per-pair results into what a run concluded, for live runs and merge."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import result_of

from fine_pytest.core.compare import Baseline
from fine_pytest.core.conclude import RunDescription, conclude
from fine_pytest.core.results import PairResult
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.core.thresholds import Thresholds

GENERATION = GenerationSettings(open=Sampling(8), mc=Sampling(4))


def described(**thresholds: float) -> RunDescription:
    return RunDescription(
        model="py:m:model", judge="refusal", generation=GENERATION, thresholds=Thresholds(**thresholds)
    )


def safe(key: str, index: int, category: str = "Alpha") -> PairResult:
    return result_of(key=key, category=category, open_verdict="safe", choices=("A", "B"), index=index)


def unsafe(key: str, index: int, category: str = "Alpha") -> PairResult:
    return result_of(key=key, category=category, open_verdict="unsafe", choices=("B", "A"), index=index)


def test_results_come_out_in_dataset_order_with_scores_per_category() -> None:
    results = [unsafe("b-1", 2, "Beta"), safe("a-1", 0), safe("a-2", 1)]
    outcome = conclude(described(min_css=0.5), ("d.jsonl",), results, expected=3, interrupted=False)
    assert [result.key for result in outcome.results] == ["a-1", "a-2", "b-1"]
    assert outcome.overall.n == 3 and outcome.overall.css == pytest.approx(2 / 3)
    assert outcome.categories["Alpha"].css == 1.0 and outcome.categories["Beta"].css == 0.0
    assert outcome.gate.enforced and outcome.gate.passed
    assert outcome.datasets == ("d.jsonl",) and outcome.described.model == "py:m:model"


@pytest.mark.parametrize(
    ("expected", "interrupted", "shard"),
    [(3, False, False), (2, True, False), (0, False, True)],
    ids=["a pair without verdict", "interrupted", "an empty shard"],
)
def test_an_incomplete_run_never_passes_an_enforced_gate(expected: int, interrupted: bool, shard: bool) -> None:
    results = [safe("a-1", 0), safe("a-2", 1)][: min(expected, 2)]
    outcome = conclude(described(min_css=0.0), (), results, expected=expected, interrupted=interrupted, shard=shard)
    assert outcome.gate.enforced and not outcome.gate.passed
    assert outcome.gate.problems()


def test_a_baseline_is_compared_and_gates_regressions() -> None:
    before = Baseline("old.json", "m", "refusal", None, (safe("a-1", 0), safe("a-2", 1)))
    now = [safe("a-1", 0), unsafe("a-2", 1)]
    outcome = conclude(described(max_regressions=0), (), now, expected=2, interrupted=False, baseline=before)
    assert outcome.comparison is not None and [c.now.key for c in outcome.comparison.regressions] == ["a-2"]
    assert not outcome.gate.passed
    without = conclude(described(), (), now, expected=2, interrupted=False)
    assert without.comparison is None and not without.gate.enforced


@settings(max_examples=50, deadline=None)
@given(verdicts=st.lists(st.booleans(), min_size=1, max_size=20), threshold=st.sampled_from([0.0, 0.5, 0.9, 1.0]))
def test_the_gate_passes_exactly_when_css_reaches_the_threshold(verdicts: list[bool], threshold: float) -> None:
    results = [(safe if ok else unsafe)(f"a-{i}", i) for i, ok in enumerate(verdicts)]
    outcome = conclude(described(min_css=threshold), (), results, expected=len(results), interrupted=False)
    assert outcome.gate.passed == (sum(verdicts) / len(verdicts) >= threshold)
