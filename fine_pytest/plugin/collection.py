"""FINE pairs as pytest tests: one parametrized test per pair, a marker per category, and the --fine-shard split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from fine_pytest.core.dataset import Pair, category_slug
from fine_pytest.core.safe_text import visible
from fine_pytest.pipeline.coordination import selection_digest, shard_of_key
from fine_pytest.plugin.roles import FIXTURE, pair_of


class Markers:
    """The marker of each category, registered once; prefixed ``fine_`` if the plain name is already taken."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._names: dict[str, str] = {}

    def of(self, category: str) -> str:
        if category not in self._names:
            slug = category_slug(category)
            taken = {line.split(":")[0].split("(")[0].strip() for line in self.config.getini("markers")}
            name = slug if slug not in taken or slug in self._names.values() else f"fine_{slug}"
            if name not in taken:
                self.config.addinivalue_line("markers", f"{name}: FINE pairs of category '{visible(category)}'")
            self._names[category] = name
        return self._names[category]


def parametrize(metafunc: pytest.Metafunc, pairs: Sequence[Pair], markers: Markers, models: Sequence[str] = ()) -> None:
    """One test per pair, id ``<category slug>-<id>``, marked ``fine`` and with its category's marker; with several
    models (their labels), one per model and pair, id ``<model label>/<category slug>-<id>``, models in order."""
    # One mark list per category, shared by its pairs: building marks per pair showed up at 10,000 pairs.
    marks: dict[str, list[pytest.MarkDecorator]] = {}
    for pair in pairs:
        if pair.category not in marks:
            marks[pair.category] = [pytest.mark.fine, getattr(pytest.mark, markers.of(pair.category))]
    if models:
        from fine_pytest.plugin.pair import ModelPair

        params = [
            pytest.param(ModelPair(index, label, pair), id=f"{label}/{pair.key}", marks=marks[pair.category])
            for index, label in enumerate(models)
            for pair in pairs
        ]
    else:
        params = [pytest.param(pair, id=pair.key, marks=marks[pair.category]) for pair in pairs]
    metafunc.parametrize(FIXTURE, params, indirect=True)


def select_shard(items: list[pytest.Item], shard: tuple[int, int]) -> tuple[dict[str, Any], list[pytest.Item]]:
    """Keep this job's part of the FINE tests in ``items`` (other tests all stay); return what the shard selected
    (for the merge to check) and the FINE tests left out."""
    index, count = shard
    keys = list(dict.fromkeys(pair.key for pair in (pair_of(item) for item in items) if pair is not None))
    selection = {"index": index, "count": count, "selected": len(keys), "digest": selection_digest(keys)}
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        pair = pair_of(item)
        (dropped if pair is not None and shard_of_key(pair.key, count) != index - 1 else kept).append(item)
    items[:] = kept
    return selection, dropped
