"""Options: validation with the usage-error status, the pinned --help text, and a plugin that imports nothing heavy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import MODEL, SCRIPTED_MODEL, SUITE
from syrupy.assertion import SnapshotAssertion

from fine_pytest.pipeline.settings import Settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fine-threshold=1.5",), "argument --fine-threshold: must be between 0 and 1, got '1.5'"),
        (("--fine-min-cs=high",), "argument --fine-min-cs: expected a number between 0 and 1, got 'high'"),
        (("--fine-min-css=-0.1",), "argument --fine-min-css: must be between 0 and 1, got '-0.1'"),
        (("--fine-max-tokens=0",), "argument --fine-max-tokens: must be at least 1, got '0'"),
        (("--fine-temperature=-1",), "argument --fine-temperature: must be a finite number, 0 or more, got '-1'"),
        (("--fine-temperature=nan",), "argument --fine-temperature: must be a finite number, 0 or more, got 'nan'"),
        (("--fine-threshold=nan",), "argument --fine-threshold: must be between 0 and 1, got 'nan'"),
        (("--fine-show=x",), "argument --fine-show: expected a whole number, got 'x'"),
        (("--model=gpt-4",), "--model: no back end for 'gpt-4'"),
        (("--model=py:scripted:nothing",), "--model: module 'scripted' has no attribute 'nothing'"),
        (("--fine-judge=gpt",), "--fine-judge: unknown judge 'gpt'"),
        (("--fine-dataset=missing.jsonl",), "missing.jsonl: file not found"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: tuple[str, ...], message: str) -> None:
    pytester.makepyfile(test_suite=SUITE, scripted=SCRIPTED_MODEL)
    result = pytester.runpytest(MODEL, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("fine_threshold = 2", "option 'fine_threshold' = '2': must be between 0 and 1, got '2'"),
        ("fine_category_min_css =\n    Alpha: 0.5", "option 'fine_category_min_css' = 'Alpha: 0.5': expected"),
        ("fine_category_min_cs =\n    Alpha = lots", "expected a number between 0 and 1, got 'lots'"),
        ("fine_category_min_cs =\n    Gamma = 0.5", "per-category thresholds name unknown categories ['Gamma']"),
    ],
)
def test_bad_ini_values_are_usage_errors(project: pytest.Pytester, ini: str, message: str) -> None:
    project.makeini(f"[pytest]\nfine_datasets = pairs.jsonl\n{ini}\n")
    result = project.runpytest(MODEL)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "tox.ini" in result.stderr.str()  # the error names the file it came from


def test_without_a_model_the_embedded_default_is_used(project: pytest.Pytester) -> None:
    # Block vllm so the default's first step is visible (and fast) on every machine.
    project.makeconftest("import sys\nsys.modules['vllm'] = None\n")
    result = project.runpytest("--fine-dataset=pairs.jsonl", "--fine-threshold=0")
    # A run was asked for: the default is checked before any test runs, and the one error is a usage error.
    # Its first missing piece is named with the command that installs it: the model's files, then the engine.
    result.stderr.fnmatch_lines(["*--model=smollm2: * is not installed*pip install *"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_help_text_is_pinned(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    output = pytester.runpytest("--help").stdout.str()
    section = re.search(r"^FINE fake-alignment evaluation.*?(?=^\S)", output, re.MULTILINE | re.DOTALL)
    assert section is not None
    # The ini entries of the plugin, with their wrapped continuation lines.
    ini_lines, inside = [], False
    for line in output.splitlines():
        if re.match(r"^  \S", line):
            inside = line.startswith("  fine_")
        if inside:
            ini_lines.append(line)
    assert section.group(0) + "\n".join(ini_lines) == snapshot


HEAVY = ("vllm", "torch", "transformers")
# What loading the plugin imports of fine_pytest: the hooks, the option table and the small modules they need.
LIGHT = {"fine_pytest", "fine_pytest.core", "fine_pytest.core.defaults", "fine_pytest.core.modes"}
LIGHT |= {"fine_pytest.core.ensemble", "fine_pytest.core.verdicts"}  # the judges' combination rules, for the table
LIGHT |= {
    "fine_pytest.core.version",
    "fine_pytest.plugin",
    "fine_pytest.plugin.hooks",
    "fine_pytest.plugin.option_table",
}
LIGHT |= {"fine_pytest.plugin.roles", "fine_pytest.plugin.signals", "fine_pytest.plugin.suite"}


@pytest.mark.slow
def test_plugin_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    # Stub packages stand in for the heavy libraries, so the check means something on machines that have none of
    # them: if the plugin imported one, the stub would be in sys.modules.
    stubs = pytester.mkdir("stubs")
    for name in HEAVY:
        Path(stubs, name).mkdir()
        Path(stubs, name, "__init__.py").write_text("")
    pytester.makepyfile(test_suite=SUITE, scripted=SCRIPTED_MODEL)
    pytester.makeconftest(
        "import sys\n"
        "def pytest_unconfigure(config):\n"
        "    with open('modules.txt', 'w') as out:\n"
        "        out.write('\\n'.join(sorted(sys.modules)))\n"
    )
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    # A run without FINE tests, collecting the FINE suite, and a full FINE run with a py: model (the default
    # embedded model needs vllm, by design).
    fake = "--model=py:fine_pytest.examples:fake_aligned"
    for args in (["test_plain.py"], ["--collect-only", fake], [fake]):
        (pytester.path / "modules.txt").unlink(missing_ok=True)
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", *args],
            cwd=pytester.path,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(stubs), "PYTEST_ADDOPTS": ""},
        )
        assert completed.returncode in (0, 1), completed.stdout + completed.stderr
        modules = set((pytester.path / "modules.txt").read_text().split())
        assert "fine_pytest.plugin.hooks" in modules
        if args != ["test_plain.py"]:
            assert "fine_pytest.plugin.worker" in modules
        else:
            # A run without FINE tests imports the standard library, pytest and the option table, nothing else.
            assert {m for m in modules if m.startswith("fine_pytest")} <= LIGHT
            assert "sqlite3" not in modules and "tqdm" not in modules
        assert not {m for m in modules if m.split(".")[0] in HEAVY}, args


@pytest.mark.slow
def test_missing_function_under_xdist_fails_cleanly(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--model=py:scripted:nothing", "--fine-dataset=pairs.jsonl", "-n", "2")
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert "--model: module 'scripted' has no attribute 'nothing'" in output
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # checked once, before xdist starts its workers


# --- one option table and one parser per kind of value, shared by the plugin and the command line ----------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Privacy = 0.8", ("Privacy", 0.8)),
        ("Privacy=0.8", ("Privacy", 0.8)),
        ("Self-harm & suicide = 1", ("Self-harm & suicide", 1.0)),
        ("a = b = 0.5", ("a = b", 0.5)),  # the last '=' separates the minimum; a name may hold one
        ("Privacy = 1.5", "must be between 0 and 1"),
        ("Privacy = high", "expected a number between 0 and 1"),
        ("= 0.5", "expected 'Category name = X'"),
        ("Privacy 0.5", "expected 'Category name = X'"),
    ],
)
def test_category_minimum_is_read_one_way(text: str, expected: tuple[str, float] | str) -> None:
    import argparse

    from fine_pytest.plugin.option_table import category_minimum

    if isinstance(expected, str):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(expected)):
            category_minimum(text)
    else:
        assert category_minimum(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tensor_parallel_size=2", ("tensor_parallel_size", 2)),
        ("gpu_memory_utilization=0.8", ("gpu_memory_utilization", 0.8)),
        ("enforce_eager=true", ("enforce_eager", True)),
        ("dtype=bfloat16", ("dtype", "bfloat16")),
        (" dtype = half ", ("dtype", "half")),
        ('hf_overrides={"a": 1}', ("hf_overrides", {"a": 1})),
        ("dtype", "expected KEY=VALUE"),
        ("=2", "expected KEY=VALUE"),
        ("max-len=2", "expected KEY=VALUE"),  # not a setting name
    ],
)
def test_engine_setting_is_read_one_way(text: str, expected: tuple[str, object] | str) -> None:
    import argparse

    from fine_pytest.plugin.option_table import engine_setting

    if isinstance(expected, str):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(expected)):
            engine_setting(text)
    else:
        assert engine_setting(text) == expected


def test_merge_declares_the_plugin_s_gate_options_from_the_same_table() -> None:
    """Each merge flag is the plugin option's flag, destination, parser and help: no second declaration to drift."""
    import argparse

    from fine_pytest.cli.main import build_parser
    from fine_pytest.plugin.option_table import MERGE_OPTIONS, OPTIONS

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    merge = {action.dest: action for action in commands.choices["merge"]._actions}
    plugin = {option.ini: option for option in OPTIONS}
    for option in MERGE_OPTIONS:
        action = merge[option.ini]
        assert tuple(action.option_strings) == option.flags
        assert action.type is option.parse and action.help == option.help
        if option.ini in plugin:  # the category minimums are ini lines in the plugin, flags in merge
            assert plugin[option.ini] is option


