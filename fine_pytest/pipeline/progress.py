"""Progress of a run: one line for everything it generates and judges, whatever the back end.

The pipeline says how much work it has found (``add``: the prompts the cache lacks, then the answers to judge, then
any later round) and how much is done (``advance``: each answer as it is stored, each verdict). The total grows as
work is found, so the line always says what is known. ``Progress`` itself shows nothing (library use, ``-qq``);
``Shown`` draws it with tqdm: a live bar on a terminal, and a plain line every ``interval`` seconds where the output
is a log (CI), which a bar's carriage returns would garble, or where several processes share one terminal (xdist
workers, each with its own ``label``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any


class Progress:
    """Counts work as it is found and done, and shows nothing."""

    def add(self, count: int) -> None:
        """``count`` more steps were found (prompts to generate, answers to judge)."""

    def advance(self, count: int) -> None:
        """``count`` steps were done."""

    def note(self, line: str) -> None:
        """A line of its own (the model loading, then ready), after the progress line's label."""

    def restart_clock(self) -> None:
        """Time the rate and the time left from now (the model is ready): its loading is not generation."""

    def close(self) -> None:
        """The run's work is done (or stopped): the line is finished."""


SILENT = Progress()


class _Lines:
    """A file for tqdm that writes through ``write`` (past pytest's capture) and flushes at once."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def write(self, text: str) -> None:
        self._write(text)

    def flush(self) -> None:
        pass


class Shown(Progress):
    """The progress line, drawn through ``write`` (text for the terminal); ``live``: a bar redrawn in place;
    ``label``: what each line starts with (the process, when several share a terminal)."""

    def __init__(self, write: Callable[[str], None], live: bool, interval: float = 30.0, label: str = "FINE") -> None:
        from tqdm import tqdm  # type: ignore[import-untyped]

        self._write, self._live, self._interval, self._label = write, live, interval, label
        self._total = self._done = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Any = None  # drawn once there is work: a run the cache answers shows no line
        self._tqdm = tqdm

    def add(self, count: int) -> None:
        if count <= 0:
            return
        self._total += count
        if self._live and self._bar is None:
            file = _Lines(self._write)
            self._bar = self._tqdm(total=self._total, desc=self._label, unit="step", file=file, dynamic_ncols=True)
        elif self._bar is not None:
            self._bar.total = self._total
            self._bar.refresh()

    def advance(self, count: int) -> None:
        if count <= 0:
            return
        self._done += count
        if self._bar is not None:
            self._bar.update(count)
        elif time.monotonic() - self._last_line >= self._interval:
            self._plain()

    def note(self, line: str) -> None:
        line = f"{self._label}: {line}\n"
        if self._bar is not None:
            self._bar.clear()
            self._write(line)
            self._bar.refresh()
        else:
            self._write(line)

    def restart_clock(self) -> None:
        self._started = self._last_line = time.monotonic()
        if self._bar is not None:
            self._bar.start_t = self._bar.last_print_t = self._bar._time()
            self._bar.last_print_n = self._bar.n
            self._bar.unpause()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._done:
            self._plain()

    def _plain(self) -> None:
        self._last_line = time.monotonic()
        elapsed = self._last_line - self._started
        # tqdm's own wording (count, rate, time left), without the bar: a log line reads the same in any viewer.
        meter = self._tqdm.format_meter(
            self._done, self._total or None, elapsed, ncols=0, prefix=self._label, unit="step"
        )
        self._write(meter.strip() + "\n")

    def __repr__(self) -> str:
        return f"Shown({self._done}/{self._total})"


@contextlib.contextmanager
def closing(progress: Progress) -> Iterator[Progress]:
    """Finish the progress line however the block ends."""
    try:
        yield progress
    finally:
        progress.close()
