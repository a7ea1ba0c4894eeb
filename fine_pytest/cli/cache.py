"""``fine-pytest cache``: what the response cache holds, and forgetting its stored failures.

A failure (a server's error, a reply without content) is stored so that the run's other processes do not ask
again; later runs ask again by themselves. ``--forget-failures`` removes them at once (before an export, or to
see a clean count), leaving answers and verdicts in place. Exit status: 0 done, 4 no usable cache there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fine_pytest.core.safe_text import visible

OK, USAGE = 0, 4
REASON_WIDTH = 160  # a server's reason can be long; the count says enough
REASONS_SHOWN = 10


def add_command(commands: Any) -> None:
    cache = commands.add_parser(
        "cache",
        help="show what the response cache holds; forget its stored failures",
        description="Count the answers, failures and verdicts in a FINE response cache, and list the failures by "
        "reason. Later runs ask again for a prompt that failed; --forget-failures removes the failures now.",
    )
    cache.add_argument(
        "--dir",
        default=str(Path(".pytest_cache", "fine-pytest")),
        metavar="PATH",
        help="the cache folder, as --fine-cache-dir names it (default: .pytest_cache/fine-pytest)",
    )
    cache.add_argument("--forget-failures", action="store_true", help="delete the stored failures")


def run(arguments: argparse.Namespace) -> int:
    from fine_pytest.pipeline.cache import FILENAME, Cache, CacheError

    database = Path(arguments.dir, FILENAME)
    if not database.is_file():
        # Opening would create an empty cache: say there is none instead.
        print(f"fine-pytest cache: error: no FINE cache at {visible(str(database))}", file=sys.stderr)
        return USAGE
    try:
        with Cache(database) as cache:
            counts = cache.counts()
            failures = cache.failures()
            forgotten = cache.forget_failures() if arguments.forget_failures else None
    except CacheError as error:
        print(f"fine-pytest cache: error: {visible(str(error))}", file=sys.stderr)
        return USAGE
    print(
        f"FINE cache {visible(str(database))}: {counts['answers']} answers, {counts['failures']} failures, "
        f"{counts['verdicts']} verdicts"
    )
    for reason, count in failures[:REASONS_SHOWN]:
        shown = visible(reason)
        if len(shown) > REASON_WIDTH:
            shown = shown[: REASON_WIDTH - 3] + "..."
        print(f"  {count:>6}  {shown}")
    if len(failures) > REASONS_SHOWN:
        print(f"  ... and {len(failures) - REASONS_SHOWN} more reasons")
    if forgotten is not None:
        print(f"forgot {forgotten} failures; answers and verdicts are kept")
    return OK
