"""pytest entry point (``pytest11: fine``). Hooks are short delegates to the worker side (plugin.worker: evaluation)
and the controller side (plugin.controller: tally, gate, reports), set up by plugin.session.

Loading the plugin imports the standard library, pytest and the option table only. A run that uses FINE (a FINE
option, pytest-xdist, or a collected FINE test) imports the rest then; one that does not imports nothing more and
writes nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from fine_pytest.plugin.option_table import CATEGORY_MINIMUMS, OPTIONS, add_options
from fine_pytest.plugin.roles import CONTROLLER, EVALUATION, FIXTURE, MARKER, is_worker, pair_of, publish, worker_input
from fine_pytest.plugin.signals import release_interrupts
from fine_pytest.plugin.suite import BundledSuite, requested


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a FINE pair test, parametrized by fine-pytest")
    if config.option.help:
        return
    config.pluginmanager.register(BundledSuite(), "fine-bundled-suite")
    if in_use(config):
        evaluation(config)


def in_use(config: pytest.Config) -> bool:
    """FINE is asked for before collection: a FINE option on the command line or in the ini file, pytest-xdist (its
    controller collects nothing, and its workers need the run named before they start), or --cache-clear."""
    for option in (*OPTIONS, *CATEGORY_MINIMUMS):
        if config.getini(option.ini) not in ("", [], False):
            return True
        if option in OPTIONS and config.getoption(option.ini) not in (None, [], False):
            return True
    xdist = config.getoption("numprocesses", None) not in (None, 0, "0") or config.getoption("tx", None)
    # --cache-clear empties the FINE response cache too, whether or not this run has FINE tests.
    return bool(xdist) or worker_input(config) is not None or bool(config.getoption("cacheclear", False))


def evaluation(config: pytest.Config) -> Any:
    """The run's Evaluation, set up the first time FINE is used in this process (plugin.session)."""
    if EVALUATION not in config.stash:
        from fine_pytest.plugin.session import activate

        activate(config)
    return config.stash[EVALUATION]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if requested(config) and not config.option.collectonly and not is_worker(config):
        # A run was asked for on the command line, so FINE tests will run: what can be checked before any work
        # (user code, the server) is checked here, once, before xdist starts its workers; a problem is exit 4.
        evaluation(config).check_specs(run_user_code=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    release_interrupts()
    run = config.stash.get(EVALUATION, None)
    controller = config.pluginmanager.get_plugin(CONTROLLER)
    # Only a run that used the cache has rows and locks to forget: one without FINE tests does not open it.
    used = controller is not None and controller.used
    if run is not None and not is_worker(config) and run.info.cache_dir and used:
        from fine_pytest.pipeline.coordination import finish_run

        finish_run(run.info)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE in metafunc.fixturenames:
        evaluation(metafunc.config).parametrize(metafunc)


@pytest.fixture
def fine_pair(request: pytest.FixtureRequest) -> object:
    """The evaluated FINE pair of this test: ``.pair``, ``.result`` and ``.check()``."""
    return evaluation(request.config).fine_pair(request)


@pytest.fixture
def fine_verdicts(request: pytest.FixtureRequest) -> str:
    """The run's per-pair verdict table (no model text), to compare with a syrupy snapshot as the baseline."""
    from fine_pytest.reports.verdict_table import verdict_table

    return verdict_table(evaluation(request.config).verdicts(request))


@pytest.fixture
def fine_verdict_snapshot(request: pytest.FixtureRequest, snapshot: Any) -> Any:
    """syrupy's ``snapshot`` for the verdict baseline of this run's model, dataset and judge: each has its own, in
    ``__fine_baselines__/`` beside the test. With none recorded the test is skipped and the gate alone decides."""
    from fine_pytest.plugin.verdict_baseline import baseline_names, verdict_snapshot
    from fine_pytest.reports.verdict_table import baseline_identity

    settings = evaluation(request.config).settings
    model, datasets, judge = baseline_names(settings, request.config.rootpath)
    forms = settings.forms.families
    described = f"model {model}, dataset {' + '.join(datasets)}, judge {judge}"
    if forms:
        described += f", forms {','.join(forms)}"
    if settings.repeats > 1:
        described += f", {settings.repeats} repeats"
    identity = baseline_identity(model, datasets, judge, forms, settings.repeats)
    return verdict_snapshot(request, snapshot, identity, described)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item], config: pytest.Config) -> None:
    # Last, so --fine-shard splits what -k and -m left selected.
    run = config.stash.get(EVALUATION, None)
    if run is None:  # FINE is not in use in this run
        return
    if run.settings.shard is not None:
        deselected = run.select_shard(items)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
    # A usage error raised inside an xdist worker crashes xdist, so workers leave a bad reference to evaluation,
    # which fails each FINE test with the same clean message.
    if not is_worker(config) and any(pair_of(item) is not None for item in items):
        run.check_specs(run_user_code=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    run = session.config.stash.get(EVALUATION, None)
    if run is None:  # FINE is not in use in this run
        return
    if not session.config.option.collectonly:
        run.collected(session.items, worker=is_worker(session.config))
    publish(session.config, **run.keys_found(session.items), fine_selection=run.selection)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    run = item.config.stash.get(EVALUATION, None)
    if run is not None:
        run.annotate(item, report)
    return report
