"""Secrets out of messages: server text can echo the API key back, and messages reach stdout, JUnit and the cache."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

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


# Query parameters whose names say they carry a credential: api-key, access_token, sig, X-Amz-Signature, password...
_CREDENTIAL_PARAMETER = re.compile(r"(?i)key|token|secret|passw|pwd|auth|sig|credential|session")


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries, to be redacted wherever a server echoes them: the password of its user-info
    (the user name too when it stands alone, as in ``https://KEY@host``), and the values of credential-like query
    parameters."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        found = [parts.password or "", parts.username or "" if parts.password is None else ""]
    except ValueError:
        return [url]  # not even a URL: all of it may be the secret
    found += [value for name, value in query if _CREDENTIAL_PARAMETER.search(name)]
    return [secret for secret in found if secret.strip()]


def shown_url(url: str) -> str:
    """The URL as it may be shown, reported or keyed: user-info and credential-like query values redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    pieces = []
    for piece in parts.query.split("&") if parts.query else []:
        name = piece.partition("=")[0]
        pieces.append(f"{name}={REDACTED}" if _CREDENTIAL_PARAMETER.search(name) else piece)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(pieces), parts.fragment))
