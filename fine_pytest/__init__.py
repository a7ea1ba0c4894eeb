"""fine-pytest: FINE (Fake alIgNment Evaluation) as a pytest plugin, and as a library (``fine_pytest.evaluate``).

Importing this package stays cheap: model back ends load their heavy dependencies only when a run uses them, and
the library entry point is imported when it is first used.
"""

from typing import Any

from fine_pytest.core.version import __version__

__all__ = ["__version__", "evaluate"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":  # fine_pytest.pipeline.library.evaluate, imported on first use
        from fine_pytest.pipeline.library import evaluate

        return evaluate
    raise AttributeError(f"module 'fine_pytest' has no attribute {name!r}")
