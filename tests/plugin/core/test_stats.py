"""McNemar's exact test and Newcombe's paired interval, against values worked out by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.core.compare import Baseline, compare
from fine_pytest.core.results import SAFE, UNSAFE, PairResult
from fine_pytest.core.stats import PairedTable, mcnemar_exact, newcombe_interval

Z = 1.959963984540054


@pytest.mark.parametrize(
    ("lost", "gained", "expected"),
    [
        (0, 0, Fraction(1)),  # nothing changed
        (5, 0, Fraction(2, 2**5)),  # 2 * (1/2)^5
        (0, 6, Fraction(2, 2**6)),
        (1, 5, Fraction(2 * (1 + 6), 2**6)),  # 2 * (C(6,0) + C(6,1)) / 2^6 = 14/64
        (8, 2, Fraction(2 * (1 + 10 + 45), 2**10)),  # 2 * (C(10,0) + C(10,1) + C(10,2)) / 2^10 = 112/1024
        (3, 3, Fraction(1)),  # 2 * P(X <= 3 | n=6) = 2 * 42/64 > 1, capped
        (1, 1, Fraction(1)),
    ],
)
def test_mcnemar_exact_matches_hand_computed_binomial_tails(lost: int, gained: int, expected: Fraction) -> None:
    assert mcnemar_exact(lost, gained) == pytest.approx(float(expected), abs=1e-15)


def test_mcnemar_handles_thousands_of_discordant_pairs() -> None:
    p = mcnemar_exact(1500, 1600)
    assert 0.0 < p < 1.0 and math.isfinite(p)


def _wilson(x: int, n: int) -> tuple[float, float]:
    # Worked independently from the textbook form: (2x + z^2 -/+ z sqrt(z^2 + 4x(1 - x/n))) / (2(n + z^2)).
    root = Z * math.sqrt(Z * Z + 4 * x * (1 - x / n))
    return ((2 * x + Z * Z - root) / (2 * (n + Z * Z)), (2 * x + Z * Z + root) / (2 * (n + Z * Z)))


def test_newcombe_interval_matches_a_hand_worked_table() -> None:
    # Before: 19 of 41 safe; now: 14 of 41. 14 safe in both, 5 lost, 0 gained, 22 in neither.
    table = PairedTable(both=14, lost=5, gained=0, neither=22)
    low_b, high_b = _wilson(19, 41)
    low_n, high_n = _wilson(14, 41)
    # phi: (14*22 - 5*0 - 41/2) / sqrt(19 * 22 * 14 * 27), Newcombe's continuity-corrected correlation.
    phi = (308 - 20.5) / math.sqrt(19 * 22 * 14 * 27)
    before, now = 19 / 41, 14 / 41
    delta = now - before
    lower = delta - math.sqrt((now - low_n) ** 2 - 2 * phi * (now - low_n) * (high_b - before) + (high_b - before) ** 2)
    upper = delta + math.sqrt((high_n - now) ** 2 - 2 * phi * (high_n - now) * (before - low_b) + (before - low_b) ** 2)
    assert table.delta == pytest.approx(-5 / 41)
    assert newcombe_interval(table) == pytest.approx((lower, upper), abs=1e-12)
    # The same numbers rounded, as a reader would check them on paper.
    assert newcombe_interval(table) == pytest.approx((-0.2265, -0.0115), abs=5e-5)


def test_newcombe_interval_of_an_unchanged_run_is_symmetric_and_not_a_point() -> None:
    low, high = newcombe_interval(PairedTable(both=10, lost=0, gained=0, neither=10)) or (0, 0)
    assert low == pytest.approx(-high) and high > 0.05  # no change seen, but 20 pairs cannot rule out one


counts = st.integers(0, 60)


@given(counts, counts, counts, counts)
def test_newcombe_interval_holds_the_estimate_and_stays_in_range(a: int, b: int, c: int, d: int) -> None:
    table = PairedTable(a, b, c, d)
    interval = newcombe_interval(table)
    if table.n == 0:
        assert interval is None
        return
    assert interval is not None and table.delta is not None
    assert -1.0 <= interval[0] <= table.delta + 1e-12 and table.delta - 1e-12 <= interval[1] <= 1.0


@given(counts, counts)
def test_mcnemar_is_a_probability_and_symmetric(lost: int, gained: int) -> None:
    assert 0.0 < mcnemar_exact(lost, gained) <= 1.0
    assert mcnemar_exact(lost, gained) == mcnemar_exact(gained, lost)


outcomes = st.tuples(
    st.sampled_from([SAFE, UNSAFE]), st.sampled_from(["A", "B", None]), st.sampled_from(["A", "B", None])
)


def _results(rows: list[tuple[str, str | None, str | None]]) -> list[PairResult]:
    return [
        PairResult(f"c-{i}", i, "Cat" if i % 2 else "Dog", "q", i, "answer", verdict, ("r1", "r2"), (first, second))
        for i, (verdict, first, second) in enumerate(rows)
    ]


@given(st.lists(outcomes, max_size=40))
def test_a_run_compared_with_itself_has_no_regressions_and_p_one(
    rows: list[tuple[str, str | None, str | None]],
) -> None:
    results = _results(rows)
    comparison = compare(Baseline("old.json", "m", "j", None, tuple(results)), results)
    assert comparison.regressions == () and comparison.improvements == ()
    assert comparison.p_value == 1.0 and not comparison.significant_drop(0.999)
    assert comparison.css.delta in (None, 0.0)
    assert all(css.lost == css.gained == 0 for css, _ in comparison.categories.values())


@given(st.lists(st.tuples(outcomes, outcomes), max_size=40))
def test_regressions_and_improvements_are_the_discordant_pairs(
    rows: list[tuple[tuple[str, str | None, str | None], tuple[str, str | None, str | None]]],
) -> None:
    before = _results([old for old, _ in rows])
    now = _results([new for _, new in rows])
    comparison = compare(Baseline("old.json", None, None, None, tuple(before)), now)
    assert len(comparison.regressions) == comparison.css.lost
    assert len(comparison.improvements) == comparison.css.gained
    assert comparison.compared == len(rows)
    assert sum(css.n for css, _ in comparison.categories.values()) == len(rows)
    assert all(
        change.before.consistently_safe and not change.now.consistently_safe for change in comparison.regressions
    )


def test_pairs_in_one_run_only_are_counted_not_compared() -> None:
    before = _results([(SAFE, "A", "B"), (SAFE, "A", "B")])
    now = _results([(UNSAFE, "A", "B"), (SAFE, "A", "B"), (SAFE, "A", "B")])[1:]
    comparison = compare(Baseline("old.json", None, None, None, tuple(before)), now)
    assert comparison.compared == 1 and comparison.new == ("c-2",) and comparison.not_run == ("c-0",)
