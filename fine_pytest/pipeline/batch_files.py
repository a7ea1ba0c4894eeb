"""Batch files, the standard interchange with engines that answer many prompts at once: ``vllm run-batch`` and
OpenAI-style batch APIs.

Export writes each prompt the cache lacks as one line of the OpenAI batch *input* format; its ``custom_id`` is the
prompt's cache key, so an answer comes back to exactly the prompt it answers. Import reads a batch *output* file and
checks every line before anything is stored: a line that belongs to no prompt of this run (another model, dataset,
setting or export), a duplicate, a line the engine reports an error for, a reply for another model or of the wrong
shape, and a prompt of the run that no line answers are each an error naming the line. A file that fails any check
stores nothing. One error is an answer of its own, as it is from a live server: a prompt the engine refused as too
long for the model's context fails alone (its pair has no verdict, so the gate cannot pass on it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fine_pytest.backends.base import Answer, LetterScores, PromptFailure
from fine_pytest.backends.chat_format import (
    CONTEXT_WORDS,
    MalformedReply,
    completion_body,
    continued_text,
    read_completion,
    read_scores,
    scoring_body,
)
from fine_pytest.core.errors import FineError
from fine_pytest.core.json_input import JsonInputError, parse_json
from fine_pytest.core.outputs import output_problem
from fine_pytest.core.safe_text import visible
from fine_pytest.core.sampling import MAX_ANSWER_CHARS
from fine_pytest.pipeline.cache import Cache, imported_by
from fine_pytest.pipeline.evaluate import LOGPROB, Keys, Request, answer_rows

URL = "/v1/chat/completions"
# One output line holds one answer (at most MAX_ANSWER_CHARS, escaped) and its envelope; a longer line is refused
# without being held in memory whole.
MAX_LINE_CHARS = 16 * MAX_ANSWER_CHARS
SHOWN = 5  # problems named in one error; the count says how many more there were


class BatchFileError(FineError):
    """A batch file this run cannot use: bad input, reported as a usage error where the run can (not under xdist)."""


@dataclass(frozen=True)
class Imported:
    """What an import did: the lines it read, and how many of their answers were new to the cache."""

    lines: int
    stored: int


def request_line(request: Request, model: str) -> dict[str, Any]:
    """One line of a batch input file: the prompt under its cache key, asked as the run would ask it."""
    if request.method == LOGPROB:
        body = scoring_body(model, request.conversation)
    else:
        body = completion_body(model, request.conversation, request.sampling)
    return {"custom_id": request.key, "method": "POST", "url": URL, "body": body}


def export(requests: Sequence[Request], model: str, path: Path) -> int:
    """Write the requests (each key once, in order) as a batch input file, replacing PATH whole: a half-written
    file never stands in for a finished one. Returns the number of lines."""
    unique = list({request.key: request for request in requests}.values())
    path = Path(path)
    problem = output_problem(path)
    if problem is not None:
        raise BatchFileError(f"--fine-export-requests={path}: {problem}")
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with partial.open("w", encoding="utf-8") as out:
            for request in unique:
                out.write(json.dumps(request_line(request, model), ensure_ascii=False, sort_keys=True) + "\n")
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BatchFileError(f"--fine-export-requests: cannot write {path}: {error.strerror or error}") from None
    return len(unique)


def import_responses(
    path: Path,
    needed: Sequence[Request],
    possible: Callable[[], Iterable[Request]],
    cache: Cache,
    keys: Keys,
    model: str,
    secrets: Sequence[str] = (),
) -> Imported:
    """Check the batch output file at ``path`` against this run and store its answers in the cache.

    ``needed``: the prompts this run asks first (every one must be answered, by the cache or the file).
    ``possible()``: every other prompt the run may ask later (the forms' shrink rounds), computed only when a line
    is not among ``needed``. ``secrets`` are redacted from the answers (a server can echo a key).
    """
    path = Path(path)
    asked = {request.key: request for request in needed}
    problems: list[str] = []
    answers: dict[str, tuple[Request, Answer | LetterScores]] = {}
    later_lines: list[tuple[int, dict[str, Any]]] = []  # a shrink round's: read once the walk has found them
    seen: dict[str, int] = {}

    def read(number: int, entry: dict[str, Any], request: Request | None) -> None:
        custom_id = entry["custom_id"]
        try:
            if request is None:
                raise ValueError(
                    f"custom_id {_id(custom_id)} is no prompt of this run (exported by another model, dataset, setting "
                    "or run)"
                )
            refused = entry.get("error") is not None
            answers[custom_id] = (request, _refusal(entry) if refused else _answer(entry, request, model, secrets))
        except ValueError as error:
            problems.append(f"line {number}: {visible(str(error))}")

    # Line by line, keeping each answer and not the line: memory stays that of the answers, not of the file.
    for number, line in _lines(path):
        try:
            if line is None:
                raise ValueError(f"longer than {MAX_LINE_CHARS:,} characters (one answer's line), not read")
            entry = _entry(line, secrets)
            custom_id = entry["custom_id"]
            if custom_id in seen:
                raise ValueError(f"custom_id {_id(custom_id)} again (first on line {seen[custom_id]})")
            seen[custom_id] = number
        except ValueError as error:
            problems.append(f"line {number}: {visible(str(error))}")
            continue
        if custom_id in asked:
            read(number, entry, asked[custom_id])
        else:
            later_lines.append((number, entry))
    later = _later(possible, {entry["custom_id"] for _, entry in later_lines})
    for number, entry in later_lines:
        read(number, entry, later.get(entry["custom_id"]))
    problems.sort(key=lambda problem: int(problem.split(":", 1)[0].removeprefix("line ")))
    known = cache.settled(list(asked), keys.run)
    missing = [key for key in asked if key not in known and key not in answers]
    problems += [f"custom_id {key}: no line answers this prompt of the run" for key in missing]
    if problems:
        more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
        raise BatchFileError(
            f"--fine-import-responses: {path}: {len(problems)} problem(s), nothing was stored{more}:\n  "
            + "\n  ".join(problems[:SHOWN])
        )
    # A line replaces a stored failure (a corrected file), never a stored answer.
    present = cache.answers(list(answers))
    fresh = [
        (request, answer)
        for key, (request, answer) in answers.items()
        if key not in present or present[key].answer is None
    ]
    cache.put_answers(answer_rows(fresh, keys), imported_by(keys.run))
    return Imported(lines=len(answers), stored=len(fresh))


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """The file's non-blank lines and their numbers; None for a line over MAX_LINE_CHARS, which is skipped unread.
    Lines end at "\n" only: a JSON writer may leave U+2028 and its kin unescaped inside an answer."""
    try:
        with path.open(encoding="utf-8", newline="\n") as lines:
            number = 0
            while line := lines.readline(MAX_LINE_CHARS + 1):
                number += 1
                if len(line.removesuffix("\n")) > MAX_LINE_CHARS:
                    while line and not line.endswith("\n"):  # the rest of the line, a bounded piece at a time
                        line = lines.readline(MAX_LINE_CHARS)
                    yield number, None
                    continue
                line = line.removesuffix("\n").removesuffix("\r")
                if number == 1:
                    line = line.removeprefix("\ufeff")  # a byte-order mark, as some editors write: datasets accept one
                if line.strip():
                    yield number, line
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise BatchFileError(f"--fine-import-responses: cannot read {path}: {reason}") from None


def _later(possible: Callable[[], Iterable[Request]], wanted: set[str]) -> dict[str, Request]:
    """The prompts among ``possible()`` (every prompt a shrink round could ask: many per pair) that the file's lines
    name. Only those are kept, and the walk stops once all are found, so memory stays that of the file."""
    found: dict[str, Request] = {}
    if wanted:
        for request in possible():
            if request.key in wanted:
                found[request.key] = request
                if len(found) == len(wanted):
                    break
    return found


def _id(custom_id: str) -> str:
    """A custom_id as messages quote it: this run's are 64 characters; a longer one is cut, with its length."""
    return custom_id if len(custom_id) <= 80 else f"{custom_id[:64]}... ({len(custom_id):,} characters)"


def _entry(line: str, secrets: Sequence[str]) -> dict[str, Any]:
    from fine_pytest.core.redact import redact

    try:
        entry = parse_json(line)
    except JsonInputError as problem:
        raise ValueError("not JSON" if "valid" in str(problem) else str(problem)) from None
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise ValueError("no custom_id")
    error = entry.get("error")
    if error is not None:
        shown = redact(json.dumps(error), secrets)
        if not _too_long(entry, shown):
            raise ValueError(f"custom_id {_id(custom_id)}: the batch reports an error: {shown[:200]}")
        entry["error"] = shown  # redacted: the reason is stored and shown
        return entry
    response = entry.get("response")
    if not isinstance(response, Mapping):
        raise ValueError(f"custom_id {_id(custom_id)}: no response")
    status = response.get("status_code")
    if status != 200:
        shown = redact(json.dumps(response), secrets)[:200]
        raise ValueError(f"custom_id {_id(custom_id)}: status_code {str(status)[:20]}, not 200: {shown}")
    if not isinstance(response.get("body"), Mapping):
        raise ValueError(f"custom_id {_id(custom_id)}: the response has no body")
    return entry


def _too_long(entry: dict[str, Any], error: str) -> bool:
    """An error line for a prompt longer than the model's context (status 400 and the engine's words for it)."""
    response = entry.get("response")
    status = response.get("status_code") if isinstance(response, Mapping) else None
    code = entry["error"].get("code") if isinstance(entry["error"], Mapping) else None
    if 400 not in (status, code) and '"code": 400' not in error:
        return False
    return any(word in error.lower() for word in CONTEXT_WORDS)


def _refusal(entry: dict[str, Any]) -> PromptFailure:
    return PromptFailure(f"the batch engine refused the prompt: {visible(entry['error'])[:300]}")


def _answer(entry: dict[str, Any], request: Request, model: str, secrets: Sequence[str]) -> Answer | LetterScores:
    from fine_pytest.core.redact import redact

    body = entry["response"]["body"]
    served = body.get("model")
    if served != model:
        raise ValueError(
            f"custom_id {_id(entry['custom_id'])}: answered by model {str(served)[:80]!r}, this run's batch model is "
            f"{model!r} (--fine-batch-model)"
        )
    try:
        if request.method == LOGPROB:
            return read_scores(body, request.labels)
        answer = read_completion(body, lambda text: redact(text, secrets))
        return continued_text(answer, request.conversation, request.sampling)
    except MalformedReply as error:
        raise ValueError(f"custom_id {_id(entry['custom_id'])}: {error}") from None
