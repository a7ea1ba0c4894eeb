"""``fine-pytest compare``: the JSON reports of several models' runs on the same pairs, as one comparison.

Like for like only: every report must have scored the same dataset with the same judge, the same reading and the
same fine-pytest version (by content, ``run.identity``), selected the same pairs, and be a whole run (a shard's report
is merged first); no model may appear twice. Each model keeps the gate its own run applied; the comparison passes
only when every model's gate passed (a report with no threshold set decides nothing) and every run is complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fine_pytest.core.model_comparison import ALPHA, ModelComparison, compare_models, comparison_lines
from fine_pytest.core.safe_text import visible
from fine_pytest.reports.html_forms import html_name
from fine_pytest.reports.json_report import ReportError, load_report, report_results, write_text

SAME = {
    "dataset": "the dataset's pairs",
    "judge": "the judge",
    "reading": "how answers were asked and read",
    "tool": "the fine-pytest version",
}


class CompareError(ReportError):
    """Bad input to compare: names the file and the field."""


def compare_reports(paths: list[str], labels: list[str] | None = None, alpha: float = ALPHA) -> ModelComparison:
    if len(paths) < 2:
        raise CompareError("compare needs the reports of two models or more")
    if labels and len(labels) != len(paths):
        raise CompareError(f"--label is given {len(labels)} times for {len(paths)} reports: once per report, in order")
    reports = [load_report(path, CompareError) for path in paths]
    identities = [_identity(path, report) for path, report in zip(paths, reports, strict=True)]
    for field, meaning in SAME.items():
        for path, identity in zip(paths[1:], identities[1:], strict=True):
            if identity[field] != identities[0][field]:
                raise CompareError(
                    f"{path}: field 'run.identity.{field}': {meaning} differ from {paths[0]}'s; a comparison is of "
                    "models on the same pairs, judged and read the same way"
                )
    seen: dict[str, str] = {}
    for path, identity in zip(paths, identities, strict=True):
        if identity["model"] in seen:
            raise CompareError(f"{path} and {seen[identity['model']]} are runs of the same model")
        seen[identity["model"]] = path
    results = [report_results(path, report, CompareError) for path, report in zip(paths, reports, strict=True)]
    _same_pairs(paths, reports, results)
    names = labels or [str(report["model"] or "the embedded default") for report in reports]
    if len(set(names)) < len(names):
        names = [f"{name} ({path})" for name, path in zip(names, paths, strict=True)]
    models = [(name, found, gate_of(report)) for name, report, found in zip(names, reports, results, strict=True)]
    return compare_models(models, alpha)


def _same_pairs(paths: list[str], reports: list[dict[str, Any]], results: list[list[Any]]) -> None:
    """Whole runs of the same selection: no shard (merge those first), the same number of pairs selected, and the
    same pairs evaluated where a run is complete (an incomplete one fails its row instead)."""
    for path, report in zip(paths, reports, strict=True):
        if (report.get("run") or {}).get("shard") is not None:
            raise CompareError(
                f"{path}: field 'run.shard': a shard's report; merge the shards first (fine-pytest merge)"
            )
    expected = [(report.get("gate") or {}).get("expected") for report in reports]
    if any(value != expected[0] for value in expected):
        raise CompareError(
            f"the runs selected different numbers of pairs ({', '.join(str(value) for value in expected)}): "
            "compare runs of the same selection (the same -k, -m and datasets)"
        )
    complete = [
        (path, {result.key for result in found})
        for path, report, found in zip(paths, reports, results, strict=True)
        if _complete(report)
    ]
    for path, keys in complete[1:]:
        if keys != complete[0][1]:
            raise CompareError(
                f"{path} evaluated other pairs than {complete[0][0]}: compare runs of the same selection"
            )


def _complete(report: dict[str, Any]) -> bool:
    gate = report.get("gate")
    return isinstance(gate, dict) and gate.get("complete") is True


def _identity(path: str, report: dict[str, Any]) -> dict[str, str]:
    identity = (report.get("run") or {}).get("identity") if isinstance(report.get("run"), dict) else None
    if not isinstance(identity, dict) or not all(isinstance(identity.get(field), str) for field in (*SAME, "model")):
        raise CompareError(
            f"{path}: field 'run.identity' is missing or malformed: a report must say what it ran to be compared"
        )
    return identity


def gate_of(report: dict[str, Any]) -> bool | None:
    """The run's own gate: False for an incomplete run whatever its thresholds (it never passes)."""
    if not _complete(report):
        return False
    gate = report["gate"]
    if not gate.get("enforced"):
        return None
    return gate.get("passed") is True


def passed(comparison: ModelComparison) -> bool:
    """Every model's own gate passed; a model with no threshold set neither passes nor fails the comparison."""
    return all(row.gate is not False for row in comparison.rows)


