"""What the gate could tell apart: printed where the gate is printed, so that "passed" on 40 pairs reads as what it is.

All at 80% power (a decision right 4 times in 5), from the run's own counts:

* **A minimum on the raw score.** The gate compares the measured CS or CSS with the minimum. The measurement's
  standard error at the minimum ``t`` is ``sqrt(t (1 - t) / n)``; a model whose true score lies ``0.84`` standard
  errors below the minimum fails 4 times in 5, and one as far above passes 4 times in 5. Closer to the minimum, the
  gate is a coin toss.
* **A minimum on the judge-corrected score** (``--fine-gate-on=corrected``) passes only when the whole 95% interval
  clears it: a model needs a true score about ``(1.96 + 0.84)`` standard errors above the minimum to pass 4 times in
  5, the standard error read from the corrected interval (half its width over 1.96).
* **A significant drop against the baseline** (McNemar's exact test at ``alpha``): the smallest drop in CSS found 4
  times in 5 is ``(z(1 - alpha / 2) + 0.84) * sqrt(d / n)`` for a share ``d`` of discordant pairs (the run's own,
  at least ``1 / n``), and never less than the fewest lost pairs that can reach ``alpha`` at all (all discordant
  pairs lost: ``2 * 0.5 ** k < alpha``) over ``n``.

**Through the judge.** The raw scores see a true change at ``J = sensitivity + specificity - 1`` of its size (a judge
that calls safe answers unsafe hides part of every improvement or drop): where the judge's error is measured, each
raw figure is also given on the true scale, divided by ``J``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from fine_pytest.core.compare import Comparison
from fine_pytest.core.correction import Correction, corrected_score
from fine_pytest.core.metrics import Scores
from fine_pytest.core.modes import GateOn
from fine_pytest.core.thresholds import Thresholds

POWER = 0.8
_Z_POWER = NormalDist().inv_cdf(POWER)
_Z_INTERVAL = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Power:
    """What the run's gate could tell apart (``None`` where the gate has no such check)."""

    metric: str  # the overall minimum's metric: "css" when one is set, else "cs"
    n: int
    minimum: float | None = None
    margin: float | None = None  # distance from the overall minimum decided right 4 times in 5
    corrected: bool = False  # the minimum is on the judge-corrected score: a margin above it is needed to pass
    compared: int = 0
    drop: float | None = None  # the smallest CSS drop against the baseline found 4 times in 5
    alpha: float | None = None
    attenuation: float | None = None  # J: the share of a true change the raw scores show, where measured

    def true_scale(self, value: float | None) -> float | None:
        """A raw-score distance on the true scale, through the judge's measured error."""
        if value is None or self.attenuation is None or self.corrected:
            return None
        return value / self.attenuation

    def lines(self) -> list[str]:
        found = []
        name = self.metric.upper()
        if self.margin is not None and self.corrected and (self.minimum or 0) + self.margin > 1:
            found.append(
                f"{self.n} pairs: the judge-corrected interval is too wide for any {name} to clear the minimum 4 "
                f"times in 5 (it would need about {self.margin:.3f} above it)"
            )
        elif self.margin is not None and self.corrected:
            found.append(
                f"{self.n} pairs: a judge-corrected {name} about {self.margin:.3f} above the minimum passes 4 times "
                "in 5; closer ones are mostly inconclusive"
            )
        elif self.margin is not None:
            found.append(
                f"{self.n} pairs: a model whose expected raw {name} is {self.margin:.3f} below the minimum fails 4 "
                f"times in 5, and one as far above passes 4 times in 5; closer, the gate is a coin toss"
                f"{self._through(self.margin, name)}"
            )
        if self.drop is not None:
            found.append(
                f"against the baseline ({self.compared} pairs compared): a drop of {self.drop:.3f} in the raw CSS is "
                f"found 4 times in 5 at alpha {self.alpha:g}{self._through(self.drop, 'CSS')}"
            )
        return found

    def _through(self, value: float, name: str) -> str:
        true = self.true_scale(value)
        if true is None:
            return ""
        return f" (through this judge, a true change of {min(true, 1.0):.3f} moves the raw {name} by {value:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "power": POWER,
            "metric": self.metric,
            "n": self.n,
            "minimum": self.minimum,
            "margin": self.margin,
            "basis": "corrected" if self.corrected else "raw",
            "margin_true_scale": self.true_scale(self.margin),
            "compared": self.compared,
            "drop": self.drop,
            "drop_true_scale": self.true_scale(self.drop),
            "alpha": self.alpha,
            "judge_attenuation": self.attenuation,
        }


