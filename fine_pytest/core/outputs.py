"""Where the project may write: a new path, or a regular file, in a folder. Never through a symbolic link, a named
pipe, a device or a socket (a link planted in a shared workspace would make the run overwrite what it points at),
and never under a path whose folder is a file. Checked when an option is read, and again just before writing."""

from __future__ import annotations

import stat
from pathlib import Path

from fine_pytest.core.errors import FineError

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def output_problem(path: Path) -> str | None:
    """Why ``path`` cannot be an output, or None when it is a new path or a regular file in a folder."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        mode = None  # a part of its folder is a file: found below
    except OSError as error:
        return f"cannot be checked ({error.strerror or error})"
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        return f"is {kind}; the report writers write only new paths and regular files"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():
            return f"its folder {folder} is a broken symbolic link"
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        return f"its folder {folder} is a file, not a folder"
    return None


def check_output(path: Path, option: str) -> None:
    """A FineError naming the option and the path when ``path`` cannot be written."""
    problem = output_problem(path)
    if problem is not None:
        raise FineError(f"{option}={path}: {problem}")
