"""Several models under test in one run (``--model`` given more than once).

Each model is a run of its own inside the pytest run: its FINE tests (``test_pair[<label>/<pair>]``), its run id
(the run's, with ``.m<index>``), its batched generation, its gate and its reports. In each process the models are
evaluated one after another at the first FINE test, each run releasing its engine before the next model loads, so
one device never holds two engines; under xdist every worker takes the models in the same order, and the worker that
owns a partition generates it while the others read the cache. At the end the controller concludes each model
apart, writes each model's reports beside the paths given (``r.json`` -> ``r.<label>.json``), and compares the models
pair by pair (McNemar, Holm-adjusted: core.model_comparison) in the terminal and in ``r.comparison.json`` and
``r.comparison.html``. The build fails when any model's gate fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from fine_pytest.core.errors import FineError
from fine_pytest.pipeline.settings import Settings, beside, model_labels
from fine_pytest.plugin.controller import Controller, Tally
from fine_pytest.plugin.roles import model_of, pair_of


class ModelsController:
    """The controller of a run of several models: one Controller per model (its tally, gate and reports), each
    handed the reports and findings of its model's tests, then the models compared."""

    def __init__(self, config: pytest.Config, settings: Settings, evaluations: Sequence[Any], baseline: Any) -> None:
        self.config = config
        self.settings = settings
        self.labels = model_labels(settings.models)
        self.sides: list[Controller] = []
        for evaluation in evaluations:
            side = Controller(config, Tally(), baseline)
            side.model_evaluation, side.label = evaluation, self.labels[len(self.sides)]
            self.sides.append(side)
        self.comparison: Any = None
        self.written: list[str] = []
        self.errors: list[str] = []

    @property
    def used(self) -> bool:
        return any(side.used for side in self.sides)

    def receive(self, found: Mapping[str, Any]) -> None:
        """What an evaluating process found, per model: ``fine_model_keys`` ([index, key] of each FINE test
        collected) and each model's counts under ``<name>@<index>``."""
        for index, key in found.get("fine_model_keys", ()):
            self.sides[index].tally.expect([key])
        for index, side in enumerate(self.sides):
            mine = {name[: -len(f"@{index}")]: value for name, value in found.items() if name.endswith(f"@{index}")}
            if found.get("fine_selection"):
                mine["fine_selection"] = found["fine_selection"]
            side.receive(mine)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            index, pair = model_of(item), pair_of(item)
            if index is not None and pair is not None:
                self.sides[index].tally.expect([pair.key])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        index = getattr(report, "fine_model", None)
        if isinstance(index, int) and 0 <= index < len(self.sides):
            self.sides[index].pytest_runtest_logreport(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for side in self.sides:
            side.pytest_sessionfinish(session, exitstatus)
        if any(side.tally.active for side in self.sides):
            for side in self.sides:
                if not side.tally.active and not side.report_errors:
                    # Asked for (on the command line or in the ini file) and not one of its tests ran: a gate set
                    # but applied to nothing never leaves the build green, whichever model's it is.
                    side.report_errors.append(
                        "FINE: no FINE test of this model was selected, so it was not evaluated and no gate applied "
                        "to it (-k, -m, --deselect, --lf or the tests named left none)"
                    )
                    if self.settings.thresholds.enforced and session.exitstatus == pytest.ExitCode.OK:
                        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        for label, side in zip(self.labels, self.sides, strict=True):
            side.report_errors = [f"[{label}] {error}" for error in side.report_errors]  # whose it is
        if all(side.outcome is None for side in self.sides):
            return  # collecting only, or a usage error: nothing was concluded
        from fine_pytest.reports.comparison import write_comparison_html, write_comparison_json

        if all(side.outcome is not None for side in self.sides):
            self.comparison = compare(self.labels, self.sides)
        writers: list[tuple[Path | None, Callable[[Any, Path], None]]] = [(self.settings.summary, self.write_summary)]
        if self.comparison is not None:
            writers += [
                (beside(self.settings.report, "comparison"), write_comparison_json),
                (beside(self.settings.html, "comparison"), write_comparison_html),
            ]
        failed = False
        for path, write in writers:
            if path is None:
                continue
            try:
                write(self.comparison, path)
                self.written.append(str(path))
            except (OSError, ValueError, FineError) as error:
                self.errors.append(
                    f"could not write the FINE comparison to {path}: {getattr(error, 'strerror', None) or error}"
                )
                failed = True
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def write_summary(self, _: Any, path: Path) -> None:
        """One Markdown summary for every model concluded, one after another, then the comparison."""
        from fine_pytest.reports.comparison import models_summary
        from fine_pytest.reports.json_report import write_text

        models = [(label, side.report, side.report_errors) for label, side in zip(self.labels, self.sides, strict=True)]
        write_text(models_summary(models, self.comparison, self.settings.show), path)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for side in self.sides:
            side.pytest_terminal_summary(terminalreporter)
        if self.comparison is not None:
            from fine_pytest.reports.comparison import terminal_lines

            terminalreporter.write_sep("=", "FINE models compared")
            for line in terminal_lines(self.comparison):
                terminalreporter.write_line(line)
            for path in self.written:
                terminalreporter.write_line(f"FINE comparison written to {path}")
        for error in self.errors:
            terminalreporter.write_line(error, red=True, bold=True)


def compare(labels: Sequence[str], sides: Sequence[Controller]) -> Any:
    """The models side by side: each model's harmful pairs, its own gate (False for an incomplete run), and every
    pair of models tested on the pairs both evaluated."""
    from fine_pytest.core.model_comparison import compare_models
    from fine_pytest.reports.comparison import gate_of

    models = [
        (label, side.outcome.results, gate_of(side.report))
        for label, side in zip(labels, sides, strict=True)
        if side.outcome is not None and side.report is not None
    ]
    return compare_models(models)
