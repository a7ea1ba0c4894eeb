"""The FINE section of pytest's terminal summary: a table per category, the gate checks, the worst pairs.

Lines are built as (text, markup) so the terminal reporter applies colour, honouring ``--color``. Every line goes
through safe_text.visible: category names, pair ids and paths come from datasets and reports, and must not reach
the terminal as control characters.

Longer than 300 lines: every block of the summary (readings, table, forms, repeats, over-refusal, gate, worst
pairs, baseline) is a short function here, so the summary reads top to bottom in one file.
"""

from __future__ import annotations

from typing import Any

from fine_pytest.core.choice import READING_NAMES, reader_of
from fine_pytest.core.compare import Comparison
from fine_pytest.core.conclude import Outcome
from fine_pytest.core.correction import describe as describe_correction
from fine_pytest.core.defaults import DEFAULT_JUDGE, DEFAULT_SHOW
from fine_pytest.core.ensemble import split_lines
from fine_pytest.core.forms import asked_whole
from fine_pytest.core.gate import Check
from fine_pytest.core.metrics import Scores, unread_lines
from fine_pytest.core.modes import Question
from fine_pytest.core.monitored import gap_lines, gap_to_dict
from fine_pytest.core.over_refusal import over_refusal_lines
from fine_pytest.core.repeats import repeat_lines
from fine_pytest.core.safe_text import visible
from fine_pytest.core.stats import PairedTable, mcnemar_exact, newcombe_interval
from fine_pytest.judges.trust import describe as describe_trust
from fine_pytest.judges.trust import judge_label, judge_reading

QUESTION_NAMES: dict[str, str] = {
    Question.BETTER: "better (the paper's wording)",
    Question.SAFETY: "more responsible and safe (safety-cued)",
}

Line = tuple[str, dict[str, bool]]

_HEADER = (
    f"{'category':<24} {'n':>5}  {'CS':>5} {'95% CI':<12}  {'CSS':>5} {'95% CI':<12}  {'open safe':>9}  "
    f"{'MC safe':>7}  {'unparseable':>11}  {'truncated':>9}"
)


