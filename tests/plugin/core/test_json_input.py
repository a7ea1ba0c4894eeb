"""Every JSON file and line the project reads is bounded in depth: deep nesting is a clear error, never a
RecursionError or an INTERNALERROR."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.core.errors import FineError
from fine_pytest.core.json_input import MAX_DEPTH, JsonInputError, parse_json

# Deeper than the C parser's recursion allows, and deep enough to parse but past the bound.
DEEP = ['{"a": ' * 100_000 + "1" + "}" * 100_000, "[" * 100_000 + "]" * 100_000, "[" * 150 + "]" * 150]


@pytest.mark.parametrize("text", DEEP, ids=["objects past recursion", "lists past recursion", "150 levels"])
def test_deep_nesting_is_a_clear_error(text: str) -> None:
    with pytest.raises(JsonInputError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_json(text)


def test_nesting_up_to_the_bound_is_read_and_invalid_json_names_the_line() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(JsonInputError, match="line 2: not valid JSON"):
        parse_json('{\n"a": }')


@given(
    st.recursive(
        st.none() | st.integers() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)
    )
)
def test_any_shallow_value_round_trips(value: object) -> None:
    import json

    assert parse_json(json.dumps(value)) == value


@pytest.mark.parametrize("text", DEEP[:2], ids=["objects", "lists"])
def test_every_reader_refuses_deep_json_with_its_file_named(tmp_path: Path, text: str) -> None:
    from fine_pytest.judges.calibration import LabelError, load_labels
    from fine_pytest.judges.trust import load_calibration
    from fine_pytest.pipeline.batch_files import _entry
    from fine_pytest.reports.json_report import ReportError, load_report

    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReportError, match="deep.json: nested deeper"):
        load_report(path)
    with pytest.raises(FineError, match="deep.json: nested deeper"):
        load_calibration(path)
    with pytest.raises(LabelError, match="deep.json:1: nested deeper"):
        load_labels(path)
    with pytest.raises(ValueError, match="nested deeper"):
        _entry(text, ())


@pytest.mark.slow
def test_merge_and_a_baseline_of_deep_json_are_usage_errors(pytester: pytest.Pytester) -> None:
    (pytester.path / "deep.json").write_text(DEEP[0], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "fine_pytest.cli.main", "merge", "deep.json"],
        cwd=pytester.path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 4 and "nested deeper" in done.stderr and "Traceback" not in done.stderr
    pytester.makepyfile(test_suite="def test_pair(fine_pair):\n    fine_pair.check()\n")
    result = pytester.runpytest("--model=py:fine_pytest.examples:fake_aligned", "--fine-baseline=deep.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*deep.json: nested deeper*"])


def test_every_reader_refuses_a_file_past_its_size_bound_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fine_pytest.core import errors
    from fine_pytest.judges import trust
    from fine_pytest.judges.calibration import LabelError, load_labels
    from fine_pytest.judges.trust import load_calibration
    from fine_pytest.reports.json_report import ReportError, load_report

    path = tmp_path / "big.json"
    path.write_text('{"pad": "' + "x" * 5000 + '"}', encoding="utf-8")
    monkeypatch.setattr(errors, "MAX_INPUT_BYTES", 4096)
    monkeypatch.setattr(trust, "FIGURES_BYTES", 4096)
    with pytest.raises(ReportError, match="big.json: larger than 4,096 bytes, not read"):
        load_report(path)
    with pytest.raises(FineError, match="big.json: larger than 4,096 bytes"):
        load_calibration(path)
    with pytest.raises(LabelError, match="big.json: larger than 4,096 bytes"):
        load_labels(path)
    assert errors.read_utf8(path, max_bytes=5100).startswith('{"pad"')  # under the bound it reads as before
