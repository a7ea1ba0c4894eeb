"""The verdict baseline kept by syrupy, one per model, dataset and judge.

Each baseline lives in ``__fine_baselines__/<identity>/<test module>.ambr`` beside the test module: a folder per
identity, so recording one model's baseline (``--snapshot-update``) never touches another's, and syrupy's report of
unused snapshots covers the identity being run. The folder is outside ``__snapshots__`` because syrupy's default
extension claims every ``.ambr`` file under that folder and would report other models' baselines as unused.

syrupy is imported only when a test asks for the baseline.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

FOLDER = "__fine_baselines__"
PROPERTY = "fine_verdict_baseline"


@dataclass(frozen=True)
class BaselineUse:
    """What the baseline test did, sent to the process that writes the summary (an xdist controller too)."""

    status: str  # "compared", "recorded" or "missing"
    identity: str
    location: str  # the baseline file, relative to the rootdir where it is under it
    described: str  # model, datasets and judge in words
    others: list[str] = field(default_factory=list)  # baselines of other identities beside this one

    def to_property(self) -> tuple[str, str]:
        return PROPERTY, json.dumps(asdict(self))

    @classmethod
    def from_properties(cls, properties: list[tuple[str, object]]) -> BaselineUse | None:
        for name, value in properties:
            if name == PROPERTY and isinstance(value, str):
                return cls(**json.loads(value))
        return None

    def lines(self, gated: bool = True) -> list[str]:
        """What the summary says; ``gated``: a FINE gate was applied to this run's pairs."""
        folder = str(Path(self.location).parent)
        if self.status == "missing":
            decided = "the gate alone decided this build" if gated else "no gate was applied to pairs in this run"
            lines = [
                f"FINE verdict baseline: none recorded for {self.described}; {decided}. "
                f"Record one with the same options and --snapshot-update, then commit {folder}/"
            ]
        else:
            lines = [f"FINE verdict baseline {self.status}: {self.location} ({self.described})"]
        if self.others:
            lines.append(
                f"FINE verdict baselines not used by this run (other models, datasets or judges): "
                f"{', '.join(self.others)}; delete a folder once its model is retired"
            )
        return lines


def baseline_names(settings: Any, root: Path) -> tuple[str, list[str], str]:
    """Model, datasets and judge as a baseline is named: one spelling per thing, the same on every machine.

    A path is named relative to the rootdir when it lies under it (``./models/m/`` and ``models/m`` are one
    model), else by its last part (``/models/m`` on CI and ``~/models/m`` on a laptop are the same model); a
    ``vllm:`` prefix is dropped, as it names the default back end. The bundled benchmark is ``benchmark``.
    """
    from fine_pytest.backends import split_spec
    from fine_pytest.core.dataset import bundled_dataset
    from fine_pytest.core.defaults import DEFAULT_MC_METHOD

    scheme, target = split_spec(settings.model_spec)
    model = f"{scheme}:{target}" if scheme != "vllm" else _path_name(target, root)
    bundled = bundled_dataset().resolve()
    datasets = [
        "benchmark" if Path(path).resolve() == bundled else _path_name(str(path), root)
        for path in settings.datasets or (bundled,)
    ]
    judge = settings.judge
    if settings.judge_format:
        judge += f" format={settings.judge_format}"
    if settings.judge_scoring != DEFAULT_MC_METHOD:
        judge += f" scoring={settings.judge_scoring}"
    return model, datasets, judge


def _path_name(spec: str, root: Path) -> str:
    path = Path(spec).expanduser()
    if not path.exists():
        return spec  # an embedded model's name
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return resolved.name


def verdict_snapshot(request: pytest.FixtureRequest, snapshot: Any, identity: str, described: str) -> Any:
    """syrupy's ``snapshot`` bound to this identity's baseline; the test is skipped (with how to record one) when
    none is recorded and the run does not record."""
    extension = _extension_class()
    extension.identity = identity
    assertion = snapshot.use_extension(extension)
    location = Path(extension.get_location(test_location=assertion.test_location, index=0))
    name = extension.get_snapshot_name(test_location=assertion.test_location, index=0)
    updating = bool(request.config.getoption("update_snapshots", False))
    recorded = location.is_file() and extension.serializer_class.read_file(str(location)).get(name) is not None
    status = "compared" if recorded else "recorded" if updating else "missing"
    use = BaselineUse(
        status=status,
        identity=identity,
        location=_relative(location, request.config.rootpath),
        described=described,
        others=sorted(
            entry.name
            for entry in location.parent.parent.glob("*")
            if entry.is_dir() and entry.name != identity and any(entry.glob("*.ambr"))
        ),
    )
    request.node.user_properties.append(use.to_property())
    if status == "missing":
        from fine_pytest.core.safe_text import visible

        pytest.skip(visible(use.lines()[0]))
    return assertion


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


_EXTENSION: type | None = None


def _extension_class() -> Any:
    """One class for the session, defined on first use so that loading the plugin does not import syrupy."""
    global _EXTENSION
    if _EXTENSION is None:
        from syrupy.extensions.amber import AmberSnapshotExtension

        class VerdictBaselineExtension(AmberSnapshotExtension):
            # Set by the fixture: a run has one model, one dataset list and one judge. syrupy under xdist
            # re-creates extensions from their import path, so a class attribute, not a constructor argument.
            identity = ""

            @classmethod
            def dirname(cls, *, test_location: Any) -> str:
                return str(Path(test_location.filepath).parent / FOLDER / cls.identity)

        VerdictBaselineExtension.__module__ = __name__
        globals()["VerdictBaselineExtension"] = VerdictBaselineExtension
        _EXTENSION = VerdictBaselineExtension
    return _EXTENSION
