"""core.gate: how the chosen thresholds are read, and what an enforced gate needs to pass."""

from __future__ import annotations

import pytest

from fine_pytest.core.correction import correct_run
from fine_pytest.core.gate import GateResult, evaluate_gate
from fine_pytest.core.metrics import Scores
from fine_pytest.core.modes import GateOn
from fine_pytest.core.thresholds import Thresholds


@pytest.mark.parametrize(
    ("threshold", "min_cs", "min_css", "expected"),
    [
        (None, None, None, (None, None)),
        (0.8, None, None, (0.8, 0.8)),  # --fine-threshold sets both
        (0.8, 0.9, None, (0.9, 0.8)),  # --fine-min-cs overrides it for CS only
        (0.8, None, 0.5, (0.8, 0.5)),
        (0.8, 0.0, 0.0, (0.0, 0.0)),  # zero is a minimum, not "unset"
        (None, 0.7, None, (0.7, None)),
    ],
)
def test_threshold_and_per_metric_minimums(
    threshold: float | None, min_cs: float | None, min_css: float | None, expected: tuple[float | None, float | None]
) -> None:
    chosen = Thresholds.chosen(threshold, min_cs, min_css)
    assert (chosen.min_cs, chosen.min_css) == expected
    assert chosen.enforced == (expected != (None, None))


def test_other_gates_pass_through() -> None:
    chosen = Thresholds.chosen(None, category_min_css={"Privacy": 0.5}, max_regressions=0)
    assert chosen.enforced and chosen.needs_baseline and chosen.categories == {"Privacy"}


# --- --fine-gate-on=corrected: the interval of the judge-corrected score must clear the minimum ---------------------

CONFUSION = {"safe": {"safe": 45, "unsafe": 5}, "unsafe": {"safe": 5, "unsafe": 45}}


def scores(both: int, mc_only: int, open_only: int, neither: int) -> Scores:
    return Scores(
        n=both + mc_only + open_only + neither,
        consistent=both + neither,
        consistently_safe=both,
        open_safe=both + open_only,
        mc_safe=both + mc_only,
        unparseable=0,
        judge_unparseable=0,
    )


def corrected_gate(overall: Scores, minimum: float, agreement: dict | None) -> GateResult:
    thresholds = Thresholds(min_css=minimum, gate_on=GateOn.CORRECTED)
    correction = correct_run(overall, {"A": overall}, agreement)
    return evaluate_gate(thresholds, overall, {"A": overall}, expected=overall.n, correction=correction)


@pytest.mark.parametrize(
    ("minimum", "passed", "inconclusive"),
    [(0.10, True, False), (0.50, False, True), (0.95, False, False)],
    ids=["interval above", "interval holds the minimum", "interval below"],
)
def test_a_corrected_minimum_passes_only_when_the_whole_interval_clears_it(
    minimum: float, passed: bool, inconclusive: bool
) -> None:
    gate = corrected_gate(scores(27, 3, 3, 27), minimum, {"confusion": CONFUSION})  # corrected CSS 0.50 [0.35, 0.66]
    (check,) = gate.checks
    assert check.corrected and check.interval is not None and check.value == pytest.approx(0.5)
    assert (check.passed, check.inconclusive, gate.passed) == (passed, inconclusive, passed)
    shown = check.describe()
    assert shown.startswith("CSS overall judge-corrected 0.500 [0.3")
    assert ("inconclusive" in shown) == inconclusive
    assert check.to_dict()["basis"] == "corrected" and check.to_dict()["inconclusive"] == inconclusive


def test_without_a_corrected_value_a_corrected_minimum_fails_and_says_why() -> None:
    gate = corrected_gate(scores(30, 0, 0, 30), 0.1, None)
    (check,) = gate.checks
    assert check.passed is False and not gate.passed
    assert check.describe() == (
        "CSS overall: no judge-corrected value to gate on (the judge's error was not measured (fine-pytest "
        "judge-eval --judge=SPEC -o FILE, then --fine-judge-calibration=FILE))"
    )


def test_a_category_minimum_gates_on_the_category_s_corrected_value() -> None:
    overall = scores(27, 3, 3, 27)
    thresholds = Thresholds(category_min_cs={"A": 0.5, "Missing": 0.5}, gate_on=GateOn.CORRECTED)
    correction = correct_run(overall, {"A": overall}, {"confusion": CONFUSION})
    gate = evaluate_gate(thresholds, overall, {"A": overall}, expected=overall.n, correction=correction)
    checks = {check.scope: check for check in gate.checks}
    assert checks["A"].passed is True and checks["A"].interval is not None  # corrected CS 1.0 [0.87, 1.0]
    assert checks["Missing"].passed is None  # no pair of that category in this run, as with the raw scores


def test_the_raw_gate_is_unchanged_by_a_correction() -> None:
    overall = scores(27, 3, 3, 27)
    correction = correct_run(overall, {}, {"confusion": CONFUSION})
    gate = evaluate_gate(Thresholds(min_css=0.45), overall, {}, expected=overall.n, correction=correction)
    (check,) = gate.checks
    assert check.passed is True and check.interval is None and not check.corrected
    assert check.describe() == "CSS overall 0.450 >= 0.450"


def test_a_category_named_overall_is_gated_on_its_own_corrected_score() -> None:
    whole, category = scores(27, 3, 3, 27), scores(2, 8, 2, 8)
    thresholds = Thresholds(category_min_css={"overall": 0.45}, gate_on=GateOn.CORRECTED)
    correction = correct_run(whole, {"overall": category}, {"confusion": CONFUSION})
    gate = evaluate_gate(thresholds, whole, {"overall": category}, expected=whole.n, correction=correction)
    (check,) = gate.checks
    assert check.value is not None and check.value < 0.45 and check.passed is False  # the category's, not the run's


def test_a_misspelt_basis_is_an_error_not_raw() -> None:
    with pytest.raises(ValueError):
        Thresholds(min_css=0.5, gate_on="corected")
