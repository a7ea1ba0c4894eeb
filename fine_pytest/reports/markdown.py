"""The Markdown summary (``--fine-summary=PATH``, also ``fine-pytest merge --fine-summary``): what a CI job summary
or a pull request comment shows as is. GitHub Actions: ``--fine-summary="$GITHUB_STEP_SUMMARY"``.

Built from the JSON report, like the HTML: the gate and why, CS/CSS per category with intervals, how the numbers
were read, the change against a baseline, the worst pairs. Dataset and model text (categories, pair ids, paths) is
escaped so that none of its Markdown, HTML, links or @-mentions take effect; no answer text is quoted (the answers
to harmful prompts belong in the HTML report, not in a pull request comment).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fine_pytest.core.correction import corrected_note
from fine_pytest.core.correction import describe as describe_correction
from fine_pytest.core.monitored import gap_lines
from fine_pytest.core.over_refusal import over_refusal_lines
from fine_pytest.core.power import power_lines
from fine_pytest.core.repeats import repeat_lines
from fine_pytest.core.results import PairResult
from fine_pytest.core.safe_text import visible
from fine_pytest.judges.trust import describe as describe_trust
from fine_pytest.reports.ensemble_block import ensemble_line

SHOWN = 10  # worst pairs and changed pairs listed
NAME_WIDTH = 80
# Every character Markdown (GitHub's flavour included) may read as syntax; each is written as an HTML entity.
# ("." and ":" too: "www.x.org" and "https://x" would become links.)
_SYNTAX = re.compile(r"[\\`*_{}\[\]()<>#+.!|~:@&$^]")
# Leading spaces (an indented code block) and a leading hyphen (a list item, a rule) are syntax only where a block
# starts; escaping every space and hyphen would garble names.
_BLOCK_START = re.compile(r"^ *-?")


def md(text: object, width: int = NAME_WIDTH) -> str:
    """Text from a dataset, a model or a path, shown as written: controls visible, syntax inert, one line."""
    shown = visible(str(text))
    if len(shown) > width:
        shown = shown[: width - 3] + "..."
    # An @-mention is found in the rendered text, where entities are decoded: a zero-width space after the @ keeps
    # "@team" from notifying anyone when the summary is posted as a comment.
    inert = _SYNTAX.sub(lambda match: f"&#{ord(match.group())};", shown).replace("&#64;", "&#64;&#8203;")
    return _BLOCK_START.sub(lambda match: "".join(f"&#{ord(char)};" for char in match.group()), inert, count=1)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _interval(value: list[float] | None) -> str:
    return "" if not value else f"[{value[0]:.2f}, {value[1]:.2f}]"


def _gate(report: dict[str, Any]) -> list[str]:
    gate = report["gate"]
    if not gate["enforced"]:
        lines = ["## FINE: no threshold set, report only", ""]
    else:
        lines = [f"## FINE gate {'PASSED' if gate['passed'] else 'FAILED'}", ""]
    lines.append(
        f"Model {md(report['model'] or 'the embedded default')}, judge {md(report['judge'])}; "
        f"{gate['evaluated']} of {gate['expected']} selected pairs evaluated."
    )
    lines.append("")
    for check in gate["checks"]:
        state = {True: "PASS", False: "FAIL", None: "SKIP"}[check["passed"]]
        value = "" if check["value"] is None else f"{check['value']:.3f}"
        note = corrected_note(check)  # numbers and fixed words, or a reason in the project's own words
        value = (value + (md(note, 400) if check["value"] is None else note)) or "no pair"
        lines.append(
            f"- **{state}** {md(check['metric'].upper())} {md(check['scope'])}: {value} "
            f"(minimum {check['threshold']:g})"
            if check.get("relation", ">=") == ">="
            else f"- **{state}** {md(check['metric'])}: {value} (maximum {check['threshold']:g})"
            if check.get("relation") == "rate<="
            else f"- **{state}** {md(check['metric'])}: {value} ({md(check.get('relation'))} {check['threshold']:g})"
        )
    lines += [f"- **FAIL** {md(problem, 300)}" for problem in gate["problems"]]
    lines += [f"- power: {md(line, 400)}" for line in power_lines(gate.get("power"))]
    reasons = list(((report.get("run") or {}).get("no_verdict") or {}).items())
    lines += [f"  - {count} without a verdict: {md(reason, 300)}" for reason, count in reasons[:SHOWN]]
    return lines


def _scores(report: dict[str, Any]) -> list[str]:
    lines = [
        "| category | n | CS | 95% CI | CSS | 95% CI | open safe | MC safe | MC unread | cut by budget |",
        "|---|--:|--:|---|--:|---|--:|--:|--:|--:|",
    ]
    for name, scores in [*report["categories"].items(), ("**overall**", report["overall"])]:
        label = name if name == "**overall**" else md(name)
        lines.append(
            f"| {label} | {scores['n']} | {_rate(scores['cs'])} | {_interval(scores.get('cs_ci'))} | "
            f"{_rate(scores['css'])} | {_interval(scores.get('css_ci'))} | {_rate(scores['open_safe_rate'])} | "
            f"{_rate(scores['mc_safe_rate'])} | {scores['unparseable']} | {scores.get('truncated', 0)} |"
        )
    return lines


def _reading(report: dict[str, Any]) -> list[str]:
    reading = report.get("reading") or {}
    lines = [
        f"- Judge: {md(report['judge'])}; {md(describe_trust(reading.get('judge_agreement')), 400)}.",
        f"- {md(describe_correction(report.get('judge_correction')), 600)}.",
        *([f"- {md(line, 400)}."] if (line := ensemble_line(report)) else []),
        *[f"- {md(line, 600)}." for line in repeat_lines(report.get("repeats"))],
        *[f"- {md(line, 600)}." for line in over_refusal_lines(report.get("over_refusal"), str(report["judge"]))],
        *[f"- {md(line, 600)}." for line in gap_lines((report.get("forms") or {}).get("monitored_gap"))],
        f"- Multiple choice: asked which reply is {md(reading.get('mc_question', 'better'))}; read by "
        f"{md(reading.get('mc_scoring', 'generate'))}.",
    ]
    unread = reading.get("mc_unread") or {}
    if unread:
        ranked = sorted(unread.items(), key=lambda item: -item[1])
        counts = "; ".join(f"{md(reason, 200)}: {count}" for reason, count in ranked)
        lines.append(f"- MC answers not read, counted not safe: {sum(unread.values())} ({counts}).")
    return lines


def _baseline(baseline: dict[str, Any] | None, show: int) -> list[str]:
    if baseline is None:
        return []
    css = baseline["css"]
    delta = "-" if css["delta"] is None else f"{css['delta']:+.3f}"
    span = "" if css["delta_ci"] is None else f" (95% CI [{css['delta_ci'][0]:+.3f}, {css['delta_ci'][1]:+.3f}])"
    lines = [
        "",
        "### Against the baseline",
        "",
        f"{baseline['compared']} pairs compared with {md(Path(str(baseline['path'])).name)} (model "
        f"{md(baseline['model'])}): CSS {_rate(css['before'])} -> {_rate(css['now'])}, {delta}{span}; "
        f"**{len(baseline['regressions'])} regressions**, {len(baseline['improvements'])} improvements "
        f"(McNemar exact p {css['mcnemar_p']:.3g}).",
    ]
    changes = [("regressed", c) for c in baseline["regressions"]] + [("improved", c) for c in baseline["improvements"]]
    lines += [""] if changes else []
    lines += [f"- {kind}: {md(change['key'])}" for kind, change in changes[:show]]
    if len(changes) > show:
        lines.append(f"- ... and {len(changes) - show} more (the JSON report lists them all)")
    return lines


def _worst(report: dict[str, Any], show: int) -> list[str]:
    results = [PairResult.from_dict(item) for item in report["items"]]
    failing = sorted((r for r in results if not r.passes), key=lambda r: (-r.failed_checks, r.index))
    if not failing:
        return ["", "Every evaluated pair is consistently safe."]
    lines = ["", f"### Worst pairs ({min(show, len(failing))} of {len(failing)} not consistently safe)", ""]
    lines += [f"- {md(result.key)}: {md(result.diagnosis(), 300)}" for result in failing[:show]]
    return lines


def render_markdown(report: dict[str, Any], show: int = SHOWN) -> str:
    """The summary of a report as GitHub-flavoured Markdown."""
    run = report.get("run") or {}
    lines = [*_gate(report), "", *_scores(report), "", "### How the numbers were read", "", *_reading(report)]
    lines += _baseline(report.get("baseline"), show)
    lines += _worst(report, show)
    if run:
        lines += [
            "",
            f"<sub>prompts: {run.get('generated', 0)} generated, {run.get('cached', 0)} from the cache; "
            f"fine-pytest {md(report['tool']['version'])}; {md(report['created'])}</sub>",
        ]
    return "\n".join(lines) + "\n"


def write_markdown(report: dict[str, Any], path: Path, show: int = SHOWN) -> None:
    from fine_pytest.reports.json_report import write_text

    write_text(render_markdown(report, show), path)
