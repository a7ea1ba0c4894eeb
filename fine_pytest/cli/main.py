"""The ``fine-pytest`` command: ``run`` (cli.run) evaluates a model without pytest; ``merge`` joins shard reports
and applies the gate; ``compare`` (cli.compare) sets several models' reports side by side; ``judge-eval`` measures
a judge against reference labels; ``cache`` (cli.cache) shows the response cache and forgets its failures; the
dataset commands (validate, convert, build-options, export-training) live in cli.datasets.

Exit status as pytest's: 0 the gate passed (or none was set and the run is complete), 1 it failed or the run is
incomplete, 4 a usage error (bad arguments, unreadable or mismatched reports, a missing or duplicate shard).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from fine_pytest.cli import cache as cache_cli
from fine_pytest.cli import compare as compare_cli
from fine_pytest.cli import datasets as dataset_cli
from fine_pytest.cli import run as run_cli
from fine_pytest.core.defaults import DEFAULT_SHOW
from fine_pytest.core.ensemble import Rule
from fine_pytest.core.errors import FineError
from fine_pytest.core.modes import Scoring
from fine_pytest.core.prompts import JUDGE_METHODS
from fine_pytest.core.safe_text import visible, visible_lines
from fine_pytest.plugin.option_table import MERGE_OPTIONS, add_arguments, count, judge_format, one_of

OK, FAILED, USAGE = 0, 1, 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from fine_pytest.core.version import __version__

    parser = _Parser(
        prog="fine-pytest",
        description="FINE (fake alignment evaluation) without pytest, and tools for its reports, judges, datasets "
        "and cache.",
    )
    parser.add_argument("--version", action="version", version=f"fine-pytest {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    merge = commands.add_parser(
        "merge",
        help="join the reports of --fine-shard=K/N jobs and apply the gate",
        description="Join the JSON reports of a sharded run into one report and apply the gate. Without gate "
        "options, the thresholds the shard jobs were run with are applied.",
    )
    merge.add_argument("reports", nargs="+", metavar="REPORT", help="one JSON report per shard")
    merge.add_argument("-o", "--output", metavar="PATH", help="write the merged report here")
    add_arguments(merge.add_argument, MERGE_OPTIONS)

    judge_eval = commands.add_parser(
        "judge-eval",
        help="measure a judge against safe/unsafe labels",
        description="Run a judge over labelled answers and report accuracy, precision and recall on 'unsafe', "
        "Cohen's kappa, the confusion matrix and the disagreements.",
    )
    judge_eval.add_argument(
        "--judge",
        required=True,
        action="append",
        metavar="SPEC",
        help="a judge spec, as --fine-judge takes; repeatable: an ensemble, each member measured beside it",
    )
    judge_eval.add_argument(
        "--judge-format",
        type=judge_format,
        action="append",
        default=[],
        metavar="FORMAT",
        help="fine, llamaguard, qwen3guard, wildguard, yesno or granite; with several judges, once or once per judge",
    )
    judge_eval.add_argument(
        "--judge-combine",
        type=lambda text: Rule(one_of(text, tuple(Rule))),
        metavar="RULE",
        help="how an ensemble's verdicts combine: majority (default) or any-unsafe",
    )
    judge_eval.add_argument(
        "--labels", metavar="FILE", help="JSON Lines of {question, answer, label}; default: the bundled set"
    )
    judge_eval.add_argument(
        "--judge-scoring",
        type=lambda text: one_of(text, JUDGE_METHODS),
        default=Scoring.GENERATE,
        metavar="METHOD",
        help="generate (default) or logprob: read an LLM judge's verdict from P(safe) vs P(unsafe), and report ROC AUC",
    )
    judge_eval.add_argument("--base-url", metavar="URL", help="server of an openai: judge")
    judge_eval.add_argument("-o", "--output", metavar="PATH", help="write the figures as JSON here")
    judge_eval.add_argument("--show", type=count, default=20, metavar="N", help="disagreements listed")
    run_cli.add_command(commands)
    dataset_cli.add_commands(commands)
    cache_cli.add_command(commands)
    compare_cli.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "judge-eval":
        return judge_eval_command(arguments)
    if arguments.command == "cache":
        return cache_cli.run(arguments)
    if arguments.command == "run":
        return run_cli.run(arguments)
    if arguments.command == "compare":
        return compare_cli.run(arguments)
    if arguments.command != "merge":
        return dataset_cli.run(arguments)
    return merge_command(arguments)


def judge_eval_command(arguments: argparse.Namespace) -> int:
    import json

    from fine_pytest import judges
    from fine_pytest.backends.base import Endpoint, ModelContext
    from fine_pytest.backends.user_code import add_search_paths
    from fine_pytest.core.ensemble import label
    from fine_pytest.judges.calibration import (
        LabelError,
        bundled_labels,
        calibrate,
        combined,
        load_labels,
        member_lines,
        render,
    )
    from fine_pytest.judges.ensemble import check_members, members_of, scorings

    add_search_paths(Path.cwd())
    labels = Path(arguments.labels) if arguments.labels else bundled_labels()
    context = ModelContext(endpoint=Endpoint(base_url=arguments.base_url))
    try:
        rows = load_labels(labels)
        members = members_of(arguments.judge, arguments.judge_format)
        if len(members) == 1 and arguments.judge_combine is not None:
            raise FineError("--judge-combine combines two or more judges; one judge is given")
        rule = arguments.judge_combine or Rule.MAJORITY
        check_members(members, arguments.judge_scoring, run_user_code=True)
        measured = []
        for member, scoring in zip(members, scorings(members, arguments.judge_scoring), strict=True):
            judge = judges.load_judge(member.spec, member.format, context, scoring)
            try:
                measured.append(calibrate(judge, rows, str(labels)))
            finally:
                judge.close()  # one member at a time: two LLM judges need not fit in memory together
    except (LabelError, FineError) as error:
        print(f"fine-pytest judge-eval: error: {visible_lines(str(error))}", file=sys.stderr)
        return USAGE
    calibration = measured[0] if len(members) == 1 else combined(measured, members, rule)
    lines = [] if len(members) == 1 else member_lines(measured, members)
    for line in lines + render(calibration, arguments.show):
        print(visible(line))  # the disagreements quote labelled answers
    if arguments.output:
        # The spec, so that --fine-judge-calibration can refuse figures measured for another judge.
        if len(members) == 1:
            spec, format = members[0].spec, judges.judge_format_of(members[0].spec, members[0].format)
        else:
            spec, format = label(members, rule), None
        figures = {
            **calibration.to_dict(),
            "spec": spec,
            "format": format,
            "scoring": arguments.judge_scoring,
            **({} if len(members) == 1 else {"members": [m.to_dict() for m in measured]}),
        }
        from fine_pytest.reports.json_report import write_text

        try:
            write_text(json.dumps(figures, indent=2) + "\n", Path(arguments.output))
        except (OSError, FineError) as error:
            reason = getattr(error, "strerror", None) or error
            print(
                f"fine-pytest judge-eval: error: could not write {visible(arguments.output)}: {reason}", file=sys.stderr
            )
            return USAGE
    return OK


def merge_command(arguments: argparse.Namespace) -> int:
    from fine_pytest.core.thresholds import Thresholds
    from fine_pytest.reports.html import write_html
    from fine_pytest.reports.json_report import ReportError, build_report, load_baseline, write_report
    from fine_pytest.reports.markdown import write_markdown
    from fine_pytest.reports.merge import merge
    from fine_pytest.reports.terminal import summary_lines

    written = [Path(p).resolve() for p in (arguments.output, arguments.fine_html, arguments.fine_summary) if p]
    overwritten = [path for path in arguments.reports if Path(path).resolve() in written]
    if overwritten or len(set(written)) < len(written):
        what = f"would overwrite the shard report {overwritten[0]}" if overwritten else "name the same file"
        print(f"fine-pytest merge: error: {visible(f'-o, --fine-html and --fine-summary {what}')}", file=sys.stderr)
        return USAGE
    for metric in ("cs", "css"):
        named = [name for name, _ in getattr(arguments, f"fine_category_min_{metric}") or ()]
        twice = sorted({name for name in named if named.count(name) > 1})
        if twice:
            # Two minimums for one category: neither can be the one meant.
            message = f"--fine-category-min-{metric}: category {twice[0]!r} is given twice (one minimum per category)"
            print(f"fine-pytest merge: error: {visible(message)}", file=sys.stderr)
            return USAGE
    thresholds = Thresholds.chosen(
        arguments.fine_threshold,
        arguments.fine_min_cs,
        arguments.fine_min_css,
        category_min_cs=dict(arguments.fine_category_min_cs or ()),
        category_min_css=dict(arguments.fine_category_min_css or ()),
        max_regressions=arguments.fine_max_regressions,
        drop_alpha=arguments.fine_fail_on_significant_drop,
        min_robust_css=arguments.fine_min_robust_css,
        min_css_all_repeats=arguments.fine_min_css_all_repeats,
        max_over_refusal=arguments.fine_max_over_refusal,
        max_monitored_gap=arguments.fine_max_monitored_gap,
    )
    try:
        baseline = load_baseline(arguments.fine_baseline) if arguments.fine_baseline else None
        outcome = merge(arguments.reports, thresholds, baseline, arguments.fine_gate_on)
    except ReportError as error:
        print(f"fine-pytest merge: error: {visible_lines(str(error))}", file=sys.stderr)
        return USAGE
    for text, _ in summary_lines(outcome, DEFAULT_SHOW if arguments.fine_show is None else arguments.fine_show):
        print(text)
    report = build_report(outcome)
    writers = (
        (arguments.output, write_report),
        (arguments.fine_html, write_html),
        (arguments.fine_summary, write_markdown),
    )
    for path, write in writers:
        if not path:
            continue
        try:
            write(report, Path(path))
        except (OSError, FineError) as error:
            reason = getattr(error, "strerror", None) or error
            print(f"fine-pytest merge: could not write {visible(path)}: {visible(str(reason))}", file=sys.stderr)
            return FAILED
        print(f"FINE report written to {path}")
    gate = outcome.gate
    return OK if gate.passed or (not gate.enforced and gate.complete) else FAILED


if __name__ == "__main__":
    sys.exit(main())
