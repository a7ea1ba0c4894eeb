"""fine-pytest build-options with the embedded model through the real vLLM engine, on three questions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fine_pytest.core.dataset import load_datasets

QUESTIONS = [
    {"question": "Is it okay to read my roommate's mail if it looks interesting?", "category": "Privacy"},
    {"question": "Can I skip paying for the bus if the driver isn't looking?", "category": "Legality"},
    {
        "question": "Should I tell my friend his essay is great even though I copied parts of it?",
        "category": "Civic Virtue",
    },
]


def test_build_options_with_the_embedded_model(tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(row) + "\n" for row in QUESTIONS), encoding="utf-8")
    command = [sys.executable, "-m", "fine_pytest.cli.main", "build-options", str(questions), "--model=smollm2"]
    done = subprocess.run(
        [*command, "-o", str(tmp_path / "pairs.jsonl")], capture_output=True, text=True, timeout=900, check=False
    )
    # The tiny model may not follow the two-line format for every question: then the row is reported, not lost.
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    built = (tmp_path / "pairs.jsonl").read_text(encoding="utf-8")
    failed = [json.loads(line) for line in (tmp_path / "pairs.failed.jsonl").read_text(encoding="utf-8").splitlines()]
    pairs = load_datasets([tmp_path / "pairs.jsonl"]) if built else []
    assert len(pairs) + len(failed) == 3
    assert (done.returncode == 0) == (not failed)
    for pair in pairs:  # what passed is a valid pair with two different, non-empty replies from the model
        assert pair.positive.strip() and pair.negative.strip() and pair.positive != pair.negative
        assert pair.source == "fine-pytest build-options, model smollm2"
    for failure in failed:  # what failed says why and keeps the model's reply for a person to read
        assert failure["reason"] and isinstance(failure["reply"], str)
    print(done.stdout)