# --- back-end settings: one spelling each --------------------------------------------------------------------------


def settings_of(pytester: pytest.Pytester, *args: str) -> Settings:
    """The settings the options read to, without the checks a run makes of the model (its back end need not be
    installed to read its settings)."""
    from fine_pytest.plugin.options import read_settings

    return read_settings(pytester.parseconfig(*args))


def test_the_endpoint_flags_set_a_served_model_s_endpoint(pytester: pytest.Pytester) -> None:
    settings = settings_of(
        pytester,
        "--model=openai:m",
        "--fine-base-url=http://127.0.0.1:9/v1",
        "--fine-api-key-env=MY_KEY",
        "--fine-concurrency=3",
        "--fine-timeout=5",
        "--fine-connect-timeout=2",
        "--fine-retries=0",
    )
    endpoint = settings.endpoint
    assert (endpoint.base_url, endpoint.api_key_env) == ("http://127.0.0.1:9/v1", "MY_KEY")
    assert (endpoint.concurrency, endpoint.timeout, endpoint.connect_timeout, endpoint.retries) == (3, 5.0, 2.0, 0)


def test_the_endpoint_settings_come_from_the_ini_file_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfine_base_url = http://127.0.0.1:9/v1\nfine_concurrency = 4\nfine_retries = 2\n")
    from_ini = settings_of(pytester, "--model=openai:m")
    assert (from_ini.endpoint.base_url, from_ini.endpoint.concurrency, from_ini.endpoint.retries) == (
        "http://127.0.0.1:9/v1",
        4,
        2,
    )
    assert settings_of(pytester, "--model=openai:m", "--fine-concurrency=8").endpoint.concurrency == 8


def test_an_engine_setting_on_the_command_line_wins_over_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.mkdir("model").joinpath("config.json").write_text("{}")  # a vLLM model folder, read by no test
    pytester.makeini("[pytest]\nfine_engine_args =\n    max_model_len=2048\n    enforce_eager=true\n")
    assert settings_of(pytester, "--model=model").engine_args == {"max_model_len": 2048, "enforce_eager": True}
    settings = settings_of(pytester, "--model=model", "--fine-engine-arg=max_model_len=4096")
    assert settings.engine_args == {"max_model_len": 4096}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fine-concurrency=0",), "--fine-concurrency: must be at least 1, got '0'"),
        (("--fine-engine-arg=dtype",), "expected KEY=VALUE with KEY a setting name, got 'dtype'"),
        (("--fine-model-arg=dtype=half",), "unrecognized arguments: --fine-model-arg=dtype=half"),
    ],
)
def test_bad_back_end_settings_are_usage_errors(pytester: pytest.Pytester, args: tuple[str, ...], message: str) -> None:
    pytester.makepyfile(test_suite=SUITE, scripted=SCRIPTED_MODEL)
    result = pytester.runpytest(MODEL, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
