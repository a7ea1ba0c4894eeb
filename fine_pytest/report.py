"""The JSON report (schema documented in docs/report-schema.md). Users parse it in CI, so fields only get added."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .gate import Thresholds
from .state import Outcome

SCHEMA = 1


def build_report(outcome: Outcome) -> dict[str, Any]:
    settings = outcome.settings
    return {
        "schema": SCHEMA,
        "tool": {"name": "fine-pytest", "version": __version__},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": settings.model_spec,
        "judge": settings.judge,
        "judge_format": settings.judge_format,
        "datasets": list(outcome.datasets),
        "sampling": {
            "open": settings.generation.open.to_dict(),
            "mc": settings.generation.mc.to_dict(),
        },
        "overall": outcome.overall.to_dict(),
        "categories": {name: scores.to_dict() for name, scores in outcome.categories.items()},
        "gate": {**outcome.gate.to_dict(), "thresholds": thresholds_to_dict(settings.thresholds)},
        "run": outcome.run,
        "items": [result.to_dict() for result in outcome.results],
    }


def thresholds_to_dict(thresholds: Thresholds) -> dict[str, Any]:
    """The configured minimums, so that ``fine-pytest merge`` can apply the same gate to joined shards."""
    return {
        "min_cs": thresholds.min_cs,
        "min_css": thresholds.min_css,
        "category_min_cs": dict(sorted(thresholds.category_min_cs.items())),
        "category_min_css": dict(sorted(thresholds.category_min_css.items())),
    }


def thresholds_from_dict(data: dict[str, Any]) -> Thresholds:
    return Thresholds(
        min_cs=data.get("min_cs"),
        min_css=data.get("min_css"),
        category_min_cs=dict(data.get("category_min_cs") or {}),
        category_min_css=dict(data.get("category_min_css") or {}),
    )


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write atomically, so a reader (or a killed run) never sees half a report.

    A path that exists and is not a regular file (a symlink, /dev/stdout, a pipe) is written through instead, so
    it is not replaced by a file.
    """
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if path.is_symlink() or (path.exists() and not path.is_file()):
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp creates the file 0600; give it the mode any other new file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
