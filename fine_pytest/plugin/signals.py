"""Interrupts during a FINE run: SIGTERM handled as Ctrl-C while a model is loaded, so a cancelled CI job unwinds
instead of vanishing, and one interrupt is enough: a second Ctrl-C or SIGTERM while the first is being handled
(finished answers saved, the engine closed, the reports written) says so instead of breaking the clean-up off with
a traceback. A third quits at once, with the interrupted status; the cache stays consistent (SQLite transactions).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

INTERRUPTED_STATUS = 2  # pytest's ExitCode.INTERRUPTED
STOPPING = b"\nFINE: stopping: saving what is finished and writing the reports (interrupt again to quit at once)\n"

# Bound now: while a py: model runs, os._exit is swapped for a guard that refuses the model's own exit.
_exit = os._exit
_held: dict[int, Any] = {}  # signal -> the handler it had before this process held further interrupts
_state = {"interrupted": False, "presses": 0}


def _to_stderr(message: bytes) -> None:
    os.write(2, message)


# How the held interrupt is announced: straight to file descriptor 2 unless the process says otherwise (pytest
# captures that descriptor while a test runs; the worker announces past the capture).
_announce: list[Callable[[bytes], None]] = [_to_stderr]


def announce_with(say: Callable[[bytes], None]) -> None:
    _announce[0] = say


def interrupted() -> bool:
    """Whether this process was interrupted during a FINE run (the report says so whatever else happened)."""
    return bool(_state["interrupted"])


def _patient(signum: int, frame: object) -> None:
    _state["presses"] += 1
    if _state["presses"] == 1:
        try:
            _announce[0](STOPPING)
        except Exception:  # noqa: BLE001 - a signal handler must not fail: the plain descriptor is the fallback
            _to_stderr(STOPPING)
    else:
        _exit(INTERRUPTED_STATUS)


def hold_further_interrupts() -> None:
    """The run was interrupted: from now on Ctrl-C and SIGTERM wait for the clean-up (see the module docstring).
    Only Python's own handlers are replaced (a user's or another plugin's stay), and only in the main thread."""
    _state["interrupted"] = True
    if threading.current_thread() is not threading.main_thread():
        return
    for number, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        current = signal.getsignal(number)
        if number not in _held and (current is default or getattr(current, "fine_pytest", False)):
            _held[number] = default
            signal.signal(number, _patient)


def release_interrupts() -> None:
    """The run is over: the handlers held are given back (several runs can share a process, as under pytester)."""
    for number, handler in list(_held.items()):
        if signal.getsignal(number) is _patient:
            signal.signal(number, handler)
        del _held[number]
    _state.update(interrupted=False, presses=0)
    _announce[0] = _to_stderr


@contextlib.contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a model is loaded, and hold further interrupts after the first.

    CI systems stop a job with SIGTERM, whose default action ends Python without unwinding: an engine's worker
    processes were left running, holding gigabytes, and pytest wrote no summary. As KeyboardInterrupt it unwinds
    through the model's close() and pytest's own interrupted-run path (exit status 2, no passing gate).
    It covers loading the model too: vLLM starts its engine processes then. A handler the user or another plugin
    installed is left alone, as is any thread but the main one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def interrupt(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            # A process forked from this one inherited the handler: it should just end, as it would have.
            signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler)
            os.kill(os.getpid(), signum)
            return
        hold_further_interrupts()
        raise KeyboardInterrupt("SIGTERM" if signum == signal.SIGTERM else "")

    interrupt.fine_pytest = True  # type: ignore[attr-defined]
    installed = []
    for number, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
        if signal.getsignal(number) is default:
            signal.signal(number, interrupt)
            installed.append((number, default))
    try:
        yield
    finally:
        for number, default in installed:
            if signal.getsignal(number) is interrupt:
                signal.signal(number, default)
