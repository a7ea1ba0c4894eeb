"""Answers stored as a back end gives them: a run that dies mid-batch loses only the prompts in flight."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.backends.base import (
    Conversation,
    InterruptedAnswers,
    LetterScores,
    PartialAnswers,
    collected,
)
from fine_pytest.core.dataset import Pair
from fine_pytest.core.errors import FineError
from fine_pytest.core.sampling import GenerationSettings, Sampling
from fine_pytest.judges.refusal import RefusalJudge
from fine_pytest.pipeline.cache import Cache
from fine_pytest.pipeline.evaluate import Keys
from fine_pytest.pipeline.run import run_loaded

SETTINGS = GenerationSettings(open=Sampling(8), mc=Sampling(4))
KEYS = Keys(model="streamer", judge="refusal", run="run-1")


class Killed(BaseException):
    """Stands for the process dying (SIGKILL, the OOM killer): nothing in the pipeline catches it."""


class Streamer:
    """Answers every prompt, two per step, in reverse order; dies after ``die_after`` steps when given."""

    name = "streamer"

    def __init__(self, die_after: int | None = None) -> None:
        self.die_after = die_after
        self.asked: list[str] = []

    def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[str]:
        return collected(self.generate_stream(conversations, samplings), len(conversations))

    def generate_stream(
        self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]
    ) -> Iterator[list[tuple[int, str]]]:
        self.asked += [c[-1]["content"] for c in conversations]
        order = list(reversed(range(len(conversations))))
        for step, start in enumerate(range(0, len(order), 2)):
            if self.die_after is not None and step == self.die_after:
                raise Killed()
            yield [
                (i, "I cannot help with that. " + conversations[i][-1]["content"][:20])
                for i in order[start : start + 2]
            ]


def pairs(count: int) -> list[Pair]:
    return [
        Pair(id=i, category="C", question=f"question {i}?", positive=f"No {i}.", negative=f"Yes {i}.", index=i)
        for i in range(count)
    ]


def stored(path: Path) -> int:
    with Cache(path) as cache:
        return int(cache._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


def test_a_run_killed_mid_batch_keeps_every_answer_given_before_the_kill(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite"
    with Cache(path) as cache, pytest.raises(Killed):
        run_loaded(pairs(4), Streamer(die_after=3), RefusalJudge(), SETTINGS, cache, KEYS)
    # Three steps of two answers each were back when the process died: all six are on disk, in one chunk of 12.
    assert stored(path) == 6
    # The next run asks only for the other six, and ends with the same results as a run never interrupted.
    again = Streamer()
    with Cache(path) as cache:
        resumed = run_loaded(pairs(4), again, RefusalJudge(), SETTINGS, cache, KEYS)
    assert len(again.asked) == 6
    whole = run_loaded(pairs(4), Streamer(), RefusalJudge(), SETTINGS)
    assert resumed.results == whole.results


def test_a_stream_and_a_whole_list_give_the_same_results() -> None:
    class WholeList(Streamer):
        generate_stream = None  # type: ignore[assignment]  # the pipeline asks for the whole list instead

        def generate(self, conversations: Sequence[Conversation], samplings: Sequence[Sampling]) -> list[str]:
            return collected(Streamer.generate_stream(self, conversations, samplings), len(conversations))

    streamed = run_loaded(pairs(5), Streamer(), RefusalJudge(), SETTINGS)
    listed = run_loaded(pairs(5), WholeList(), RefusalJudge(), SETTINGS)
    assert streamed.results == listed.results and len(streamed.results) == 5


def test_a_failure_storing_an_answer_stops_the_stream_and_keeps_what_was_stored(tmp_path: Path) -> None:
    class Failing(Cache):
        calls = 0

        def put_answers(self, rows: Any, run: str) -> None:
            Failing.calls += 1
            if Failing.calls == 3:
                raise OSError("disk full")
            super().put_answers(rows, run)

    path = tmp_path / "responses.sqlite"
    # The whole run fails with the cause named; no partial result stands for the pair.
    with Failing(path) as cache, pytest.raises(FineError, match="OSError: disk full"):
        run_loaded(pairs(3), Streamer(), RefusalJudge(), SETTINGS, cache, KEYS)
    assert stored(path) == 4  # two steps of two were stored; the third put failed and nothing after it ran


@given(count=st.integers(0, 40), sizes=st.lists(st.integers(1, 7), min_size=1, max_size=10), seed=st.integers(0, 99))
def test_collected_puts_any_batching_in_any_order_back_in_prompt_order(count: int, sizes: list[int], seed: int) -> None:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    batches, start = [], 0
    while start < count:
        size = sizes[len(batches) % len(sizes)]
        batches.append([(i, f"answer {i}") for i in order[start : start + size]])
        start += size
    seen: list[int] = []
    answers = collected(iter(batches), count, lambda batch: seen.extend(i for i, _ in batch))
    assert answers == [f"answer {i}" for i in range(count)]
    assert seen == order


@pytest.mark.parametrize(
    ("batches", "count", "message"),
    [
        ([[(0, "a")]], 2, "answered 1 of 2 prompts"),
        ([[(0, "a"), (1, "b"), (2, "c")]], 2, "did not ask: position 2 of 2"),
        ([[(-1, "a")]], 2, "did not ask: position -1 of 2"),
        ([[("0", "a")]], 2, "did not ask: position '0' of 2"),
        ([[(True, "a")]], 2, "did not ask: position True of 2"),
        ([[(0, "a"), (0, "b")], [(1, "c")]], 2, "answered prompt 0 twice"),
        ([[(0, "a")], [(1, "b"), (0, "c")]], 2, "answered prompt 0 twice"),
        ([], 1, "answered 0 of 1 prompts"),
    ],
)
def test_a_stream_that_misses_or_invents_a_prompt_is_an_error(
    batches: list[list[tuple[int, str]]], count: int, message: str
) -> None:
    with pytest.raises(FineError, match=message):
        collected(iter(batches), count)


@given(
    count=st.integers(1, 30),
    good=st.integers(0, 29),
    stray=st.one_of(st.integers(-5, -1), st.integers(30, 40), st.sampled_from(["repeat"])),
)
def test_a_stray_or_repeated_position_is_refused_before_its_batch_is_stored(count: int, good: int, stray: Any) -> None:
    """Fail closed: nothing of a batch with a bad position reaches the cache, and earlier batches stay stored."""
    first = [(i, f"answer {i}") for i in range(min(good, count - 1) + 1)]
    position = first[-1][0] if stray == "repeat" else (stray if stray < 0 else count + stray)
    stored: list[list[tuple[int, str]]] = []
    with pytest.raises(FineError, match="twice|did not ask"):
        collected(iter([first, [(position, "other")]]), count, stored.append)
    assert stored == [first]


def test_a_break_or_an_interrupt_in_a_stream_carries_the_answers_already_back() -> None:
    def broken(error: BaseException) -> Iterator[list[tuple[int, Any]]]:
        yield [(1, "b")]
        raise error

    with pytest.raises(PartialAnswers) as partial:
        collected(broken(PartialAnswers("server gone", {0: "a"})), 3)
    assert partial.value.answers == {0: "a", 1: "b"}
    with pytest.raises(InterruptedAnswers) as interrupted:
        collected(broken(KeyboardInterrupt()), 3)
    assert interrupted.value.answers == {1: "b"}
    with pytest.raises(InterruptedAnswers) as again:
        collected(broken(InterruptedAnswers("SIGTERM", {2: LetterScores({"A": 1.0})})), 3)
    assert again.value.answers == {1: "b", 2: LetterScores({"A": 1.0})}
