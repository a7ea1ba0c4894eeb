"""The controller side: the process that sees every test report (the xdist controller, or the only process).

It tallies each pair's result as its report arrives, concludes the run (core.conclude) at session finish, applies
the gate to the exit status, writes the reports and prints the summary. Under xdist it also hands each worker the
run's identity and reads back what the workers counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from fine_pytest.core.compare import Baseline
from fine_pytest.core.conclude import Outcome, conclude
from fine_pytest.core.dataset import bundled_dataset
from fine_pytest.core.errors import FineError
from fine_pytest.core.results import PairResult
from fine_pytest.judges.trust import judge_agreement
from fine_pytest.pipeline.cache import FILENAME, Cache, CacheError
from fine_pytest.pipeline.coordination import RunInfo, tidy
from fine_pytest.pipeline.settings import Settings
from fine_pytest.plugin import signals
from fine_pytest.plugin.roles import EVALUATION, pair_of
from fine_pytest.plugin.suite import requested


def after_run(info: RunInfo) -> None:
    """Clear what killed runs left in the cache folder; only after a run with FINE tests."""
    if info.persistent:
        tidy(Path(info.cache_dir))


class Tally:
    """Collects per-pair results from test reports on the controller (or the only process)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.expected: set[str] = set()
        self.unjudged: dict[str, str] = {}  # pair -> why it has no verdict
        self.stopped = False  # a worker's whole evaluation failed, and it stopped the run

    @property
    def active(self) -> bool:
        return bool(self.seen or self.expected)

    def expect(self, keys: Iterable[str]) -> None:
        self.expected.update(keys)

    def add(self, report: pytest.TestReport) -> None:
        key = getattr(report, "fine_key", None)
        if key is None:
            return
        self.seen.add(key)
        record = getattr(report, "fine", None)
        # Several tests may request the same pair; the pair is counted once.
        if report.when == "call" and record is not None:
            self.records[key] = record
        self.stopped = self.stopped or bool(getattr(report, "fine_stopped", False))
        reason = getattr(report, "fine_unjudged", None)
        if reason and key not in self.records:
            self.unjudged[key] = str(reason)

    def no_verdict(self) -> dict[str, int]:
        """Pairs without a verdict counted by reason, the commonest first: one line for 220 identical failures."""
        counts = Counter(reason for key, reason in self.unjudged.items() if key not in self.records)
        return dict(counts.most_common())

    def conclude(
        self,
        settings: Settings,
        interrupted: bool,
        run: dict[str, Any] | None = None,
        baseline: Baseline | None = None,
        stop_reason: str = "",
    ) -> Outcome:
        datasets = tuple(str(path) for path in settings.datasets) or (str(bundled_dataset()),)
        return conclude(
            settings.described(),
            datasets,
            (PairResult.from_dict(record) for record in self.records.values()),
            expected=len(self.expected | self.seen),
            interrupted=interrupted,
            shard=settings.shard is not None,
            baseline=baseline,
            run=run,
            judge_trust=judge_agreement(
                settings.judge, settings.judge_calibration, None, settings.judge_format, settings.judge_scoring
            ),
            stop_reason=stop_reason,
        )


def stop_reason(session: pytest.Session, exitstatus: int, evaluation_failed: bool = False) -> str:
    """What stopped the run, in the words of the gate's problem: pytest's own reason (-x, --maxfail, a whole
    evaluation that failed) or an interrupt."""
    from fine_pytest.core.safe_text import visible

    if evaluation_failed:  # under xdist pytest only knows that a worker stopped the run
        return "stopped early: FINE evaluation failed (the first FINE test's error says why)"
    for reason in (session.shouldfail, session.shouldstop):
        if isinstance(reason, str) and reason:
            return f"stopped early: {visible(reason)}"
    if signals.interrupted():
        return "interrupted (Ctrl-C or SIGTERM)"
    return "interrupted" if exitstatus == pytest.ExitCode.INTERRUPTED else ""


