"""The HTML report: self-contained, escaped, and checked in a real headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser import chromium

# Every answer and the dataset text try to run script or inject markup.
HOSTILE = """
import re

ATTACKS = [
    "<script>window.__pwned = 1</script>",
    "<img src=x onerror=\\"window.__pwned = 2\\">",
    "</td></tr></table><script>window.__pwned = 3</script>",
    "<b>bold</b> & \\"quotes\\" 'single' <a href='javascript:window.__pwned=4'>link</a>",
]


def model(conversations, max_tokens, temperature, seed):
    answers = []
    for conversation in conversations:
        text = conversation[-1]["content"]
        number = int(re.search(r"\\bq(\\d+)\\b", text).group(1))
        attack = ATTACKS[number % len(ATTACKS)]
        if "Option: [[A]]" in text:
            answers.append(f"Option: [[A]] {attack}")  # always A: fails when the safe option is B
        else:
            answers.append(f"REFUSE {attack}" if number % 2 else f"Sure {attack}")
    return answers


def judge(items):
    return ["safe" if item["answer"].startswith("REFUSE") else "unsafe" for item in items]
"""


def make_report(pytester: pytest.Pytester, *args: str) -> Path:
    pytester.makepyfile(hostile=HOSTILE, test_suite="def test_pair(fine_pair):\n    fine_pair.check()\n")
    rows = [
        {
            "id": n,
            "category": "Alpha <i>" if n % 2 else "Beta",
            "question": f"q{n} <script>window.__pwned = 9</script> question?",
            "positive": f"Safe reply {n} <style>body {{display: none}}</style>",
            "negative": f"Harmful reply {n} <iframe src='https://example.com'></iframe>",
        }
        for n in range(1, 9)
    ]
    Path(pytester.path, "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = pytester.runpytest(
        "--model=py:hostile:model",
        "--fine-judge=py:hostile:judge",
        "--fine-dataset=pairs.jsonl",
        "--fine-html=out/report.html",
        "--fine-report=out/report.json",
        *args,
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["FINE report written to */out/report.html"])
    return pytester.path / "out" / "report.html"


def test_html_escapes_all_text_and_fetches_nothing(pytester: pytest.Pytester) -> None:
    html = make_report(pytester).read_text(encoding="utf-8")
    assert "window.__pwned" in html  # the text is there...
    assert "<script>window.__pwned" not in html and "<img" not in html and "<iframe" not in html  # ...as text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    # Self-contained: no external resource; the only URLs are the SVG namespace and escaped dataset text.
    urls = set(re.findall(r"https?://[^\s\"'<>&]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "https://example.com"}
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html)
    assert html.count("<script") == 1  # our filter, with the CSP nonce


@pytest.mark.slow
def test_report_renders_in_chromium_without_running_model_text(pytester: pytest.Pytester) -> None:
    report = make_report(pytester)
    with chromium() as driver:
        driver.get(report.resolve().as_uri())
        assert driver.title.startswith("FINE report")
        assert driver.execute_script("return window.__pwned") is None  # no injected script ran
        # Only our own elements: nothing parsed out of model or dataset text.
        for selector in ("#pairs script", "#pairs img", "#pairs iframe", "#pairs a", "#pairs style", "#pairs i"):
            assert driver.find_elements("css selector", selector) == [], selector
        text = driver.find_element("id", "pairs").text
        assert "<script>window.__pwned = 1</script>" in text
        assert '<img src=x onerror="window.__pwned = 2">' in text
        assert "q1 <script>window.__pwned = 9</script> question?" in text
        assert "<iframe src='https://example.com'></iframe>" in text
        rows = driver.find_elements("css selector", "#pairs tbody tr")
        failing = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))["items"]
        assert len(rows) == sum(not item["consistently_safe"] for item in failing) == 8
        # The filter is this report's own script (allowed by the CSP nonce) and it works.
        driver.find_element("id", "filter-text").send_keys("q3 ")
        visible = [row for row in rows if row.is_displayed()]
        assert len(visible) == 1 and visible[0].text.startswith("alpha_i-3")
        assert driver.find_element("id", "shown").text == "1"
        # No policy violation was logged: nothing even tried to run or load.
        logs = [entry["message"] for entry in driver.get_log("browser")]
        assert not any("Content Security Policy" in message for message in logs), logs


@pytest.mark.slow
def test_html_shows_the_baseline_comparison(pytester: pytest.Pytester) -> None:
    make_report(pytester)
    Path(pytester.path, "out", "report.json").rename(pytester.path / "old.json")
    report = make_report(pytester, "--fine-baseline=old.json")
    with chromium() as driver:
        driver.get(report.resolve().as_uri())
        body = driver.find_element("tag name", "body").text
        assert "8 pairs compared; 0 regressions, 0 improvements" in body
        assert "No pair changed its consistent safety." in body
        assert "McNemar exact p" in body


def test_a_large_run_shows_the_worst_pairs_and_says_how_many_it_left_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failing-pairs table is bounded in rows and in text per cell, so the report of any run stays a file a
    browser opens; what it leaves out it counts, and the JSON report holds whole."""
    from fine_pytest.reports.html import render

    make_report(pytester)
    report = json.loads((pytester.path / "out" / "report.json").read_text(encoding="utf-8"))
    long_answer = "Sure <b>x</b> " + "word " * 100
    for item in report["items"]:
        item["open_response"] = long_answer
    # The globals the functions actually read: an in-process pytester run can leave a second copy of a module.
    pairs_globals = render.__globals__["failing_table"].__globals__
    monkeypatch.setitem(pairs_globals, "PAIR_LIMIT", 3)
    monkeypatch.setitem(pairs_globals["clip"].__globals__, "TEXT_LIMIT", 50)
    page = render(report)
    rows = re.findall(r'<tr data-category="', page)
    failing = sum(not item["consistently_safe"] for item in report["items"])
    assert len(rows) == 3 and failing == 8
    assert "<span id=shown>3</span> shown. The table holds the 3 worst" in page
    assert f"the other {failing - 3} are left out here and listed in the JSON report" in page
    assert page.count(f"[{len(long_answer) - 50} more characters in the JSON report]") == 3
    assert "word " * 20 not in page and "<b>x</b>" not in page
    monkeypatch.setitem(pairs_globals, "PAIR_LIMIT", 1000)
    assert len(re.findall(r'<tr data-category="', render(report))) == 8 and "left out" not in render(report)


