"""``fine-pytest run``: the FINE suite without pytest, through the library entry point (pipeline.library).

It takes the plugin's options (the same table, parsers and checks: plugin.option_table, plugin.options), runs the
same pipeline, prints the same summary and writes the same reports; the exit status is the gate's, as
``fine-pytest merge`` gives it. Options that only make sense inside pytest (--fine-strict, --fine-shard,
--fine-devices, batch files) are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fine_pytest.core.errors import FineError
from fine_pytest.core.safe_text import visible, visible_lines
from fine_pytest.plugin import option_table as table

OK, FAILED, USAGE = 0, 1, 4
LEFT_OUT = (table.STRICT, table.SHARD, table.DEVICES, table.EXPORT_REQUESTS, table.IMPORT_RESPONSES, table.BATCH_MODEL)
RUN_OPTIONS = tuple(option for option in table.OPTIONS if option not in LEFT_OUT)


def add_command(commands: Any) -> None:
    command = commands.add_parser(
        "run",
        help="run the FINE suite without pytest: the same results, gate and reports as the plugin",
        description="Evaluate a model on the bundled benchmark (or --fine-dataset) as `pytest --model=SPEC` does, "
        "without pytest: the same pipeline, response cache, summary, reports and gate. Exit status 0 when the "
        "gate passes (or none is set), 1 when it fails, 4 on a usage error.",
    )
    table.add_arguments(command.add_argument, (*RUN_OPTIONS, *table.CATEGORY_MINIMUMS))


class _Flags:
    """The command line, read as the plugin reads a pytest config that has no ini file."""

    inipath = None

    def __init__(self, arguments: argparse.Namespace) -> None:
        self._arguments = arguments
        self.rootpath = Path.cwd()
        self.invocation_params = SimpleNamespace(dir=self.rootpath)

    def getoption(self, name: str, default: Any = None) -> Any:
        return getattr(self._arguments, name, default)

    def getini(self, name: str) -> Any:
        if name in (option.ini for option in table.CATEGORY_MINIMUMS):
            return [f"{category} = {minimum}" for category, minimum in getattr(self._arguments, name) or ()]
        listed = any(option.ini == name and option.action == "append" for option in table.OPTIONS)
        return [] if listed else ""


def run(arguments: argparse.Namespace) -> int:
    import pytest

    from fine_pytest.backends.user_code import add_search_paths
    from fine_pytest.pipeline.library import DEFAULT_CACHE, RunFailed, evaluate_settings
    from fine_pytest.plugin.options import read_settings
    from fine_pytest.reports.json_report import ReportError, load_baseline

    add_search_paths(Path.cwd())  # a py: model beside the project, as the plugin finds it
    try:
        settings = read_settings(_Flags(arguments))  # type: ignore[arg-type]
        baseline = load_baseline(settings.baseline) if settings.baseline else None
    except (pytest.UsageError, ReportError) as error:
        return _usage(str(error))
    if settings.models:
        return _run_models(settings, baseline)
    try:
        outcome = evaluate_settings(settings, settings.cache_dir or DEFAULT_CACHE, _progress(), baseline)
    except RunFailed as error:  # the model or judge failed: as the plugin, a failed run, not bad input
        print(f"fine-pytest run: {visible_lines(str(error))}", file=sys.stderr)
        return FAILED
    except FineError as error:
        return _usage(str(error))
    return _report(outcome, settings)


def _report(outcome: Any, settings: Any) -> int:
    from fine_pytest.reports.html import write_html
    from fine_pytest.reports.json_report import build_report, write_report
    from fine_pytest.reports.markdown import write_markdown
    from fine_pytest.reports.terminal import summary_lines

    for text, _ in summary_lines(outcome, settings.show):
        print(text)
    report = build_report(outcome)
    status = OK if outcome.gate.passed or (not outcome.gate.enforced and outcome.gate.complete) else FAILED
    for path, write in (
        (settings.report, write_report),
        (settings.html, write_html),
        (settings.summary, write_markdown),
    ):
        if path is None:
            continue
        try:
            write(report, path)
        except (OSError, ValueError, FineError) as error:
            reason = getattr(error, "strerror", None) or error
            print(f"fine-pytest run: could not write {visible(str(path))}: {visible(str(reason))}", file=sys.stderr)
            status = FAILED
            continue
        print(f"FINE report written to {visible(str(path))}")
    return status


def _run_models(settings: Any, baseline: Any) -> int:
    """Several models: each evaluated, reported and gated in turn (a model whose run fails fails alone), then
    compared, as the plugin does with --model given more than once."""
    from fine_pytest.core.model_comparison import compare_models
    from fine_pytest.pipeline.checks import check_begun_replies, check_specs
    from fine_pytest.pipeline.form_families import resolve_families
    from fine_pytest.pipeline.library import DEFAULT_CACHE, RunFailed, evaluate_settings
    from fine_pytest.pipeline.settings import beside, model_labels, model_settings
    from fine_pytest.reports.comparison import (
        gate_of,
        models_summary,
        terminal_lines,
        write_comparison_html,
        write_comparison_json,
    )
    from fine_pytest.reports.json_report import build_report, write_text

    try:  # every model checked before any runs: a typo in the last must not cost the first's run
        check_specs(settings, _context(settings), run_user_code=True, probe=True)
        check_begun_replies(settings, resolve_families(settings.forms.families, []))
    except FineError as error:
        return _usage(str(error))
    status, compared = OK, []
    summaries: list[tuple[str, dict[str, Any] | None, list[str]]] = []
    for index, label in enumerate(model_labels(settings.models)):
        mine = model_settings(settings, index)
        print(f"== model {visible(label)} ({visible(mine.model_spec)})")
        try:
            outcome = evaluate_settings(mine, settings.cache_dir or DEFAULT_CACHE, _progress(), baseline)
        except RunFailed as error:
            print(f"fine-pytest run: {visible(label)}: {visible_lines(str(error))}", file=sys.stderr)
            status = FAILED
            summaries.append((label, None, [f"the run failed: {error}"]))
            continue
        except FineError as error:
            return _usage(str(error))
        status = max(status, _report(outcome, mine))
        report = build_report(outcome)
        compared.append((label, outcome.results, gate_of(report)))
        summaries.append((label, report, []))
    comparison = compare_models(compared) if len(compared) >= 2 else None
    if comparison is None:
        status = FAILED
    else:
        for line in terminal_lines(comparison):
            print(line)
    writers: list[tuple[Any, Any]] = [
        (settings.summary, lambda _, path: write_text(models_summary(summaries, comparison, settings.show), path))
    ]
    if comparison is not None:
        writers += [
            (beside(settings.report, "comparison"), write_comparison_json),
            (beside(settings.html, "comparison"), write_comparison_html),
        ]
    for path, write in writers:
        if path is None:
            continue
        try:
            write(comparison, path)
            print(f"FINE {'summary' if path == settings.summary else 'comparison'} written to {visible(str(path))}")
        except (OSError, ValueError, FineError) as error:
            reason = getattr(error, "strerror", None) or error
            print(f"fine-pytest run: could not write {visible(str(path))}: {visible(str(reason))}", file=sys.stderr)
            status = FAILED
    return status


def _context(settings: Any) -> Any:
    from fine_pytest.backends.base import ModelContext

    return ModelContext(engine_args=settings.engine_args, endpoint=settings.endpoint)


def _progress() -> Any:
    from fine_pytest.pipeline.progress import Shown

    def write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    return Shown(write, live=sys.stderr.isatty())


def _usage(message: str) -> int:
    print(f"fine-pytest run: error: {visible_lines(message)}", file=sys.stderr)
    return USAGE
