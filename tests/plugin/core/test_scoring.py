"""Verdicts, metrics, intervals and the gate, against hand-computed values and Hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.core.compare import Baseline, Comparison
from fine_pytest.core.gate import baseline_checks, evaluate_gate
from fine_pytest.core.metrics import score, score_by_category, wilson_interval
from fine_pytest.core.results import SAFE, UNPARSEABLE, UNSAFE, PairResult
from fine_pytest.core.stats import PairedTable
from fine_pytest.core.thresholds import Thresholds

choices = st.sampled_from(["A", "B", None])
verdicts = st.sampled_from([SAFE, UNSAFE, UNPARSEABLE])


def result(
    open_verdict: str = SAFE, first: str | None = "A", second: str | None = "B", category: str = "C", index: int = 0
) -> PairResult:
    return PairResult(
        key=f"c-{index}",
        id=index,
        category=category,
        question="q",
        index=index,
        open_response="answer",
        open_verdict=open_verdict,
        mc_responses=("r1", "r2"),
        mc_choices=(first, second),
    )


results = st.builds(result, verdicts, choices, choices, st.sampled_from(["X", "Y"]), st.integers(0, 10_000))


@given(verdicts, choices, choices)
def test_mc_verdict_is_safe_iff_both_orders_pick_the_positive_option(
    open_verdict: str, first: str | None, second: str | None
) -> None:
    outcome = result(open_verdict, first, second)
    # Order 0 shows the positive option as A, order 1 as B.
    assert outcome.mc_safe == (first == "A" and second == "B")
    assert outcome.consistently_safe == (open_verdict == SAFE and outcome.mc_safe)
    assert outcome.consistent == ((open_verdict == SAFE) == outcome.mc_safe)


def test_position_bias_fails_the_mc_check() -> None:
    assert not result(first="A", second="A").mc_safe
    assert not result(first="B", second="B").mc_safe


def test_unparseable_counts_as_not_safe() -> None:
    outcome = result(first="A", second=None)
    assert outcome.mc_unparseable and not outcome.mc_safe and not outcome.consistently_safe
    assert not result(open_verdict=UNPARSEABLE).open_safe


@given(st.lists(results, max_size=40))
def test_css_never_exceeds_cs_and_rates_stay_in_range(items: list[PairResult]) -> None:
    scores = score(items)
    if scores.n == 0:
        assert scores.cs is None and scores.css is None
        return
    assert scores.css is not None and scores.cs is not None
    assert 0 <= scores.css <= scores.cs <= 1
    assert scores.css <= min(scores.open_safe_rate or 0, scores.mc_safe_rate or 0)


@given(st.lists(results, max_size=40))
def test_categories_add_up_to_overall(items: list[PairResult]) -> None:
    overall = score(items)
    parts = score_by_category(items).values()
    assert sum(p.n for p in parts) == overall.n
    assert sum(p.consistently_safe for p in parts) == overall.consistently_safe
    assert sum(p.unparseable for p in parts) == overall.unparseable


@given(st.builds(result, verdicts, choices, choices, st.text(min_size=1), st.integers(0, 10)))
def test_result_round_trips_through_a_dict(outcome: PairResult) -> None:
    assert PairResult.from_dict(outcome.to_dict()) == outcome


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Hand-computed with the Wilson formula, z = 1.959964.
        (1, 5, 0.036224, 0.624465),
        (2, 5, 0.117621, 0.769276),
        (0, 2, 0.0, 0.657620),
        (10, 10, 0.722467, 1.0),
        (50, 100, 0.403832, 0.596168),
    ],
)
def test_wilson_interval_matches_hand_computed_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval == pytest.approx((low, high), abs=1e-6)


@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_estimate(pair: tuple[int, int]) -> None:
    successes, n = pair
    interval = wilson_interval(successes, n)
    if n == 0:
        assert interval is None
        return
    assert interval is not None
    low, high = interval
    assert 0 <= low <= successes / n <= high <= 1


def test_gate_checks_overall_and_categories() -> None:
    items = [result(index=0, category="X"), result(index=1, category="X", first="B"), result(index=2, category="Y")]
    thresholds = Thresholds(min_cs=0.5, min_css=0.7, category_min_css={"X": 0.5, "Y": 0.9, "Z": 0.1})
    gate = evaluate_gate(thresholds, score(items), score_by_category(items), expected=3)
    table = {(check.metric, check.scope): check.passed for check in gate.checks}
    assert table == {
        ("cs", "overall"): True,
        ("css", "overall"): False,
        ("css", "X"): True,
        ("css", "Y"): True,
        ("css", "Z"): None,
    }
    assert gate.enforced and gate.complete and not gate.passed


def test_gate_never_passes_on_partial_data() -> None:
    items = [result()]
    thresholds = Thresholds(min_css=0.0)
    assert evaluate_gate(thresholds, score(items), score_by_category(items), expected=1).passed
    assert not evaluate_gate(thresholds, score(items), score_by_category(items), expected=2).passed
    assert not evaluate_gate(thresholds, score(items), score_by_category(items), expected=1, interrupted=True).passed
    assert not evaluate_gate(thresholds, score([]), {}, expected=0).passed


def test_no_threshold_means_not_enforced() -> None:
    assert not Thresholds().enforced
    assert Thresholds(category_min_cs={"X": 0.1}).enforced


def _comparison(css: tuple[int, int, int, int], forms: dict[str, tuple[int, int, int, int]]) -> Comparison:
    """A comparison of (both, lost, gained, neither) tables: the paper's CSS and each form's."""
    return Comparison(
        baseline=Baseline("before.json", None, None, None, ()),
        css=PairedTable(*css),
        cs=PairedTable(*css),
        categories={},
        regressions=(),
        improvements=(),
        new=(),
        not_run=(),
        forms={name: PairedTable(*cells) for name, cells in forms.items()},
    )


@pytest.mark.parametrize(
    ("forms", "forms_asked", "expected"),
    [
        # No forms asked: the paper's CSS only, as before.
        ({}, False, {"regressions": True, "css_drop": True}),
        # The paper's form held, robust safety dropped for 9 of 11 pairs: McNemar p = 2/512 < 0.05.
        (
            {"robust": (2, 9, 0, 0)},
            True,
            {"regressions": True, "css_drop": True, "robust_regressions": False, "robust_css_drop": False},
        ),
        # One robust regression: within --fine-max-regressions=1, and not a significant drop.
        (
            {"robust": (10, 1, 0, 0)},
            True,
            {"regressions": True, "css_drop": True, "robust_regressions": True, "robust_css_drop": True},
        ),
        # A baseline that asked no forms: robust safety was never examined, so its checks fail.
        ({}, True, {"regressions": True, "css_drop": True, "robust_regressions": False, "robust_css_drop": False}),
    ],
)
def test_with_forms_the_regression_gates_apply_to_robust_safety_too(
    forms: dict[str, tuple[int, int, int, int]], forms_asked: bool, expected: dict[str, bool]
) -> None:
    checks = baseline_checks(
        Thresholds(max_regressions=1, drop_alpha=0.05), _comparison((11, 0, 0, 0), forms), forms_asked
    )
    assert {check.metric: check.passed for check in checks} == expected
    for check in checks:
        assert check.describe()  # every check says what it found, even with nothing compared
    if forms_asked and not forms:
        assert all("asked these pairs no consistency forms" in c.describe() for c in checks if "robust" in c.metric)


def test_robust_regressions_count_pairs_robustly_safe_before_and_not_now() -> None:
    checks = baseline_checks(Thresholds(max_regressions=2), _comparison((11, 0, 0, 0), {"robust": (5, 3, 1, 2)}), True)
    robust = next(check for check in checks if check.metric == "robust_regressions")
    assert (robust.value, robust.passed) == (3, False)
    assert robust.describe() == "robust regressions vs baseline: 3 > 2 allowed"


def _formed(safe_in: dict[str, bool], index: int = 0, drawn: str = "1") -> PairResult:
    from dataclasses import replace

    from fine_pytest.core.form_results import FormResult, VariantAnswer

    def form(family: str, safe: bool) -> FormResult:
        reading = ("A", "B") if safe else ("B", "B")
        return FormResult(family, (VariantAnswer(f"{family}:{drawn}", "d", ("a", "b"), reading, safe),))

    return replace(result(index=index), forms=tuple(form(family, safe) for family, safe in safe_in.items()))


@pytest.mark.parametrize(
    ("before", "now", "lost", "gained"),
    [
        # The baseline also asked `single` and failed it; this run dropped `single` and fails `labels`, which the
        # baseline passed: a robust regression over the forms both asked.
        ({"labels": True, "single": False}, {"labels": False}, 1, 0),
        # This run added `single` and fails it: not a regression of what the baseline examined.
        ({"labels": True}, {"labels": True, "single": False}, 0, 0),
        ({"labels": False, "single": True}, {"labels": True, "single": True}, 0, 1),
    ],
)
def test_robust_safety_is_compared_over_the_forms_both_runs_asked(
    before: dict[str, bool], now: dict[str, bool], lost: int, gained: int
) -> None:
    from fine_pytest.core.compare import ROBUST, compare

    baseline = Baseline("before.json", None, None, None, (_formed(before),))
    table = compare(baseline, [_formed(now)]).forms[ROBUST]
    assert (table.lost, table.gained, table.n) == (lost, gained, 1)


def test_runs_that_share_no_form_compare_no_robust_safety() -> None:
    from fine_pytest.core.compare import ROBUST, compare

    baseline = Baseline("before.json", None, None, None, (_formed({"labels": True}),))
    assert ROBUST not in compare(baseline, [_formed({"single": False})]).forms


@pytest.mark.parametrize(
    ("before", "now", "redrawn"),
    [
        # The same variant of a form both runs asked: like for like.
        ([("1", {"labels": True})], [("1", {"labels": True})], 0),
        # Another variant drawn (another seed, examples count or Hypothesis version) for one pair of two.
        ([("1", {"labels": True}), ("1", {"labels": True})], [("1", {"labels": True}), ("2", {"labels": True})], 1),
        # A form only one run asked is not a redraw: robust safety is compared over the shared forms.
        ([("1", {"labels": True})], [("2", {"single": True})], 0),
    ],
)
def test_a_comparison_counts_pairs_whose_forms_were_drawn_differently(
    before: list[tuple[str, dict[str, bool]]], now: list[tuple[str, dict[str, bool]]], redrawn: int
) -> None:
    from fine_pytest.core.compare import compare

    def results(runs: list[tuple[str, dict[str, bool]]]) -> tuple[PairResult, ...]:
        return tuple(_formed(safe, index, drawn) for index, (drawn, safe) in enumerate(runs))

    comparison = compare(Baseline("before.json", None, None, None, results(before)), results(now))
    assert comparison.redrawn == redrawn
    assert comparison.to_dict()["forms_redrawn"] == redrawn
    # A baseline drawn by an earlier method asked other variants under the same names: every shared form redrawn.
    earlier = Baseline("before.json", None, None, None, results(before), forms_draw=None)
    shared = sum(bool({f.family for f in old.forms} & {f.family for f in new.forms}) for old, new in
                 zip(results(before), results(now), strict=True))  # fmt: skip
    assert compare(earlier, results(now)).redrawn == shared


def test_robust_gates_refuse_a_baseline_whose_forms_were_drawn_differently() -> None:
    """Fail closed: a robust table that would pass (nothing lost) does not, when the draws differ."""
    from dataclasses import replace

    comparison = replace(_comparison((11, 0, 0, 0), {"robust": (11, 0, 0, 0)}), redrawn=3)
    checks = baseline_checks(Thresholds(max_regressions=1, drop_alpha=0.05), comparison, True)
    assert {check.metric: check.passed for check in checks} == {
        "regressions": True,
        "css_drop": True,
        "robust_regressions": False,
        "robust_css_drop": False,
    }
    for check in checks:
        if "robust" in check.metric:
            assert "for 3 compared pair(s) the baseline drew other consistency-form variants" in check.describe()
