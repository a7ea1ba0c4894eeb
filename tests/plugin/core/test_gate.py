"""core.gate: how the chosen thresholds are read, and what an enforced gate needs to pass."""

from __future__ import annotations

import pytest

from fine_pytest.core.gate import Thresholds


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
