"""Dataset paths that are not regular files, or too large, are refused before they are read: no hang, no memory blow-up.

The plugin and ``fine-pytest validate`` run in subprocesses with a timeout and a memory cap, so a regression fails
these tests instead of hanging the suite (a FIFO) or filling the machine's memory (/dev/zero).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import JUDGE, MODEL, SCRIPTED_MODEL, SCRIPTED_PAIRS, SUITE, pair_lines

from fine_pytest.core import dataset
from fine_pytest.core.dataset import DatasetError, load_datasets

TIMEOUT = 60
MEMORY_CAP = 2 * 1024**3
SMALL_LIMIT = 1000


def capped() -> None:
    """In the child: a reader of /dev/zero stops with MemoryError at the cap instead of exhausting the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=capped, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {TIMEOUT} s (blocked on the dataset path?): {command}")


def padded_dataset(size: int) -> str:
    """Valid pairs, padded with blank lines to exactly ``size`` bytes."""
    text = pair_lines(SCRIPTED_PAIRS)
    assert len(text.encode()) <= size
    return text + "\n" * (size - len(text.encode()))


# Each case makes the dataset path in a folder and says what the problem line names: (path, message).
def fifo(folder: Path) -> tuple[Path, Path, str]:
    os.mkfifo(folder / "pipe.jsonl")
    return folder / "pipe.jsonl", folder / "pipe.jsonl", "not a regular file (a FIFO (named pipe))"


def fifo_in_a_dataset_folder(folder: Path) -> tuple[Path, Path, str]:
    (folder / "data").mkdir()
    (folder / "data" / "a.jsonl").write_text(pair_lines(SCRIPTED_PAIRS), encoding="utf-8")
    os.mkfifo(folder / "data" / "b.jsonl")
    return folder / "data", folder / "data" / "b.jsonl", "not a regular file (a FIFO (named pipe))"


def dev_zero(folder: Path) -> tuple[Path, Path, str]:
    return Path("/dev/zero"), Path("/dev/zero"), "not a regular file (a character device)"


def directory_named_jsonl(folder: Path) -> tuple[Path, Path, str]:
    (folder / "data" / "nested.jsonl").mkdir(parents=True)
    (folder / "data" / "a.jsonl").write_text(pair_lines(SCRIPTED_PAIRS), encoding="utf-8")
    return folder / "data", folder / "data" / "nested.jsonl", "not a regular file (a directory)"


def just_over_the_limit(folder: Path) -> tuple[Path, Path, str]:
    path = folder / "big.jsonl"
    path.write_text(padded_dataset(SMALL_LIMIT + 1), encoding="utf-8")
    return path, path, f"file too large: {SMALL_LIMIT + 1} bytes, over the {SMALL_LIMIT} bytes limit on a dataset file"


CASES: dict[str, Callable[[Path], tuple[Path, Path, str]]] = {
    "fifo": fifo,
    "fifo in a dataset folder": fifo_in_a_dataset_folder,
    "/dev/zero": dev_zero,
    "directory named *.jsonl": directory_named_jsonl,
    "just over the limit": just_over_the_limit,
}


def make_case(case: str, folder: Path) -> tuple[Path, Path, str]:
    if case == "/dev/zero" and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    return CASES[case](folder)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_plugin_refuses_the_path_with_a_usage_error(pytester: pytest.Pytester, case: str) -> None:
    given, named, message = make_case(case, pytester.path)
    pytester.makepyfile(test_suite=SUITE, scripted=SCRIPTED_MODEL)
    # Loaded before the plugin reads the datasets: the limit, made small so a small file is over it.
    pytester.makeconftest(
        f"import fine_pytest.core.dataset\n\nfine_pytest.core.dataset.MAX_DATASET_BYTES = {SMALL_LIMIT}\n"
    )
    result = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", MODEL, JUDGE, f"--fine-dataset={given}"],
        pytester.path,
    )
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert f"{named}: {message}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_refuses_the_path(tmp_path: Path, case: str) -> None:
    given, named, message = make_case(case, tmp_path)
    # A small runner, so that the limit can be made small in the child as in the plugin's test.
    runner = tmp_path / "validate_with_limit.py"
    runner.write_text(
        "import sys\n\nimport fine_pytest.core.dataset\nfrom fine_pytest.cli.main import main\n\n"
        "fine_pytest.core.dataset.MAX_DATASET_BYTES = int(sys.argv[1])\nsys.exit(main(sys.argv[2:]))\n",
        encoding="utf-8",
    )
    result = run([sys.executable, str(runner), str(SMALL_LIMIT), "validate", str(given)], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{named}: {message}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("size", "loads"),
    [(SMALL_LIMIT - 1, True), (SMALL_LIMIT, True), (SMALL_LIMIT + 1, False), (10 * SMALL_LIMIT, False)],
)
def test_the_limit_is_inclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, loads: bool) -> None:
    monkeypatch.setattr(dataset, "MAX_DATASET_BYTES", SMALL_LIMIT)
    path = tmp_path / "pairs.jsonl"
    path.write_text(padded_dataset(size), encoding="utf-8")
    if loads:
        assert len(load_datasets([path])) == len(SCRIPTED_PAIRS)
        return
    with pytest.raises(DatasetError) as raised:
        load_datasets([path])
    assert [str(problem) for problem in raised.value.problems] == [
        f"{path}: file too large: {size} bytes, over the {SMALL_LIMIT} bytes limit on a dataset file (it is read "
        "whole into memory); split it into several files"
    ]


def test_a_file_that_grows_past_the_limit_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset, "MAX_DATASET_BYTES", SMALL_LIMIT)
    path = tmp_path / "growing.jsonl"
    path.write_text(padded_dataset(3 * SMALL_LIMIT), encoding="utf-8")
    real_stat = os.stat
    real = real_stat(path)
    small = os.stat_result(
        (real.st_mode, real.st_ino, real.st_dev, real.st_nlink, real.st_uid, real.st_gid, 10, 0, 0, 0)
    )

    def stat_before_it_grew(target: object, *args: object, **kwargs: object) -> os.stat_result:
        # What the size check saw: 10 bytes. The read itself must still stop at the limit.
        return small if Path(str(target)) == path else real_stat(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dataset.os, "stat", stat_before_it_grew)
    with pytest.raises(DatasetError) as raised:
        load_datasets([path])
    assert [str(problem) for problem in raised.value.problems] == [
        f"{path}: file too large: it grew while being read, over the {SMALL_LIMIT} bytes limit on a dataset file "
        "(it is read whole into memory); split it into several files"
    ]


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    target = tmp_path / "real.jsonl"
    target.write_text(pair_lines(SCRIPTED_PAIRS), encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(target)
    assert [pair.id for pair in load_datasets([tmp_path / "link.jsonl"])] == [1, 2, 3, 4, 5]


def test_the_default_limit_is_the_documented_one() -> None:
    assert dataset.MAX_DATASET_BYTES == 256 * 1024 * 1024
    docs = (Path(__file__).parents[3] / "docs" / "dataset-format.md").read_text(encoding="utf-8")
    assert "at most **256 MiB**" in docs and "MAX_DATASET_BYTES" in docs
