"""One way to read JSON that comes from outside this process (reports, shards, calibration figures, labels, batch
output lines, server replies): bounded in depth, and every failure a ValueError with a message, never a
RecursionError that reaches the user as a traceback. The callers add the file, line and option."""

from __future__ import annotations

import json
from typing import Any

# Far deeper than anything the project writes or reads (a report nests about six levels).
MAX_DEPTH = 100


class JsonInputError(ValueError):
    """JSON that cannot be read: the message says why (invalid, or nested too deep)."""


def parse_json(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The value ``text`` holds; JsonInputError when it is not JSON or nests deeper than ``max_depth``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise JsonInputError(f"line {error.lineno}: not valid JSON: {error.msg}") from None
    except RecursionError:
        raise JsonInputError(f"nested deeper than {max_depth} levels") from None
    if _deeper_than(value, max_depth):
        # Parsed, but later steps (copies, comparisons, messages) recurse too: refused here, with a reason.
        raise JsonInputError(f"nested deeper than {max_depth} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
