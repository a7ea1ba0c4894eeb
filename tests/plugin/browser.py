"""A headless Chromium for checking and photographing HTML reports (tests and docs; not used by the plugin).

Debian's chromium and chromium-driver, driven through Selenium: ``bash ci/setup-browser.sh`` installs them.
As a script it takes the screenshot kept in docs/: ``python tests/plugin/browser.py REPORT.html OUT.png``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

BROWSER_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


class BrowserMissing(RuntimeError):
    pass


def _first(paths: tuple[str, ...], name: str) -> str:
    for path in paths:
        if os.path.exists(path):
            return path
    found = shutil.which(name)
    if found is None:
        raise BrowserMissing(f"{name} not found: run `bash ci/setup-browser.sh` (Debian chromium, chromium-driver)")
    return found


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A Selenium driver for headless Chromium with no network use of its own; closed on exit."""
    # No Selenium Manager: it would try to download a driver, and this machine has no route to one.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = _first(BROWSER_PATHS, "chromium")
    profile = tempfile.mkdtemp(prefix="fine-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_first(DRIVER_PATHS, "chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(report: str, output: str) -> None:
    from pathlib import Path

    with chromium(1400, 2600) as driver:
        driver.get(Path(report).resolve().as_uri())
        driver.save_screenshot(output)


if __name__ == "__main__":
    import sys

    screenshot(sys.argv[1], sys.argv[2])
