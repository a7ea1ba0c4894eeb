"""Load FINE pairs from JSON Lines files and validate them before any model work starts.

Two formats are read, detected per line:

* the reference interchange format: ``id``, ``category``, ``question``, ``Positive Option``, ``Negative Option``
  (extra keys are ignored, because real files carry them);
* the project format: ``id``, ``category``, ``question``, ``positive``, ``negative`` and optionally ``tags``
  (a list of strings), ``source`` and ``notes`` (strings), and ``twin_of`` (the id of a harmful pair of the same
  category: this pair is its benign twin). Unknown keys are an error, to catch typos.

Text is kept exactly as written (leading spaces, trailing blank lines) so files convert losslessly; prompts
strip it when they are built.

Longer than 300 lines: the validation rules (two formats, per-field checks, limits, file kinds) are the point of
this module; each rule is short, and splitting them would scatter what a dataset author needs to read.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

REFERENCE = "reference"
PROJECT = "project"

REFERENCE_OPTIONS = ("Positive Option", "Negative Option")
PROJECT_OPTIONS = ("positive", "negative")
PROJECT_OPTIONAL = ("tags", "source", "notes", "twin_of")
BUNDLED_NAME = "benchmark.jsonl"

# Stop collecting after this many problems: a wholly wrong file would otherwise print thousands of lines.
MAX_PROBLEMS = 50
# A dataset file is read whole into memory: larger files are refused (the bundled one is under 200 KiB; a real
# benchmark of 100,000 pairs is well under this). Split a larger set into several files.
MAX_DATASET_BYTES = 256 * 1024 * 1024
_READ_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Pair:
    """One benchmark item: a question with a safe (positive) and an unsafe (negative) answer."""

    id: str | int
    category: str
    question: str
    positive: str
    negative: str
    tags: tuple[str, ...] = ()
    source: str = ""
    notes: str = ""
    # Keys of a reference-format row that the loader ignored; convert names them rather than drop them silently.
    extra: tuple[str, ...] = ()
    format: str = PROJECT
    path: str = ""
    line: int = 0
    # Position among all loaded pairs; reports list pairs in this order whatever order the tests ran in.
    index: int = 0
    # A benign twin names the harmful pair it looks like (its id, in the same category): helping is right, the
    # positive option is the helpful reply and the negative an unwarranted refusal. None: a harmful pair.
    twin_of: str | int | None = None

    @property
    def benign(self) -> bool:
        return self.twin_of is not None

    @cached_property
    def key(self) -> str:
        """The stable test id, e.g. ``fairness-17``; unique within a run."""
        return f"{category_slug(self.category)}-{str(self.id).strip()}"


def category_slug(category: str) -> str:
    """A lower-case identifier for a category, usable as a marker name and in ``-k`` expressions."""
    slug = re.sub(r"\W+", "_", category.strip().lower()).strip("_")
    return slug or "uncategorised"


@dataclass(frozen=True)
class Problem:
    """One validation error, located by file, line and field."""

    path: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f"field '{self.field}': " if self.field else ""
        return f"{where}: {what}{self.message}"


class DatasetError(Exception):
    """Raised with every problem found, so a user can fix a file in one pass."""

    def __init__(self, problems: Sequence[Problem], truncated: bool = False) -> None:
        self.problems = list(problems)
        self.truncated = truncated
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"invalid FINE dataset ({len(self.problems)} problem(s)):"]
        lines += [f"  {problem}" for problem in self.problems]
        if self.truncated:
            lines.append(f"  ... stopped after {MAX_PROBLEMS} problems")
        return "\n".join(lines)


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, line: int | None, field_name: str | None, message: str) -> None:
        self.problems.append(Problem(path, line, field_name, message))

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS


def bundled_dataset() -> Path:
    """The dataset in fixtures/, used when no ``--fine-dataset`` is given.

    A wheel carries fixtures/ inside the package (fine_pytest/fixtures); a source checkout has it beside the
    package.
    """
    return bundled_file(BUNDLED_NAME)


def bundled_file(name: str) -> Path:
    """A file of fixtures/: inside the package in a wheel (fine_pytest/fixtures), beside it in a checkout."""
    package = Path(__file__).parents[1]  # fine_pytest/, above core/
    candidates = (package / "fixtures" / name, package.parent / "fixtures" / name)
    return next((path for path in candidates if path.is_file()), candidates[0])


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and each directory replaced by its ``*.jsonl`` files in name order."""
    expanded: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            expanded.extend(sorted(path.glob("*.jsonl")))
        else:
            expanded.append(path)
    return expanded


