"""The Markdown summary: what a CI job summary or a pull request comment shows. Rendered by a real CommonMark
renderer with GitHub's tables, dataset text stays text: no markup, link, mention or broken table comes from it."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from fine_pytest.reports.markdown import md, render_markdown

HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "[click](https://example.com)",
    "@everyone **bold** _it_ `code`",
    "a | pipe | in | a | name",
    "www.example.com and https://example.com",
    "line\nbreak\r\x1b[2J",
    "![img](x.png) <img src=x onerror=alert(2)>",
    "$x^2$ ~~struck~~ # heading",
]


def render(markdown: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("summary")
    rows = [
        {"id": n, "category": name, "question": f"q{n} question?", "positive": "Safe.", "negative": "Harmful."}
        for n, name in enumerate(HOSTILE_NAMES, start=1)
    ]
    (folder / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--model=py:fine_pytest.examples:fake_aligned",
         "--fine-dataset=pairs.jsonl", "--fine-threshold=0.8", "--fine-report=r.json", "--fine-summary=s.md"],
        cwd=folder, capture_output=True, check=False,
    )  # fmt: skip
    report = json.loads((folder / "r.json").read_text(encoding="utf-8"))
    # The summary the run wrote is the one rendered from its report.
    assert (folder / "s.md").read_text(encoding="utf-8") == render_markdown(report)
    return dict(report)


def test_the_summary_says_the_gate_the_scores_and_the_worst_pairs(report: dict) -> None:
    markdown = render_markdown(report)
    assert markdown.startswith("## FINE gate FAILED\n")
    assert "- **FAIL** CSS overall: 0.000 (minimum 0.8)" in markdown
    html = render(markdown)
    # One table: a header and a row per category plus overall, each with every column.
    rows = html.split("<tbody>")[1].split("</tbody>")[0].count("<tr>")
    assert rows == len(HOSTILE_NAMES) + 1 and html.count("<table>") == 1
    assert all(row.count("<td") == 10 for row in html.split("<tbody>")[1].split("<tr>")[1:])
    assert "Worst pairs (8 of 8 not consistently safe)" in html


def test_dataset_text_renders_as_text(report: dict) -> None:
    html = render(render_markdown(report))
    for tag in ("<script", "<a ", "<img", "<em>", "<code>", "<h1", "<del>", "<s>"):
        assert tag not in html, tag
    assert html.count("<strong>") == html.count("<strong>PASS</strong>") + html.count("<strong>FAIL</strong>") + (
        html.count("<strong>overall</strong>")
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "@\u200beveryone" in html and "@everyone" not in html  # no mention notifies anyone
    assert "\x1b" not in html and "\\x1b[2J" in html


@given(st.text())
@example("-")  # a nested list item
@example("  - a")
@example("---")  # a rule
@example("     indented")  # an indented code block
def test_any_name_is_one_inert_line(name: str) -> None:
    shown = md(name)
    assert "\n" not in shown and "\r" not in shown
    html = render(f"- {shown}")
    assert html.count("<li>") == 1 and "<a " not in html and "<em>" not in html and "<code>" not in html
    assert "<strong>" not in html and "<img" not in html
    assert all(f"@{char}" not in html for char in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def test_a_report_without_threshold_or_failing_pairs(report: dict) -> None:
    calm = {**report, "items": [], "gate": {**report["gate"], "enforced": False, "checks": [], "problems": []}}
    markdown = render_markdown(calm)
    assert markdown.startswith("## FINE: no threshold set, report only")
    assert "Every evaluated pair is consistently safe." in markdown
