"""Batch files end to end: --fine-export-requests, a batch engine (here a stub that answers each line with the
scripted model, as vllm run-batch answers with a real one; tests/vllm runs the real one), --fine-import-responses,
and every way a batch output file can be wrong."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from support import FORMS_MODEL, HAND_COMPUTED, JUDGE, batch_rounds, engine, read_json

BASE = ("--model=py:scripted:model", JUDGE, "--fine-dataset=pairs.jsonl")


def export(pytester: pytest.Pytester, *args: str, path: str = "requests.jsonl") -> pytest.RunResult:
    return pytester.runpytest(*BASE, *args, f"--fine-export-requests={path}")


def test_the_loop_scores_like_a_live_run_and_generates_nothing(project: pytest.Pytester) -> None:
    exported = export(project)
    assert exported.ret == 0, exported.stdout.str()
    assert "FINE gate" not in exported.stdout.str()  # no evaluation, no gate
    exported.stdout.fnmatch_lines(["*wrote 15 request(s) to *requests.jsonl*model 'py:scripted:model'*"])
    lines = [json.loads(line) for line in (project.path / "requests.jsonl").read_text().splitlines()]
    assert len({line["custom_id"] for line in lines}) == 15
    assert all(re.fullmatch(r"[0-9a-f]{64}", line["custom_id"]) for line in lines)
    assert all(line["body"]["model"] == "py:scripted:model" and line["body"]["temperature"] == 0 for line in lines)
    assert not (project.path / "calls.log").exists()  # the model was not asked anything
    assert engine(project.path, "scripted")(project.path / "requests.jsonl", project.path / "responses.jsonl") == 15
    (project.path / "calls.log").unlink()  # the stub engine's own calls
    imported = project.runpytest(*BASE, "--fine-import-responses=responses.jsonl", "--fine-report=r.json")
    imported.assert_outcomes(passed=1, xfailed=4)
    report = read_json(project.path / "r.json")
    assert not (project.path / "calls.log").exists()  # the model under test never loaded
    assert report["run"]["generated"] == 0 and report["run"]["cached"] == 15
    assert report["run"]["imported"]["lines"] == 15 and report["run"]["imported"]["stored"] == 15
    for name in ("cs", "css", "open_safe_rate", "mc_safe_rate"):
        assert report["overall"][name] == pytest.approx(HAND_COMPUTED["overall"][name])
    # Everything is answered now: a second export says so and writes nothing.
    again = export(project, path="again.jsonl")
    assert again.ret == 0 and not (project.path / "again.jsonl").exists()
    again.stdout.fnmatch_lines(["*nothing to export, every prompt of this run is answered*"])
    # The same file imported twice stores nothing new, and the run is the same.
    twice = project.runpytest(*BASE, "--fine-import-responses=responses.jsonl", "--fine-report=r2.json")
    twice.assert_outcomes(passed=1, xfailed=4)
    assert read_json(project.path / "r2.json")["run"]["imported"]["stored"] == 0


FORMS = ("--fine-forms=labels,single,instructions", "--fine-forms-examples=1", "--fine-seed=3")


def test_with_forms_each_export_writes_the_next_shrink_round_and_the_end_equals_a_live_run(
    project: pytest.Pytester,
) -> None:
    """The shrink needs the answers before each round: export, answer, import, repeat until nothing is left; the
    forms then come out byte for byte as a live run's, and the model under test was never asked. (Both readings,
    through run() alone: tests/plugin/pipeline/test_run.py.)"""
    scoring = "logprob"
    project.makepyfile(formed=FORMS_MODEL)
    args = ("--model=py:formed:model", JUDGE, "--fine-dataset=pairs.jsonl", *FORMS, f"--fine-mc-scoring={scoring}")
    live = project.runpytest(*args, "--fine-cache-dir=live-cache", "--fine-report=live.json")
    live.assert_outcomes(passed=1, xfailed=4)
    rounds = batch_rounds(project, args, "formed")
    assert len(rounds) >= 2, rounds  # the first batch, then at least one shrink round
    final = project.runpytest(*args, "--fine-report=batch.json")
    final.assert_outcomes(passed=1, xfailed=4)
    live_report, batch_report = read_json(project.path / "live.json"), read_json(project.path / "batch.json")
    assert batch_report["forms"] == live_report["forms"]
    assert [item["forms"] for item in batch_report["items"]] == [item["forms"] for item in live_report["items"]]
    assert batch_report["overall"] == live_report["overall"]
    assert batch_report["run"]["generated"] == 0


def test_an_import_that_leaves_a_shrink_round_unanswered_fails_every_pair_and_says_what_to_do(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(formed=FORMS_MODEL)
    args = ("--model=py:formed:model", JUDGE, "--fine-dataset=pairs.jsonl", *FORMS, "--fine-threshold=0.0")
    assert project.runpytest(*args, "--fine-export-requests=first.jsonl").ret == 0
    engine(project.path, "formed")(project.path / "first.jsonl", project.path / "first-out.jsonl")
    result = project.runpytest(*args, "--fine-import-responses=first-out.jsonl")
    assert result.ret == 1  # never a passing gate on missing answers, even at threshold 0
    result.stdout.fnmatch_lines(["*neither in the cache nor in the batch file*--fine-export-requests*"])


def _answered(project: pytest.Pytester) -> list[dict[str, Any]]:
    assert export(project).ret == 0
    engine(project.path, "scripted")(project.path / "requests.jsonl", project.path / "good.jsonl")
    return [json.loads(line) for line in (project.path / "good.jsonl").read_text().splitlines()]


ATTACK = "\x1b[2J\x1b]0;pwned\x07"


def test_a_bad_batch_file_is_a_usage_error_naming_the_line_and_stores_nothing(project: pytest.Pytester) -> None:
    """Each way a file can be wrong is a unit test of the import (tests/plugin/pipeline/test_batch_import.py); here
    the plugin's side: exit 4, the line named, model text escaped, no traceback, nothing stored, the model unasked."""
    lines = _answered(project)
    lines[1] = {**lines[1], "error": {"message": "boom" + ATTACK}}
    (project.path / "bad.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    (project.path / "calls.log").unlink()
    result = project.runpytest(*BASE, "--fine-import-responses=bad.jsonl", "--fine-threshold=0.0")
    assert result.ret == 4, result.stdout.str()
    out = result.stdout.str() + result.stderr.str()
    assert "nothing was stored" in out and ATTACK not in out
    result.stdout.fnmatch_lines(['*line 2: custom_id * the batch reports an error: {"message": "boom*'])
    assert "Traceback" not in out and not (project.path / "calls.log").exists()
    # Nothing was stored: the next export still asks for every prompt.
    assert export(project, path="again.jsonl").ret == 0
    assert len((project.path / "again.jsonl").read_text().splitlines()) == 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fine-export-requests=a.jsonl", "--fine-import-responses=pairs.jsonl"), "are two steps"),
        (("--fine-export-requests=a.jsonl", "-n", "2"), "with -n 2: run the export without xdist"),
        (("--fine-export-requests=a.jsonl", "--tx", "popen"), "with --tx popen: run the export without xdist"),
        (
            ("--fine-export-requests=a.jsonl", "--fine-temperature=0.7", "--fine-seed=none"),
            "greedily (--fine-temperature=0) or with a seed",
        ),
        (("--fine-import-responses=absent.jsonl",), "--fine-import-responses: no file at"),
        (("--fine-export-requests=a.jsonl", "--fine-no-cache"), "keep the cache"),
    ],
)
def test_batch_options_that_cannot_work_are_usage_errors(
    project: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = project.runpytest(*BASE, *args)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert not (project.path / "a.jsonl").exists()


def test_a_seeded_sampled_run_can_be_exported(project: pytest.Pytester) -> None:
    result = project.runpytest(*BASE, "--fine-temperature=0.7", "--fine-seed=5", "--fine-export-requests=a.jsonl")
    assert result.ret == 0
    lines = [json.loads(line) for line in (project.path / "a.jsonl").read_text().splitlines()]
    assert {(line["body"]["temperature"], line["body"]["seed"]) for line in lines} == {(0.7, 5)}


@pytest.mark.parametrize(
    "refusal",
    [
        # vllm run-batch: a 400 response without a body, and the server's error response beside it.
        {
            "response": {"status_code": 400, "request_id": "r", "body": None},
            "error": {"error": {"message": "This model's maximum context length is 512 tokens.", "code": 400}},
        },
        # An OpenAI-style batch: no response, the error's code and message.
        {"response": None, "error": {"code": 400, "message": "The prompt is too long" + ATTACK}},
    ],
    ids=["vllm", "openai"],
)
def test_a_prompt_the_engine_refused_as_too_long_fails_its_pair_alone(
    project: pytest.Pytester, refusal: dict[str, Any]
) -> None:
    # As from a live server: that prompt has no answer, its pair no verdict, and the gate fails; the others count.
    lines = _answered(project)
    lines[0] = {**lines[0], **refusal}
    (project.path / "out.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = project.runpytest(
        *BASE, "--fine-import-responses=out.jsonl", "--fine-threshold=0.0", "--fine-report=r.json"
    )
    assert result.ret == 1, result.stdout.str()
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["*has no verdict: open prompt: the batch engine refused the prompt:*"])
    assert ATTACK not in out and "Traceback" not in out
    report = read_json(project.path / "r.json")
    assert report["gate"]["passed"] is False and report["gate"]["evaluated"] == 4
    # A refusal is no answer: the next export asks for that prompt again, and for nothing else.
    assert export(project, path="again.jsonl").ret == 0
    again = (project.path / "again.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["custom_id"] for line in again] == [lines[0]["custom_id"]]
