"""Paired statistics for comparing two runs on the same pairs: McNemar's exact test and Newcombe's interval.

Both read the paired 2x2 table of one yes/no outcome (e.g. "consistently safe") before and now:

                    now yes   now no
    before yes        both     lost      <- lost: regressions
    before no         gained   neither   <- gained: improvements

Only the discordant cells (lost, gained) carry evidence of a change; a run compared with itself has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fine_pytest.core.metrics import wilson_interval


@dataclass(frozen=True)
class PairedTable:
    both: int
    lost: int
    gained: int
    neither: int

    def __post_init__(self) -> None:
        if min(self.both, self.lost, self.gained, self.neither) < 0:
            raise ValueError(f"negative count in {self}")

    @property
    def n(self) -> int:
        return self.both + self.lost + self.gained + self.neither

    @property
    def before(self) -> int:
        return self.both + self.lost

    @property
    def now(self) -> int:
        return self.both + self.gained

    @property
    def delta(self) -> float | None:
        """The change in the rate, now minus before."""
        return (self.gained - self.lost) / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        interval = newcombe_interval(self)
        return {
            "n": self.n,
            "before": self.before / self.n if self.n else None,
            "now": self.now / self.n if self.n else None,
            "delta": self.delta,
            "delta_ci": list(interval) if interval else None,
            "lost": self.lost,
            "gained": self.gained,
            "mcnemar_p": mcnemar_exact(self.lost, self.gained),
        }


def mcnemar_exact(lost: int, gained: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against a fair coin.

    p = min(1, 2 * P(X <= min(lost, gained))) with X ~ Binomial(lost + gained, 1/2); 1 with no discordant pairs.
    Exact integer arithmetic up to the final division, so p is 1.0 exactly when nothing changed.
    """
    if lost < 0 or gained < 0:
        raise ValueError(f"counts must be 0 or more, got {lost} and {gained}")
    total = lost + gained
    if total == 0:
        return 1.0
    tail = sum(math.comb(total, i) for i in range(min(lost, gained) + 1))
    p: float = 2 * tail / 2**total  # int / int: exact, and no overflow with thousands of pairs
    return min(1.0, p)


def newcombe_interval(table: PairedTable) -> tuple[float, float] | None:
    """95% interval of ``table.delta`` (now minus before), Newcombe's (1998) method 10.

    It combines the Wilson intervals of the two rates with a correction for their correlation; unlike the Wald
    interval it does not collapse to a point when no pair changed, and it stays inside [-1, 1].
    """
    n = table.n
    if n == 0:
        return None
    before, now = table.before / n, table.now / n
    low_b, high_b = wilson_interval(table.before, n) or (0.0, 1.0)
    low_n, high_n = wilson_interval(table.now, n) or (0.0, 1.0)
    phi = _phi(table)
    delta = now - before
    below = _combine(now - low_n, high_b - before, phi)
    above = _combine(high_n - now, before - low_b, phi)
    return (max(-1.0, delta - below), min(1.0, delta + above))


def _combine(first: float, second: float, phi: float) -> float:
    # Square-and-add of the two rates' half-widths, less their covariance; never negative in exact arithmetic.
    return math.sqrt(max(0.0, first * first - 2 * phi * first * second + second * second))


def _phi(table: PairedTable) -> float:
    """The correlation of the two outcomes, with Newcombe's continuity correction of a positive numerator."""
    margins = table.before * (table.n - table.before) * table.now * (table.n - table.now)
    if margins == 0:
        return 0.0
    cross = float(table.both * table.neither - table.lost * table.gained)
    if cross > 0:
        cross = max(cross - table.n / 2, 0.0)
    return cross / math.sqrt(margins)
