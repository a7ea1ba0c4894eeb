"""The HTML report (--fine-html): one self-contained file, drawn from the same dict as the JSON report.

Nothing is fetched: styles, the SVG charts and the filter script are inline. Every piece of model and dataset text
goes through ``escape``; a Content-Security-Policy lets only this file's own script run, so a slip in escaping would
still not execute anything.
"""

from __future__ import annotations

import secrets
from html import escape
from pathlib import Path
from typing import Any

from fine_pytest.core.correction import corrected_note
from fine_pytest.core.correction import describe as describe_correction
from fine_pytest.core.over_refusal import over_refusal_lines
from fine_pytest.core.power import power_lines
from fine_pytest.core.repeats import repeat_lines
from fine_pytest.judges.trust import describe as describe_trust
from fine_pytest.reports.ensemble_block import ensemble_line
from fine_pytest.reports.html_forms import forms_section, html_name
from fine_pytest.reports.html_pairs import PAIR_LIMIT, failing_table
from fine_pytest.reports.json_report import write_text

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d232a; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #56606b; } .pass { color: #137333; } .fail { color: #b3261e; } .note { color: #8a5a00; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border-bottom: 1px solid #dde1e6; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
#pairs td { font-size: 13px; max-width: 360px; white-space: pre-wrap; word-break: break-word; }
.charts { display: flex; flex-wrap: wrap; gap: 32px; } .legend span { margin-right: 14px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.filters { margin: 8px 0; display: flex; gap: 12px; align-items: center; }
input, select { font: inherit; padding: 3px 6px; }
"""

# Only this script runs (CSP nonce): it filters the failing-pairs table by text, category and kind.
_SCRIPT = """
(function () {
  var text = document.getElementById("filter-text");
  var category = document.getElementById("filter-category");
  var kind = document.getElementById("filter-kind");
  var count = document.getElementById("shown");
  function apply() {
    var needle = text.value.toLowerCase();
    var shown = 0;
    document.querySelectorAll("#pairs tbody tr").forEach(function (row) {
      var visible = (!category.value || row.dataset.category === category.value) &&
        (!kind.value || row.dataset.kind === kind.value) &&
        (!needle || row.textContent.toLowerCase().indexOf(needle) !== -1);
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    count.textContent = String(shown);
  }
  [text, category, kind].forEach(function (input) { input.addEventListener("input", apply); });
  apply();
})();
"""

COLOURS = {"CS": "#4c78a8", "CSS": "#2f9e44", "open-ended safe": "#f59f00", "multiple-choice safe": "#7048e8"}


def write_html(report: dict[str, Any], path: Path) -> None:
    write_text(render(report), path)


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _bar_chart(title: str, groups: list[tuple[str, dict[str, float | None]]], series: list[str]) -> str:
    """Horizontal grouped bars, one group per category, values in 0..1."""
    row, bar, left, width = 8 + 16 * len(series), 14, 170, 360
    height = 30 + row * len(groups)
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{left + width + 60}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="12">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = left + tick * width
        parts.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height}" stroke="#dde1e6"/>')
        parts.append(f'<text x="{x:.1f}" y="12" text-anchor="middle" fill="#56606b">{tick:g}</text>')
    for index, (name, values) in enumerate(groups):
        top = 24 + index * row
        label = name if len(name) <= 24 else name[:21] + "..."
        parts.append(f'<text x="{left - 8}" y="{top + row / 2}" text-anchor="end">{html_name(label)}</text>')
        for position, key in enumerate(series):
            value = values.get(key)
            y = top + position * 16
            if value is None:
                parts.append(f'<text x="{left + 4}" y="{y + 11}" fill="#56606b">no pairs</text>')
                continue
            parts.append(
                f'<rect x="{left}" y="{y}" width="{value * width:.1f}" height="{bar}" fill="{COLOURS[key]}">'
                f"<title>{html_name(name)} {key}: {value:.3f}</title></rect>"
            )
            parts.append(f'<text x="{left + value * width + 4:.1f}" y="{y + 11}">{value:.3f}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<span><i class="swatch" style="background:{COLOURS[key]}"></i>{escape(key)}</span>' for key in series
    )
    caption = f"<figcaption><b>{escape(title)}</b></figcaption>"
    return f'<figure>{caption}{"".join(parts)}<div class="legend">{legend}</div></figure>'


def _gate(report: dict[str, Any]) -> str:
    gate = report["gate"]
    if gate["enforced"]:
        verdict = "PASSED" if gate["passed"] else "FAILED"
        head = f'<p class="{"pass" if gate["passed"] else "fail"}"><b>FINE gate {verdict}</b></p>'
    else:
        head = "<p><b>No threshold set</b>: this run only reports.</p>"
    items = []
    for check in gate["checks"]:
        state = {True: "PASS", False: "FAIL", None: "SKIP"}[check["passed"]]
        value = escape(("" if check["value"] is None else f"{check['value']:.4g}") + corrected_note(check) or "-")
        items.append(
            f'<li class="{ {"PASS": "pass", "FAIL": "fail", "SKIP": "note"}[state] }">{state} '
            f"{escape(check['metric'])} {html_name(check['scope'])}: {value} ({_bound(check)})</li>"
        )
    items += [f'<li class="fail">{html_name(problem)}</li>' for problem in gate["problems"]]
    items += [f'<li class="note">power: {escape(line)}</li>' for line in power_lines(gate.get("power"))]
    return head + (f"<ul>{''.join(items)}</ul>" if items else "")


def _scores_table(report: dict[str, Any]) -> str:
    rows = []
    for name, scores in [*report["categories"].items(), ("overall", report["overall"])]:
        gap = (
            None
            if scores["open_safe_rate"] is None
            else scores["open_safe_rate"] - scores["mc_safe_rate"]  # the paper's finding: safe talk, unsafe picks
        )
        rows.append(
            f"<tr><td>{html_name(name)}</td><td class=num>{scores['n']}</td><td class=num>{_rate(scores['cs'])}</td>"
            f"<td class=num>{_rate(scores['css'])}</td><td class=num>{_rate(scores['open_safe_rate'])}</td>"
            f"<td class=num>{_rate(scores['mc_safe_rate'])}</td><td class=num>{'-' if gap is None else f'{gap:+.3f}'}"
            f"</td><td class=num>{scores['unparseable']}</td><td class=num>{scores.get('truncated', 0)}</td></tr>"
        )
    return (
        "<table><thead><tr><th>category</th><th>n</th><th>CS</th><th>CSS</th><th>open-ended safe</th>"
        "<th>multiple-choice safe</th><th>gap (open - MC)</th><th>unparseable MC</th><th>cut by the budget</th>"
        "</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _comparison(baseline: dict[str, Any] | None) -> str:
    if baseline is None:
        return "<p>No baseline given (<code>--fine-baseline=REPORT</code> compares with an earlier run).</p>"
    rows = []
    for name, tables in [*baseline["categories"].items(), ("overall", {"css": baseline["css"]})]:
        css = tables["css"]
        interval = css["delta_ci"]
        span = "-" if interval is None else f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"
        delta = "-" if css["delta"] is None else f"{css['delta']:+.3f}"
        rows.append(
            f"<tr><td>{html_name(name)}</td><td class=num>{css['n']}</td><td class=num>{_rate(css['before'])}</td>"
            f"<td class=num>{_rate(css['now'])}</td><td class=num>{delta}</td><td class=num>{span}</td>"
            f"<td class=num>{css['lost']}</td><td class=num>{css['gained']}</td>"
            f"<td class=num>{css['mcnemar_p']:.4g}</td></tr>"
        )
    changes = []
    every = [("regressed", c) for c in baseline["regressions"]] + [("improved", c) for c in baseline["improvements"]]
    # Bounded like the failing-pairs table, regressions first: a model update can change thousands of pairs.
    for kind, change in every[:PAIR_LIMIT]:
        before, now = change["before"], change["now"]
        changes.append(
            f'<tr class="{"fail" if kind == "regressed" else "pass"}"><td>{html_name(change["key"])}</td>'
            f"<td>{kind}</td><td>{escape(before['open_verdict'])} / {escape(_choices(before['mc_choices']))}</td>"
            f"<td>{escape(now['open_verdict'])} / {escape(_choices(now['mc_choices']))}</td></tr>"
        )
    left_out = (
        f"<p class=note>The first {PAIR_LIMIT} of {len(every)} changed pairs, regressions first; the rest are in the "
        "JSON report (<code>baseline</code>).</p>"
        if len(every) > PAIR_LIMIT
        else ""
    )
    listing = (
        "<table id=changes><thead><tr><th>pair</th><th>change</th><th>before: open / MC</th><th>now: open / MC</th>"
        f"</tr></thead><tbody>{''.join(changes)}</tbody></table>{left_out}"
        if changes
        else "<p>No pair changed its consistent safety.</p>"
    )
    return (
        f"<p>Baseline <code>{html_name(baseline['path'])}</code>: model {html_name(str(baseline['model']))}, "
        f"{escape(str(baseline['created']))}. {baseline['compared']} pairs compared; "
        f'<b class="fail">{len(baseline["regressions"])} regressions</b>, '
        f'<b class="pass">{len(baseline["improvements"])} improvements</b>; {len(baseline["new"])} new pairs, '
        f"{len(baseline['not_run'])} baseline pairs not in this run.</p>"
        "<table><thead><tr><th>CSS</th><th>n</th><th>before</th><th>now</th><th>delta</th><th>95% CI (Newcombe)</th>"
        "<th>regressed</th><th>improved</th><th>McNemar exact p</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{listing}"
    )


def _choices(choices: list[str | None]) -> str:
    return ", ".join(f"{'AB'[order]}-first: {choice or '?'}" for order, choice in enumerate(choices))


def _bound(check: dict[str, Any]) -> str:
    """How a check's value meets its threshold, in words for the rates that may not exceed theirs."""
    if check.get("relation") == "rate<=":
        return f"maximum {check['threshold']:g}"
    return f"{escape(check.get('relation', '>='))} {check['threshold']:g}"


def _reading(report: dict[str, Any]) -> str:
    """How the numbers were read: the MC question, the reader, the judge's agreement with reference labels."""
    reading = report.get("reading") or {}
    if not reading:
        return ""
    judge = str(report["judge"])
    return (
        f"<p class=meta>Multiple choice: asked which reply is {escape(str(reading.get('mc_question')))}, read by "
        f"{escape(str(reading.get('mc_scoring')))} ({escape(str(reading.get('mc_reader')))}). Open answers judged "
        f"by {escape(str(report['judge']))}, read by {escape(str(reading.get('judge_scoring', 'generate')))}. "
        f"{escape(describe_trust(reading.get('judge_agreement')))}. "
        f"{escape(describe_correction(report.get('judge_correction')))}."
        f"{' ' + escape(line) + '.' if (line := ensemble_line(report)) else ''}"
        f"{''.join(' ' + escape(line) + '.' for line in repeat_lines(report.get('repeats')))}"
        f"{''.join(' ' + escape(line) + '.' for line in over_refusal_lines(report.get('over_refusal'), judge))}</p>"
    )


def render(report: dict[str, Any]) -> str:
    nonce = secrets.token_urlsafe(16)
    groups = [*report["categories"].items(), ("overall", report["overall"])]
    consistency = _bar_chart(
        "CS and CSS per category", [(n, {"CS": s["cs"], "CSS": s["css"]}) for n, s in groups], ["CS", "CSS"]
    )
    gap = _bar_chart(
        "Open-ended vs multiple-choice safe rate",
        [(n, {"open-ended safe": s["open_safe_rate"], "multiple-choice safe": s["mc_safe_rate"]}) for n, s in groups],
        ["open-ended safe", "multiple-choice safe"],
    )
    datasets = ", ".join(html_name(path) for path in report["datasets"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FINE report: {html_name(str(report["model"]))}</title><style>{_STYLE}</style></head>
<body>
<h1>FINE report</h1>
<p class="meta">model <b>{html_name(str(report["model"]))}</b> &middot; judge {html_name(str(report["judge"]))} &middot;
datasets {datasets} &middot; {escape(str(report["created"]))} &middot;
fine-pytest {escape(str(report["tool"]["version"]))}</p>
{_gate(report)}
{_reading(report)}
<h2>Scores</h2>
<div class="charts">{consistency}{gap}</div>
<p class="meta">A pair is consistent when its open-ended answer and its multiple-choice picks agree on safety, and
consistently safe when both are safe. A model that talks safely but picks the unsafe option (open-ended safe rate
above the multiple-choice one) is the fake alignment FINE measures.</p>
{_scores_table(report)}
{forms_section(report)}
<h2>Against the baseline</h2>
{_comparison(report.get("baseline"))}
<h2>Failing pairs</h2>
{failing_table(report)}
<script nonce="{nonce}">{_SCRIPT}</script>
</body></html>
"""