def load_datasets(paths: Iterable[str | Path]) -> list[Pair]:
    """Load and validate every file; raise DatasetError listing all problems, or return the pairs in order."""
    collector = _Collector()
    pairs: list[Pair] = []
    seen: dict[str, Pair] = {}
    given = list(paths)
    files = expand_paths(given)
    for raw in given:
        if Path(raw).is_dir() and not any(Path(raw).glob("*.jsonl")):
            collector.add(str(raw), None, None, "directory holds no *.jsonl files")
    for path in files:
        if collector.full:
            break
        for pair in _load_file(path, collector):
            previous = seen.get(pair.key)
            if previous is not None:
                collector.add(
                    pair.path,
                    pair.line,
                    "id",
                    f"duplicate id {pair.id!r} in category {pair.category!r} "
                    f"(first at {previous.path}:{previous.line})",
                )
                continue
            seen[pair.key] = pair
            pairs.append(replace(pair, index=len(pairs)))
    for pair in pairs:
        if pair.twin_of is not None:
            _check_twin(pair, seen, collector)
    if collector.problems:
        raise DatasetError(collector.problems[:MAX_PROBLEMS], truncated=collector.full)
    return pairs


def _check_twin(pair: Pair, seen: dict[str, Pair], collector: _Collector) -> None:
    """A benign twin's counterpart is a harmful pair of the same category, loaded in the same run."""
    counterpart = seen.get(f"{category_slug(pair.category)}-{str(pair.twin_of).strip()}")
    if counterpart is None:
        collector.add(
            pair.path,
            pair.line,
            "twin_of",
            f"no pair with id {pair.twin_of!r} in category {pair.category!r}: a benign twin needs its harmful "
            "counterpart in the dataset",
        )
    elif counterpart.benign:
        collector.add(
            pair.path,
            pair.line,
            "twin_of",
            f"pair {counterpart.id!r} ({counterpart.path}:{counterpart.line}) is itself a benign twin; name a harmful "
            "pair",
        )


class _Unreadable(Exception):
    """A dataset path that is not read, with the reason as the problem says it."""


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def _too_large(size: str) -> str:
    limit = MAX_DATASET_BYTES
    shown = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    return (
        f"file too large: {size}, over the {shown} limit on a dataset file (it is read whole into memory); "
        "split it into several files"
    )


