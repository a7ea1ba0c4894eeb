"""The run's progress line: one for everything generated and judged, live on a terminal, a plain line now and then
in a log, plain lines under each xdist worker's name, nothing under -qq."""

from __future__ import annotations

import pytest
from support import JUDGE, MODEL, read_json

from fine_pytest.pipeline.progress import SILENT, Shown


def test_a_log_gets_plain_lines_with_count_rate_and_time_left() -> None:
    written: list[str] = []
    progress = Shown(written.append, live=False, interval=0.0)
    progress.note("loading the model m")
    progress.add(10)
    progress.advance(3)
    progress.add(5)  # a later round found more work: the total grows
    progress.advance(12)
    progress.close()
    lines = "".join(written).splitlines()
    assert lines[0] == "FINE: loading the model m"
    assert lines[1].startswith("FINE:  30% 3/10 [") and "step/s]" in lines[1]
    assert lines[2].startswith("FINE: 100% 15/15 [")
    assert all("\r" not in line and "\x1b" not in line for line in lines)


def test_a_terminal_gets_one_live_bar_for_the_whole_run() -> None:
    written: list[str] = []
    progress = Shown(written.append, live=True)
    progress.add(4)
    progress.advance(2)
    progress.note("the model is ready (3 s)")
    progress.add(2)
    progress.advance(4)
    progress.close()
    text = "".join(written)
    assert "\r" in text and "FINE: the model is ready (3 s)\n" in text
    assert "6/6" in text.rsplit("\r", 1)[-1]  # the last redraw: every step of the run, on one line


def test_nothing_is_drawn_for_a_run_the_cache_answers() -> None:
    written: list[str] = []
    Shown(written.append, live=True).close()
    Shown(written.append, live=False).close()
    SILENT.add(3), SILENT.advance(3), SILENT.note("x"), SILENT.close()
    assert written == []


def test_a_run_shows_loading_ready_and_its_whole_count(project: pytest.Pytester) -> None:
    result = project.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "--fine-chunk-size=2")
    err = result.stderr.str()
    assert "FINE: loading the model py:scripted:model" in err and "FINE: the model is ready (" in err
    # 15 prompts and 5 verdicts, over eight chunks: one count for the run, ending complete.
    assert err.strip().splitlines()[-1].startswith("FINE: 100% 20/20 ["), err
    warm = project.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl")
    assert "FINE:" not in warm.stderr.str()  # the cache answered: no model, no line


def test_a_quiet_run_shows_no_progress(project: pytest.Pytester) -> None:
    result = project.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "-qq")
    assert "FINE: loading" not in result.stderr.str() and "FINE: 100%" not in result.stderr.str()


@pytest.mark.slow
def test_xdist_workers_show_plain_lines_under_their_own_names(project: pytest.Pytester) -> None:
    # A subprocess: the workers write to the stderr they inherit, which an in-process run does not capture.
    result = project.runpytest_subprocess(MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "-n", "2", "-p", "no:randomly")
    lines = result.stderr.str().splitlines()
    loading = [line for line in lines if line.endswith(": loading the model py:scripted:model")]
    assert loading and all(line.startswith(("FINE gw0:", "FINE gw1:")) for line in loading), lines
    finished = [line for line in lines if "100%" in line]
    assert finished and all(line.startswith(("FINE gw0: 100%", "FINE gw1: 100%")) for line in finished), lines
    assert not any("\r" in line or "\x1b" in line for line in lines)  # no bar: two would garble one terminal
    result.assert_outcomes(passed=1, xfailed=4)


@pytest.mark.slow
def test_a_run_with_stderr_closed_shows_no_progress_and_still_runs(project: pytest.Pytester) -> None:
    import subprocess
    import sys

    command = (
        f"{sys.executable} -m pytest {MODEL} {JUDGE} --fine-dataset=pairs.jsonl --fine-report=r.json "
        "-p no:faulthandler -p no:randomly 2>&-"
    )
    done = subprocess.run(["bash", "-c", command], cwd=project.path, capture_output=True, text=True, check=False)
    assert "AttributeError" not in done.stdout and "stopped" not in done.stdout, done.stdout[-2000:]
    assert read_json(project.path / "r.json")["gate"]["evaluated"] == 5


def test_the_models_loading_is_not_counted_in_the_rate() -> None:
    import time

    written: list[str] = []
    progress = Shown(written.append, live=False, interval=0.0)
    progress.add(4)
    time.sleep(1.1)  # the model loads: no step is done
    progress.restart_clock()
    progress.advance(2)
    assert "".join(written).startswith("FINE:  50% 2/4 [00:00<00:00,"), written
