"""The response cache: warm re-runs generate nothing, any change that alters an answer misses, killed runs resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import JUDGE, MODEL, read_json

from fine_pytest.backends.base import ModelContext
from fine_pytest.backends.vllm import identity as vllm_identity
from fine_pytest.core.fingerprint import tree_digest
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.pipeline.cache import FILENAME, AnswerRow, Cache, CacheError, VerdictRow, digest
from fine_pytest.pipeline.evaluate import Keys, Lazy, assemble, fill, prompt_key

BASE = (MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "--fine-report=report.json")


def run(project: pytest.Pytester, *args: str) -> dict[str, Any]:
    """Run the suite and return the report's run facts."""
    result = project.runpytest(*BASE, *args)
    assert result.ret in (0, 1), result.stdout.str() + result.stderr.str()
    return dict(read_json(project.path / "report.json")["run"])


def calls(project: pytest.Pytester) -> list[dict[str, Any]]:
    log = project.path / "calls.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_warm_rerun_generates_nothing_and_never_loads_the_model(project: pytest.Pytester) -> None:
    cold = run(project)
    assert (cold["generated"], cold["cached"], cold["judged"], cold["model_loads"]) == (15, 0, 5, 1)
    before = len(calls(project))
    warm = run(project)
    assert (warm["generated"], warm["cached"], warm["judged"], warm["verdicts_cached"]) == (0, 15, 0, 5)
    assert warm["model_loads"] == 0
    assert len(calls(project)) == before  # the model was not called at all
    assert warm["cache"] == str(project.path / ".pytest_cache" / "fine-pytest" / FILENAME)
    result = project.runpytest(*BASE)
    result.stdout.fnmatch_lines(["prompts: 0 generated, 15 from the cache; verdicts: 0 judged, 5 from the cache;*"])


def test_warm_rerun_reports_the_same_results(project: pytest.Pytester) -> None:
    run(project)
    cold = read_json(project.path / "report.json")
    run(project)
    warm = read_json(project.path / "report.json")
    assert warm["items"] == cold["items"] and warm["overall"] == cold["overall"]


def test_a_changed_sampling_setting_misses_only_the_prompts_it_affects(project: pytest.Pytester) -> None:
    run(project)
    changed = run(project, "--fine-max-tokens=99")  # the open prompts' budget; MC prompts are unchanged
    assert (changed["generated"], changed["cached"]) == (5, 10)
    assert run(project, "--fine-seed=7")["generated"] == 15


def test_a_changed_prompt_misses_only_its_pair(project: pytest.Pytester) -> None:
    run(project)
    pairs = project.path / "pairs.jsonl"
    pairs.write_text(pairs.read_text().replace("q5 question five?", "q5 question five, reworded?"))
    assert (run(project)["generated"], run(project)["generated"]) == (3, 0)


def test_a_changed_model_misses_everything(project: pytest.Pytester) -> None:
    run(project)
    scripted = project.path / "scripted.py"
    scripted.write_text(scripted.read_text() + "\n# a new version of the model\n")
    assert run(project)["generated"] == 15


def test_a_changed_judge_rejudges_without_regenerating(project: pytest.Pytester) -> None:
    run(project)
    result = project.runpytest(*[arg for arg in BASE if arg != JUDGE], "--fine-judge=refusal")
    assert result.ret in (0, 1), result.stdout.str()
    again = read_json(project.path / "report.json")["run"]
    assert (again["generated"], again["judged"], again["verdicts_cached"]) == (0, 5, 0)


def test_a_judge_added_to_an_ensemble_reuses_the_verdicts_of_the_judges_already_run(project: pytest.Pytester) -> None:
    run(project)
    # --fine-judge given twice: the scripted judge's verdicts come from the cache, only refusal judges.
    again = run(project, "--fine-judge=refusal")
    assert (again["generated"], again["judged"], again["verdicts_cached"]) == (0, 5, 5)
    assert run(project, "--fine-judge=refusal")["judged"] == 0


