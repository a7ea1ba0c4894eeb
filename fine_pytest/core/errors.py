"""Errors a user can act on. The plugin turns them into pytest usage errors or clean test failures, not tracebacks."""

from __future__ import annotations

from pathlib import Path


class FineError(Exception):
    """A problem with the user's input or set-up, with a message that says what to change."""


# The largest file read whole (reports, shards, baselines, labels, figures): a report of a million pairs is a few
# hundred MiB. Past it a file is refused unread, not parsed into many times its size in memory.
MAX_INPUT_BYTES = 1 << 30


def read_utf8(path: str | Path, error: type[Exception] = FineError, max_bytes: int | None = None) -> str:
    """A user's file as text; an unreadable file, one over ``max_bytes`` (MAX_INPUT_BYTES by default) or bytes
    that are not UTF-8 raise ``error`` naming the file."""
    limit = MAX_INPUT_BYTES if max_bytes is None else max_bytes
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as problem:
        raise error(f"{path}: cannot read: {problem.strerror or problem}") from None
    if len(data) > limit:
        raise error(f"{path}: larger than {limit:,} bytes, not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise error(f"{path}: not UTF-8 text ({problem.reason} at byte {problem.start})") from None
