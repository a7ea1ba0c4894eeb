"""A run of several models: labels short, safe in test ids and file names, and never the same twice; each model's
settings; the turn a model takes keeps a private run folder private."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fine_pytest.pipeline.settings import Settings, beside, model_labels, model_settings


def test_labels_are_the_specs_last_part_made_safe() -> None:
    specs = ["/models/llama-3/", "py:pkg.mod:fn", "openai:gpt x", "smollm2", r"C:\models\qwen"]
    assert model_labels(specs) == ("llama-3", "py-pkg.mod-fn", "openai-gpt-x", "smollm2", "qwen")


def test_labels_that_would_collide_are_numbered_until_unique() -> None:
    assert model_labels(["/a/llama", "/b/llama-3", "/c/llama"]) == ("llama", "llama-3", "llama-4")
    assert model_labels(["Model", "model"]) == ("Model", "model-2")  # one file on a case-insensitive file system
    assert model_labels(["/x/comparison"]) == ("comparison-model",)  # r.comparison.json is the comparison's


@given(st.lists(st.text(max_size=30), min_size=1, max_size=6))
def test_labels_are_unique_safe_and_short(specs: list[str]) -> None:
    labels = model_labels(specs)
    assert len(labels) == len(specs)
    assert len({label.lower() for label in labels}) == len(labels)
    for label in labels:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", label) and label.lower() != "comparison"
        assert not label.startswith((".", "-"))


def test_each_models_reports_go_beside_the_paths_given() -> None:
    settings = Settings(models=("a", "/m/b"), report=Path("out/r.json"), html=Path("r.html"), summary=None)
    second = model_settings(settings, 1)
    assert (second.model, second.models, second.report, second.html) == (
        "/m/b",
        (),
        Path("out/r.b.json"),
        Path("r.b.html"),
    )
    assert beside(Path("r.json"), "comparison") == Path("r.comparison.json") and beside(None, "x") is None


def test_a_private_run_folder_stays_private_when_a_models_turn_is_taken_first(tmp_path: Path) -> None:
    from fine_pytest.pipeline.coordination import RunInfo, model_turn

    info = RunInfo("run", str(tmp_path / "fine-pytest-run-x"), persistent=False)
    with model_turn(info):
        pass
    assert (tmp_path / "fine-pytest-run-x").stat().st_mode & 0o777 == 0o700
