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
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines(["*--model=smollm2: vllm is not installed*pip install 'fine-pytest?cpu?'*"])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == 1


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
    for args in (["test_plain.py"], ["--collect-only"], ["--model=py:fine_pytest.examples:fake_aligned"]):
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
        assert "fine_pytest.plugin" in modules
        if args != ["test_plain.py"]:
            assert "fine_pytest.state" in modules
        assert not {m for m in modules if m.split(".")[0] in HEAVY}, args


@pytest.mark.slow
def test_missing_function_under_xdist_fails_cleanly(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--model=py:scripted:nothing", "--fine-dataset=pairs.jsonl", "-n", "2")
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    assert "--model: module 'scripted' has no attribute 'nothing'" in output
    assert result.ret == 1
