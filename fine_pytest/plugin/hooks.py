"""pytest entry point (``pytest11: fine``). Hooks are short delegates to the worker side
(plugin.worker: evaluation) and the controller side (plugin.controller: tally, gate, reports).

Nothing here imports a model library; back ends import theirs when a run selects them.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from fine_pytest.backends.user_code import add_search_paths
from fine_pytest.core.compare import Baseline
from fine_pytest.pipeline.coordination import RunInfo, clear, default_cache_dir, finish_run, new_run
from fine_pytest.pipeline.settings import Settings
from fine_pytest.plugin.controller import Controller, Tally, XdistController
from fine_pytest.plugin.options import add_options, read_settings
from fine_pytest.plugin.roles import CONTROLLER, is_worker, publish, worker_input
from fine_pytest.plugin.signals import release_interrupts
from fine_pytest.plugin.suite import BundledSuite, requested
from fine_pytest.plugin.worker import EVALUATION, FIXTURE, MARKER, Evaluation, pair_of
from fine_pytest.reports.json_report import ReportError, load_baseline


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a FINE pair test, parametrized by fine-pytest")
    settings = read_settings(config)
    evaluation = Evaluation(config, settings)
    config.stash[EVALUATION] = evaluation
    if config.option.help:
        return
    config.pluginmanager.register(BundledSuite(), "fine-bundled-suite")
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
        return
    refuse_parallel_snapshot_update(config)
    refuse_parallel_export(config, settings)
    evaluation.info = start_run(config, settings)
    controller = Controller(config, Tally(), load_baseline_option(settings))
    config.pluginmanager.register(controller, CONTROLLER)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistController(controller), "fine-xdist-controller")


def check_calibration(settings: Settings) -> None:
    from fine_pytest.core.errors import FineError
    from fine_pytest.judges.trust import load_calibration

    try:
        load_calibration(settings.judge_calibration, settings.judge)  # type: ignore[arg-type]
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


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if requested(config) and not config.option.collectonly and not is_worker(config):
        # A run was asked for on the command line, so FINE tests will run: what can be checked before any work
        # (user code, the server) is checked here, once, before xdist starts its workers; a problem is exit 4.
        config.stash[EVALUATION].check_specs(run_user_code=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    release_interrupts()
    evaluation = config.stash.get(EVALUATION, None)
    controller = config.pluginmanager.get_plugin(CONTROLLER)
    # Only a run that used the cache has rows and locks to forget: one without FINE tests does not open it.
    used = controller is not None and controller.used
    if evaluation is not None and not is_worker(config) and evaluation.info.cache_dir and used:
        finish_run(evaluation.info)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE in metafunc.fixturenames:
        metafunc.config.stash[EVALUATION].parametrize(metafunc)


@pytest.fixture
def fine_pair(request: pytest.FixtureRequest) -> object:
    """The evaluated FINE pair of this test: ``.pair``, ``.result`` and ``.check()``."""
    return request.config.stash[EVALUATION].fine_pair(request)


@pytest.fixture
def fine_verdicts(request: pytest.FixtureRequest) -> str:
    """The run's per-pair verdict table (no model text), to compare with a syrupy snapshot as the baseline."""
    from fine_pytest.reports.verdict_table import verdict_table

    return verdict_table(request.config.stash[EVALUATION].verdicts(request))


@pytest.fixture
def fine_verdict_snapshot(request: pytest.FixtureRequest, snapshot: Any) -> Any:
    """syrupy's ``snapshot`` for the verdict baseline of this run's model, dataset and judge: each has its own, in
    ``__fine_baselines__/`` beside the test. With none recorded the test is skipped and the gate alone decides."""
    from fine_pytest.plugin.verdict_baseline import baseline_names, verdict_snapshot
    from fine_pytest.reports.verdict_table import baseline_identity

    settings = request.config.stash[EVALUATION].settings
    model, datasets, judge = baseline_names(settings, request.config.rootpath)
    forms = settings.forms.families
    described = f"model {model}, dataset {' + '.join(datasets)}, judge {judge}"
    if forms:
        described += f", forms {','.join(forms)}"
    return verdict_snapshot(request, snapshot, baseline_identity(model, datasets, judge, forms), described)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item], config: pytest.Config) -> None:
    # Last, so --fine-shard splits what -k and -m left selected.
    evaluation = config.stash[EVALUATION]
    if evaluation.settings.shard is not None:
        deselected = evaluation.select_shard(items)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
    # A usage error raised inside an xdist worker crashes xdist, so workers leave a bad reference to evaluation,
    # which fails each FINE test with the same clean message.
    if not is_worker(config) and any(pair_of(item) is not None for item in items):
        evaluation.check_specs(run_user_code=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    evaluation = session.config.stash[EVALUATION]
    if not session.config.option.collectonly:
        evaluation.collected(session.items, worker=is_worker(session.config))
    keys = [pair.key for pair in (pair_of(item) for item in session.items) if pair is not None]
    publish(session.config, fine_keys=keys, fine_selection=evaluation.selection)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.config.stash[EVALUATION].annotate(item, report)
    return report