def _rate(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _interval(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f"[{interval[0]:.2f}, {interval[1]:.2f}]"


def _label(name: str) -> str:
    """A category as the table's first column: escaped, and quoted where it could pass for the plugin's own line
    (a category named "FINE gate PASSED" would otherwise start a line with those words)."""
    shown = visible(name)
    shown = f'"{shown}"' if shown.startswith("FINE") else shown
    return shown if len(shown) <= 24 else shown[:21] + "..."


def _row(name: str, scores: Scores) -> str:
    label = _label(name)
    return (
        f"{label:<24} {scores.n:>5}  {_rate(scores.cs):>5} {_interval(scores.cs_ci):<12}  "
        f"{_rate(scores.css):>5} {_interval(scores.css_ci):<12}  {_rate(scores.open_safe_rate):>9}  "
        f"{_rate(scores.mc_safe_rate):>7}  {scores.unparseable:>11}  {scores.truncated:>9}"
    )


def _check_line(check: Check, unjudged: bool) -> Line:
    if check.passed is None:  # ``unjudged``: pairs lack a verdict, so an empty scope's pairs may have all failed
        why = "no pair with a verdict" if unjudged else "no pairs selected"
        return f"  SKIP  {check.metric.upper()} {check.scope}: {why}", {"yellow": True}
    if check.value is None and check.metric == "robust_css":
        text = "  FAIL  ROBUST_CSS overall: no consistency forms were scored (--fine-forms)"
    elif check.value is None and check.detail:
        text = f"  FAIL  {check.describe()}"
    elif check.value is None:
        text = f"  FAIL  {check.metric}: no pair compared with a baseline (none given, or no pair in common)"
    else:
        text = f"  {'PASS' if check.passed else 'FAIL'}  {check.describe()}"
    return text, {"green": True} if check.passed else {"red": True, "bold": True}


def summary_lines(outcome: Outcome, show: int = DEFAULT_SHOW) -> list[Line]:
    """The summary of a run, as ``(text, markup)`` lines; ``show`` pairs are listed under 'worst pairs'."""
    settings = outcome.described
    lines: list[Line] = [
        (
            f"model: {settings.model}    judge: {judge_label(settings.judge, settings.judge_format)}"
            f"{judge_reading(settings.judge_scoring)}",
            {},
        ),
        (describe_trust(outcome.judge_trust), {}),
        *[(line, {}) for line in split_lines(settings.judge_rule, settings.judge_members, outcome.results)],
        (
            f"multiple choice: asked which reply is {QUESTION_NAMES[settings.generation.mc_question]}; "
            f"read by {READING_NAMES.get(settings.generation.mc_method, 'generation')} "
            f"({reader_of(settings.generation.mc_method)})",
            {},
        ),
        *[(f"  {line}", {}) for line in unread_lines(outcome.results)],
        (_HEADER, {"bold": True}),
    ]
    lines += [(_row(name, scores), {}) for name, scores in outcome.categories.items()]
    lines += [
        (_row("overall", outcome.overall), {"bold": True}),
        (describe_correction(outcome.correction.to_dict()), {}),
    ]
    refusals = outcome.over_refusal.to_dict() if outcome.over_refusal else None
    lines += [(line, {}) for line in over_refusal_lines(refusals, visible(outcome.described.judge))]
    lines.append(("", {}))
    lines += forms_lines(outcome)
    lines += [(line, {}) for line in repeat_lines(outcome.repeats.to_dict() if outcome.repeats else None, show)]
    gate = outcome.gate
    if gate.enforced:
        verdict = "PASSED" if gate.passed else "FAILED"
        lines.append(
            (f"FINE gate {verdict}", {"green": True, "bold": True} if gate.passed else {"red": True, "bold": True})
        )
        lines += [_check_line(check, gate.evaluated < gate.expected) for check in gate.checks]
        lines += [(f"  power {line}", {}) for line in (outcome.power.lines() if outcome.power else [])]
        if settings.judge == DEFAULT_JUDGE:
            kappa = (outcome.judge_trust or {}).get("kappa")
            lines.append(
                (
                    "  note  the open-ended verdicts in this gate come from the default refusal heuristic "
                    f"(Cohen's kappa {'undefined' if kappa is None else f'{kappa:.2f}'} against reference labels); "
                    "an LLM judge (--fine-judge) reads answers better",
                    {"yellow": True},
                )
            )
    else:
        lines.append(("FINE gate: no threshold set, report only (--fine-threshold=X to gate the build)", {}))
    lines += [(f"  FAIL  {problem}", {"red": True, "bold": True}) for problem in gate.problems()]
    reasons = list((outcome.run.get("no_verdict") or {}).items())
    lines += [(f"        {count} without a verdict: {reason}", {"red": True}) for reason, count in reasons[:5]]
    lines += [(f"        ... and {len(reasons) - 5} more reasons (the JSON report: run.no_verdict)", {})] * (
        len(reasons) > 5
    )
    lines += _run_lines(outcome.run)
    lines += comparison_lines(outcome.comparison, show, settings.judge)
    lines += _worst_lines(outcome, show)
    # The last word on what reaches the terminal (and fine-pytest merge's output): no line holds a control character.
    return [(visible(text), markup) for text, markup in lines]


def forms_lines(outcome: Outcome) -> list[Line]:
    """CSS in the paper's form next to each consistency form's, and robust CSS, per category and overall."""
    forms = outcome.forms
    if forms is None:
        return []
    asked = outcome.described.forms
    names = list(forms.families)
    widths = [max(6, len(_label(name))) for name in names]
    header = f"{'CSS by form':<24} {'n':>5}  {'paper':>6}  " + "  ".join(
        f"{_label(name):>{width}}" for name, width in zip(names, widths, strict=True)
    )
    lines: list[Line] = [
        (
            f"consistency forms: {asked.examples} variant(s) per pair and family{asked_whole(names)}, each pair's own "
            f"draw (seed {asked.seed}); robust = consistently safe in the paper's form and in every form",
            {},
        ),
        (header + f"  {'robust':>6} {'[95% CI]':<12}", {"bold": True}),
    ]

    def row(name: str, paper: Scores, by_form: dict[str, Any], robust: Any) -> str:
        cells = "  ".join(f"{_rate(by_form[form].css):>{width}}" for form, width in zip(names, widths, strict=True))
        ci = robust.to_dict()["css_ci"]
        return (
            f"{_label(name):<24} {paper.n:>5}  {_rate(paper.css):>6}  {cells}  {_rate(robust.css):>6} "
            f"{_interval(tuple(ci) if ci else None):<12}"
        )

    for name, (by_form, robust) in forms.categories.items():
        lines.append((row(name, outcome.categories[name], dict(by_form), robust), {}))
    lines.append((row("overall", outcome.overall, dict(forms.overall), forms.robust), {"bold": True}))
    lines += [(f"  {scores.flip_line(_label(name))}", {}) for name, scores in forms.overall.items()]
    unreadable = {name: scores.unreadable for name, scores in forms.overall.items() if scores.unreadable}
    if unreadable:
        listed = ", ".join(f"{_label(name)} {count}" for name, count in unreadable.items())
        lines.append((f"  pairs with an unreadable form answer (counted not safe): {listed}", {}))
    lines += [(f"  {line}", {}) for line in gap_lines(gap_to_dict(outcome.monitored))]
    lines.append(("", {}))
    return lines


def _signed(value: float | None) -> str:
    return "  -   " if value is None else f"{value:+.3f}"


def _delta_row(name: str, table: PairedTable) -> str:
    before = _rate(table.before / table.n if table.n else None)
    now = _rate(table.now / table.n if table.n else None)
    interval = newcombe_interval(table)
    span = "" if interval is None else f"[{interval[0]:+.2f}, {interval[1]:+.2f}]"
    label = _label(name)
    return (
        f"{label:<24} {table.n:>5}  {before:>6} {now:>6}  {_signed(table.delta):>6} {span:<16}  "
        f"{table.lost:>9} {table.gained:>8}  {mcnemar_exact(table.lost, table.gained):>9.4g}"
    )


def comparison_lines(comparison: Comparison | None, show: int, judge: str) -> list[Line]:
    """Against the baseline: which pairs regressed, and whether the change in CSS is more than noise."""
    if comparison is None:
        return []
    baseline = comparison.baseline
    lines: list[Line] = [
        ("", {}),
        (f"baseline: {baseline.path} (model {baseline.model}, {baseline.created or 'date unknown'})", {"bold": True}),
        (
            f"  {comparison.compared} pairs compared, {len(comparison.new)} new in this run, "
            f"{len(comparison.not_run)} baseline pairs not in this run",
            {},
        ),
    ]
    notes = ["  note: the baseline run was incomplete or one shard; only the pairs it has are compared"] * (
        not baseline.complete
    )
    if baseline.judge is not None and baseline.judge != judge:
        notes.append(
            f"  note: baseline judged by {baseline.judge}, this run by {judge}; some changes may be the judge's"
        )
    lines += [(note, {"yellow": True}) for note in notes]
    header = (
        f"{'CSS vs baseline':<24} {'n':>5}  {'before':>6} {'now':>6}  {'delta':>6} {'95% CI':<16}  "
        f"{'regressed':>9} {'improved':>8}  {'McNemar p':>9}"
    )
    lines.append((header, {"bold": True}))
    lines += [(_delta_row(name, css), {}) for name, (css, _) in comparison.categories.items()]
    lines.append((_delta_row("overall", comparison.css), {"bold": True}))
    if comparison.forms:
        lines.append(("consistency forms (CSS in each form; robust: in every form), pairs both runs asked:", {}))
        lines += [(_delta_row(f"form {name}", table), {}) for name, table in comparison.forms.items()]
    regressed = comparison.regressions
    if regressed:
        lines.append((f"regressions ({len(regressed)}: consistently safe in the baseline, not now):", {"red": True}))
        for change in regressed[: max(show, 1) * 5]:
            lines.append((f"  {change.now.key}: now {change.now.reason()}", {"red": True}))
        if len(regressed) > max(show, 1) * 5:
            lines.append((f"  ... and {len(regressed) - max(show, 1) * 5} more (all in the JSON report)", {}))
    elif comparison.compared == 0:
        lines.append(("no pair in common with the baseline: nothing to compare", {"yellow": True}))
    else:
        lines.append(("no regressions: every pair consistently safe in the baseline still is", {"green": True}))
    if comparison.improvements:
        keys = ", ".join(change.now.key for change in comparison.improvements[:20])
        more = f" and {len(comparison.improvements) - 20} more" if len(comparison.improvements) > 20 else ""
        lines.append((f"improvements ({len(comparison.improvements)}): {keys}{more}", {"green": True}))
    return lines


def _run_lines(run: dict[str, Any]) -> list[Line]:
    """Where the answers came from: a warm re-run should say 0 generated and the model never loaded."""
    if "prompts" not in run:
        return []
    if run.get("merged"):
        where = f"totals of {len(run['merged'])} shards"
    else:
        where = f"cache {run['cache']}" if run.get("cache") else "cache off"
    loads = run.get("model_loads", 0)
    lines: list[Line] = [
        ("", {}),
        (
            f"prompts: {run['generated']} generated, {run['cached']} from the cache; verdicts: {run['judged']} "
            f"judged, {run['verdicts_cached']} from the cache; model loaded {loads} time{'s' * (loads != 1)} "
            f"({where})",
            {},
        ),
    ]
    shard = run.get("shard")
    if shard:
        lines.append(
            (
                f"shard {shard['index']}/{shard['count']} of {shard['selected']} selected pairs; "
                "join the shards' reports with fine-pytest merge",
                {},
            )
        )
    return lines


def _worst_lines(outcome: Outcome, show: int) -> list[Line]:
    failing = [r for r in outcome.results if not r.passes]  # consistently safe, in every form and repeat asked
    shown = sorted(failing, key=lambda r: (-r.failed_checks, r.index))[:show]
    if not shown:
        return []
    lines: list[Line] = [
        ("", {}),
        (
            f"worst pairs ({len(shown)} of {len(failing)} not consistently safe"
            f"{' in every form' if outcome.forms is not None else ''}):",
            {"bold": True},
        ),
    ]
    for result in shown:
        lines.append((f"  {result.key}: {result.reason()}", {"yellow": True}))
    return lines


def write_summary(
    terminalreporter: Any, outcome: Outcome, written: list[str], show: int = DEFAULT_SHOW, title: str = "FINE summary"
) -> None:
    terminalreporter.write_sep("=", visible(title))
    for text, markup in summary_lines(outcome, show):
        terminalreporter.write_line(text, **markup)
    for path in written:
        terminalreporter.write_line(f"FINE report written to {visible(path)}")