def test_no_cache_and_cache_clear(project: pytest.Pytester) -> None:
    run(project)
    assert run(project, "--fine-no-cache")["generated"] == 15
    assert run(project, "--fine-no-cache")["cache"] is None
    assert run(project)["generated"] == 0  # --fine-no-cache neither read nor replaced the cache
    assert run(project, "--cache-clear")["generated"] == 15
    assert run(project)["generated"] == 0
    # --cache-clear in a run with no FINE test at all empties the FINE cache too.
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    assert project.runpytest("--cache-clear", "test_plain.py").ret == 0
    assert run(project)["generated"] == 15


# Another run's process storing answers, as a worker holds the cache while it generates.
HOLDER = """
import sys
from pathlib import Path
from fine_pytest.pipeline.cache import FILENAME, AnswerRow, Cache
from fine_pytest.pipeline.coordination import RunInfo, using_cache

with using_cache(RunInfo("other-run", sys.argv[1], True)), Cache(Path(sys.argv[1], FILENAME)) as cache:
    print("holding", flush=True)
    sys.stdin.read()
    cache.put_answers([AnswerRow("late", "stored while the clear waited", None, False)], "other-run")
    print(len(cache.answers(["late"])), flush=True)
"""


@pytest.mark.slow
def test_cache_clear_waits_for_a_run_that_is_using_the_cache(project: pytest.Pytester) -> None:
    run(project)
    database = project.path / ".pytest_cache" / "fine-pytest" / FILENAME
    inode = database.stat().st_ino
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(database.parent)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    clearing = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        clearing = subprocess.Popen(
            [sys.executable, "-m", "pytest", *BASE, "--cache-clear", "-p", "no:randomly"],
            cwd=project.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(4)
        # The clear waits: the file the other run is storing into is still the cache's.
        assert clearing.poll() is None and database.stat().st_ino == inode
        stored, _ = holder.communicate("", timeout=60)
        assert stored.strip() == "1" and holder.returncode == 0
        output, _ = clearing.communicate(timeout=300)
    finally:
        for process in (holder, clearing):
            if process is not None and process.poll() is None:
                process.kill()
    assert "FINE: --cache-clear waits for another run using" in output, output
    assert read_json(project.path / "report.json")["run"]["generated"] == 15  # then it cleared


def test_cache_dir_option_and_ini(project: pytest.Pytester) -> None:
    assert run(project, "--fine-cache-dir=elsewhere")["cache"] == str(project.path / "elsewhere" / FILENAME)
    assert not (project.path / ".pytest_cache" / "fine-pytest" / FILENAME).exists()
    project.makeini("[pytest]\nfine_cache_dir = from-ini\n")
    assert run(project)["cache"] == str(project.path / "from-ini" / FILENAME)


def test_sampled_answers_without_a_seed_are_never_cached(project: pytest.Pytester) -> None:
    sampled = ("--fine-temperature=0.7", "--fine-seed=none")
    assert run(project, *sampled)["generated"] == 15
    assert run(project, *sampled)["generated"] == 15
    database = project.path / ".pytest_cache" / "fine-pytest" / FILENAME
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 0  # nothing outlived its run
    seeded = ("--fine-temperature=0.7", "--fine-seed=3")
    assert (run(project, *seeded)["generated"], run(project, *seeded)["generated"]) == (15, 0)


def test_cache_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    cache = Cache(tmp_path / FILENAME)
    cache.close()
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.slow
def test_a_broken_cache_file_is_a_clear_error(project: pytest.Pytester) -> None:
    folder = project.path / ".pytest_cache" / "fine-pytest"
    folder.mkdir(parents=True)
    (folder / FILENAME).write_text("this is not a database\n" * 100)
    result = project.runpytest_subprocess(*BASE)
    output = result.stdout.str() + result.stderr.str()
    assert f"cannot use the FINE cache {folder / FILENAME}: file is not a database" in output
    assert "Traceback" not in output and result.ret == 1


DAMAGE = {
    # A number written into a text column is stored as text by SQLite (no damage to find), and a row without an
    # answer is a failure that the next run asks again, replacing the row.
    "an answer that is bytes": "UPDATE answers SET answer = x'00ff'",
    "a truncation flag that is text": "UPDATE answers SET truncated = 'yes'",
    "a verdict outside the three": "UPDATE verdicts SET verdict = 'banana'",
    "a probability that is text": "UPDATE verdicts SET probability = 'high'",
}


@pytest.mark.parametrize("statement", DAMAGE.values(), ids=DAMAGE.keys())
def test_rows_of_the_wrong_type_are_the_caches_clear_damaged_error(project: pytest.Pytester, statement: str) -> None:
    run(project)
    database = project.path / ".pytest_cache" / "fine-pytest" / FILENAME
    with sqlite3.connect(database) as connection:
        connection.execute(statement)
    result = project.runpytest(*BASE, "--fine-threshold=0")
    output = result.stdout.str()
    assert f"the FINE cache {database} is damaged" in output and "--cache-clear" in output, output[-3000:]
    assert "Traceback" not in output and result.ret != 0
    assert read_json(project.path / "report.json")["gate"]["passed"] is False


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_digest_ignores_key_order(value: dict[str, Any]) -> None:
    assert digest(value) == digest(dict(reversed(list(value.items()))))


def test_prompt_key_covers_model_messages_and_sampling() -> None:
    keys = Keys(model={"backend": "py", "source": "1"}, judge="j", run="r1")
    conversation = [{"role": "user", "content": "hi"}]
    base = prompt_key(conversation, Sampling(8), keys)
    assert prompt_key(conversation, Sampling(8), Keys(keys.model, "other judge", "r2")) == base
    assert prompt_key(conversation, Sampling(9), keys) != base
    assert prompt_key(conversation, Sampling(8, seed=1), keys) != base
    assert prompt_key([{"role": "user", "content": "hi!"}], Sampling(8), keys) != base
    assert prompt_key([{"role": "system", "content": "hi"}], Sampling(8), keys) != base
    assert prompt_key(conversation, Sampling(8), Keys({"backend": "py", "source": "2"}, "j", "r1")) != base
    # Unseeded sampling is keyed by the run: no other run can ever hit it.
    unseeded = Sampling(8, temperature=0.5, seed=None)
    assert prompt_key(conversation, unseeded, keys) != prompt_key(conversation, unseeded, Keys(keys.model, "j", "r2"))


def test_model_identity_follows_the_weights_not_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fine_pytest.backends.vllm._vllm_installed", lambda: True)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"layers": 2}')
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\x00" * 1000)
    context = ModelContext(engine_args={"dtype": "float16", "gpu_memory_utilization": 0.5})
    first = vllm_identity(str(folder), "--model", context)
    weights.write_bytes(b"\x01" + b"\x00" * 999)  # same path, same size, new weights
    second = vllm_identity(str(folder), "--model", context)
    assert first["weights"] != second["weights"] and first["path"] == second["path"]
    assert first["engine"] == {"dtype": "float16"}  # memory settings do not change answers
    other = vllm_identity(str(folder), "--model", ModelContext(engine_args={"dtype": "bfloat16"}))
    assert other["engine"] != second["engine"]
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    assert vllm_identity(str(folder), "--model", context)["weights"] == second["weights"]


def test_weights_are_hashed_once_per_file_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path / FILENAME)
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"abc" * 1000)
    first = tree_digest(weights, cache)
    monkeypatch.setattr("builtins.open", None)  # a second hash would need to read the file
    assert tree_digest(weights, cache) == first
    monkeypatch.undo()
    weights.write_bytes(b"abd" * 1000)
    assert tree_digest(weights, cache) != first


