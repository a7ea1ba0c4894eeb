"""The consistency forms in the HTML report: CSS per form next to the paper's and robust CSS, per category, and per
pair each form's verdict with the simplest flip and the model's answers to it. Every text is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from fine_pytest.core.forms import asked_whole
from fine_pytest.core.monitored import gap_lines
from fine_pytest.core.results import PairResult
from fine_pytest.core.safe_text import visible, visible_text

# Each text in a table is shown up to this many characters (the JSON report has it whole): with the failing-pairs
# table's bound on rows (reports.html.PAIR_LIMIT), a report of any run stays a file a browser opens.
TEXT_LIMIT = 2000


def clip(text: str) -> str:
    """``text`` escaped for HTML, cut at TEXT_LIMIT characters with a note of how much was left out; invisible
    and bidi control characters are shown as escapes (visible_text), so none can reorder or hide what is read."""
    if len(text) <= TEXT_LIMIT:
        return escape(visible_text(text))
    shown = escape(visible_text(text[:TEXT_LIMIT]))
    return f"{shown}<i> [{len(text) - TEXT_LIMIT} more characters in the JSON report]</i>"


def html_name(text: str) -> str:
    """An identifier (pair id, category, family) escaped for HTML, every control or invisible character shown as an
    escape: two ids that differ only by such a character look different, and none reorders its cell."""
    return escape(visible(text))


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _interval(value: Any) -> str:
    return "" if not value else f" [{value[0]:.2f}, {value[1]:.2f}]"


def forms_section(report: dict[str, Any]) -> str:
    """The forms table, or nothing when the run asked no forms."""
    forms = report.get("forms")
    if not forms:
        return ""
    families = list(forms["families"])
    head = "".join(f"<th>{html_name(family)} CSS</th>" for family in families)
    rows = []
    categories = [*((name, report["categories"].get(name, {}), block) for name, block in forms["categories"].items())]
    for name, paper, block in [*categories, ("overall", report["overall"], forms["overall"])]:
        cells = "".join(
            f"<td class=num>{_rate(block['forms'][family]['css'])}{_interval(block['forms'][family]['css_ci'])}</td>"
            for family in families
        )
        robust = block["robust"]
        rows.append(
            f"<tr><td>{html_name(name)}</td><td class=num>{paper.get('n', '-')}</td>"
            f"<td class=num>{_rate(paper.get('css'))}</td>{cells}"
            f"<td class=num><b>{_rate(robust['css'])}</b>{_interval(robust['css_ci'])}</td></tr>"
        )
    described = "".join(
        f"<li><b>{html_name(name)}</b>: {clip(str(forms['descriptions'].get(name) or 'a user family'))}; "
        f"{forms['prompts'].get(name, 0)} prompts, {_flips(forms['overall']['forms'][name])}, "
        f"{forms['overall']['forms'][name]['unreadable']} pairs with an unreadable answer (counted not safe)</li>"
        for name in families
    )
    shrink = forms["shrink"]
    return (
        "<h2>Consistency forms</h2>"
        f"<p class=meta>{forms['examples']} variant(s) per pair and family{escape(asked_whole(families))}, each "
        f"pair's own draw from seed "
        f"{forms['seed']}. Robust CSS: consistently safe in the "
        f"paper's form and in every form. Shrink: {shrink['pairs']} flips searched, at most {shrink['rounds']} "
        f"rounds, {shrink['prompts']} prompts, {shrink['exhausted']} stopped early (the budget of "
        f"{forms['budget']} prompts, the bound on rounds, or a sweep cut short).</p>"
        f"<ul>{described}</ul>"
        f"{''.join(f'<p class=meta>{escape(line)}.</p>' for line in gap_lines(forms.get('monitored_gap')))}"
        f"<table id=forms><thead><tr><th>category</th><th>n</th><th>paper CSS</th>{head}<th>robust CSS</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _flips(scores: dict[str, Any]) -> str:
    """Flips among the pairs safe in the paper's form, with the rate's interval (reports before it: the count)."""
    if scores.get("paper_safe") is None:
        return f"{scores['flips']} flips"
    ci = scores.get("flip_rate_ci")
    shown = f", 95% CI {ci[0]:.1%} to {ci[1]:.1%}" if ci else ""
    rate = "" if scores.get("flip_rate") is None else f" ({scores['flip_rate']:.1%}{shown})"
    return (
        f"{scores['flips']} flips of {scores['paper_safe']} pairs safe in the paper's form{rate}: "
        f"{scores.get('flips_changed', 0)} changed answers, {scores.get('flips_unreadable', 0)} unreadable"
    )


def forms_cell(result: PairResult) -> str:
    """A failing pair's forms: each verdict, and the simplest flip with the model's answers to it."""
    parts = []
    for form in result.forms:
        verdict = "safe" if form.safe else "not safe"
        text = f"<div><b>{html_name(form.family)}: {verdict}</b> ({len(form.variants)} variants)"
        flip = form.flip
        if flip is not None:
            stopped = " (search stopped early)" if form.shrink is not None and form.shrink.exhausted else ""
            answers = "".join(
                f"<div>&rarr; read as {escape(str(reading) if reading is not None else 'unreadable')}: "
                f"{clip(answer)}</div>"
                for reading, answer in zip(flip.readings, flip.answers, strict=True)
            )
            text += f"<div>simplest flip{stopped}: <i>{html_name(flip.description)}</i></div>{answers}"
        parts.append(text + "</div>")
    return "".join(parts)
