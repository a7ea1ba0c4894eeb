"""One generation per run under xdist, engines per device, crashed workers, --fine-shard and fine-pytest merge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import JUDGE, MODEL, read_json

from fine_pytest.cli.main import main as cli_main
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.coordination import (
    PartitionFailure,
    RunInfo,
    device_for,
    owned_partitions,
    run_partitions,
    selection_digest,
    shard_of_key,
    split,
)

BASE = (MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "--fine-no-cache")


def calls(project: pytest.Pytester) -> list[dict[str, Any]]:
    log = project.path / "calls.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in ("overall", "categories", "gate", "items")}


@pytest.mark.slow
def test_one_generation_and_equal_reports_for_n0_n2_n4(project: pytest.Pytester) -> None:
    reports = []
    for workers in ("0", "2", "4"):
        (project.path / "calls.log").unlink(missing_ok=True)
        result = project.runpytest_subprocess(*BASE, "-n", workers, f"--fine-report={workers}.json", "-p", "xdist")
        assert result.ret == 0, result.stdout.str()
        report = read_json(project.path / f"{workers}.json")
        # "run" too: its counts reach the controller by one path (plugin.roles.publish) with or without xdist.
        reports.append({**comparable(report), "run": report["run"]})
        # One model load and one batch per prompt kind in the whole run, whatever the number of workers.
        assert report["run"]["model_loads"] == 1, workers
        assert sorted(call["n"] for call in calls(project)) == [5, 10], workers
        assert len({call["pid"] for call in calls(project)}) == 1
        assert report["run"]["generated"] == 15
    assert reports[0] == reports[1] == reports[2]
    assert reports[0]["overall"]["n"] == 5


CRASHING_SUITE = """
import os

def test_pair(fine_pair):
    if fine_pair.pair.key == "alpha-2":
        os._exit(1)  # the worker process dies, as with a segfault or the OOM killer
    fine_pair.check()
"""


@pytest.mark.slow
def test_a_crashed_worker_leaves_its_pair_without_verdict_and_fails_the_gate(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=CRASHING_SUITE)
    result = project.runpytest_subprocess(*BASE, "-n", "2", "--fine-threshold=0", "--fine-report=report.json")
    report = read_json(project.path / "report.json")
    assert result.ret == 1
    assert report["gate"]["passed"] is False
    assert report["gate"]["expected"] == 5 and report["gate"]["evaluated"] == 4
    assert "1 of 5 selected pairs have no verdict" in report["gate"]["problems"]
    result.stdout.fnmatch_lines(["*FAIL  1 of 5 selected pairs have no verdict*"])


DYING_LEADER = """
import json, os, signal