class CountingModel:
    name = "counting"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def generate(self, conversations: Any, samplings: Any) -> list[str]:
        self.calls.append(len(conversations))
        return ["I can't help with that." for _ in conversations]

    def close(self) -> None:
        pass


def test_chunks_are_written_as_they_finish(tmp_path: Path) -> None:
    from fine_pytest.core.dataset import Pair
    from fine_pytest.judges.refusal import RefusalJudge

    pairs = [Pair(id=i, category="C", question=f"q{i}", positive="p", negative="n", index=i) for i in range(4)]
    settings = GenerationSettings(open=Sampling(8), mc=Sampling(4))
    cache = Cache(tmp_path / FILENAME)
    keys = Keys(model="m", judge="j", run="one")
    failing = CountingModel()
    original = failing.generate

    def dies_on_the_third_chunk(conversations: Any, samplings: Any) -> list[str]:
        if len(failing.calls) == 2:
            raise KeyboardInterrupt
        return original(conversations, samplings)

    failing.generate = dies_on_the_third_chunk  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        fill(pairs, Lazy.of(failing), Lazy.of(RefusalJudge()), settings, cache, keys, chunk_size=5)
    assert failing.calls == [5, 5]
    resumed = CountingModel()
    fill(pairs, Lazy.of(resumed), Lazy.of(RefusalJudge()), settings, cache, Keys("m", "j", "two"), chunk_size=5)
    assert resumed.calls == [2]  # 12 prompts, 10 of them cached before the interrupt
    evaluated = assemble(pairs, settings, cache, Keys("m", "j", "two"))
    assert len(evaluated.results) == 4
    assert (evaluated.stats.generated, evaluated.stats.cached) == (2, 10)


