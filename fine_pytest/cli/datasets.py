"""The dataset commands of ``fine-pytest``: validate, convert, build-options, export-training.

Exit status: 0 done; 1 the command ran and found problems (an invalid or biased dataset, questions the model could
not turn into pairs); 4 bad input or arguments, with nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fine_pytest.core.safe_text import visible, visible_lines
from fine_pytest.dataset_tools.convert import TARGETS
from fine_pytest.plugin.option_table import engine_setting, probability

OK, FAILED, USAGE = 0, 1, 4


def _error(command: str, message: object) -> int:
    # Messages quote dataset and model text: shown, never obeyed by the terminal.
    print(f"fine-pytest {command}: error: {visible_lines(str(message))}", file=sys.stderr)
    return USAGE


def add_commands(commands: Any) -> None:
    validate = commands.add_parser(
        "validate",
        help="check dataset files: validity, near-duplicate questions, length and tone bias",
        description="Run the plugin's dataset checks, then report near-duplicate questions and how often a naive "
        "guesser (the longer option, the refusal-sounding option) picks the positive option.",
    )
    validate.add_argument(
        "datasets", nargs="*", metavar="DATASET", help="JSON Lines files or folders (default: the bundled benchmark)"
    )
    validate.add_argument(
        "--duplicate-threshold",
        type=probability,
        default=0.8,
        metavar="X",
        help="question word overlap (Jaccard) to flag",
    )
    validate.add_argument(
        "--strict", action="store_true", help="exit 1 on near-duplicates or a guesser that beats chance, too"
    )
    validate.add_argument("--show", type=int, default=20, metavar="N", help="near-duplicates listed")
    validate.add_argument("--json", metavar="PATH", help="write the figures as JSON here")

    convert = commands.add_parser(
        "convert",
        help="convert between the reference (fine) and the project dataset formats",
        description="Convert pairs between the reference interchange format (fine) and the project format. Ids, "
        "questions and options are kept exactly, whitespace included.",
    )
    convert.add_argument("source", metavar="IN", help="a dataset file or folder")
    convert.add_argument("-o", "--output", required=True, metavar="OUT", help="the converted file")
    convert.add_argument("--to", choices=TARGETS, help="target format (default: the other one)")

    build = commands.add_parser(
        "build-options",
        help="ask a model for a safe and an unsafe reply to each question, making FINE pairs",
        description="For rows with a question and a category, ask a model (any --model spec) for a safe and an "
        "unsafe reply in one batch, check them, and write a pair file and a file of the rows that failed.",
    )
    build.add_argument("questions", metavar="QUESTIONS", help="JSON Lines of {question, category[, id, tags]}")
    build.add_argument("--model", required=True, metavar="SPEC", help="as pytest --model")
    build.add_argument("-o", "--output", required=True, metavar="OUT", help="the pair file (project format)")
    build.add_argument("--failures", metavar="PATH", help="rows that failed (default: OUT with .failed.jsonl)")
    build.add_argument("--max-tokens", type=int, default=256, metavar="N", help="token budget of a reply")
    build.add_argument("--base-url", metavar="URL", help="server of an openai: model")
    build.add_argument("--engine-arg", action="append", default=[], metavar="KEY=VALUE", help="vLLM engine setting")

    export = commands.add_parser(
        "export-training",
        help="write fine-tuning data (SFT, multiple-choice SFT, preference pairs) from a report and its dataset",
        description="Write sft.jsonl, mc.jsonl and preference.jsonl chat data from the pairs of a FINE report.",
    )
    export.add_argument("report", metavar="REPORT", help="a JSON report (--fine-report)")
    export.add_argument(
        "--dataset", action="append", default=[], metavar="PATH", help="the report's dataset (default: as recorded)"
    )
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the JSON Lines files")
    export.add_argument("--failed-only", action="store_true", help="only pairs that were not consistently safe")
    export.add_argument(
        "--format",
        action="append",
        choices=("sft", "mc", "preference"),
        metavar="NAME",
        help="sft, mc or preference; repeatable (default: all three)",
    )


def run(arguments: argparse.Namespace) -> int:
    handlers = {
        "validate": validate_command,
        "convert": convert_command,
        "build-options": build_command,
        "export-training": export_command,
    }
    return handlers[arguments.command](arguments)


def validate_command(arguments: argparse.Namespace) -> int:
    from fine_pytest.core.dataset import DatasetError, bundled_dataset, load_datasets
    from fine_pytest.core.errors import FineError
    from fine_pytest.dataset_tools.audit import audit, render

    try:
        pairs = load_datasets(arguments.datasets or [bundled_dataset()])
    except DatasetError as error:
        print(visible_lines(error.render(), indent=""), file=sys.stderr)
        return FAILED
    result = audit(pairs, arguments.duplicate_threshold)
    for line in render(result, arguments.show):
        print(visible(line))  # category names, ids and paths come from the dataset
    if arguments.json:
        from fine_pytest.reports.json_report import write_text

        try:
            write_text(json.dumps(result.to_dict(), indent=2) + "\n", Path(arguments.json))
        except OSError as error:
            return _error("validate", f"{arguments.json}: cannot write: {error.strerror or error}")
        except FineError as error:
            return _error("validate", str(error))
    if arguments.strict and (result.biased or result.duplicates):
        print("validate --strict: the dataset is valid but biased or has near-duplicates", file=sys.stderr)
        return FAILED
    print(f"valid: {len(pairs)} pairs")
    return OK


def convert_command(arguments: argparse.Namespace) -> int:
    from fine_pytest.core.dataset import DatasetError, expand_paths
    from fine_pytest.core.errors import FineError
    from fine_pytest.dataset_tools.convert import convert

    output = Path(arguments.output)
    if any(output.resolve() == path.resolve() for path in expand_paths([arguments.source]) if path.exists()):
        return _error("convert", f"{output}: the output would overwrite the input")
    try:
        result = convert([arguments.source], output, arguments.to)
    except DatasetError as error:
        return _error("convert", error.render())
    except FineError as error:
        return _error("convert", str(error))
    except OSError as error:
        return _error("convert", f"{output}: cannot write: {error.strerror or error}")
    print(f"converted {result.rows} pairs to the {result.target} format: {output}")
    for name, rows in sorted(result.dropped.items()):
        where = f"has no place in the {result.target} format and was left out"
        print(f"  note: field '{visible(name)}' of {rows} row(s) {where}")
    return OK


def build_command(arguments: argparse.Namespace) -> int:
    from fine_pytest.backends.base import Endpoint, ModelContext
    from fine_pytest.backends.user_code import add_search_paths
    from fine_pytest.core.errors import FineError
    from fine_pytest.dataset_tools.build_options import build_options

    if arguments.max_tokens < 1:
        return _error("build-options", "--max-tokens must be at least 1")
    engine_args: dict[str, Any] = {}
    for setting in arguments.engine_arg:
        try:
            key, value = engine_setting(setting)
        except argparse.ArgumentTypeError as error:
            return _error("build-options", f"--engine-arg: {error}")
        engine_args[key] = value
    output = Path(arguments.output)
    failures = Path(arguments.failures) if arguments.failures else output.with_name(output.stem + ".failed.jsonl")
    add_search_paths(Path.cwd())
    context = ModelContext(engine_args=engine_args, endpoint=Endpoint(base_url=arguments.base_url))
    try:
        built = build_options(arguments.questions, arguments.model, output, failures, context, arguments.max_tokens)
    except FineError as error:
        return _error("build-options", error)
    except OSError as error:
        return _error("build-options", f"cannot write: {error.strerror or error}")
    print(f"built {len(built.pairs)} pairs: {output}")
    if built.failures:
        print(f"{len(built.failures)} question(s) failed, listed with the reason in {failures}:")
        for failure in built.failures[:10]:
            print(visible(f"  line {failure['line']}: {failure['reason']}"))
        return FAILED
    print(f"no question failed ({failures} is empty)")
    return OK


def export_command(arguments: argparse.Namespace) -> int:
    from fine_pytest.core.dataset import DatasetError
    from fine_pytest.core.errors import FineError
    from fine_pytest.dataset_tools.export import FORMATS, export_training

    formats = tuple(dict.fromkeys(arguments.format or FORMATS))
    try:
        result = export_training(
            arguments.report, arguments.dataset, Path(arguments.output), arguments.failed_only, formats
        )
    except DatasetError as error:
        return _error("export-training", error.render())
    except FineError as error:
        return _error("export-training", error)
    except OSError as error:
        return _error("export-training", f"{arguments.output}: cannot write: {error.strerror or error}")
    which = "not consistently safe" if arguments.failed_only else "all"
    print(f"exported {result.pairs} pairs ({which}) to {arguments.output}:")
    for name, rows in result.rows.items():
        print(f"  {name}: {rows} rows")
    return OK
