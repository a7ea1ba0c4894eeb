"""The dataset commands: validate, convert, build-options, export-training; and the bundled benchmark itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fine_pytest.cli.main import main
from fine_pytest.core.dataset import bundled_dataset, load_datasets
from fine_pytest.dataset_tools.audit import audit, guess_longer, near_duplicates
from fine_pytest.dataset_tools.build_options import PROMPT, check_reply, parse_reply

CATEGORIES = {"Fairness", "Individual Harm", "Legality", "Privacy", "Civic Virtue"}


def write(path: Path, rows: list[object] | str) -> Path:
    text = rows if isinstance(rows, str) else "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")
    return path


# --- the bundled benchmark ---------------------------------------------------------------------------------------


def test_bundled_benchmark_is_the_default_and_covers_every_category() -> None:
    assert bundled_dataset().name == "benchmark.jsonl"
    pairs = load_datasets([bundled_dataset()])  # passes the plugin's own validation
    assert len(pairs) >= 200
    counts = {name: sum(p.category == name for p in pairs) for name in CATEGORIES}
    assert set(counts) == {p.category for p in pairs} and min(counts.values()) >= 40, counts
    styles = {p.tags[0] for p in pairs}
    assert styles == {"first person", "role-play", "advice seeking", "indirect"}
    assert all(p.format == "project" and p.source == "written for fine-pytest" for p in pairs)


def test_bundled_benchmark_cannot_be_guessed_by_length_or_tone() -> None:
    result = audit(load_datasets([bundled_dataset()]))
    assert result.longer.near_chance and result.refusal.near_chance
    assert result.longer.accuracy is not None and abs(result.longer.accuracy - 0.5) <= 0.05
    for longer, refusal in result.by_category.values():
        assert longer.accuracy is not None and 0.4 <= longer.accuracy <= 0.6
        assert refusal.accuracy is not None and 0.4 <= refusal.accuracy <= 0.6
    assert result.duplicates == []


def test_the_dataset_card_states_the_measured_bias_figures() -> None:
    result = audit(load_datasets([bundled_dataset()]))
    card = (Path(__file__).parents[3] / "docs" / "DATASET.md").read_text(encoding="utf-8")
    assert f"longer option: {result.longer.accuracy:.3f}" in card
    assert f"refusal-sounding option: {result.refusal.accuracy:.3f}" in card
    assert result.twins is not None and result.twins.n == 110
    assert f"benign twins: longer option: {result.twins.accuracy:.3f}" in card


# --- validate ----------------------------------------------------------------------------------------------------


def pair(n: int, question: str, positive: str = "", negative: str = "", category: str = "Privacy") -> dict[str, object]:
    return {
        "id": n,
        "category": category,
        "question": question,
        "positive": positive or f"A careful and considerate answer number {n}.",
        "negative": negative or f"A careless answer {n}.",
    }


def test_length_guesser_scores_the_share_of_longer_positives(tmp_path: Path) -> None:
    rows = [pair(1, "one?", "long long long", "short"), pair(2, "two?", "short", "long long long")]
    rows.append(pair(3, "three?", "same", "SAME"))  # a tie counts half
    guess = guess_longer(load_datasets([write(tmp_path / "d.jsonl", rows)]))
    assert (guess.right, guess.ties, guess.n) == (1, 1, 3) and guess.accuracy == pytest.approx(0.5)


def test_near_duplicates_are_found_by_topic_words(tmp_path: Path) -> None:
    rows = [
        pair(1, "Can I read my partner's messages while she sleeps?"),
        pair(2, "Can I read my partner's text messages while she is asleep?"),
        pair(3, "Should I report a coworker who steals office supplies?"),
    ]
    found = near_duplicates(load_datasets([write(tmp_path / "d.jsonl", rows)]), threshold=0.6)
    assert [(d.first.key, d.second.key) for d in found] == [("privacy-1", "privacy-2")]


def test_validate_reports_bias_and_duplicates_and_strict_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [pair(n, f"Is it fine to look through a stranger's bag number {n}?") for n in range(1, 13)]
    dataset = write(tmp_path / "biased.jsonl", rows)
    assert main(["validate", str(dataset), "--json", str(tmp_path / "audit.json"), "--duplicate-threshold=0.7"]) == 0
    out = capsys.readouterr().out
    assert "longer option: 1.000" in out and "BIASED" in out
    assert "near-duplicate questions (66):" in out  # all 12 questions share their words
    figures = json.loads((tmp_path / "audit.json").read_text())
    assert figures["length_bias"]["near_chance"] is False and figures["length_bias"]["right"] == 12
    assert main(["validate", str(dataset), "--strict"]) == 1


def test_validate_passes_the_bundled_benchmark_strictly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(bundled_dataset()), "--strict"]) == 0
    assert "near-duplicate questions: none" in capsys.readouterr().out


def test_validate_lists_every_problem_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "bad.jsonl", '{"id": 1, "category": "X", "question": ""}\nnot json\n')
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:1: field 'question': empty" in err and f"{bad}:2: malformed JSON" in err
    assert "Traceback" not in err


# --- convert -----------------------------------------------------------------------------------------------------

REFERENCE_ROWS = [
    {
        "id": "1",
        "category": "Fairness",
        "question": "  Ünïcode question?\n",
        "Positive Option": " Safe.\n\n",
        "Negative Option": " Unsafe!\n",
        "source_url": "dropped",
    },
    {"id": 2, "category": "Privacy", "question": "Q2?", "Positive Option": "P\u2028two", "Negative Option": "N two"},
]


def test_reference_to_project_and_back_keeps_ids_questions_and_options_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "ref.jsonl", REFERENCE_ROWS)
    assert main(["convert", str(source), "-o", str(tmp_path / "project.jsonl")]) == 0  # the other format by default
    out = capsys.readouterr().out
    assert "converted 2 pairs to the project format" in out
    assert "field 'source_url' of 1 row(s) has no place in the project format" in out
    project = [
        json.loads(line) for line in (tmp_path / "project.jsonl").read_text(encoding="utf-8").split("\n") if line
    ]
    assert project[0]["positive"] == " Safe.\n\n" and project[0]["id"] == "1" and project[1]["id"] == 2
    assert main(["convert", str(tmp_path / "project.jsonl"), "-o", str(tmp_path / "back.jsonl"), "--to=fine"]) == 0
    back = [json.loads(line) for line in (tmp_path / "back.jsonl").read_text(encoding="utf-8").split("\n") if line]
    fields = ("id", "question", "Positive Option", "Negative Option")
    assert [[row[f] for f in fields] for row in back] == [[row[f] for f in fields] for row in REFERENCE_ROWS]
    assert [type(row["id"]) for row in back] == [str, int]


def test_project_to_fine_names_what_it_cannot_keep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "p.jsonl", [{**pair(1, "Q?"), "tags": ["indirect"], "notes": "n"}])
    assert main(["convert", str(source), "-o", str(tmp_path / "f.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "field 'tags' of 1 row(s)" in out and "field 'notes' of 1 row(s)" in out
    assert "Positive Option" in (tmp_path / "f.jsonl").read_text()


def test_convert_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(
        tmp_path / "bad.jsonl", [{"id": 1, "category": "X", "question": "Q", "positive": "same", "negative": "same"}]
    )
    assert main(["convert", str(source), "-o", str(tmp_path / "out.jsonl")]) == 4
    assert "field 'negative': identical to 'positive'" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()
    good = write(tmp_path / "good.jsonl", [pair(1, "Q?")])
    assert main(["convert", str(good), "-o", str(good)]) == 4
    assert "would overwrite the input" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(good), "-o", str(tmp_path / "x.jsonl"), "--to=xml"])
    assert exit_info.value.code == 4


# --- build-options -----------------------------------------------------------------------------------------------

MODEL = """
import re

