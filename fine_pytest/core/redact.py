"""Secrets out of messages: server text can echo the API key back, and messages reach stdout, JUnit and the cache."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "[REDACTED]"
# Any bearer token, not only ours: what follows "Bearer " up to a space, quote, comma or semicolon.
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")


def spellings(secret: str) -> set[str]:
    """The secret as it may come back: as is, trimmed, escaped in JSON or a Python repr, or percent-encoded."""
    forms = {secret, secret.strip(), json.dumps(secret)[1:-1], repr(secret)[1:-1], quote(secret, safe="")}
    return {form for form in forms if form.strip()}  # an empty secret would match everywhere: nothing to hide


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every spelling of each secret, and any ``Bearer <token>``, replaced by [REDACTED].

    Literal matching, longest spelling first: a short key is still hidden (at the cost of the words it happens to be
    part of), and a key with regex characters in it matches only itself.
    """
    forms = sorted({form for secret in secrets for form in spellings(secret)}, key=len, reverse=True)
    if forms:
        # One pass: the marker just written is never searched again, whatever letters the key has.
        text = re.sub("|".join(re.escape(form) for form in forms), REDACTED, text)
    return _BEARER.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