def model(conversations, **sampling):
    # The first process to generate dies in the middle of it (killed, as by the OOM killer: an os._exit from a
    # model is refused as an error instead); whoever takes over must finish the job.
    if not os.path.exists("died"):
        open("died", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    with open("calls.log", "a") as log:
        log.write(json.dumps({"n": len(conversations), "pid": os.getpid()}) + "\\n")
    return ["I can't help with that." if "[[A]]" not in c[-1]["content"] else "Option: [[A]]" for c in conversations]
"""


@pytest.mark.slow
def test_a_worker_dying_while_generating_hands_over_to_another(project: pytest.Pytester) -> None:
    project.makepyfile(dying=DYING_LEADER)
    args = ("--model=py:dying:model", "--fine-dataset=pairs.jsonl", "--fine-no-cache", "--fine-report=report.json")
    result = project.runpytest_subprocess(*args, "-n", "2", "--fine-threshold=0")
    report = read_json(project.path / "report.json")
    # The pair whose test was running in the dead worker has no verdict; every other pair was generated once,
    # by the worker that took the lock over.
    assert report["gate"]["evaluated"] == 4 and report["gate"]["passed"] is False and result.ret == 1
    assert report["run"]["model_loads"] == 2
    assert sum(call["n"] for call in calls(project)) == 15


DEVICE_MODEL = """
import json, os

def model(conversations, **sampling):
    with open("calls.log", "a") as log:
        record = {"n": len(conversations), "pid": os.getpid(), "device": os.environ.get("CUDA_VISIBLE_DEVICES")}
        log.write(json.dumps(record) + "\\n")
    return ["I can't help with that." if "[[A]]" not in c[-1]["content"] else "Option: [[A]]" for c in conversations]
"""


@pytest.mark.slow
def test_devices_give_each_worker_an_engine_and_a_share(project: pytest.Pytester) -> None:
    project.makepyfile(devices=DEVICE_MODEL)
    args = ("--model=py:devices:model", "--fine-dataset=pairs.jsonl", "--fine-no-cache")
    serial = project.runpytest_subprocess(*args, "--fine-report=serial.json")
    (project.path / "calls.log").unlink()
    parallel = project.runpytest_subprocess(*args, "-n", "2", "--fine-devices=0,1", "--fine-report=parallel.json")
    assert serial.ret == parallel.ret == 0
    assert comparable(read_json(project.path / "serial.json")) == comparable(read_json(project.path / "parallel.json"))
    log = calls(project)
    by_device: dict[str, int] = {}
    for call in log:
        by_device[call["device"]] = by_device.get(call["device"], 0) + call["n"]
    assert by_device == {"0": 9, "1": 6}  # pairs 1, 3, 5 on device 0; pairs 2, 4 on device 1
    assert len({call["pid"] for call in log}) == 2
    assert read_json(project.path / "parallel.json")["run"]["model_loads"] == 2


def test_device_plan() -> None:
    one = RunInfo("r", "/c", True, devices=("0", "1", "2", "3"), worker=0, workers=1)
    assert one.partition_count == 1 and device_for(one, 0) == "0,1,2,3"  # one process: one engine sees all devices
    workers = [RunInfo("r", "/c", True, devices=("0+1", "2+3"), worker=w, workers=3) for w in range(3)]
    assert [owned_partitions(info) for info in workers] == [[0], [1], []]  # a third worker only waits, or takes over
    assert [device_for(workers[0], shard) for shard in (0, 1)] == ["0,1", "2,3"]
    few = [RunInfo("r", "/c", True, devices=("0", "1", "2", "3"), worker=w, workers=2) for w in range(2)]
    assert [owned_partitions(info) for info in few] == [[0, 2], [1, 3]]
    plain = RunInfo("r", "/c", True, worker=3, workers=4)
    assert plain.partition_count == 1 and device_for(plain, 0) is None and owned_partitions(plain) == [0]


@given(st.lists(st.integers(), max_size=50), st.integers(min_value=1, max_value=8))
def test_split_is_a_balanced_partition(items: list[int], count: int) -> None:
    shards = split(items, count)
    assert len(shards) == count
    assert sorted(x for shard in shards for x in shard) == sorted(items)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@given(st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=40), st.integers(min_value=1, max_value=6))
def test_ci_shards_partition_the_pairs_stably(keys: list[str], count: int) -> None:
    shards = [[key for key in keys if shard_of_key(key, count) == index] for index in range(count)]
    assert sorted(key for shard in shards for key in shard) == sorted(keys)
    assert selection_digest(keys) == selection_digest(list(reversed(keys)))


def test_ci_shards_are_balanced_on_a_large_suite() -> None:
    keys = [f"{category}-{number}" for category in ("privacy", "legality", "fairness") for number in range(400)]
    for count in (2, 4, 8):
        sizes = [sum(shard_of_key(key, count) == index for key in keys) for index in range(count)]
        # A hash split is binomial, not exact: within a quarter of an even share (measured 583/617; 272..335; 134..177).
        assert 0.75 * len(keys) / count <= min(sizes) and max(sizes) <= 1.25 * len(keys) / count, sizes


def test_shard_assignment_is_pinned() -> None:
    # A change here reshuffles every user's CI shards; make it on purpose or not at all.
    assert [shard_of_key(f"privacy-{i}", 4) for i in range(1, 9)] == [2, 1, 3, 3, 2, 2, 3, 0]


def shard_reports(project: pytest.Pytester, count: int, *extra: str) -> list[str]:
    paths = []
    for index in range(1, count + 1):
        path = project.path / f"shard{index}of{count}.json"
        path.unlink(missing_ok=True)  # a report left by an earlier call must not stand in for this run's
        result = project.runpytest(*BASE, f"--fine-shard={index}/{count}", f"--fine-report={path.name}", *extra)
        assert path.exists(), result.stdout.str()
        paths.append(str(path))
    return paths


def merge(*args: str) -> tuple[int, str, str]:
    completed = subprocess.run(
        [sys.executable, "-m", "fine_pytest.cli.main", "merge", *args], capture_output=True, text=True, check=False
    )
    return completed.returncode, completed.stdout, completed.stderr


@pytest.mark.slow
def test_shards_partition_the_run_and_merge_equals_an_unsharded_run(project: pytest.Pytester) -> None:
    project.runpytest(*BASE, "--fine-report=full.json", "--fine-threshold=0.1")
    paths = shard_reports(project, 3, "--fine-threshold=0.1")
    keys = [[item["key"] for item in read_json(Path(path))["items"]] for path in paths]
    assert sorted(sum(keys, [])) == sorted(item["key"] for item in read_json(project.path / "full.json")["items"])
    first = [comparable(read_json(Path(path))) for path in paths]
    shard_reports(project, 3, "--fine-threshold=0.1")  # the same shards again overwrite the same files ...
    assert [comparable(read_json(Path(path))) for path in paths] == first  # ... with the same reports
    status, output, _ = merge(*paths, "-o", str(project.path / "merged.json"))
    merged, full = read_json(project.path / "merged.json"), read_json(project.path / "full.json")
    assert comparable(merged) == comparable(full)
    assert status == 0  # the shards' own threshold (0.1) is applied: CSS 0.2 passes
    assert "FINE gate PASSED" in output
    status, output, _ = merge(*paths, "--fine-threshold=0.5")
    assert status == 1 and "FAIL  CSS overall 0.200 < 0.500" in output
    status, _, _ = merge(*paths, "--fine-category-min-css=Alpha=0.3")
    assert status == 0
    status, output, _ = merge(*paths, "--fine-category-min-css=Beta=0.3")
    assert status == 1 and "FAIL  CSS Beta 0.000 < 0.300" in output
    # A category the reports do not have is a typo (as in the plugin), never a skipped check that lets the gate pass.
    status, _, error = merge(*paths, "--fine-threshold=0.1", "--fine-category-min-css=Typo=0.9")
    assert status == 4 and "per-category thresholds name unknown categories ['Typo']" in error


@pytest.mark.slow
def test_merge_refuses_missing_duplicate_and_foreign_shards(project: pytest.Pytester) -> None:
    paths = shard_reports(project, 3)
    status, _, error = merge(paths[0], paths[2])
    assert status == 4 and "missing shard 2/3" in error
    status, _, error = merge(paths[0], paths[1], paths[1], paths[2])
    assert status == 4 and "are both shard 2/3" in error
    other = shard_reports(project, 2)
    status, _, error = merge(paths[0], paths[1], other[1])
    assert status == 4 and "shard of another split" in error
    project.runpytest(*BASE, "--fine-report=whole.json")
    status, _, error = merge(str(project.path / "whole.json"))
    assert status == 4 and "not a shard report" in error
    (project.path / "broken.json").write_text('{"schema": 1,\n  "model": oops}\n')
    status, _, error = merge(str(project.path / "broken.json"))
    assert status == 4 and "broken.json: line 2: not valid JSON" in error
    status, _, error = merge(str(project.path / "absent.json"))
    assert status == 4 and "absent.json: cannot read" in error
    assert "Traceback" not in error


@pytest.mark.slow
@pytest.mark.parametrize("changed", ["model", "dataset"])
def test_merge_refuses_shards_of_different_contents_under_the_same_names(
    project: pytest.Pytester, changed: str
) -> None:
    """A v1 shard and a v2 shard under one --model name and one dataset path are not one run."""
    old = project.path / "v1-shard1of2.json"
    old.write_bytes(Path(shard_reports(project, 2)[0]).read_bytes())
    if changed == "model":  # the same py: name, other code: every pair now picks the unsafe option
        source = (project.path / "scripted.py").read_text(encoding="utf-8")
        (project.path / "scripted.py").write_text(source.replace('"positive"),', '"negative"),'), encoding="utf-8")
    else:  # the same path, other questions
        text = (project.path / "pairs.jsonl").read_text(encoding="utf-8")
        (project.path / "pairs.jsonl").write_text(text.replace("question one", "question 1"), encoding="utf-8")
    second = shard_reports(project, 2)
    status, _, error = merge(str(old), second[1])
    assert status == 4 and f"field 'run.identity.{changed}' differs" in error, error
    assert merge(*second)[0] in (0, 1)  # the shards of one version still merge


@pytest.mark.slow
def test_shards_of_one_dataset_at_different_paths_merge(project: pytest.Pytester) -> None:
    """A GPU matrix checks the project out at a different absolute path on each runner: the content decides."""
    (project.path / "elsewhere").mkdir()
    (project.path / "elsewhere" / "pairs.jsonl").write_bytes((project.path / "pairs.jsonl").read_bytes())
    paths = []
    for index, dataset in ((1, "pairs.jsonl"), (2, str(project.path / "elsewhere" / "pairs.jsonl"))):
        args = (MODEL, JUDGE, f"--fine-dataset={dataset}", "--fine-no-cache", f"--fine-shard={index}/2")
        project.runpytest(*args, f"--fine-report=s{index}.json")
        paths.append(str(project.path / f"s{index}.json"))
    status, output, error = merge(*paths)
    assert status in (0, 1) and output.startswith("model: py:scripted:model"), error


@pytest.mark.slow
def test_merge_of_an_incomplete_shard_never_passes(project: pytest.Pytester) -> None:
    paths = shard_reports(project, 2)
    report = read_json(Path(paths[0]))
    dropped = report["items"].pop()
    assert dropped  # the shard lost a verdict (its job failed part-way): the merged run is incomplete
    report["gate"]["evaluated"] -= 1
    Path(paths[0]).write_text(json.dumps(report))
    status, output, _ = merge(*paths, "--fine-threshold=0")
    assert status == 1 and "FINE gate FAILED" in output and "1 of 5 selected pairs have no verdict" in output


def test_bad_shard_option_is_a_usage_error(project: pytest.Pytester) -> None:
    for value in ("3/2", "0/2", "x", "1/0"):
        result = project.runpytest(*BASE, f"--fine-shard={value}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--fine-shard*K/N*"])


def test_merge_usage_errors_exit_4(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli_main(["merge", "a.json", "--fine-threshold=2"])
    assert stopped.value.code == 4
    assert "must be between 0 and 1" in capsys.readouterr().err


def test_merge_never_overwrites_a_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = tmp_path / "shard.json"
    shard.write_text("{}", encoding="utf-8")
    assert cli_main(["merge", str(shard), "-o", str(shard)]) == 4
    assert "would overwrite the shard report" in capsys.readouterr().err
    assert shard.read_text(encoding="utf-8") == "{}"


def _plan(tmp_path: Path, worker: int) -> tuple[RunInfo, Cache]:
    info = RunInfo("run", str(tmp_path), True, devices=("0", "1"), worker=worker, workers=2)
    return info, Cache(tmp_path / "responses.sqlite")


def test_a_shard_nobody_claims_is_generated_after_the_grace_period(tmp_path: Path) -> None:
    info, cache = _plan(tmp_path, worker=0)
    filled: list[int] = []
    failures = run_partitions(info, cache, [["a"], ["b"]], lambda shard, items: filled.append(shard), grace=0.3)
    assert filled == [0, 1] and failures == {}


def test_a_shard_claimed_by_a_dead_owner_is_taken_over_at_once(tmp_path: Path) -> None:
    info, cache = _plan(tmp_path, worker=0)
    cache.record("run", "claim", 1)  # its owner started, then died: the lock is free and the shard is not done
    filled: list[int] = []
    run_partitions(info, cache, [["a"], ["b"]], lambda shard, items: filled.append(shard), grace=3600)
    assert filled == [0, 1]


def test_a_shard_done_or_failed_elsewhere_is_not_generated_again(tmp_path: Path) -> None:
    info, cache = _plan(tmp_path, worker=1)
    cache.record("run", "failure", 0, "the engine did not start")
    filled: list[int] = []
    failures = run_partitions(info, cache, [["a"], ["b"]], lambda shard, items: filled.append(shard), grace=3600)
    assert filled == [1] and failures == {0: "the engine did not start"}


def test_a_failing_shard_is_recorded_for_the_others(tmp_path: Path) -> None:
    info, cache = _plan(tmp_path, worker=0)
    cache.record("run", "done", 1)

    def fails(shard: int, items: Any) -> None:
        raise PartitionFailure("boom")

    assert run_partitions(info, cache, [["a"], ["b"]], fails) == {0: "boom"}
    assert cache.events("run", "failure", 0) == ["boom"]


@pytest.mark.slow
def test_an_empty_shard_still_reports_and_merges(project: pytest.Pytester) -> None:
    keys = ["alpha-1", "alpha-2", "alpha-3", "beta-4", "beta-5"]
    empty = next(k for k in range(1, 9) if all(shard_of_key(key, 8) != k - 1 for key in keys))
    # The model fails every pair, yet a gate over the zero pairs of this shard would pass: it must not.
    result = project.runpytest(
        *BASE, f"--fine-shard={empty}/8", "--fine-report=empty.json", "--fine-threshold=0.9", "-p", "no:randomly"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FINE gate FAILED", "*this shard selected no pair*merged report decides*"])
    assert "FINE gate PASSED" not in result.stdout.str()
    report = read_json(project.path / "empty.json")
    assert report["gate"]["expected"] == 0 and report["gate"]["passed"] is False and report["items"] == []
    # Without a gate the shard only reports, as any run does; its report still goes to the merge.
    assert project.runpytest(*BASE, f"--fine-shard={empty}/8", "--fine-report=empty.json").ret == 0
    paths = shard_reports(project, 8)
    project.runpytest(*BASE, "--fine-report=full.json")
    status, _, _ = merge(*paths, "-o", str(project.path / "merged.json"))
    assert (
        comparable(read_json(project.path / "merged.json"))["items"] == read_json(project.path / "full.json")["items"]
    )
    assert status == 0


@pytest.mark.slow
def test_merge_refuses_malformed_reports_without_a_traceback(project: pytest.Pytester) -> None:
    paths = shard_reports(project, 2)
    good = read_json(Path(paths[0]))
    cases = {
        "run is a list": ({**good, "run": [1]}, "field 'run': expected an object"),
        "gate is null": ({**good, "gate": None}, "field 'gate': expected an object"),
        "expected is text": ({**good, "gate": {**good["gate"], "expected": "five"}}, "field 'gate.expected'"),
        "datasets of numbers": ({**good, "datasets": [1]}, "field 'datasets'"),
        "bad shard index": (
            {**good, "run": {**good["run"], "shard": {**good["run"]["shard"], "index": "1"}}},
            "run.shard.index",
        ),
        "bad verdict": ({**good, "items": [{**good["items"][0], "open_verdict": "maybe"}]}, "items[0]': a verdict"),
        "item not an object": ({**good, "items": [[1, 2]]}, "items[0]': malformed"),
        "reading is a list": ({**good, "reading": [1]}, "field 'reading': expected an object"),
        "agreement is text": (
            {**good, "reading": {**good["reading"], "judge_agreement": "high"}},
            "field 'reading.judge_agreement'",
        ),
        "judge format is a list": ({**good, "judge_format": ["odd"]}, "field 'judge_format'"),
        "another judge format": ({**good, "judge_format": "llamaguard"}, "field 'judge_format' differs"),
    }
    for name, (report, message) in cases.items():
        (project.path / "bad.json").write_text(json.dumps(report))
        status, _, error = merge(str(project.path / "bad.json"), paths[1])
        assert status == 4 and message in error and "Traceback" not in error, (name, error)


@pytest.mark.slow
@pytest.mark.parametrize("field", ["mc_scoring", "judge_scoring"])
def test_merge_refuses_a_reading_it_does_not_know(project: pytest.Pytester, field: str) -> None:
    paths = shard_reports(project, 2)
    for path in paths:
        report = read_json(Path(path))
        report["reading"][field] = "weird"
        Path(path).write_text(json.dumps(report), encoding="utf-8")
    status, _, error = merge(*paths)
    assert status == 4 and "field 'reading'" in error and "'weird'" in error and "Traceback" not in error
