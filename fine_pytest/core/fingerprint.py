"""Fingerprints of model files: what a cache key says about the model, beyond its name.

A model updated in place keeps its path, so the path alone would serve last week's answers for this week's
weights. Every file is hashed in full (SHA-256); the digest is remembered per (path, size, mtime, inode), so a
weights file is read once per version, not once per run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

_BLOCK = 1 << 20


class DigestMemo(Protocol):
    def fingerprint(self, path: Path, stat: os.stat_result) -> str | None: ...

    def put_fingerprint(self, path: Path, stat: os.stat_result, value: str) -> None: ...


def file_digest(path: Path, memo: DigestMemo | None = None) -> str:
    path = path.resolve()
    stat = path.stat()
    if memo is not None:
        known = memo.fingerprint(path, stat)
        if known is not None:
            return known
    hasher = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_BLOCK):
            hasher.update(block)
    value = hasher.hexdigest()
    if memo is not None:
        memo.put_fingerprint(path, stat, value)
    return value


def tree_digest(path: Path, memo: DigestMemo | None = None) -> str:
    """A file's digest, or a folder's: every regular file under it by relative path, hidden entries left out
    (a .git folder or an editor's swap file says nothing about the model)."""
    path = path.resolve()
    if path.is_file():
        return file_digest(path, memo)
    entries = []
    for root, folders, files in os.walk(path):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            file = Path(root, name)
            if file.is_file():
                entries.append(f"{file.relative_to(path).as_posix()}\0{file_digest(file, memo)}")
    return hashlib.sha256("\n".join(entries).encode("utf-8")).hexdigest()


def source_digest(module_file: str | None) -> str | None:
    """The digest of a Python module's source, for identities of user code (a py: model or judge)."""
    if not module_file or not Path(module_file).is_file():
        return None
    return file_digest(Path(module_file))
