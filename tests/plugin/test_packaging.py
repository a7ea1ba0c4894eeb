"""The wheel must carry every subpackage and the bundled dataset; an editable install would hide a missing one."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import fine_pytest

ROOT = Path(fine_pytest.__file__).parent.parent


def test_every_package_directory_is_declared() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "fine_pytest").rglob("__init__.py")}
    assert on_disk <= declared
    assert "fine_pytest.fixtures" in declared  # the bundled dataset, mapped from the top-level fixtures/


def test_entry_points_resolve() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    targets = [*project.get("scripts", {}).values(), *project["entry-points"]["pytest11"].values()]
    for target in targets:
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name)
        assert not attribute or callable(getattr(module, attribute)), target