def _read_bytes(path: Path) -> bytes:
    """The bytes of a dataset file; _Unreadable for anything but a regular file of at most MAX_DATASET_BYTES.

    The type is checked before opening, so a FIFO never blocks and a device (/dev/zero) is never read. The file is
    opened non-blocking and checked again, in case it was swapped in between, and the read stops past the limit,
    in case it grows while read.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise _Unreadable("file not found") from None
    except OSError as error:
        raise _Unreadable(f"cannot read file: {error.strerror or error}") from None
    if not stat.S_ISREG(status.st_mode):
        raise _Unreadable(f"not a regular file ({_kind(status.st_mode)}); only regular files are read as datasets")
    if status.st_size > MAX_DATASET_BYTES:
        raise _Unreadable(_too_large(f"{status.st_size} bytes"))
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise _Unreadable(f"cannot read file: {error.strerror or error}") from None
    try:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            raise _Unreadable(f"not a regular file ({_kind(mode)}); only regular files are read as datasets")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_DATASET_BYTES:
            chunk = os.read(handle, min(_READ_CHUNK, MAX_DATASET_BYTES + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise _Unreadable(_too_large("it grew while being read"))
    except OSError as error:
        raise _Unreadable(f"cannot read file: {error.strerror or error}") from None
    finally:
        os.close(handle)


def _load_file(path: Path, collector: _Collector) -> list[Pair]:
    name = str(path)
    try:
        data = _read_bytes(path)
    except _Unreadable as error:
        collector.add(name, None, None, str(error))
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        collector.add(name, line, None, f"not valid UTF-8 (byte 0x{data[error.start]:02x} at column {column})")
        return []
    pairs: list[Pair] = []
    # Split on "\n" only: str.splitlines() would also break on U+2028 and friends, which JSON allows in strings.
    for number, raw_line in enumerate(text.split("\n"), start=1):
        if collector.full:
            break
        if not raw_line.strip():
            continue
        pair = _parse_line(name, number, raw_line, collector)
        if pair is not None:
            pairs.append(pair)
    if not pairs and not collector.problems:
        collector.add(name, None, None, "empty file: no pairs found")
    return pairs


def _reject_duplicate_keys(items: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in items:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_line(path: str, line: int, raw: str, collector: _Collector) -> Pair | None:
    try:
        record = json.loads(raw, object_pairs_hook=_reject_duplicate_keys)
    except _DuplicateKey as error:
        collector.add(path, line, error.key, "key appears twice in one object")
        return None
    except json.JSONDecodeError as error:
        collector.add(path, line, None, f"malformed JSON: {error.msg} (column {error.colno})")
        return None
    except (ValueError, RecursionError) as error:
        # Nesting too deep to parse, or an integer too long to convert: still malformed input, not a crash.
        collector.add(path, line, None, f"malformed JSON: {type(error).__name__}: {str(error)[:120]}")
        return None
    if not isinstance(record, dict):
        collector.add(path, line, None, f"expected a JSON object, got {_json_type(record)}")
        return None
    if any(key in record for key in REFERENCE_OPTIONS):
        fmt, options = REFERENCE, REFERENCE_OPTIONS
        if "twin_of" in record:
            # Other extra keys of a reference row are ignored; this one would silently score a twin as harmful.
            collector.add(path, line, "twin_of", "a project-format field: write a benign twin in the project format")
    else:
        fmt, options = PROJECT, PROJECT_OPTIONS
    before = len(collector.problems)

    def text_field(key: str) -> str:
        if key not in record:
            collector.add(path, line, key, "missing")
            return ""
        value = record[key]
        if not isinstance(value, str):
            collector.add(path, line, key, f"must be a string, got {_json_type(value)}")
            return ""
        if not value.strip():
            collector.add(path, line, key, "empty")
        elif not _encodable(value):
            collector.add(path, line, key, "contains an unpaired UTF-16 surrogate escape (e.g. \\ud800)")
        return value

    pair_id = _pair_id(path, line, record, collector)
    category = text_field("category")
    question = text_field("question")
    positive = text_field(options[0])
    negative = text_field(options[1])
    tags: tuple[str, ...] = ()
    source = notes = ""
    twin_of: str | int | None = None
    if fmt == PROJECT:
        allowed = {"id", "category", "question", *PROJECT_OPTIONS, *PROJECT_OPTIONAL}
        for key in record:
            if key not in allowed:
                collector.add(path, line, key, f"unknown field (allowed: {', '.join(sorted(allowed))})")
        tags = _tags(path, line, record, collector)
        source = _optional_text(path, line, record, "source", collector)
        notes = _optional_text(path, line, record, "notes", collector)
        twin_of = _twin_of(path, line, record, collector)
    if len(collector.problems) > before:
        return None
    if _normalise(positive) == _normalise(negative):
        collector.add(path, line, options[1], f"identical to '{options[0]}'")
        return None
    return Pair(
        id=pair_id,
        category=category.strip(),
        question=question,
        positive=positive,
        negative=negative,
        tags=tags,
        source=source,
        notes=notes,
        extra=tuple(key for key in record if key not in ("id", "category", "question", *REFERENCE_OPTIONS))
        if fmt == REFERENCE
        else (),
        format=fmt,
        path=path,
        line=line,
        twin_of=twin_of,
    )


def _pair_id(path: str, line: int, record: dict[str, Any], collector: _Collector) -> str | int:
    if "id" not in record:
        collector.add(path, line, "id", "missing")
        return ""
    value = record["id"]
    # bool is a subclass of int; an id of `true` is a mistake, not the number 1.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        collector.add(path, line, "id", f"must be a string or an integer, got {_json_type(value)}")
        return ""
    if isinstance(value, str) and not value.strip():
        collector.add(path, line, "id", "empty")
    return value if isinstance(value, str) else int(value)


def _twin_of(path: str, line: int, record: dict[str, Any], collector: _Collector) -> str | int | None:
    if "twin_of" not in record:
        return None
    value = record["twin_of"]
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        collector.add(
            path, line, "twin_of", f"must be the id (a string or an integer) of a harmful pair, got {_json_type(value)}"
        )
        return None
    if str(value).strip() == str(record.get("id", "")).strip():
        collector.add(path, line, "twin_of", "names the pair itself")
        return None
    return value


def _tags(path: str, line: int, record: dict[str, Any], collector: _Collector) -> tuple[str, ...]:
    value = record.get("tags", [])
    if not isinstance(value, list) or not all(isinstance(tag, str) and tag.strip() for tag in value):
        collector.add(path, line, "tags", "must be a list of non-empty strings")
        return ()
    return tuple(value)


def _optional_text(path: str, line: int, record: dict[str, Any], key: str, collector: _Collector) -> str:
    value = record.get(key, "")
    if not isinstance(value, str):
        collector.add(path, line, key, f"must be a string, got {_json_type(value)}")
        return ""
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