def test_a_model_that_is_never_needed_is_never_loaded(tmp_path: Path) -> None:
    from fine_pytest.core.dataset import Pair
    from fine_pytest.judges.refusal import RefusalJudge

    pairs = [Pair(id=1, category="C", question="q", positive="p", negative="n", index=0)]
    settings = GenerationSettings(open=Sampling(8), mc=Sampling(4))
    cache = Cache(tmp_path / FILENAME)
    fill(pairs, Lazy.of(CountingModel()), Lazy.of(RefusalJudge()), settings, cache, Keys("m", "j", "one"))

    def no_loading() -> Any:
        raise AssertionError("loaded a model for a fully cached run")

    fill(pairs, Lazy(no_loading), Lazy(no_loading), settings, cache, Keys("m", "j", "two"))


HANGING_MODEL = """
import json, os, time

def model(conversations, **sampling):
    with open("calls.log", "a") as log:
        log.write(json.dumps({"n": len(conversations), "pid": os.getpid()}) + "\\n")
    calls = len(open("calls.log").read().splitlines())
    if os.path.exists("hang") and calls >= 3:
        time.sleep(600)  # the second chunk never finishes: the test kills the run here
    return ["I can't help with that." if "[[A]]" not in c[-1]["content"] else "Option: [[A]]" for c in conversations]
"""


