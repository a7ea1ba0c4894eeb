"""The terminal, past pytest's capture: the run's progress line, the model's loading, and the notes said while a
test runs (fixtures otherwise run with their output captured)."""

from __future__ import annotations

import contextlib
import sys

import pytest

from fine_pytest.pipeline.progress import SILENT, Progress, Shown
from fine_pytest.plugin.roles import worker_input


class Screen:
    """This pytest process's terminal."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def progress(self) -> Progress:
        """The run's progress line on the terminal; none with -qq. An xdist worker's stderr is the terminal's too, so
        each worker that works shows plain lines under its own name: live bars of several processes would garble."""
        if self.config.option.verbose <= -2:
            return SILENT
        worker = worker_input(self.config)
        with self.shown(True):
            if sys.stderr is None:  # started with stderr closed: nowhere to show it
                return SILENT
            live = sys.stderr.isatty() and worker is None
        label = "FINE" if worker is None else f"FINE {worker.get('workerid', 'worker')}"
        return Shown(self.write, live, label=label)

    def write(self, text: str) -> None:
        """Text on the terminal past pytest's capture; a terminal that went away costs the line, never the run."""
        with self.shown(True), contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.write(text)
            sys.stderr.flush()

    def announce(self, message: bytes) -> None:
        """A line on the terminal, past pytest's capture of the test's output (an interrupt is held: say so)."""
        self.write(message.decode())

    def shown(self, wanted: bool) -> contextlib.AbstractContextManager[None]:
        """Let output reach the terminal (a back end's start-up log with -v): fixtures otherwise run captured."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        if wanted and capture is not None:
            return capture.global_and_fixture_disabled()  # type: ignore[no-any-return]
        return contextlib.nullcontext()