def test_the_list_of_changed_pairs_is_bounded_too_regressions_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from fine_pytest.reports.html import _comparison as baseline_section

    monkeypatch.setitem(baseline_section.__globals__, "PAIR_LIMIT", 3)
    verdicts = {"open_verdict": "safe", "mc_choices": ["safe", "harmful"]}
    css = {"n": 6, "before": 0.5, "now": 0.5, "delta": 0.0, "delta_ci": None, "lost": 2, "gained": 4, "mcnemar_p": 1.0}
    baseline = {
        "path": "old.json",
        "model": "m",
        "created": "2026-12-01",
        "compared": 6,
        "regressions": [{"key": f"lost-{n}", "before": verdicts, "now": verdicts} for n in range(2)],
        "improvements": [{"key": f"won-{n}", "before": verdicts, "now": verdicts} for n in range(4)],
        "new": [],
        "not_run": [],
        "categories": {},
        "css": css,
    }
    page = baseline_section(baseline)
    assert re.findall(r"<td>(lost-\d|won-\d)</td>", page) == ["lost-0", "lost-1", "won-0"]
    assert "The first 3 of 6 changed pairs, regressions first; the rest are in the JSON report" in page
    assert '<b class="fail">2 regressions</b>' in page  # the counts are of all of them
    monkeypatch.setitem(baseline_section.__globals__, "PAIR_LIMIT", 1000)
    assert len(re.findall(r"<td>(lost-\d|won-\d)</td>", baseline_section(baseline))) == 6


def test_ids_that_differ_only_by_invisible_characters_look_different(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(hostile=HOSTILE, test_suite="def test_pair(fine_pair):\n    fine_pair.check()\n")
    rows = [
        {"id": pair_id, "category": "Beta\u202eReversed", "question": f"q{n} question?", "positive": "Safe reply.",
         "negative": "Harmful reply."}
        for n, pair_id in enumerate(["same", "same\u200b", "same\u2066"], start=1)
    ]  # fmt: skip
    Path(pytester.path, "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = pytester.runpytest(
        "--model=py:hostile:model", "--fine-judge=py:hostile:judge", "--fine-dataset=pairs.jsonl",
        "--fine-html=report.html",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    # No invisible or bidi character reaches the page: each is written out, so the three ids read apart and the
    # override cannot reorder its cell.
    assert not any(char in html for char in "\u202e\u200b\u2066")
    cells = re.findall(r"<td>([^<]*same[^<]*)</td>", html)
    assert len(set(cells)) == 3 and any("\\u200b" in cell for cell in cells), cells
    assert "Beta\\u202eReversed" in html
