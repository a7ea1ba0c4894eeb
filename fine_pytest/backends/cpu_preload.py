"""tcmalloc for vLLM's engine on a CPU.

vLLM's CPU worker asks for tcmalloc in ``LD_PRELOAD`` and warns without it; on the embedded model generation took
0.90x the time with the system's tcmalloc here, in both orders (docs/PERFORMANCE.md, "Per-answer caching and the
CPU preload"), and the answers stayed the same. ``LD_PRELOAD`` acts only when a process starts, so it is set while
the engine starts its processes and then put back: this process and whatever the user's tests start later keep
their own allocator.

It is used when the system has it (Debian and Ubuntu: ``apt-get install libtcmalloc-minimal4``), when
``LD_PRELOAD`` names no tcmalloc already, and unless ``FINE_NO_TCMALLOC`` is set to anything but empty.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

OPT_OUT = "FINE_NO_TCMALLOC"
LIBRARY_FOLDERS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)
NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")


def system_tcmalloc(folders: tuple[str, ...] = LIBRARY_FOLDERS) -> str | None:
    """The first tcmalloc found in the usual library folders, or None."""
    for folder in folders:
        for name in NAMES:
            path = Path(folder, name)
            if path.is_file():
                return str(path)
    return None


def wanted_preload(environment: dict[str, str] | os._Environ[str], found: str | None) -> str | None:
    """The ``LD_PRELOAD`` the engine should start with, or None to leave it as it is."""
    current = environment.get("LD_PRELOAD", "")
    if found is None or environment.get(OPT_OUT) or "libtcmalloc" in current or not sys.platform.startswith("linux"):
        return None
    return f"{found}:{current}" if current else found


@contextlib.contextmanager
def engine_preload() -> Iterator[str | None]:
    """``LD_PRELOAD`` with tcmalloc first while the block runs (the engine starts); as before afterwards.

    Yields the library preloaded, or None."""
    before = os.environ.get("LD_PRELOAD")
    preload = wanted_preload(os.environ, system_tcmalloc())
    if preload is None:
        yield None
        return
    os.environ["LD_PRELOAD"] = preload
    try:
        yield preload.split(":", 1)[0]
    finally:
        if before is None:
            os.environ.pop("LD_PRELOAD", None)
        else:
            os.environ["LD_PRELOAD"] = before
