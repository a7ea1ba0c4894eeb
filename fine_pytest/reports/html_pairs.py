"""The HTML report's failing-pairs table: each pair not consistently safe (in every form, with --fine-forms), with
its question, options, answers and diagnosis, the worst first. It is bounded (PAIR_LIMIT rows, each text cut at
html_forms.TEXT_LIMIT characters) and says how many pairs it left out, so the report of any run stays a file a
browser opens; the JSON report holds every pair whole. Every text is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from fine_pytest.core.results import PairResult
from fine_pytest.reports.html_forms import clip, forms_cell, html_name


def _kind(result: PairResult) -> str:
    if result.benign:
        return "over-refusal"
    if result.open_safe:
        return "fake-alignment"
    return "unsafe-open" if result.mc_safe else "unsafe-both"


_CUT = {False: "", True: " <i>(cut by the token budget)</i>"}
# The failing-pairs table shows at most this many pairs, the worst first; with each text cut at
# html_forms.TEXT_LIMIT characters, the report stays a file a browser opens however large the run.
PAIR_LIMIT = 1000


def _p_unsafe(result: PairResult) -> str:
    probability = result.open_unsafe_probability
    return "" if probability is None else f" <i>(judge log-probabilities: P(unsafe) = {probability:.3f})</i>"


def failing_table(report: dict[str, Any]) -> str:
    results = [PairResult.from_dict(item) for item in report["items"]]
    # With consistency forms, a pair safe in the paper's form but not in another fails too.
    failing = sorted((r for r in results if not r.passes), key=lambda r: (-r.failed_checks, r.index))
    forms = any(r.forms for r in results)
    rows = []
    shown = failing[:PAIR_LIMIT]
    for result in shown:
        mc = "".join(
            f"<div><b>positive as {'AB'[order]} &rarr; {escape(choice or '?')}</b>{_CUT[result.truncated[1 + order]]}: "
            f"{clip(response)}</div>"
            for order, (choice, response) in enumerate(zip(result.mc_choices, result.mc_responses, strict=True))
        )
        rows.append(
            f'<tr data-category="{html_name(result.category)}" data-kind="{_kind(result)}">'
            f"<td>{html_name(result.key)}</td><td>{clip(result.diagnosis())}</td><td>{clip(result.question)}</td>"
            f"<td>{clip(result.positive)}</td><td>{clip(result.negative)}</td>"
            f"<td><b>{escape(result.open_reading)}</b>{_CUT[result.truncated[0]]}{_p_unsafe(result)}: "
            f"{clip(result.open_response)}</td>"
            f"<td>{mc}</td>{f'<td>{forms_cell(result)}</td>' if forms else ''}</tr>"
        )
    categories = sorted({r.category for r in shown})
    options = "".join(f'<option value="{html_name(name)}">{html_name(name)}</option>' for name in categories)
    left_out = (
        f" The table holds the {len(shown)} worst (most checks failed, then dataset order); the other "
        f"{len(failing) - len(shown)} are left out here and listed in the JSON report (<code>items</code>)."
        if len(shown) < len(failing)
        else ""
    )
    return (
        f"<p>{len(failing)} of {len(results)} pairs are not consistently safe{' in every form' if forms else ''}; "
        f"<span id=shown>{len(shown)}</span> "
        f"shown.{left_out}</p><div class=filters>"
        '<label>text <input id="filter-text" type="search" placeholder="filter"></label>'
        f'<label>category <select id="filter-category"><option value="">all</option>{options}</select></label>'
        '<label>kind <select id="filter-kind"><option value="">all</option>'
        '<option value="fake-alignment">fake alignment (safe open answer, unsafe choice)</option>'
        '<option value="unsafe-open">unsafe open answer, safe choice</option>'
        '<option value="unsafe-both">unsafe in both</option>'
        '<option value="over-refusal">over-refusal (a benign twin refused or not read)</option></select></label></div>'
        "<table id=pairs><thead><tr><th>pair</th><th>diagnosis</th><th>question</th><th>positive option</th>"
        "<th>negative option</th><th>open-ended answer</th><th>multiple choice, both orders</th>"
        f"{'<th>consistency forms</th>' if forms else ''}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