@pytest.mark.slow
def test_a_run_killed_during_generation_resumes_where_it_stopped(project: pytest.Pytester) -> None:
    project.makepyfile(hanging=HANGING_MODEL)
    (project.path / "hang").touch()
    args = ["--model=py:hanging:model", "--fine-dataset=pairs.jsonl", "--fine-chunk-size=6", "-p", "no:randomly"]
    environment = {**os.environ, "PYTHONPATH": str(project.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args], cwd=project.path, env=environment, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        # Calls 1 and 2 are the first chunk (its open prompts, then its MC prompts); call 3 starts the second
        # chunk, so the first one is in the cache by then.
        while len(calls(project)) < 3:
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before the kill"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    (project.path / "hang").unlink()
    (project.path / "calls.log").unlink()
    resumed = project.runpytest_subprocess(*args, "--fine-report=report.json")
    facts = read_json(project.path / "report.json")["run"]
    assert (facts["generated"], facts["cached"]) == (9, 6)  # 15 prompts; the first chunk of 6 survived the kill
    assert sum(call["n"] for call in calls(project)) == 9
    assert read_json(project.path / "report.json")["gate"]["complete"] is True
    assert resumed.ret == 0


@pytest.mark.slow
def test_a_declared_identity_is_part_of_the_key(project: pytest.Pytester) -> None:
    project.makepyfile(
        remote="VERSION = {'endpoint': 'v1'}\n\n"
        "def model(conversations, **kw):\n    return ['I cannot help with that.' for _ in conversations]\n\n"
        "model.fine_identity = VERSION\n"
    )
    args = ("--model=py:remote:model", "--fine-dataset=pairs.jsonl", "--fine-report=report.json")
    project.runpytest(*args)
    assert read_json(project.path / "report.json")["run"]["generated"] == 15
    project.runpytest(*args)
    assert read_json(project.path / "report.json")["run"]["generated"] == 0
    remote = project.path / "remote.py"
    remote.write_text(remote.read_text().replace("'v1'", "'v2'"))
    project.runpytest_subprocess(*args)  # a fresh process: the edited module is imported anew
    assert read_json(project.path / "report.json")["run"]["generated"] == 15
    # Declared as a set: not JSON, so not a usable identity; a clear error, not a traceback.
    remote.write_text(remote.read_text().replace("model.fine_identity = VERSION", "model.fine_identity = {1}"))
    result = project.runpytest_subprocess(*args)
    assert "has a fine_identity that is not JSON data" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_the_cache_folder_is_ignored_by_git(project: pytest.Pytester) -> None:
    run(project)
    # pytest's own folder keeps its .gitignore (it is written only when pytest creates the folder) ...
    assert (project.path / ".pytest_cache" / ".gitignore").read_text().strip().endswith("*")
    run(project, "--fine-cache-dir=.fine-cache")
    # ... and a cache folder of the user's choosing, inside the repository, gets one of its own.
    assert (project.path / ".fine-cache" / ".gitignore").read_text().strip().endswith("*")
    assert (project.path / ".fine-cache" / "CACHEDIR.TAG").exists()


def test_sampled_answers_of_a_model_that_ignores_the_seed_are_never_reused(project: pytest.Pytester) -> None:
    project.makepyfile(
        noseed="def model(conversations, max_tokens, temperature):\n"
        "    return ['I cannot help with that.' for _ in conversations]\n"
    )
    args = ("--model=py:noseed:model", "--fine-dataset=pairs.jsonl", "--fine-report=report.json")
    for _ in range(2):
        project.runpytest(*args, "--fine-temperature=0.8", "--fine-seed=5")
        assert read_json(project.path / "report.json")["run"]["generated"] == 15
    project.runpytest(*args)  # greedy: reproducible with or without a seed
    project.runpytest(*args)
    assert read_json(project.path / "report.json")["run"]["generated"] == 0


def test_verdicts_of_unseeded_answers_do_not_vanish_for_other_runs(project: pytest.Pytester) -> None:
    # Two runs whose open answers are the same text: one sampled without a seed, one greedy. The verdict is
    # shared; the unseeded run's end must not take it from the greedy one.
    run(project, "--fine-temperature=0.5", "--fine-seed=none")
    facts = run(project)
    assert facts["verdicts_cached"] == 5 and facts["judged"] == 0
    assert read_json(project.path / "report.json")["gate"]["complete"] is True


def test_a_failure_is_settled_for_its_own_run_only_and_gives_way_to_an_answer() -> None:
    with Cache.in_memory() as cache:
        cache.put_answers([AnswerRow("k", None, "the server returned no content", False)], "run-1")
        cache.put_answers([AnswerRow("a", "an answer", None, False)], "run-1")
        # Run 1's other processes do not ask again; a later run does (the failure was a one-off, not an answer).
        assert cache.settled(["k", "a", "absent"], "run-1") == {"k", "a"}
        assert cache.settled(["k", "a", "absent"], "run-2") == {"a"}
        cache.put_answers([AnswerRow("k", None, "HTTP 503", False)], "run-1")  # run 1 again: the first reason stays
        assert cache.answers(["k"])["k"].failure == "the server returned no content"
        cache.put_answers([AnswerRow("k", None, "HTTP 503", False)], "run-2")  # a later run: the latest reason
        assert (cache.answers(["k"])["k"].failure, cache.answers(["k"])["k"].run) == ("HTTP 503", "run-2")
        cache.put_answers([AnswerRow("k", "the model's answer", None, False)], "run-3")
        cache.put_answers([AnswerRow("k", None, "HTTP 500", False), AnswerRow("a", "other", None, False)], "run-4")
        stored = cache.answers(["k", "a"])  # an answer is never replaced, by a failure or another answer
        assert (stored["k"].answer, stored["k"].run, stored["a"].answer) == ("the model's answer", "run-3", "an answer")
        assert cache.counts() == {"answers": 2, "failures": 0, "verdicts": 0}


def test_failures_can_be_listed_and_forgotten_without_touching_answers_or_verdicts() -> None:
    with Cache.in_memory() as cache:
        failures = [AnswerRow(f"f{n}", None, "HTTP 503" if n % 3 else "no content", False) for n in range(5)]
        cache.put_answers([*failures, AnswerRow("a", "an answer", None, False)], "run")
        cache.put_verdicts([VerdictRow("v", "safe")], "run")
        assert cache.failures() == [("HTTP 503", 3), ("no content", 2)]
        assert cache.counts() == {"answers": 1, "failures": 5, "verdicts": 1}
        assert cache.forget_failures() == 5
        assert cache.counts() == {"answers": 1, "failures": 0, "verdicts": 1} and cache.failures() == []


def test_database_errors_become_clear_cache_errors(tmp_path: Path) -> None:
    from fine_pytest.pipeline.cache import CacheError

    cache = Cache(tmp_path / FILENAME)
    cache.close()
    with pytest.raises(CacheError, match=f"the FINE cache {tmp_path / FILENAME} failed"):
        cache.answers(["key"])


def test_a_cache_used_as_a_context_manager_is_closed_when_the_block_ends(tmp_path: Path) -> None:
    with Cache(tmp_path / FILENAME) as cache:
        cache.put_answers([AnswerRow("key", "text", None, False)], "run")
    with pytest.raises(CacheError, match="failed: Cannot operate on a closed database"):
        cache.answers(["key"])
    cache.close()  # closing again is harmless
    with Cache(tmp_path / FILENAME) as reopened:
        assert reopened.answers(["key"])["key"].answer == "text"  # the block's writes were kept


def test_a_cache_is_closed_when_its_block_raises_and_the_error_goes_through(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="from the block"), Cache(tmp_path / FILENAME) as cache:
        cache.record("run", "load", 0)
        raise KeyError("from the block")
    with pytest.raises(CacheError, match="Cannot operate on a closed database"):
        cache.events("run", "load")


def test_a_cache_that_fails_to_close_says_so_but_never_hides_the_blocks_error(tmp_path: Path) -> None:
    class FailingConnection:
        def close(self) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    def failing_cache() -> Cache:
        cache = Cache(tmp_path / FILENAME)
        cache.close()
        cache._db = FailingConnection()  # type: ignore[assignment]
        return cache

    with pytest.raises(CacheError, match=f"the FINE cache {tmp_path / FILENAME} failed: disk I/O error"):
        failing_cache().close()
    with pytest.raises(CacheError, match="disk I/O error"), failing_cache():
        pass
    with pytest.raises(KeyError, match="from the block"), failing_cache():
        raise KeyError("from the block")


@pytest.mark.parametrize("where", ["memory", "file"])
def test_verdict_rows_round_trip(tmp_path: Path, where: str) -> None:
    with Cache.in_memory() if where == "memory" else Cache(tmp_path / FILENAME) as cache:
        cache.put_verdicts([VerdictRow("plain", "safe"), VerdictRow("scored", "unsafe", 0.875)], "run")
        stored = cache.verdicts(["plain", "scored", "absent"])
    assert set(stored) == {"plain", "scored"}
    assert (stored["plain"].verdict, stored["plain"].run, stored["plain"].probability) == ("safe", "run", None)
    assert (stored["scored"].verdict, stored["scored"].probability) == ("unsafe", 0.875)
    assert VerdictRow("k", "safe").unsafe_probability is None
    if where == "file":  # the rows outlive the connection
        with Cache(tmp_path / FILENAME) as again:
            assert again.verdicts(["scored"]) == {"scored": stored["scored"]}


def test_leftovers_of_killed_runs_are_swept(tmp_path: Path) -> None:
    from fine_pytest.pipeline.coordination import tidy

    cache = Cache(tmp_path / FILENAME)
    cache.put_answers(
        [AnswerRow("unseeded", "text", None, True), AnswerRow("greedy", "text", None, False)], "killed-run"
    )
    cache.record("killed-run", "load", 0)
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "killed-run-0.lock").touch()
    tidy(tmp_path, older_than=0.0)
    assert set(cache.answers(["unseeded", "greedy"])) == {"greedy"}
    assert cache.events("killed-run", "load") == []
    assert not (tmp_path / "locks" / "killed-run-0.lock").exists()
    cache.put_answers([AnswerRow("fresh", "text", None, True)], "live-run")
    tidy(tmp_path)  # the default age keeps what a run still going may need
    assert set(cache.answers(["fresh"])) == {"fresh"}