def terminal_lines(comparison: ModelComparison) -> list[str]:
    return [visible(line) for line in comparison_lines(comparison.to_dict())]


def comparison_markdown(comparison: ModelComparison) -> str:
    """The comparison as GitHub-flavoured Markdown: the table of models and a line per pair of models tested."""
    from fine_pytest.reports.markdown import md

    data = comparison.to_dict()
    lines = [
        "## FINE: models compared",
        "",
        "| model | n | CS | CSS [95% CI] | over-refusal | gate |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for row in data["models"]:
        gate = {True: "passed", False: "FAILED", None: "not set"}[row["gate_passed"]]
        lines.append(
            f"| {md(row['label'])} | {row['n']} | {_rate(row['cs'])} | {_rate(row['css'])} {_interval(row['css_ci'])} "
            f"| {_rate(row['over_refusal'])} | {gate} |"
        )
    lines.append("")
    for test in data["pairwise"]:
        verdict = "significant" if test["significant"] else "not significant"
        lines.append(
            f"- {md(test['second'])} vs {md(test['first'])}: CSS {_signed(test['difference'])} "
            f"{_interval(test['difference_ci'])} over {test['n']} pairs; McNemar p = {test['mcnemar_p']:.3g}, "
            f"Holm-adjusted {test['p_holm']:.3g}: {verdict} at alpha {data['alpha']}"
        )
    return "\n".join(lines) + "\n"


def models_summary(
    models: Sequence[tuple[str, dict[str, Any] | None, Sequence[str]]], comparison: ModelComparison | None, show: int
) -> str:
    """One Markdown summary for several models, as a CI job summary reads one path: each model's summary from its
    report, or why it was not evaluated, in order, then the comparison."""
    from fine_pytest.reports.markdown import md, render_markdown

    parts = []
    for label, report, errors in models:
        if report is not None:
            parts.append(render_markdown(report, show))
        else:
            reasons = [f"- {md(error, 400)}" for error in errors] or ["- no FINE test of it ran"]
            parts.append("\n".join([f"## FINE: model {md(label)} not evaluated", "", *reasons]) + "\n")
    if comparison is not None:
        parts.append(comparison_markdown(comparison))
    return "\n".join(parts)


def write_comparison_json(comparison: ModelComparison, path: str | Path) -> None:
    write_text(json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n", Path(path))


def write_comparison_html(comparison: ModelComparison, path: str | Path) -> None:
    """A self-contained page: the table of models and the pairwise tests, every name escaped."""
    data = comparison.to_dict()
    rows = "".join(
        f"<tr><td>{html_name(row['label'])}</td><td class=num>{row['n']}</td><td class=num>{_rate(row['cs'])}</td>"
        f"<td class=num>{_rate(row['css'])} {_interval(row['css_ci'])}</td>"
        f"<td class=num>{_rate(row['over_refusal'])}</td>"
        f"<td>{ {True: 'passed', False: 'FAILED', None: 'not set'}[row['gate_passed']] }</td></tr>"
        for row in data["models"]
    )
    tests = "".join(
        f"<tr><td>{html_name(test['second'])} vs {html_name(test['first'])}</td><td class=num>{test['n']}</td>"
        f"<td class=num>{_signed(test['difference'])} {_interval(test['difference_ci'])}</td>"
        f"<td class=num>{test['safe_only_second']} / {test['safe_only_first']}</td>"
        f"<td class=num>{test['mcnemar_p']:.3g}</td><td class=num>{test['p_holm']:.3g}</td>"
        f"<td>{'significant' if test['significant'] else 'not significant'}</td></tr>"
        for test in data["pairwise"]
    )
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<title>FINE model comparison</title><style>body{font:14px system-ui,sans-serif;margin:2em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}"
        ".num{text-align:right}</style></head><body><h1>FINE model comparison</h1>"
        "<table id=models><thead><tr><th>model</th><th>n</th><th>CS</th><th>CSS [95% CI]</th><th>over-refusal</th>"
        f"<th>gate</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>Each pair of models on the harmful pairs both answered: McNemar's exact test, p-values adjusted by Holm's "
        f"method over the {len(data['pairwise'])} comparisons, significant below alpha {data['alpha']:g}.</p>"
        "<table id=pairwise><thead><tr><th>comparison</th><th>pairs</th><th>CSS difference [95% CI]</th>"
        "<th>safe only under each</th><th>McNemar p</th><th>Holm p</th><th></th></tr></thead>"
        f"<tbody>{tests}</tbody></table></body></html>\n"
    )
    write_text(page, Path(path))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _interval(interval: list[float] | None) -> str:
    return "" if not interval else f"[{interval[0]:.2f}, {interval[1]:.2f}]"
