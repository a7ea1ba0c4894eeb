"""What the plugin costs a run: nothing on disk without FINE tests, and no crash when pytest's cache is off."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from support import JUDGE, MODEL


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize("options", [(), ("--fine-no-cache",), ("--fine-cache-dir=fine-cache",)])
def test_a_run_without_fine_tests_writes_what_pytest_alone_writes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, options: tuple[str, ...]
) -> None:
    private_tmp = pytester.mkdir("tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    without = pytester.runpytest("-p", "no:fine", "-p", "no:randomly")
    assert without.ret == 0
    alone = tree(pytester.path)
    shutil.rmtree(pytester.path / ".pytest_cache")
    result = pytester.runpytest(*options, "-p", "no:randomly")
    assert result.ret == 0
    assert tree(pytester.path) == alone
    assert list(private_tmp.iterdir()) == []


def test_a_fine_run_notes_its_cache_in_pytests_cache(project: pytest.Pytester) -> None:
    assert project.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl").ret == 0
    noted = project.path / ".pytest_cache" / "v" / "fine-pytest" / "cache"
    assert noted.read_text().strip('"\n').endswith("responses.sqlite")


@pytest.mark.parametrize("where", ["option", "ini"])
def test_a_cache_folder_works_with_pytests_cache_disabled(project: pytest.Pytester, where: str) -> None:
    if where == "ini":
        project.makeini("[pytest]\nfine_cache_dir = fine-cache\n")
        args: tuple[str, ...] = ()
    else:
        args = ("--fine-cache-dir=fine-cache",)
    base = (MODEL, JUDGE, "--fine-dataset=pairs.jsonl", "-p", "no:cacheprovider", "--fine-report=r.json", *args)
    first = project.runpytest(*base)
    assert first.ret == 0, first.stdout.str()
    assert "INTERNALERROR" not in first.stdout.str() + first.stderr.str()
    assert (project.path / "fine-cache" / "responses.sqlite").is_file()
    assert not (project.path / ".pytest_cache").exists()
    again = project.runpytest(*base)
    assert again.ret == 0
    again.stdout.fnmatch_lines(["prompts: 0 generated, 15 from the cache*"])


def test_a_run_without_fine_tests_leaves_an_existing_fine_cache_untouched(project: pytest.Pytester) -> None:
    assert project.runpytest(MODEL, JUDGE, "--fine-dataset=pairs.jsonl").ret == 0
    folder = project.path / ".pytest_cache" / "fine-pytest"

    def state() -> dict[Path, tuple[int, bytes]]:
        # Folders too: a journal file created and deleted changes only its folder's mtime.
        return {
            path: (path.stat().st_mtime_ns, path.read_bytes() if path.is_file() else b"")
            for path in [folder, *folder.rglob("*")]
        }

    before = state()
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    assert project.runpytest("test_plain.py", "-p", "no:randomly").ret == 0
    assert state() == before


def test_tidying_keeps_the_lock_that_runs_sharing_a_cache_wait_on(tmp_path: Path) -> None:
    import os

    from fine_pytest.pipeline.coordination import tidy

    locks = tmp_path / "locks"
    locks.mkdir()
    for name in ("model-0123456789abcdef-0.lock", "oldrun-0.lock"):
        (locks / name).write_text("")
        os.utime(locks / name, (0, 0))  # a lock file's mtime does not change when a run takes it
    tidy(tmp_path)
    assert sorted(path.name for path in locks.iterdir()) == ["model-0123456789abcdef-0.lock"]