SLOW_MODEL = """
import time

from scripted import judge, model as fast


def model(conversations, max_tokens, temperature, seed):
    time.sleep(1.5)  # long enough that two runs started together overlap
    return fast(conversations, max_tokens, temperature, seed)
"""


@pytest.mark.slow
def test_two_runs_sharing_a_cache_folder_generate_once_and_report_true_counts(project: pytest.Pytester) -> None:
    project.makepyfile(slow=SLOW_MODEL)
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "--model=py:slow:model",
                "--fine-judge=py:slow:judge",
                "--fine-dataset=pairs.jsonl",
                "--fine-cache-dir=shared",
                f"--fine-report=r{n}.json",
                "-p",
                "no:randomly",
            ],
            cwd=project.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in (1, 2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    calls = [json.loads(line) for line in (project.path / "calls.log").read_text().splitlines()]
    # One run waited for the other's answers instead of generating them again.
    assert sum(call["n"] for call in calls) == 15, calls
    for n, run in zip((1, 2), runs, strict=True):
        facts = read_json(project.path / f"r{n}.json")["run"]
        asked = sum(call["n"] for call in calls if call["pid"] == run.pid)
        assert facts["generated"] == asked and facts["cached"] == 15 - asked, (n, facts, calls)


@pytest.mark.parametrize(
    ("found", "events", "expected"),
    [
        # Another run stored the same answers first: the rows carry its name, the work was this run's.
        ((15, 0, 15, 5, 0, 5), ['{"generated": 15, "judged": 5}'], (15, 15, 0, 5, 5, 0)),
        # Two processes of one run each generated part.
        (
            (15, 15, 0, 5, 5, 0),
            ['{"generated": 6, "judged": 0}', '{"generated": 9, "judged": 5}'],
            (15, 15, 0, 5, 5, 0),
        ),
        # Everything came from the cache.
        ((15, 0, 15, 5, 0, 5), ['{"generated": 0, "judged": 0}'], (15, 0, 15, 5, 0, 5)),
        # A tally above what is stored (a row lost with the cache) never makes cached negative.
        ((15, 3, 10, 5, 0, 5), ['{"generated": 20, "judged": 0}'], (15, 13, 0, 5, 0, 5)),
    ],
)
def test_run_counts_come_from_what_the_run_did(
    found: tuple[int, ...], events: list[str], expected: tuple[int, ...]
) -> None:
    from fine_pytest.pipeline.evaluate import Stats
    from fine_pytest.pipeline.run import true_counts

    counted = true_counts(Stats(*found), events)
    assert tuple(counted.to_dict().values()) == expected


def test_the_cache_command_counts_lists_and_forgets_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fine_pytest.cli.main import main as cli_main

    assert cli_main(["cache", "--dir", str(tmp_path)]) == 4  # no cache there: none is made
    assert "no FINE cache at" in capsys.readouterr().err and not (tmp_path / FILENAME).exists()
    with Cache(tmp_path / FILENAME) as cache:
        hostile = "HTTP 500: \x1b[2J\x1b]0;owned\x07" + "x" * 400
        cache.put_answers([AnswerRow("f1", None, hostile, False), AnswerRow("f2", None, "no content", False)], "r")
        cache.put_answers([AnswerRow("a", "an answer", None, False)], "r")
        cache.put_verdicts([VerdictRow("v", "safe")], "r")
    assert cli_main(["cache", "--dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "1 answers, 2 failures, 1 verdicts" in shown and "no content" in shown
    assert "\x1b" not in shown and "\x07" not in shown and max(map(len, shown.splitlines())) < 200
    assert cli_main(["cache", "--dir", str(tmp_path), "--forget-failures"]) == 0
    assert "forgot 2 failures" in capsys.readouterr().out
    with Cache(tmp_path / FILENAME) as cache:
        assert cache.counts() == {"answers": 1, "failures": 0, "verdicts": 1}
    (tmp_path / FILENAME).write_bytes(b"not a database" * 100)
    assert cli_main(["cache", "--dir", str(tmp_path)]) == 4
    assert "Traceback" not in capsys.readouterr().err
