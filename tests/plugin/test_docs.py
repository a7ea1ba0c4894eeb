"""The documentation speaks of the product: every relative link resolves inside the repository (file and heading),
and no page points at files outside it or tells how and where the project was built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "ci" / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} points outside the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: {target}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_no_page_tells_how_or_where_the_project_was_built(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for pattern in (
        r"\bissue \d+",
        r"\(issue",
        r"\.\./shared",
        r"ci-like",
        r"work session",
        r"this session",
        r"\blent\b",
        r"sessions have",
    ):
        assert not re.search(pattern, text, re.IGNORECASE), f"{page.name}: {pattern}"


def test_the_options_page_lists_every_option_and_ini_key() -> None:
    from fine_pytest.plugin.option_table import CATEGORY_MINIMUMS, OPTIONS

    text = (ROOT / "docs" / "OPTIONS.md").read_text(encoding="utf-8")
    missing = [option.flag for option in OPTIONS if f"`{option.flag}" not in text]
    missing += [option.ini for option in (*OPTIONS, *CATEGORY_MINIMUMS) if f"`{option.ini}`" not in text]
    assert not missing, f"docs/OPTIONS.md does not list: {', '.join(missing)}"


def test_the_options_page_states_each_option_s_default() -> None:
    """The default column says what the run uses: the option table's default, read from the page's row."""
    from fine_pytest.plugin.option_table import OPTIONS

    rows = {}
    for line in (ROOT / "docs" / "OPTIONS.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 4 and cells[0].startswith("`--"):
            rows[cells[0].split("`")[1].split("=")[0].split("[")[0]] = cells[2]
    for option in OPTIONS:
        default = option.default
        if default is None:
            continue
        if default is False or default == ():
            expected = {"off"} if default is False else {"none"}
        elif isinstance(default, float):
            expected = {f"{default:g}"}
        else:
            expected = {str(default), f"`{default}`"}
        cell = rows[option.flag]
        assert any(cell == shown or cell.startswith(f"{shown} ") for shown in expected), (option.flag, cell)
