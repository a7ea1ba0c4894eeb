"""`pytest --model=SPEC --fine-threshold=0.8` in any repository: the suite ships with the plugin and runs where the
repository has no FINE test of its own; a repository with its own runs those; settings alone never add it."""

from __future__ import annotations

import pytest
from support import JUDGE, MODEL, SCRIPTED_MODEL, SUITE, read_json

FAKE = "--model=py:fine_pytest.examples:fake_aligned"
UNIT = "def test_unit():\n    assert True\n"


def test_a_repository_without_fine_tests_runs_the_bundled_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unit=UNIT)
    result = pytester.runpytest(FAKE, "--fine-threshold=0.8", "--fine-report=r.json", "-p", "no:randomly", "-rx")
    assert result.ret == 1  # the stand-in is fake-aligned: CSS 0 fails the gate
    result.assert_outcomes(passed=1, xfailed=330)  # the project's own test runs too; 220 pairs and 110 twins
    result.stdout.fnmatch_lines(["XFAIL fine-pytest::test_pair?fairness-1? - FINE pair fairness-1: fake alignment*"])
    result.stdout.fnmatch_lines(["FINE gate FAILED"])
    report = read_json(pytester.path / "r.json")
    assert report["overall"]["n"] == 220 and report["over_refusal"]["n"] == 110 and report["gate"]["passed"] is False


@pytest.mark.slow
def test_selection_and_xdist_apply_to_the_bundled_suite(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(FAKE, "-k", "privacy", "-n", "2", "-p", "no:randomly")
    result.assert_outcomes(xfailed=66)  # 44 pairs and 22 twins


def test_a_repository_with_its_own_fine_tests_runs_those_alone(pytester: pytest.Pytester) -> None:
    from support import SCRIPTED_PAIRS, pair_lines

    pytester.makepyfile(scripted=SCRIPTED_MODEL, test_suite=SUITE)
    (pytester.path / "pairs.jsonl").write_text(pair_lines(SCRIPTED_PAIRS), encoding="utf-8")
    result = pytester.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:randomly")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("xfailed", 0) == 5
    assert "fine-pytest::" not in result.stdout.str()


@pytest.mark.parametrize("options", [(), ("--fine-no-cache",), ("--fine-report=r.json", "--fine-cache-dir=c")])
def test_settings_alone_never_add_the_suite(pytester: pytest.Pytester, options: tuple[str, ...]) -> None:
    pytester.makepyfile(test_unit=UNIT)
    pytester.makeini("[pytest]\nfine_threshold = 0.8\nfine_model = py:fine_pytest.examples:fake_aligned\n")
    result = pytester.runpytest(*options, "-p", "no:randomly")
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    assert "FINE" not in result.stdout.str()


def test_a_run_asked_for_with_nothing_selected_says_so(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(FAKE, "--fine-threshold=0.8", "-k", "no_such_test")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["FINE: no FINE test was selected, so no pair was evaluated and no gate applied*"])


def test_a_gate_asked_for_and_applied_to_no_pair_fails_the_build(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unit=UNIT)
    result = pytester.runpytest(FAKE, "--fine-threshold=0.8", "-k", "test_unit")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FINE: no FINE test was selected*"])


def test_the_suite_is_collected_whatever_the_projects_collection_rules(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npython_functions = check_*\n")
    pytester.makepyfile(test_unit="def check_unit():\n    assert True\n")
    result = pytester.runpytest(FAKE, "-p", "no:randomly")
    result.assert_outcomes(passed=1, xfailed=330)


def test_tests_named_on_the_command_line_run_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unit=UNIT)
    result = pytester.runpytest("test_unit.py::test_unit", FAKE, "--fine-threshold=0.8")
    result.assert_outcomes(passed=1)
