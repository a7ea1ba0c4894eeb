"""SIGTERM handled as Ctrl-C while a model is loaded, so a cancelled CI job unwinds instead of vanishing."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a model is loaded.

    CI systems stop a job with SIGTERM, whose default action ends Python without unwinding: an engine's worker
    processes were left running, holding gigabytes, and pytest wrote no summary. As KeyboardInterrupt it unwinds
    through the model's close() and pytest's own interrupted-run path (exit status 2, no passing gate).
    It covers loading the model too: vLLM starts its engine processes then. A handler the user or another plugin
    installed is left alone, as is any thread but the main one.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    owner = os.getpid()

    def interrupt(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            # A process forked from this one inherited the handler: it should just end, as it would have.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        # One interrupt is enough: a second SIGTERM (CI systems send a few) must not break off the clean-up.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) in (interrupt, signal.SIG_IGN):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
