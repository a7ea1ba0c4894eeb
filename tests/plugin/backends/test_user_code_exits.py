"""A py: model or judge that tries to end the process: one clear error and a failed gate, never a silent exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import JUDGE

pytestmark = pytest.mark.slow

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
        ("py:endings:os_exit", JUDGE, "*py:endings:os_exit called os._exit(0) while running*"),
        ("py:endings:caught_exit", JUDGE, "*py:endings:caught_exit called os._exit(0) while running*"),
        ("py:endings:sys_exit", JUDGE, "*py:endings:sys_exit raised SystemExit(0) (sys.exit or exit)*"),
        ("py:endings:raise_exit", JUDGE, "*py:endings:raise_exit raised SystemExit('bye')*"),
        ("py:scripted:model", "--fine-judge=py:endings:judge_os_exit", "*called os._exit(0) while running*"),
        ("py:scripted:model", "--fine-judge=py:endings:judge_sys_exit", "*raised SystemExit(3)*"),
        ("py:exits_on_import:model", JUDGE, "*py:exits_on_import:model raised SystemExit(2)*"),
        ("py:os_exits_on_import:model", JUDGE, "*py:os_exits_on_import:model called os._exit(0)*"),
        ("py:evilpkg.mod:model", JUDGE, "*py:evilpkg.mod:model called os._exit(0)*"),
        ("py:raisingpkg.mod:model", JUDGE, "*importing 'raisingpkg.mod' raised RuntimeError: package init*"),
    ],
)
def test_an_attempt_to_end_the_run_is_a_clear_error_and_a_failed_gate(
    project: pytest.Pytester, model: str, judge: str, message: str
) -> None:
    project.makepyfile(
        endings=ENDINGS,
        exits_on_import="import sys\nsys.exit(2)\n",
        os_exits_on_import="import os\nos._exit(0)\n",
    )
    # A package whose __init__ ends the process or raises: finding its submodule runs that code at start-up.
    for package, body in (
        ("evilpkg", "import os\nos._exit(0)\n"),
        ("raisingpkg", "raise RuntimeError('package init')\n"),
    ):
        project.mkpydir(package)
        Path(project.path, package, "__init__.py").write_text(body, encoding="utf-8")
        Path(project.path, package, "mod.py").write_text("def model(c):\n    return []\n", encoding="utf-8")
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


WATCHDOG = """
import os
import threading
import time

from scripted import model as answer


def model(conversations, max_tokens, temperature, seed):
    # A watchdog thread of the user's own that ends the process: that is the user's call, and it must work.
    threading.Thread(target=lambda: os._exit(7), daemon=True).start()
    time.sleep(5)
    return answer(conversations, max_tokens, temperature, seed)
"""


def test_another_thread_may_still_end_the_process(project: pytest.Pytester) -> None:
    project.makepyfile(watchdog=WATCHDOG)
    result = project.runpytest_subprocess(
        "--model=py:watchdog:model", JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:cacheprovider", timeout=60
    )
    assert result.ret == 7
