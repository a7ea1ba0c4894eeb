"""Model and dataset text made safe to print: control characters are shown, never obeyed.

An answer, a pair id or a category name can hold escape sequences (ESC [2J clears the screen), carriage returns,
backspaces, C1 controls or bidi overrides, which a terminal would obey: clear the screen, rewrite a line, or forge
one such as ``FINE gate PASSED``. Every place that prints such text passes it through here first. Each control or
invisible formatting character is written as a Python-style escape: ``\\x1b``, ``\\x9b``, ``\\u202e``, ``\\r``.
"""

from __future__ import annotations

import unicodedata

# Cc: C0 controls, DEL and C1 controls; Cf: invisible formatting (bidi overrides and isolates, zero-width
# characters); Zl, Zp: line and paragraph separators; Cs: lone surrogates, which cannot even be encoded.
_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
INDENT = "  "


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` as one line, every control or invisible formatting character (newlines too) written as an escape."""
    if text.isprintable():  # the common case; isprintable() is False for every character escaped here
        return text
    return "".join(_escape(char) if unicodedata.category(char) in _HIDDEN else char for char in text)


def visible_text(text: str) -> str:
    """``text`` with its line breaks and tabs kept and every other control or invisible formatting character written
    as an escape: a block of model text (an answer) shown in a report, where a bidi override would otherwise reorder
    what the reader sees."""
    if text.isprintable():
        return text
    return "".join(
        _escape(char) if char not in "\n\t" and unicodedata.category(char) in _HIDDEN else char for char in text
    )


def visible_lines(text: str, indent: str = INDENT) -> str:
    """Several lines kept apart at ``\\n`` (or ``\\r\\n``), each made visible, and every line after the first
    indented by ``indent``, so that no line of the text can pass for one the plugin prints at the margin."""
    first, *rest = text.replace("\r\n", "\n").split("\n")
    return "\n".join([visible(first), *(indent + visible(line) for line in rest)])
