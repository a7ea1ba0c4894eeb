"""A run's scores corrected for its judge's measured error (core.judge_error), overall and per category, or why
they were not; the one line every report shows; the corrected values the gate reads with --fine-gate-on=corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fine_pytest.core.judge_error import METHOD, Corrected, JudgeError, correct
from fine_pytest.core.metrics import Scores

NOT_MEASURED = (
    "the judge's error was not measured (fine-pytest judge-eval --judge=SPEC -o FILE, then "
    "--fine-judge-calibration=FILE)"
)
NO_COUNTS = "the judge's figures hold no confusion counts (write them again with fine-pytest judge-eval -o FILE)"


@dataclass(frozen=True)
class Correction:
    """A run's scores as a judge without error would have given them, overall and per category; or why not."""

    reason: str | None  # why the scores were not corrected; None when they were
    error: JudgeError | None = None
    overall: Corrected | None = None
    categories: dict[str, Corrected] | None = None
    not_corrected: dict[str, str] | None = None  # categories whose judged rates contradict the judge's figures

    @property
    def applied(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "reason": self.reason,
            "method": METHOD if self.applied else None,
            "judge_error": self.error.to_dict() if self.error is not None else None,
            "overall": self.overall.to_dict() if self.overall is not None else None,
            "categories": {name: scores.to_dict() for name, scores in (self.categories or {}).items()},
            "not_corrected": dict(self.not_corrected or {}),
        }


def correct_run(overall: Scores, categories: dict[str, Scores], agreement: dict[str, Any] | None) -> Correction:
    """Correct a run's scores with the judge's figures (judges.trust.judge_agreement, its ``confusion``)."""
    if agreement is None:
        return Correction(NOT_MEASURED)
    if agreement.get("confusion") is None:
        return Correction(NO_COUNTS)
    try:
        error = JudgeError.from_confusion(agreement["confusion"])
    except ValueError as problem:
        return Correction(f"the judge's confusion counts are malformed: {problem}")
    reason = error.problem()
    if reason is not None:
        return Correction(reason, error)
    whole = correct(overall, error)
    if isinstance(whole, str):
        return Correction(whole, error)
    corrected: dict[str, Corrected] = {}
    not_corrected: dict[str, str] = {}
    for name, scores in categories.items():
        result = correct(scores, error)
        if isinstance(result, Corrected):
            corrected[name] = result
        elif isinstance(result, str):
            not_corrected[name] = result
    return Correction(None, error, whole, corrected, not_corrected)


def corrected_score(
    correction: Correction | None, scope: str | None, metric: str
) -> tuple[float, tuple[float, float]] | str:
    """A corrected CS or CSS (``metric``) and its interval, overall (``scope`` None) or for a category; or why there
    is none."""
    if correction is None:
        return "not computed"
    if correction.reason is not None:
        return correction.reason
    found = correction.overall if scope is None else (correction.categories or {}).get(scope)
    if found is None:
        return (correction.not_corrected or {}).get(scope or "", "no pair to correct")
    return (found.cs, found.cs_ci) if metric == "cs" else (found.css, found.css_ci)


def corrected_note(check: dict[str, Any]) -> str:
    """What a report's gate check adds when it was on the judge-corrected score: its interval, and inconclusive."""
    if check.get("basis") != "corrected":
        return ""
    if check.get("value") is None and check.get("reason"):
        return f"no judge-corrected value: {check['reason']}"
    interval = check.get("interval")
    shown = "" if not interval else f" [{interval[0]:.3f}, {interval[1]:.3f}]"
    return f" judge-corrected{shown}{', inconclusive' if check.get('inconclusive') else ''}"


def describe(block: dict[str, Any] | None) -> str:
    """One line for every report, from ``Correction.to_dict()`` (as a report stores it)."""
    if not block:
        return "judge-corrected scores: not computed"
    if not block.get("applied"):
        return f"judge-corrected scores: not computed: {block.get('reason')}"
    error, overall = block["judge_error"], block["overall"]
    if overall is None:
        return "judge-corrected scores: no pair to correct"

    def shown(name: str) -> str:
        low, high = overall[f"{name}_ci"]
        return f"{overall[name]:.3f} [{low:.2f}, {high:.2f}]"

    return (
        f"judge-corrected (the judge's sensitivity {error['sensitivity']:.2f} and specificity "
        f"{error['specificity']:.2f} on {error['safe_labels']} safe and {error['unsafe_labels']} unsafe labelled "
        f"answers): CS {shown('cs')}, CSS {shown('css')}, open-safe rate {shown('open_safe_rate')}"
    )
