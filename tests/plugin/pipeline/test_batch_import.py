"""pipeline.batch_files on its own: the export's lines, and the import's all-or-nothing checks as properties."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fine_pytest.core.sampling import Sampling
from fine_pytest.pipeline.batch_files import BatchFileError, export, import_responses, request_line
from fine_pytest.pipeline.cache import Cache, imported_by
from fine_pytest.pipeline.evaluate import LOGPROB, Keys, Request

KEYS = Keys(model="m", judge="j", run="run-1")
MODEL = "served-model"


def requests(count: int) -> list[Request]:
    return [Request(f"{i:064x}", [{"role": "user", "content": f"q{i}"}], Sampling(16)) for i in range(count)]


def output_line(request: Request, text: str = "", model: str = MODEL, finish: str = "stop") -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": text or f"answer to {request.key[-2:]}"}}
    choice["finish_reason"] = finish
    body = {"model": model, "choices": [choice]}
    return {"id": "x", "custom_id": request.key, "response": {"status_code": 200, "body": body}, "error": None}


def write(path: Path, lines: list) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_an_export_line_asks_as_the_run_asks(tmp_path: Path) -> None:
    generated = Request("a" * 64, [{"role": "user", "content": "q"}], Sampling(32, 0.5, 7))
    opened = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Option: [["}]
    scored = Request("b" * 64, opened, Sampling(32), LOGPROB, ("1", "2"))
    unopened = Request("c" * 64, opened[:1], Sampling(32), LOGPROB, ("yes", "no"))
    assert request_line(generated, MODEL) == {
        "custom_id": "a" * 64,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": generated.conversation, "max_tokens": 32, "temperature": 0.5, "seed": 7},
    }
    body = request_line(scored, MODEL)["body"]
    assert (body["max_tokens"], body["logprobs"], body["top_logprobs"], body["continue_final_message"]) == (
        1,
        True,
        20,
        True,
    )
    assert request_line(unopened, MODEL)["body"]["add_generation_prompt"] is True
    # Each key once, in order.
    assert export([generated, scored, generated, unopened], MODEL, tmp_path / "in.jsonl") == 3
    lines = (tmp_path / "in.jsonl").read_text().splitlines()
    assert [json.loads(line)["custom_id"][0] for line in lines] == ["a", "b", "c"]
    assert not list(tmp_path.glob(".*part"))


def test_answers_are_read_as_the_served_back_end_reads_them(tmp_path: Path) -> None:
    asked = requests(3)
    scored = Request("d" * 64, [{"role": "user", "content": "q"}], Sampling(8), LOGPROB, ("1", "2"))
    top = [{"token": " 1", "logprob": -0.1}, {"token": "2", "logprob": -3.0}]
    logprob_line = output_line(scored)
    logprob_line["response"]["body"]["choices"][0]["logprobs"] = {"content": [{"top_logprobs": top}]}
    null_line = output_line(asked[2])
    null_line["response"]["body"]["choices"][0]["message"]["content"] = None
    lines = [output_line(asked[0], "fine sk-secret"), output_line(asked[1], "cut", finish="length"), null_line]
    with Cache.in_memory() as cache:
        done = import_responses(
            write(tmp_path / "out.jsonl", [*lines, logprob_line]),
            [*asked, scored],
            list,
            cache,
            KEYS,
            MODEL,
            ["sk-secret"],
        )
        stored = cache.answers([r.key for r in [*asked, scored]])
    assert (done.lines, done.stored) == (4, 4)
    assert stored[asked[0].key].answer == "fine [REDACTED]" and stored[asked[0].key].run == imported_by(KEYS.run)
    assert stored[asked[1].key].truncated is True
    assert stored[asked[2].key].answer is None and "no content" in str(stored[asked[2].key].failure)
    probabilities = json.loads(str(stored[scored.key].answer))
    assert probabilities["1"] == pytest.approx(0.905, abs=0.001) and probabilities["2"] == pytest.approx(0.0498, 0.01)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(range(6)),
    dropped=st.sets(st.integers(0, 5), max_size=2),
    repeated=st.sets(st.integers(0, 5), max_size=2),
    foreign=st.booleans(),
)
def test_an_import_stores_every_answer_or_none(
    tmp_path: Path, order: list[int], dropped: set[int], repeated: set[int], foreign: bool
) -> None:
    """Any order of lines is fine; a missing, repeated or foreign line stores nothing, and says which line."""
    asked = requests(6)
    lines = [output_line(asked[i]) for i in order if i not in dropped]
    lines += [output_line(asked[i]) for i in sorted(repeated) if i not in dropped]
    if foreign:
        lines.append(output_line(Request("f" * 64, [], Sampling(1))))
    path = write(tmp_path / f"out-{abs(hash((tuple(order), frozenset(dropped))))}.jsonl", lines)
    valid = not dropped and not repeated and not foreign
    with Cache.in_memory() as cache:
        if valid:
            assert import_responses(path, asked, list, cache, KEYS, MODEL).stored == 6
            assert len(cache.answers([r.key for r in asked])) == 6
        else:
            with pytest.raises(BatchFileError, match="nothing was stored") as refused:
                import_responses(path, asked, list, cache, KEYS, MODEL)
            assert cache.answers([r.key for r in asked]) == {}
            if foreign:
                assert f"line {len(lines)}: custom_id {'f' * 64} is no prompt of this run" in str(refused.value)


def test_lines_for_later_rounds_are_checked_against_every_prompt_the_run_may_ask(tmp_path: Path) -> None:
    first, later = requests(2), requests(4)[2:]
    calls = []

    def possible() -> list[Request]:
        calls.append(1)
        return later

    with Cache.in_memory() as cache:
        # Only the first batch: the later prompts are never listed.
        import_responses(
            write(tmp_path / "a.jsonl", [output_line(r) for r in first]), first, possible, cache, KEYS, MODEL
        )
        assert calls == []
        # A shrink round's answers, with the first batch already cached.
        done = import_responses(
            write(tmp_path / "b.jsonl", [output_line(later[0])]), first, possible, cache, KEYS, MODEL
        )
        assert (done.lines, done.stored, calls) == (1, 1, [1])


def test_an_answer_holding_a_unicode_line_separator_stays_one_line(tmp_path: Path) -> None:
    """JSON writers may leave U+2028, U+2029 and U+0085 unescaped inside strings: a line ends at "\\n" only."""
    asked = requests(2)
    answer = "first\u2028second\u2029third\u0085fourth"
    lines = [output_line(asked[0], answer), output_line(asked[1])]
    path = tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\r\n" for line in lines), encoding="utf-8")
    with Cache.in_memory() as cache:
        assert import_responses(path, asked, list, cache, KEYS, MODEL).stored == 2
        assert cache.answers([asked[0].key])[asked[0].key].answer == answer


def test_a_file_that_stops_being_utf8_part_way_stores_nothing(tmp_path: Path) -> None:
    asked = requests(3)
    path = write(tmp_path / "out.jsonl", [output_line(r) for r in asked[:2]])
    with path.open("ab") as out:
        out.write(b'{"custom_id": "\xff\xfe"}\n')
    with Cache.in_memory() as cache:
        with pytest.raises(BatchFileError, match=r"cannot read .*out\.jsonl.*utf-8"):
            import_responses(path, asked, list, cache, KEYS, MODEL)
        assert cache.answers([r.key for r in asked]) == {}


def test_problems_are_named_in_line_order_whichever_round_the_line_is_for(tmp_path: Path) -> None:
    """Lines for later rounds are read after the walk, yet the error lists every problem by its line."""
    first, later = requests(2), requests(4)[2:]
    lines = [
        output_line(later[0], model="another"),
        output_line(first[0], model="another"),
        output_line(Request("e" * 64, [], Sampling(1))),
        output_line(first[1]),
    ]
    with Cache.in_memory() as cache, pytest.raises(BatchFileError) as refused:
        import_responses(write(tmp_path / "out.jsonl", lines), first, lambda: later, cache, KEYS, MODEL)
    named = [line.split(":")[0].strip() for line in str(refused.value).splitlines()[1:]]
    # ... and then the prompt left unanswered, as its only line was refused.
    assert named == ["line 1", "line 2", "line 3", f"custom_id {first[0].key}"]


def test_a_corrected_file_replaces_a_failure_and_a_later_run_asks_for_it_again(tmp_path: Path) -> None:
    asked = requests(3)
    failed = output_line(asked[1])
    failed["response"]["body"]["choices"][0]["message"]["content"] = None
    with Cache.in_memory() as cache:
        import_responses(
            write(tmp_path / "a.jsonl", [output_line(r) for r in asked[::2]] + [failed]),
            asked,
            list,
            cache,
            KEYS,
            MODEL,
        )
        assert cache.answers([asked[1].key])[asked[1].key].answer is None
        # This run's import settled it (its pair fails with the reason); a later run must ask for it again.
        assert cache.settled([r.key for r in asked], KEYS.run) == {r.key for r in asked}
        later = Keys(model="m", judge="j", run="run-2")
        assert cache.settled([r.key for r in asked], later.run) == {asked[0].key, asked[2].key}
        # That run's file answers only the failed prompt: the rest is in the cache.
        with pytest.raises(BatchFileError, match=f"custom_id {asked[1].key}: no line answers"):
            import_responses(write(tmp_path / "b.jsonl", []), asked, list, cache, later, MODEL)
        done = import_responses(
            write(tmp_path / "c.jsonl", [output_line(asked[1], "fixed")]), asked, list, cache, later, MODEL
        )
        assert done.stored == 1 and cache.answers([asked[1].key])[asked[1].key].answer == "fixed"
        # An answer is never replaced, not even by a later file.
        import_responses(
            write(tmp_path / "d.jsonl", [output_line(asked[1], "other")]), asked, list, cache, later, MODEL
        )
        assert cache.answers([asked[1].key])[asked[1].key].answer == "fixed"


def test_a_line_too_long_to_hold_an_answer_is_named_and_never_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fine_pytest.pipeline import batch_files

    monkeypatch.setattr(batch_files, "MAX_LINE_CHARS", 2000)
    asked = requests(2)
    long_line = output_line(asked[1], "x" * 5000)
    path = write(tmp_path / "out.jsonl", [output_line(asked[0]), long_line])
    with Cache.in_memory() as cache, pytest.raises(BatchFileError) as refused:
        import_responses(path, asked, list, cache, KEYS, MODEL)
    assert "line 2: longer than 2,000 characters" in str(refused.value)
    assert f"custom_id {asked[1].key}: no line answers" in str(refused.value)
    # The reader never held more than a bounded piece of the line.
    pieces = list(batch_files._lines(path))
    assert [(number, line is None) for number, line in pieces] == [(1, False), (2, True)]


def test_a_huge_custom_id_is_quoted_cut_with_its_length(tmp_path: Path) -> None:
    asked = requests(1)
    stranger = {**output_line(asked[0]), "custom_id": "z" * 100_000}
    with Cache.in_memory() as cache, pytest.raises(BatchFileError) as refused:
        import_responses(
            write(tmp_path / "out.jsonl", [output_line(asked[0]), stranger]), asked, list, cache, KEYS, MODEL
        )
    message = str(refused.value)
    assert "z" * 64 + "... (100,000 characters) is no prompt of this run" in message and len(message) < 1000


def test_an_answer_too_long_to_store_fails_its_prompt(tmp_path: Path) -> None:
    from fine_pytest.core.sampling import MAX_ANSWER_CHARS

    asked = requests(2)
    lines = [output_line(asked[0], "y" * (MAX_ANSWER_CHARS + 1)), output_line(asked[1], "y" * MAX_ANSWER_CHARS)]
    with Cache.in_memory() as cache:
        import_responses(write(tmp_path / "out.jsonl", lines), asked, list, cache, KEYS, MODEL)
        stored = cache.answers([r.key for r in asked])
    assert stored[asked[0].key].answer is None and "over the 1,000,000 stored" in str(stored[asked[0].key].failure)
    assert stored[asked[1].key].answer == "y" * MAX_ANSWER_CHARS


def _set(entry: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = json.loads(json.dumps(entry))
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


_DELETE = object()
ATTACK = "\x1b[2J\x1b]0;pwned\x07"
BAD_FILES: list[tuple[str, Callable[[list[dict[str, Any]]], list[Any]], str]] = [
    ("unknown", lambda lines: [*lines, {**lines[0], "custom_id": "e" * 64}], "line 6: custom_id eee* is no prompt"),
    ("duplicate", lambda lines: [*lines, lines[3]], "line 6: custom_id * again (first on line 4)"),
    ("missing", lambda lines: lines[:-1], "custom_id *: no line answers this prompt of the run"),
    (
        "error",
        lambda lines: [lines[0], _set(lines[1], "error", {"message": "boom" + ATTACK}), *lines[2:]],
        'line 2: custom_id * the batch reports an error: {"message": "boom*',
    ),
    ("status", lambda lines: [_set(lines[0], "response.status_code", 500), *lines[1:]], "line 1: *status_code 500*"),
    (
        "model",
        lambda lines: [*lines[:4], _set(lines[4], "response.body.model", "other-model"), *lines[5:]],
        f"line 5: *answered by model 'other-model', this run's batch model is '{MODEL}'*",
    ),
    ("shape", lambda lines: [_set(lines[0], "response.body.choices", []), *lines[1:]], "line 1: *a reply without*"),
    ("no body", lambda lines: [_set(lines[0], "response.body", _DELETE), *lines[1:]], "line 1: *has no body"),
    ("no id", lambda lines: [_set(lines[0], "custom_id", _DELETE), *lines[1:]], "line 1: no custom_id"),
    ("array", lambda lines: [[1, 2], *lines[1:]], "line 1: not a JSON object"),
    ("json", lambda lines: ["{not json", *lines[1:]], "line 1: not JSON"),
    (
        "other error",
        lambda lines: [{**lines[0], "response": {"status_code": 500, "body": None}, "error": {"message": "wait"}}],
        "line 1: custom_id * the batch reports an error*",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "message"), BAD_FILES, ids=[case for case, _, _ in BAD_FILES])
def test_a_bad_file_names_the_line_and_stores_nothing(
    tmp_path: Path, case: str, mutate: Callable[[list[dict[str, Any]]], list[Any]], message: str
) -> None:
    asked = requests(5)
    lines = mutate([output_line(r) for r in asked])
    path = tmp_path / "bad.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    with Cache.in_memory() as cache:
        with pytest.raises(BatchFileError) as refused:
            import_responses(path, asked, list, cache, KEYS, MODEL)
        assert cache.answers([r.key for r in asked]) == {}
    text = str(refused.value)
    assert "nothing was stored" in text and ATTACK not in text
    assert any(fnmatch.fnmatch(line, f"*{message}*") for line in text.splitlines()), text


def test_a_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Some editors and tools write one; datasets accept it too."""
    asked = requests(2)
    path = tmp_path / "out.jsonl"
    path.write_text("\ufeff" + "".join(json.dumps(output_line(r)) + "\n" for r in asked), encoding="utf-8")
    with Cache.in_memory() as cache:
        assert import_responses(path, asked, list, cache, KEYS, MODEL).stored == 2
