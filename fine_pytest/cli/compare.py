"""``fine-pytest compare``: several models' JSON reports on the same pairs, side by side, each pair of models tested
(reports.comparison). Exit 0 when every model's own gate passed, 1 when one failed, 4 on bad input."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fine_pytest.core.safe_text import visible, visible_lines

OK, FAILED, USAGE = 0, 1, 4


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def add_command(commands: Any) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare several models' reports on the same pairs",
        description="Compare the JSON reports of several models' runs on the same dataset, judge and reading: a row "
        "per model, and every pair of models tested pair by pair (McNemar, Holm-adjusted).",
    )
    compare.add_argument("reports", nargs="+", metavar="REPORT", help="one JSON report per model (--fine-report)")
    compare.add_argument("--label", action="append", metavar="NAME", help="a name per report, in order")
    compare.add_argument("--alpha", type=_alpha, default=0.05, metavar="A", help="significance level (default 0.05)")
    compare.add_argument("-o", "--output", metavar="PATH", help="write the comparison as JSON here")
    compare.add_argument("--html", metavar="PATH", help="write the comparison as an HTML page here")


def run(arguments: argparse.Namespace) -> int:
    from fine_pytest.core.errors import FineError
    from fine_pytest.reports.comparison import (
        CompareError,
        compare_reports,
        passed,
        terminal_lines,
        write_comparison_html,
    )
    from fine_pytest.reports.json_report import write_text

    inputs = {Path(path).resolve() for path in arguments.reports}
    written = [Path(path).resolve() for path in (arguments.output, arguments.html) if path]
    if any(path in inputs for path in written) or len(set(written)) < len(written):
        print("fine-pytest compare: error: -o and --html must name two new files", file=sys.stderr)
        return USAGE
    try:
        comparison = compare_reports(arguments.reports, arguments.label, arguments.alpha)
    except CompareError as error:
        print(f"fine-pytest compare: error: {visible_lines(str(error))}", file=sys.stderr)
        return USAGE
    for line in terminal_lines(comparison):
        print(line)
    try:
        if arguments.output:
            write_text(json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n", Path(arguments.output))
        if arguments.html:
            write_comparison_html(comparison, arguments.html)
    except (OSError, FineError) as error:
        reason = getattr(error, "strerror", None) or error
        print(f"fine-pytest compare: error: could not write: {visible(str(reason))}", file=sys.stderr)
        return USAGE
    return OK if passed(comparison) else FAILED
