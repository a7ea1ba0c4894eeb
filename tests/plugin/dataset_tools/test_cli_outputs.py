"""The command line's outputs refuse what is not a new path or a regular file, with a message and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fine_pytest.core.dataset import bundled_dataset


def fine(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fine_pytest.cli.main", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ("validate", "--json={out}"),
        ("convert", str(bundled_dataset()), "-o", "{out}"),
        ("judge-eval", "--judge=refusal", "--show=0", "-o", "{out}"),
    ],
    ids=["validate --json", "convert", "judge-eval -o"],
)
def test_a_symlinked_output_is_refused_and_its_target_kept(tmp_path: Path, args: tuple[str, ...]) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me", encoding="utf-8")
    (tmp_path / "out.jsonl").symlink_to(target)
    done = fine(tmp_path, *(arg.format(out="out.jsonl") for arg in args))
    assert done.returncode != 0, done.stdout
    assert "is a symbolic link" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert target.read_text(encoding="utf-8") == "keep me"