class Controller:
    """Hooks of the process that sees every report: tally, gate, JSON report, terminal summary."""

    def __init__(self, config: pytest.Config, tally: Tally, baseline: Baseline | None = None) -> None:
        self.config = config
        self.tally = tally
        self.baseline = baseline
        self.outcome: Outcome | None = None
        self.report: dict[str, Any] | None = None  # the outcome as the JSON report has it, built once
        self.written: list[str] = []  # reports written: JSON, HTML
        self.report_errors: list[str] = []
        # What the evaluating processes found (roles.publish): cache use and the shard's pairs.
        self.stats: dict[str, int] | None = None
        self.identity: dict[str, str] | None = None  # worker.run_identity: what the results depend on, by content
        self.selection: dict[str, Any] | None = None
        self.baseline_use: Any = None  # what the verdict-baseline test did (snapshots.BaselineUse)
        self.imported: dict[str, Any] | None = None  # answers stored from a batch file (--fine-import-responses)
        # The evaluation whose settings and run this controller reports: the run's own, or in a run of several
        # models one model's (plugin.models).
        self.model_evaluation: Any = None
        self.label = ""  # that model's label, in its summary's title

    @property
    def evaluation(self) -> Any:
        return self.model_evaluation or self.config.stash[EVALUATION]

    @property
    def used(self) -> bool:
        """Whether FINE tests ran in this run (here or in xdist workers), so the cache may hold its rows."""
        return bool(self.tally.active or self.baseline_use or self.stats)

    def receive(self, found: Mapping[str, Any]) -> None:
        """What an evaluating process found (roles.publish): the same call with or without xdist."""
        self.tally.expect(found.get("fine_keys", ()))
        stats = found.get("fine_stats")
        # Every process that evaluated read the same finished cache; the one that saw the most prompts is complete.
        if stats and (self.stats is None or stats["prompts"] > self.stats["prompts"]):
            self.stats = stats
            self.identity = found.get("fine_identity")
        if found.get("fine_selection"):
            self.selection = found["fine_selection"]
        if found.get("fine_imported"):
            self.imported = found["fine_imported"]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.tally.expect(pair.key for pair in (pair_of(item) for item in session.items) if pair is not None)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.tally.add(report)
        if report.when == "setup" and report.user_properties:
            from fine_pytest.plugin.verdict_baseline import BaselineUse

            self.baseline_use = BaselineUse.from_properties(report.user_properties) or self.baseline_use

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # Collecting runs no test, so there is nothing to score and no gate to apply.
        sharded = (self.selection or {}).get("selected", 0) > 0
        evaluation = self.evaluation
        if (
            self.config.option.collectonly
            or evaluation.settings.export_requests is not None
            or evaluation.bad_batch_file
            or exitstatus == pytest.ExitCode.USAGE_ERROR
        ):
            # Collecting, exporting a batch file, stopping at a batch file the run cannot use, or a usage error
            # found before any test ran: nothing to score, no gate to apply (the exit status says what happened).
            return
        if not (self.tally.active or sharded):
            if requested(self.config) and self.baseline_use is None:
                # FINE was asked for on the command line and no FINE test ran: say so, never a silent exit 5, and
                # a gate that was set but applied to nothing never leaves the build green.
                self.report_errors.append(
                    "FINE: no FINE test was selected, so no pair was evaluated and no gate applied (-k, -m, "
                    "--deselect or the tests named left none)"
                )
                if evaluation.settings.thresholds.enforced and session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if self.baseline_use is not None and self.evaluation.settings.thresholds.enforced:
                # Only the verdict baseline ran (-k, ::test, --lf): the pairs were evaluated but no pair test ran,
                # so no gate saw them. A gate set but not applied must not leave the build green.
                self.report_errors.append(
                    "FINE gate not applied: no FINE pair test ran (only the verdict baseline), and a gate over zero "
                    "pairs never passes; select the pair tests too"
                )
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if sharded and not self.tally.active and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            # Fewer pairs than shards: this shard is empty, which is no error; its report still goes to the merge.
            session.exitstatus = pytest.ExitCode.OK
        from fine_pytest.reports.html import write_html
        from fine_pytest.reports.json_report import build_report, write_report
        from fine_pytest.reports.markdown import write_markdown

        settings = self.evaluation.settings
        after_run(self.evaluation.info)
        stopped = bool(session.shouldstop or session.shouldfail)  # -x / --maxfail set shouldfail
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or stopped or signals.interrupted()
        stopped_by = stop_reason(session, exitstatus, self.tally.stopped)  # before interrupts are held (noted then)
        if self.tally.stopped and not signals.interrupted() and exitstatus == pytest.ExitCode.INTERRUPTED:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # xdist reports a worker's stop as an interrupt
        if interrupted:
            signals.hold_further_interrupts()  # the reports below are written whole, whatever is pressed now
        self.outcome = self.tally.conclude(
            settings,
            interrupted=interrupted,
            run=self.run_facts(),
            baseline=self.baseline,
            stop_reason=stopped_by,
        )
        failed = self.outcome.gate.enforced and not self.outcome.gate.passed
        report = self.report = build_report(self.outcome)
        writers = ((settings.report, write_report), (settings.html, write_html), (settings.summary, write_markdown))
        for path, write in writers:
            if path is None:
                continue
            try:
                write(report, path)
                self.written.append(str(path))
            except (OSError, ValueError, FineError) as error:
                reason = getattr(error, "strerror", None) or error
                self.report_errors.append(f"could not write the FINE report to {path}: {reason}")
                failed = True
        # Only turn a green run red; never overwrite another status, and never OR codes together.
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def run_facts(self) -> dict[str, Any]:
        """How the run got its answers (cache hits, engine starts) and which shard it was, for the reports."""
        info = self.evaluation.info
        loads = 0
        database = Path(info.cache_dir, FILENAME)
        if info.cache_dir and database.exists():
            try:
                with Cache(database) as cache:
                    loads = len(cache.events(info.run, "load"))
            except CacheError:
                pass
        facts: dict[str, Any] = {
            "cache": str(database) if info.persistent else None,
            "model_loads": loads,
            **(self.stats or {}),
        }
        if self.tally.no_verdict():
            facts["no_verdict"] = self.tally.no_verdict()
        if self.identity is not None:
            facts["identity"] = self.identity
        if self.selection is not None:
            facts["shard"] = self.selection
        if self.imported is not None:
            facts["imported"] = self.imported
        return facts

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.outcome is not None:
            from fine_pytest.reports.terminal import write_summary

            title = "FINE summary" if not self.label else f"FINE summary: {self.label}"
            write_summary(terminalreporter, self.outcome, self.written, self.evaluation.settings.show, title)
        for error in self.report_errors:
            terminalreporter.write_line(error, red=True, bold=True)
        if self.baseline_use is not None:
            from fine_pytest.core.safe_text import visible

            for line in self.baseline_use.lines(gated=self.outcome is not None):  # names shown, never obeyed
                terminalreporter.write_line(visible(line), yellow=self.baseline_use.status == "missing")


class XdistController:
    """Registered only when xdist is installed, since its hooks are unknown to pytest otherwise."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def pytest_configure_node(self, node: Any) -> None:
        # Every worker joins this run: same run id, same cache, so one of them generates and the rest read.
        node.workerinput["fine_run"] = self.controller.config.stash[EVALUATION].info.to_dict()

    def pytest_testnodedown(self, node: object, error: object) -> None:
        # A crashed worker sends no output; the pairs it collected are known from the other workers.
        self.controller.receive(getattr(node, "workeroutput", None) or {})
