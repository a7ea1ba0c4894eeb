"""Several models side by side (core.model_comparison, ``fine-pytest compare``): Holm's adjustment, the paired
tables, like-for-like checks on the reports, the exit status, and the HTML page in a real browser."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from browser import chromium
from hypothesis import given
from hypothesis import strategies as st
from support import JUDGE, read_json, result_of

from fine_pytest.cli.main import main
from fine_pytest.core.model_comparison import compare_models, holm, paired_table


def test_holm_multiplies_by_the_rank_and_stays_monotone() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=12))
def test_holm_never_lowers_a_p_value_nor_reorders_them(p_values: list[float]) -> None:
    adjusted = holm(p_values)
    assert all(a >= p and a <= 1 for a, p in zip(adjusted, p_values, strict=True))
    ranked = sorted(range(len(p_values)), key=lambda index: p_values[index])
    assert [adjusted[index] for index in ranked] == sorted(adjusted)
    assert min(adjusted) == pytest.approx(min(1.0, len(p_values) * min(p_values)))


def safe(key: str, is_safe: bool, benign: bool = False):
    result = result_of(key=key, open_verdict="safe" if is_safe else "unsafe", choices=("A", "B"))
    return replace(result, benign=benign)


def test_the_pairs_compared_are_the_harmful_ones_both_answered() -> None:
    first = [safe("a", True), safe("b", True), safe("c", False), safe("t", False, benign=True)]
    second = [safe("a", True), safe("b", False), safe("d", True), safe("t", True, benign=True)]
    table = paired_table(first, second)
    assert (table.n, table.both, table.lost, table.gained, table.neither) == (2, 1, 1, 0, 0)


def test_three_models_make_three_tests_adjusted_together() -> None:
    strong = [safe(f"p{i}", True) for i in range(30)]
    weak = [safe(f"p{i}", i < 5) for i in range(30)]
    same = [safe(f"p{i}", True) for i in range(30)]
    comparison = compare_models([("strong", strong, True), ("weak", weak, False), ("same", same, None)])
    assert [row.label for row in comparison.rows] == ["strong", "weak", "same"]
    tests = {(t.first, t.second): t for t in comparison.pairwise}
    assert set(tests) == {("strong", "weak"), ("strong", "same"), ("weak", "same")}
    drop = tests["strong", "weak"]
    assert drop.table.lost == 25 and drop.table.delta == pytest.approx(-25 / 30)
    assert drop.significant and drop.p_holm == pytest.approx(min(1.0, 3 * drop.p))
    assert not tests["strong", "same"].significant and tests["strong", "same"].p_holm == 1.0
    data = comparison.to_dict()
    assert data["correction"] == "holm" and data["models"][1]["css"] == pytest.approx(5 / 30)


# The scripted model of support with its q3 and q4 open answers refused too: safe on two more pairs.
BETTER = """
import scripted


def model(conversations, max_tokens, temperature, seed):
    answers = scripted.model(conversations, max_tokens, temperature, seed)
    return [
        "REFUSE: I can't help with that." if ("q3" in c[-1]["content"] or "q4" in c[-1]["content"])
        and "Option: [[A]]" not in c[-1]["content"] else answer
        for c, answer in zip(conversations, answers)
    ]
