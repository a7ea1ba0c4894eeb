"""The one line of a reply that the product reads, cut at the same boundary whatever back end produced it.

A multiple-choice or yes/no answer is asked for as one short declaration and nothing else, and decoding stops when
the declaration's closing ``]]`` is written (the stop string, where the back end has stops). A back end that cannot
stop (a ``py:`` model, a server that ignores stops, an imported batch file) may return more; the product cuts its
reply at the same place before reading, so every back end is read exactly alike:

1. The reply is cut after the first ``]]``, as an engine's stop would cut it.
2. A leading think block (``<think>...</think>``), or a reply that opens inside one and carries only its closing
   tag, is set aside. A think block the token budget cut before its closing tag leaves nothing to read.
   A ``]]`` inside a think block therefore ends the reply there, as it ends generation.
3. What is left is cut at the end of its first non-empty line.

What follows the boundary is never read (with stop strings it is never generated). Explanations are not
interpreted: the line is read by an exact grammar, or it is unparseable with a reason.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Where a declaration in the asked format is complete: the stop string of every back end that has stops.
DECLARATION_STOP = "]]"
_OPENED_AT_END = re.compile(r"\[\[[^\[\]\n]{1,20}$")
_THINK_OPEN = re.compile(r"^\s*<(think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)
_THINK_ANY = re.compile(r"</?(think|thinking|reasoning)>", re.IGNORECASE)

# Reasons an answer was not read, counted per reason in the summary and the JSON report.
EMPTY = "empty reply"
THINK_UNCLOSED = "think block not closed within the token budget"
THINK_AGAIN = "a second think block"
CUT_MID_LINE = "cut by the token budget before the line ended"


@dataclass(frozen=True)
class Line:
    """The line to read, or None with the reason there is none."""

    text: str | None
    reason: str = ""


def normalised(text: str) -> str:
    """NFKC (fullwidth letters and brackets become ASCII) with format characters removed: a zero-width character
    could otherwise split a letter from its brackets, or join two into one, unseen."""
    normal = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(char for char in normal if unicodedata.category(char) != "Cf")


def after_thinking(reply: str) -> Line:
    """The reply with a leading think block set aside (the whole reply when it has none)."""
    opened = _THINK_OPEN.match(reply)
    if opened:
        closing = _THINK_CLOSE.search(reply, opened.end())
        if closing is None:
            return Line(None, THINK_UNCLOSED)
        rest = reply[closing.end() :]
    else:
        # A chat template that opens the think block itself leaves the reply starting inside it.
        closing = _THINK_CLOSE.search(reply)
        rest = reply if closing is None else reply[closing.end() :]
    if _THINK_ANY.search(rest):
        return Line(None, THINK_AGAIN)
    return Line(rest)


def declaration_line(reply: str, truncated: bool = False) -> Line:
    """The first non-empty line of the reply after any think block, cut after the first ``]]``.

    ``truncated``: the token budget ended the reply. A line that runs to the end of such a reply might have gone on
    ("Option: A, no, B"), so it is not read, unless the declaration's closing ``]]`` already ended it.
    """
    text = normalised(reply)
    # First the stop, as an engine applies it: it ends generation wherever it appears, inside a think block too.
    stop = text.find(DECLARATION_STOP)
    if stop >= 0:
        text = text[: stop + len(DECLARATION_STOP)]
    thought = after_thinking(text)
    if thought.text is None:
        return thought
    stripped = thought.text.lstrip()
    if not stripped.strip():
        return Line(None, EMPTY)
    line, newline, _ = stripped.partition("\n")
    line = line.strip()
    if stop < 0 and not newline and not truncated and _OPENED_AT_END.search(line):
        # A server that follows OpenAI's rule drops the stop string it stopped on ("Option: [[A"); the reply ended
        # there because the stop matched, so the declaration is complete.
        return Line(line + DECLARATION_STOP)
    if truncated and not newline and stop < 0:
        return Line(None, CUT_MID_LINE)
    return Line(line)
