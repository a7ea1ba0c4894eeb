"""Ini values the plugin reads itself: booleans and per-category tables are usage errors naming the option and file."""

from __future__ import annotations

import pytest
from support import JUDGE, MODEL

from fine_pytest.cli.main import main

BOOLEANS = ("fine_strict", "fine_no_cache")


@pytest.mark.parametrize("option", BOOLEANS)
@pytest.mark.parametrize("value", ["maybe", "2", "yes please", "tru"])
@pytest.mark.parametrize("config", ["tox.ini", "pyproject.toml"])
def test_a_boolean_ini_value_that_is_not_a_truth_value_names_the_option_and_file(
    project: pytest.Pytester, option: str, value: str, config: str
) -> None:
    if config == "tox.ini":
        project.makeini(f"[pytest]\nfine_datasets = pairs.jsonl\n{option} = {value}\n")
    else:
        project.makepyprojecttoml(f'[tool.pytest.ini_options]\nfine_datasets = ["pairs.jsonl"]\n{option} = "{value}"\n')
    result = project.runpytest(MODEL, JUDGE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = result.stderr.str()
    assert f"{project.path / config}: option '{option}':" in error
    assert repr(value) in error and "expected true or false" in error
    assert "Traceback" not in result.stdout.str() + error


@pytest.mark.parametrize("option", BOOLEANS)
def test_a_bad_boolean_given_with_override_ini_names_the_override(project: pytest.Pytester, option: str) -> None:
    result = project.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "-o", f"{option}=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"-o/--override-ini: option '{option}': " in result.stderr.str()


@pytest.mark.parametrize(
    ("value", "strict"),
    [("yes", True), ("true", True), ("1", True), ("on", True), ("no", False), ("false", False), ("0", False)],
)
def test_boolean_ini_values_pytest_accepts_still_work(project: pytest.Pytester, value: str, strict: bool) -> None:
    project.makeini(f"[pytest]\nfine_datasets = pairs.jsonl\nfine_strict = {value}\nfine_no_cache = {value}\n")
    result = project.runpytest(MODEL, JUDGE)
    # The scripted five pairs: one consistently safe; the other four fail under fine_strict, else xfail.
    result.assert_outcomes(passed=1, **({"failed": 4} if strict else {"xfailed": 4}))
    assert (project.path / ".pytest_cache" / "fine-pytest").exists() != strict  # fine_no_cache: nothing kept


@pytest.mark.parametrize("key", ["fine_category_min_cs", "fine_category_min_css"])
@pytest.mark.parametrize(
    ("lines", "category"),
    [
        (["Alpha = 0.3", "Alpha = 0.9"], "Alpha"),
        (["Alpha = 0.3", "Beta = 0.1", "  Alpha=0.3"], "Alpha"),  # same value, other spacing: still twice
        (["Beta = 0.5", "Alpha = 0.1", "Beta=0.4"], "Beta"),
    ],
)
def test_a_category_listed_twice_is_a_usage_error(
    project: pytest.Pytester, key: str, lines: list[str], category: str
) -> None:
    table = "".join(f"    {line}\n" for line in lines)
    project.makeini(f"[pytest]\nfine_datasets = pairs.jsonl\n{key} =\n{table}")
    result = project.runpytest(MODEL, JUDGE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = result.stderr.str()
    assert f"{project.path / 'tox.ini'}: option '{key}'" in error
    assert f"category {category!r} is listed twice" in error
    assert "Traceback" not in result.stdout.str() + error


def test_a_category_table_alone_in_the_ini_is_checked_before_collection(project: pytest.Pytester) -> None:
    # No other FINE option anywhere: the table is enough for the run's settings to be read (and refused) at start.
    project.makeini("[pytest]\nfine_category_min_css =\n    Nosuch = 0.5\n")
    result = project.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "per-category thresholds name unknown categories ['Nosuch']" in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_distinct_categories_in_the_table_are_all_applied(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nfine_datasets = pairs.jsonl\nfine_category_min_css =\n    Alpha = 0.3\n    Beta = 0.5\n")
    result = project.runpytest(MODEL, JUDGE)
    result.stdout.fnmatch_lines(["  PASS  CSS Alpha 0.333 >= 0.300", "  FAIL  CSS Beta 0.000 < 0.500"])
    assert result.ret == 1


@pytest.mark.parametrize("metric", ["cs", "css"])
def test_merge_refuses_a_category_given_twice(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str], metric: str
) -> None:
    report = project.path / "shard.json"
    shard = project.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "--fine-shard=1/1", f"--fine-report={report}")
    assert shard.ret == 0, shard.stdout.str()
    capsys.readouterr()
    option = f"--fine-category-min-{metric}"
    # Each alone passes (Alpha: CS 0.667, CSS 0.333); given twice, neither is taken.
    assert main(["merge", str(report), f"{option}=Alpha=0.3"]) == 0
    capsys.readouterr()
    assert main(["merge", str(report), f"{option}=Alpha=0.3", f"{option}=Alpha=0.9", f"{option}=Beta=0"]) == 4
    captured = capsys.readouterr()
    assert f"{option}: category 'Alpha' is given twice" in captured.err
    assert "FINE gate" not in captured.out
