"""Errors a user can act on. The plugin turns them into pytest usage errors or clean test failures, not tracebacks."""

from __future__ import annotations

from pathlib import Path


class FineError(Exception):
    """A problem with the user's input or set-up, with a message that says what to change."""


def read_utf8(path: str | Path, error: type[Exception] = FineError) -> str:
    """A user's file as text; an unreadable file or bytes that are not UTF-8 raise ``error`` naming the file."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as problem:
        raise error(f"{path}: cannot read: {problem.strerror or problem}") from None
    except UnicodeDecodeError as problem:
        raise error(f"{path}: not UTF-8 text ({problem.reason} at byte {problem.start})") from None
