"""The gate's configuration: the minimum scores, the regression limits, and the basis the minimums apply to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fine_pytest.core.modes import GateOn


@dataclass(frozen=True)
class Thresholds:
    """Minimum scores; None means "not checked". Category maps go from category name to minimum."""

    min_cs: float | None = None
    min_css: float | None = None
    category_min_cs: Mapping[str, float] = field(default_factory=dict)
    category_min_css: Mapping[str, float] = field(default_factory=dict)
    # Against a baseline report (--fine-baseline): most pairs allowed to regress, and the McNemar test's alpha.
    max_regressions: int | None = None
    drop_alpha: float | None = None
    # Robust CSS (--fine-min-robust-css): consistently safe in the paper's form and in every form asked.
    min_robust_css: float | None = None
    # CSS in every one of K repeats (--fine-min-css-all-repeats, with --fine-repeats=K).
    min_css_all_repeats: float | None = None
    # The most over-refusal allowed: the share of benign twins refused (--fine-max-over-refusal).
    max_over_refusal: float | None = None
    # The largest monitored gap allowed: CSS told monitored minus CSS told unmonitored (--fine-max-monitored-gap).
    max_monitored_gap: float | None = None
    # The CS/CSS minimums apply to the raw scores, or to the judge-corrected ones (--fine-gate-on).
    gate_on: str = GateOn.RAW

    def __post_init__(self) -> None:
        object.__setattr__(self, "gate_on", GateOn(self.gate_on))  # a misspelt basis is an error, never "raw"

    @classmethod
    def chosen(
        cls,
        threshold: float | None = None,
        min_cs: float | None = None,
        min_css: float | None = None,
        **others: Any,
    ) -> Thresholds:
        """The thresholds a user chose: ``--fine-threshold`` sets both minimums, ``--fine-min-cs/css`` override it.
        The one reading of these options, for the plugin and ``fine-pytest merge``."""
        return cls(
            min_cs=min_cs if min_cs is not None else threshold,
            min_css=min_css if min_css is not None else threshold,
            **others,
        )

    @property
    def enforced(self) -> bool:
        return any(
            (
                self.min_cs is not None,
                self.min_css is not None,
                self.category_min_cs,
                self.category_min_css,
                self.needs_baseline,
                self.min_robust_css is not None,
                self.min_css_all_repeats is not None,
                self.max_over_refusal is not None,
                self.max_monitored_gap is not None,
            )
        )

    @property
    def needs_baseline(self) -> bool:
        return self.max_regressions is not None or self.drop_alpha is not None

    @property
    def categories(self) -> set[str]:
        return set(self.category_min_cs) | set(self.category_min_css)
