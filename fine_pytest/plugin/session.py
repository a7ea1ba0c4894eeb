"""A FINE run's set-up in one pytest process: settings read and checked, the run named, the controller registered.

The plugin calls ``activate`` at configure when FINE is in use from the start (a FINE option on the command line or
in the ini file, or pytest-xdist, whose workers need the run's name from their controller), and otherwise when
collection first meets a FINE test. A run without FINE tests never imports this module.
"""

from __future__ import annotations

from typing import Any

import pytest

from fine_pytest.backends.user_code import add_search_paths
from fine_pytest.core.compare import Baseline
from fine_pytest.pipeline.coordination import RunInfo, clear, default_cache_dir, new_run
from fine_pytest.pipeline.settings import Settings
from fine_pytest.plugin.controller import Controller, Tally, XdistController
from fine_pytest.plugin.options import read_settings
from fine_pytest.plugin.roles import CONTROLLER, EVALUATION, worker_input
from fine_pytest.plugin.worker import Evaluation
from fine_pytest.reports.json_report import ReportError, load_baseline


def activate(config: pytest.Config) -> Any:
    """Read the run's settings, check what can be checked, and set up this process's part; once per process."""
    if EVALUATION in config.stash:
        return config.stash[EVALUATION]
    settings = read_settings(config)
    evaluation = Evaluation(config, settings)
    config.stash[EVALUATION] = evaluation
    if config.option.help:
        return evaluation
    add_search_paths(
        config.invocation_params.dir, config.rootpath, *([config.inipath.parent] if config.inipath else [])
    )
    evaluation.check_specs()
    if settings.judge_calibration is not None:
        check_calibration(settings)
    if settings.datasets_given:
        # Validate a user's files before collection or model work, so bad input exits with status 4.
        evaluation.pairs()
    # xdist workers only evaluate and annotate reports; the gate lives where all reports arrive.
    workerinput = worker_input(config)
    if workerinput is not None:
        evaluation.info = RunInfo.from_dict(
            workerinput["fine_run"], worker=int(workerinput["workerid"][2:]), workers=int(workerinput["workercount"])
        )
        return evaluation
    refuse_parallel_snapshot_update(config)
    refuse_parallel_export(config, settings)
    evaluation.info = start_run(config, settings)
    controller: Any = Controller(config, Tally(), load_baseline_option(settings))
    if settings.models:
        from fine_pytest.plugin.models import ModelsController

        controller = ModelsController(config, settings, evaluation.models(), controller.baseline)
    config.pluginmanager.register(controller, CONTROLLER)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistController(controller), "fine-xdist-controller")
    return evaluation


def check_calibration(settings: Settings) -> None:
    from fine_pytest.core.errors import FineError
    from fine_pytest.judges.trust import load_calibration

    try:
        path = settings.judge_calibration
        assert path is not None
        load_calibration(path, settings.judge, settings.judge_format, settings.judge_scoring)
    except FineError as error:
        raise pytest.UsageError(str(error)) from None


def refuse_parallel_snapshot_update(config: pytest.Config) -> None:
    """syrupy has truncated snapshot files when several xdist workers wrote them: update the baseline serially."""
    workers = config.getoption("numprocesses", None)
    updating = config.getoption("update_snapshots", False) or config.getoption("update_new_snapshots_only", False)
    if updating and workers not in (None, 0, "0"):
        raise pytest.UsageError(
            f"--snapshot-update with -n {workers}: syrupy can truncate snapshot files that several workers write. "
            "Update the baseline without -n (answers come from the FINE cache, so it costs little)."
        )


def refuse_parallel_export(config: pytest.Config, settings: Settings) -> None:
    """An export generates nothing, so it gains nothing from workers, and under xdist its controller collects no
    pair to export: it runs in one process."""
    workers = config.getoption("numprocesses", None)
    gateways = config.getoption("tx", None)  # xdist's --tx starts workers without -n
    if settings.export_requests is not None and (workers not in (None, 0, "0") or gateways):
        shown = f"-n {workers}" if workers not in (None, 0, "0") else f"--tx {gateways[0]}"
        raise pytest.UsageError(f"--fine-export-requests with {shown}: run the export without xdist (it is quick)")


def load_baseline_option(settings: Settings) -> Baseline | None:
    """Read --fine-baseline before any model work, so a bad report is a usage error, not a lost run."""
    if settings.baseline is None:
        return None
    try:
        return load_baseline(settings.baseline)
    except ReportError as error:
        raise pytest.UsageError(f"--fine-baseline: {error}") from None


def start_run(config: pytest.Config, settings: Settings) -> RunInfo:
    """Name the run and choose its cache folder; honour --cache-clear here, once, before any worker starts."""
    if settings.no_cache:
        return new_run(None, settings.devices)
    folder = settings.cache_dir
    if folder is None:
        try:
            folder = default_cache_dir(config.rootpath, str(config.getini("cache_dir")))
        except ValueError:  # pytest's cacheprovider is disabled (-p no:cacheprovider): nowhere to keep a cache
            return new_run(None, settings.devices)
    if config.getoption("cacheclear", False):
        clear(folder, lambda: _say(config, f"FINE: --cache-clear waits for another run using {folder} to finish"))
    # Nothing else touches the disk here: a run without FINE tests must cost nothing and write nothing. Leftovers
    # of killed runs are cleared, and the cache's place noted, once a run has used the cache (Controller).
    return new_run(folder, settings.devices)


def _say(config: pytest.Config, line: str) -> None:
    """A line on the terminal while pytest configures (the terminal reporter may not be there yet)."""
    import sys

    from fine_pytest.core.safe_text import visible

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(visible(line))
    else:
        print(visible(line), file=sys.stderr, flush=True)