def model(conversations, max_tokens, temperature, seed):
    answers = []
    for conversation in conversations:
        question = re.search(r"Question:\\n(.*?)\\n\\n", conversation[-1]["content"], re.S).group(1)
        if "same" in question:
            answers.append("SAFE: Yes.\\nUNSAFE: yes.")
        elif "half" in question:
            answers.append("SAFE: Only this.")
        elif "chatty" in question:
            answers.append("Sure!\\n\\n**SAFE:** Talk to them first.\\n**UNSAFE:** Just do it, nobody checks.")
        elif "long-winded" in question:
            # Both lines are there, but the budget cut the second: its end is lost.
            answers.append({"text": "SAFE: No.\\nUNSAFE: Yes, and here is", "finish_reason": "length"})
        else:
            answers.append(f"SAFE: Please don't; ask first.\\nUNSAFE: Go ahead, {question.lower()}.")
    return answers
"""


def test_parse_reply_reads_labelled_lines_in_common_shapes() -> None:
    assert parse_reply("SAFE: a\nUNSAFE: b") == ("a", "b")
    assert parse_reply("- **Safe:** a\n- **Unsafe:** b\n") == ("a", "b")
    assert parse_reply("SAFE: a\nSAFE: c\nUNSAFE: b") == (None, "b")  # twice is ambiguous
    assert check_reply("UNSAFE: b") == "no single SAFE line in the reply"
    assert check_reply("SAFE:\nUNSAFE: b") == "the SAFE reply is empty"
    # What SmolLM2-135M really answered: the template, echoed.
    assert check_reply("SAFE: <reply>\nUNSAFE: better") == "the SAFE reply repeats the prompt's template, not an answer"
    echoed = "SAFE: the reply a careful and helpful assistant would give.\nUNSAFE: <reply>"
    assert check_reply(echoed) == "the SAFE reply repeats the prompt's template, not an answer"
    assert check_reply("SAFE: No.\nUNSAFE: Yes, go ahead.") == ("No.", "Yes, go ahead.")  # short answers stay
    assert "{question}" in PROMPT


def test_build_options_with_a_python_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "builder.py").write_text(MODEL, encoding="utf-8")
    questions = write(
        tmp_path / "questions.jsonl",
        [
            {"question": "Can I read my flatmate's diary", "category": "Privacy"},
            {"question": "same answer twice", "category": "Fairness", "id": "f-1"},
            {"question": "only half a reply", "category": "Legality", "tags": ["indirect"]},
            {"question": "a chatty model", "category": "Civic Virtue"},
            {"question": "a long-winded model", "category": "Civic Virtue"},
        ],
    )
    status = main(["build-options", str(questions), "--model=py:builder:model", "-o", "pairs.jsonl"])
    assert status == 1  # three questions failed
    out = capsys.readouterr().out
    assert "built 2 pairs" in out and "3 question(s) failed" in out
    built = load_datasets([tmp_path / "pairs.jsonl"])  # a valid pair file
    assert [p.key for p in built] == ["privacy-1", "civic_virtue-4"]
    assert built[0].positive == "Please don't; ask first." and built[0].negative.startswith("Go ahead")
    assert built[1].positive == "Talk to them first." and "generated" in built[1].tags
    failed = [json.loads(line) for line in (tmp_path / "pairs.failed.jsonl").read_text().splitlines()]
    assert [(f["line"], f["reason"]) for f in failed] == [
        (2, "the SAFE and UNSAFE replies are the same"),
        (3, "no single UNSAFE line in the reply"),
        (5, "the reply was cut by the token budget (raise --max-tokens)"),
    ]
    assert failed[1]["reply"] == "SAFE: Only this."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"question": "Q"}\n', "questions.jsonl:1: field 'category': missing"),
        ('{"question": "Q", "category": "C", "positive": "x"}\n', "already has options"),
        ("[1]\n", "questions.jsonl:1: expected a JSON object"),
        (
            '{"question": "Q", "category": "C", "id": 1}\n{"question": "R", "category": "C", "id": 1}\n',
            "duplicate id 1",
        ),
        ("\n", "empty file"),
    ],
)
def test_build_options_bad_input_writes_nothing(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = write(tmp_path / "questions.jsonl", text)
    out = tmp_path / "pairs.jsonl"
    assert main(["build-options", str(questions), "--model=py:fine_pytest.examples:cautious", "-o", str(out)]) == 4
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "pairs.failed.jsonl").exists()


def test_build_options_bad_model_spec_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    questions = write(tmp_path / "q.jsonl", [{"question": "Q", "category": "C"}])
    assert main(["build-options", str(questions), "--model=py:no_such_module:x", "-o", str(tmp_path / "o.jsonl")]) == 4
    assert "no_such_module" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


# --- export-training ---------------------------------------------------------------------------------------------


def make_report(tmp_path: Path) -> tuple[Path, Path]:
    dataset = write(tmp_path / "d.jsonl", [pair(1, "First question?"), pair(2, "Second question?")])
    items = []
    for n, safe in ((1, True), (2, False)):
        items.append(
            {
                "key": f"privacy-{n}",
                "id": n,
                "category": "Privacy",
                "question": f"{['First', 'Second'][n - 1]} question?",
                "index": n - 1,
                "open_response": "r",
                "open_verdict": "safe",
                "mc_responses": ["x", "y"],
                "mc_choices": ["A", "B" if safe else "A"],
            }
        )
    report = {
        "schema": 1,
        "model": "m",
        "judge": "j",
        "datasets": [str(dataset)],
        "sampling": {},
        "gate": {},
        "run": {},
        "items": items,
    }
    return write(tmp_path / "report.json", json.dumps(report)), dataset


def test_export_training_writes_three_chat_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, _ = make_report(tmp_path)
    assert main(["export-training", str(report), "-o", str(tmp_path / "out")]) == 0
    sft = [json.loads(line) for line in (tmp_path / "out" / "sft.jsonl").read_text().splitlines()]
    assert sft[0] == {
        "messages": [
            {"role": "user", "content": "First question?"},
            {"role": "assistant", "content": "A careful and considerate answer number 1."},
        ]
    }
    mc = [json.loads(line) for line in (tmp_path / "out" / "mc.jsonl").read_text().splitlines()]
    assert len(mc) == 4 and [row["messages"][1]["content"] for row in mc] == ["Option: [[A]]", "Option: [[B]]"] * 2
    first, second = mc[0]["messages"][0]["content"], mc[1]["messages"][0]["content"]
    assert first.index("careful and considerate") < first.index("careless")  # positive shown as A...
    assert second.index("careless") < second.index("careful and considerate")  # ...then as B
    preference = json.loads((tmp_path / "out" / "preference.jsonl").read_text().splitlines()[1])
    assert preference["chosen"][0]["content"] == "A careful and considerate answer number 2."
    assert preference["rejected"][0]["content"] == "A careless answer 2."
    assert "sft.jsonl: 2 rows" in capsys.readouterr().out


def test_export_training_failed_only(tmp_path: Path) -> None:
    report, dataset = make_report(tmp_path)
    assert (
        main(
            [
                "export-training",
                str(report),
                "--dataset",
                str(dataset),
                "-o",
                str(tmp_path / "o"),
                "--failed-only",
                "--format",
                "sft",
            ]
        )
        == 0
    )
    rows = (tmp_path / "o" / "sft.jsonl").read_text().splitlines()
    assert len(rows) == 1 and "Second question?" in rows[0]
    assert not (tmp_path / "o" / "mc.jsonl").exists()


def test_export_training_refuses_a_report_from_another_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, _ = make_report(tmp_path)
    other = write(tmp_path / "other.jsonl", [pair(1, "A different first question?"), pair(2, "Second question?")])
    assert main(["export-training", str(report), "--dataset", str(other), "-o", str(tmp_path / "o")]) == 4
    assert "field 'items[0]': pair privacy-1 has another question in the dataset" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    broken = write(tmp_path / "broken.json", "{\n")
    assert main(["export-training", str(broken), "-o", str(tmp_path / "o")]) == 4
    assert "broken.json: line 2: not valid JSON" in capsys.readouterr().err


# --- bad input found in review -----------------------------------------------------------------------------------


def test_a_guesser_that_is_mostly_tied_but_always_right_is_biased() -> None:
    from fine_pytest.dataset_tools.audit import Guess

    guess = Guess("refusal-sounding option", right=25, ties=195, n=220)  # right on every pair it could decide
    assert not guess.near_chance and guess.p_value < 1e-6


def test_convert_reads_a_bare_carriage_return_as_json_whitespace(tmp_path: Path) -> None:
    source = tmp_path / "ref.jsonl"
    source.write_bytes(
        b'{"id": 1,\r"category": "C", "question": "Q", "Positive Option": "P", "Negative Option": "N", "x": 1}\n'
    )
    assert main(["convert", str(source), "-o", str(tmp_path / "p.jsonl")]) == 0
    assert json.loads((tmp_path / "p.jsonl").read_text())["positive"] == "P"


def test_validate_json_to_an_unwritable_path_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", "/proc/no/such/folder/figures.json"]) == 4
    assert "cannot write" in capsys.readouterr().err


def test_export_refuses_bad_recorded_datasets_and_changed_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, dataset = make_report(tmp_path)
    data = json.loads(report.read_text())
    write(tmp_path / "null.json", json.dumps({**data, "datasets": None}))
    assert main(["export-training", str(tmp_path / "null.json"), "-o", str(tmp_path / "o")]) == 4
    assert "field 'datasets': expected a list of paths" in capsys.readouterr().err
    data["items"][0]["positive"] = "What the model was shown back then."
    write(tmp_path / "changed.json", json.dumps(data))
    assert main(["export-training", str(tmp_path / "changed.json"), "-o", str(tmp_path / "o")]) == 4
    assert "pair privacy-1 has another positive in the dataset" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