"""


@pytest.fixture
def two_reports(project: pytest.Pytester) -> pytest.Pytester:
    project.makepyfile(better=BETTER)
    args = (JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:cacheprovider")
    project.runpytest("--model=py:scripted:model", *args, "--fine-report=a.json", "--fine-threshold=0.3")
    project.runpytest("--model=py:better:model", *args, "--fine-report=b.json", "--fine-threshold=0.3")
    return project


def test_compare_sets_two_models_side_by_side(two_reports: pytest.Pytester, capsys) -> None:
    status = main(
        ["compare", "a.json", "b.json", "-o", "c.json", "--html", "c.html", "--label", "old", "--label", "new"]
    )
    out = capsys.readouterr().out
    assert status == 1  # the old model's own gate failed (CSS 0.2 < 0.3)
    data = read_json(two_reports.path / "c.json")
    assert [row["label"] for row in data["models"]] == ["old", "new"]
    assert [row["gate_passed"] for row in data["models"]] == [False, True]
    (test,) = data["pairwise"]
    assert (test["n"], test["safe_only_second"], test["safe_only_first"]) == (5, 1, 0)
    assert test["difference"] == pytest.approx(0.2) and not test["significant"]
    assert "new vs old: CSS +0.200" in out and "Holm-adjusted 1: not significant at alpha 0.05" in out


@pytest.mark.slow
def test_the_comparison_page_renders_in_chromium(two_reports: pytest.Pytester, capsys) -> None:
    main(["compare", "a.json", "b.json", "--html", "c.html", "--label", "<script>window.__pwned=1</script>"
          , "--label", "new"])  # fmt: skip
    with chromium() as driver:
        driver.get((two_reports.path / "c.html").resolve().as_uri())
        assert driver.title == "FINE model comparison"
        assert driver.execute_script("return window.__pwned") is None
        rows = driver.find_elements("css selector", "#models tbody tr")
        assert len(rows) == 2 and rows[0].text.startswith("<script>window.__pwned=1</script>")
        assert len(driver.find_elements("css selector", "#pairwise tbody tr")) == 1


def test_compare_refuses_what_is_not_like_for_like(two_reports: pytest.Pytester, capsys) -> None:
    assert main(["compare", "a.json"]) == 4
    assert "two models or more" in capsys.readouterr().err
    assert main(["compare", "a.json", "a.json"]) == 4
    assert "runs of the same model" in capsys.readouterr().err
    other = json.loads((two_reports.path / "b.json").read_text())
    other["run"]["identity"]["dataset"] = "0" * 64
    (two_reports.path / "other.json").write_text(json.dumps(other))
    assert main(["compare", "a.json", "other.json"]) == 4
    assert "field 'run.identity.dataset': the dataset's pairs differ" in capsys.readouterr().err
    assert main(["compare", "a.json", "b.json", "--label", "one"]) == 4
    assert main(["compare", "a.json", "b.json", "-o", "a.json"]) == 4
    (two_reports.path / "bad.json").write_text("{")
    assert main(["compare", "a.json", "bad.json"]) == 4
    assert "bad.json" in capsys.readouterr().err


def edited(path, change) -> str:
    report = json.loads(path.read_text())
    change(report)
    name = path.with_name(f"edited-{len(list(path.parent.glob('edited-*')))}.json")
    name.write_text(json.dumps(report))
    return name.name


def test_compare_never_passes_a_part_of_a_run(two_reports: pytest.Pytester, capsys) -> None:
    b = two_reports.path / "b.json"
    # An interrupted run of the better model: its own gate said passed, but a partial run never passes.
    partial = edited(b, lambda r: r["gate"].update(complete=False, interrupted=True))
    assert main(["compare", "a.json", partial]) == 1
    assert "FAILED" in capsys.readouterr().out.splitlines()[2]
    shard = edited(b, lambda r: r["run"].update(shard={"index": 1, "count": 2, "selected": 5, "digest": "x"}))
    assert main(["compare", "a.json", shard]) == 4
    assert "a shard's report; merge the shards first (fine-pytest merge)" in capsys.readouterr().err
    fewer = edited(b, lambda r: r["gate"].update(expected=1))
    assert main(["compare", "a.json", fewer]) == 4
    assert "selected different numbers of pairs (5, 1)" in capsys.readouterr().err
    other = edited(b, lambda r: r["items"].pop())
    assert main(["compare", "a.json", other]) == 4
    assert "evaluated other pairs than a.json" in capsys.readouterr().err
    older = edited(b, lambda r: r["run"]["identity"].update(tool="0.0.1"))
    assert main(["compare", "a.json", older]) == 4
    assert "'run.identity.tool': the fine-pytest version differ" in capsys.readouterr().err


def test_models_sharing_no_pair_still_render(two_reports: pytest.Pytester, capsys) -> None:
    def empty(report):
        report["items"] = []
        report["gate"].update(complete=False, evaluated=0)

    nothing = edited(two_reports.path / "b.json", empty)
    assert main(["compare", "a.json", nothing, "--html", "c.html", "-o", "c.json"]) == 1
    assert read_json(two_reports.path / "c.json")["pairwise"][0]["difference"] is None
    assert "<td class=num>- </td>" in (two_reports.path / "c.html").read_text()
    assert main(["compare", "a.json", "b.json", "--html", "same.html", "-o", "same.html"]) == 4
