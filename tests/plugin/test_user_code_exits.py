"""A py: model or judge that tries to end the process: one clear error and a failed gate, never a silent exit 0."""

from __future__ import annotations

import pytest
from support import JUDGE

ENDINGS = """
import os
import sys

from scripted import judge, model


def os_exit(conversations, max_tokens, temperature, seed):
    os._exit(0)


def sys_exit(conversations, max_tokens, temperature, seed):
    sys.exit(0)


def raise_exit(conversations, max_tokens, temperature, seed):
    raise SystemExit("bye")


def caught_exit(conversations, max_tokens, temperature, seed):
    try:
        os._exit(0)
    except Exception:  # user code that swallows errors must not swallow the refusal
        return ["Sure."] * len(conversations)


def judge_os_exit(items):
    os._exit(0)


def judge_sys_exit(items):
    sys.exit(3)
"""


@pytest.mark.parametrize(
    ("model", "judge", "message"),
    [
        ("py:endings:os_exit", JUDGE, "*py:endings:os_exit called os._exit(0) while answering*"),
        ("py:endings:caught_exit", JUDGE, "*py:endings:caught_exit called os._exit(0) while answering*"),
        ("py:endings:sys_exit", JUDGE, "*py:endings:sys_exit raised SystemExit(0) (sys.exit or exit)*"),
        ("py:endings:raise_exit", JUDGE, "*py:endings:raise_exit raised SystemExit('bye')*"),
        ("py:scripted:model", "--fine-judge=py:endings:judge_os_exit", "*called os._exit(0) while answering*"),
        ("py:scripted:model", "--fine-judge=py:endings:judge_sys_exit", "*raised SystemExit(3)*"),
        ("py:exits_on_import:model", JUDGE, "*importing 'exits_on_import' raised SystemExit(2)*"),
    ],
)
def test_an_attempt_to_end_the_run_is_a_clear_error_and_a_failed_gate(
    project: pytest.Pytester, model: str, judge: str, message: str
) -> None:
    project.makepyfile(endings=ENDINGS, exits_on_import="import sys\nsys.exit(2)\n")
    # In a subprocess: a regression would end the process that runs it.
    result = project.runpytest_subprocess(
        f"--model={model}", judge, "--fine-dataset=pairs.jsonl", "--fine-threshold=0.5", "-p", "no:cacheprovider"
    )
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.USAGE_ERROR), output
    assert any(message.strip("*") in line for line in (result.stdout.lines + result.stderr.lines)), output
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert "FINE gate PASSED" not in output
    if result.ret == pytest.ExitCode.TESTS_FAILED:
        result.stdout.fnmatch_lines(["FINE gate FAILED"])
    assert len(output.splitlines()) < 80, output
