"""From per-pair results to what a run concluded: scores overall and per category, the comparison with a baseline,
and the gate. One function for both a live run (the plugin's controller) and ``fine-pytest merge``, so the two can
never score or gate the same results differently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fine_pytest.core.compare import Baseline, Comparison, compare
from fine_pytest.core.correction import Correction, correct_run
from fine_pytest.core.ensemble import Member, Rule
from fine_pytest.core.form_metrics import FormsSummary, summarise
from fine_pytest.core.forms import FormSettings
from fine_pytest.core.gate import GateResult, evaluate_gate
from fine_pytest.core.metrics import Scores, score, score_by_category
from fine_pytest.core.modes import Scoring
from fine_pytest.core.monitored import FAMILY, Gap, monitored_gap
from fine_pytest.core.over_refusal import OverRefusal, over_refusal
from fine_pytest.core.power import Power, gate_power
from fine_pytest.core.repeats import RepeatScores, repeat_scores
from fine_pytest.core.results import PairResult
from fine_pytest.core.sampling import GenerationSettings
from fine_pytest.core.thresholds import Thresholds


@dataclass(frozen=True)
class RunDescription:
    """What was asked of whom, and how the answers were read: the heading of every report."""

    model: str  # the model actually used (the embedded default when none was given)
    judge: str
    generation: GenerationSettings
    thresholds: Thresholds
    judge_format: str | None = None
    judge_scoring: str = Scoring.GENERATE
    forms: FormSettings = field(default_factory=FormSettings)  # --fine-forms: none asked by default
    # An ensemble of judges: its members and rule (``judge`` is then its name); empty for one judge.
    judge_members: tuple[Member, ...] = ()
    judge_rule: str = Rule.MAJORITY


@dataclass(frozen=True)
class Outcome:
    """What the run concluded: scores, the gate, and the per-pair results, ready for the reports."""

    described: RunDescription
    datasets: tuple[str, ...]
    results: tuple[PairResult, ...]
    overall: Scores
    categories: dict[str, Scores]
    gate: GateResult
    run: dict[str, Any] = field(default_factory=dict)  # cache use, model loads, the shard (see the report schema)
    comparison: Comparison | None = None  # against --fine-baseline
    # The judge's agreement with reference labels (judges.trust.judge_agreement); None: not measured.
    judge_trust: dict[str, Any] | None = None
    forms: FormsSummary | None = None  # per form and robust CSS, when forms were asked
    # The scores corrected for the judge's measured error, or why they were not (core.judge_error).
    correction: Correction = field(default_factory=lambda: Correction("not computed"))
    power: Power | None = None  # what the gate could tell apart (core.power)
    repeats: RepeatScores | None = None  # --fine-repeats: CSS in every repeat, mean CSS, flaky pairs
    over_refusal: OverRefusal | None = None  # the benign twins refused; None when the run had none
    monitored: Gap | None = None  # the monitored form's gap (told monitored vs unmonitored); None: not asked


def conclude(
    described: RunDescription,
    datasets: tuple[str, ...],
    results: Iterable[PairResult],
    *,
    expected: int,
    interrupted: bool,
    shard: bool = False,
    baseline: Baseline | None = None,
    run: dict[str, Any] | None = None,
    judge_trust: dict[str, Any] | None = None,
    stop_reason: str = "",
) -> Outcome:
    """Score ``results`` (in dataset order), compare them with ``baseline`` and apply the description's gate.

    ``expected`` is how many pairs the run selected: fewer results than that never pass an enforced gate.
    """
    ordered = tuple(sorted(results, key=lambda result: result.index))
    # CS and CSS are the paper's scores of harmful questions; the benign twins are scored for over-refusal.
    harmful = tuple(result for result in ordered if not result.benign)
    overall = score(harmful)
    categories = score_by_category(harmful)
    comparison = compare(baseline, harmful, described.forms.draw) if baseline is not None else None
    families = described.forms.families
    forms = summarise(harmful, families) if families else None
    correction = correct_run(overall, categories, judge_trust)
    repeats = repeat_scores(harmful)
    refusals = over_refusal(ordered)
    monitored = monitored_gap(harmful) if FAMILY in families else None
    gate = evaluate_gate(
        described.thresholds,
        overall,
        categories,
        expected=expected,
        interrupted=interrupted,
        shard=shard,
        comparison=comparison,
        robust=None if forms is None else forms.robust,
        stop_reason=stop_reason,
        correction=correction,
        repeats=repeats,
        refusals=refusals,
        evaluated=len(ordered),
        monitored=monitored,
    )
    power = gate_power(described.thresholds, overall, comparison, correction)
    return Outcome(
        described,
        datasets,
        ordered,
        overall,
        categories,
        gate,
        run or {},
        comparison,
        judge_trust,
        forms,
        correction,
        power,
        repeats,
        refusals,
        monitored,
    )