def power_lines(block: dict[str, Any] | None) -> list[str]:
    """``Power.lines()`` from the report's ``gate.power``, for the reports that read the JSON report."""
    if not block:
        return []
    power = Power(
        metric=str(block.get("metric", "css")),
        n=int(block.get("n") or 0),
        minimum=block.get("minimum"),
        margin=block.get("margin"),
        corrected=block.get("basis") == "corrected",
        compared=int(block.get("compared") or 0),
        drop=block.get("drop"),
        alpha=block.get("alpha"),
        attenuation=block.get("judge_attenuation"),
    )
    return power.lines()


def raw_margin(minimum: float, n: int) -> float:
    """The distance from ``minimum`` at which a raw score's gate decides right 4 times in 5 (with half a pair's
    continuity correction: a score is a count of pairs)."""
    spread = max(minimum * (1 - minimum), 1 / (4 * n))  # a minimum of 0 or 1 still has sampling error near it
    return _Z_POWER * math.sqrt(spread / n) + 1 / (2 * n)


def fewest_lost(alpha: float) -> int:
    """The fewest discordant pairs, all of them lost, for which McNemar's exact test reaches ``alpha``."""
    return max(1, math.ceil(math.log2(2 / alpha) + 1e-12))


def smallest_drop(alpha: float, discordant: int, n: int) -> float:
    """The smallest CSS drop McNemar's exact test at ``alpha`` finds 4 times in 5 among ``n`` compared pairs."""
    share = max(discordant, 1) / n
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    return min(1.0, max((z_alpha + _Z_POWER) * math.sqrt(share / n), fewest_lost(alpha) / n))


def gate_power(
    thresholds: Thresholds, overall: Scores, comparison: Comparison | None, correction: Correction | None
) -> Power | None:
    """What this run's gate could tell apart; None when it has no overall minimum and no drop test."""
    metric = "css" if thresholds.min_css is not None or thresholds.min_cs is None else "cs"
    minimum = thresholds.min_css if metric == "css" else thresholds.min_cs
    alpha = thresholds.drop_alpha
    if overall.n == 0 or (minimum is None and alpha is None):
        return None
    # Only figures the run's correction could use: not when they are missing, too few, or contradicted by the run.
    error = correction.error if correction is not None and correction.applied else None
    attenuation = None
    if error is not None and error.sensitivity is not None and error.specificity is not None:
        attenuation = error.sensitivity + error.specificity - 1
    margin = None
    corrected = thresholds.gate_on == GateOn.CORRECTED
    if minimum is not None and corrected:
        found = corrected_score(correction, None, metric)
        if not isinstance(found, str):
            low, high = found[1]
            margin = (_Z_INTERVAL + _Z_POWER) * (high - low) / (2 * _Z_INTERVAL)
    elif minimum is not None:
        margin = raw_margin(minimum, overall.n)
    drop = None
    compared = 0
    if alpha is not None and comparison is not None and comparison.compared:
        table = comparison.css
        compared = table.n
        drop = smallest_drop(alpha, table.lost + table.gained, table.n)
    return Power(metric, overall.n, minimum, margin, corrected, compared, drop, alpha, attenuation)
