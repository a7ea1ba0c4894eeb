"""fine-pytest: FINE (Fake alIgNment Evaluation) as a pytest plugin, and as a library (``fine_pytest.evaluate``).

Importing this package stays cheap: model back ends load their heavy dependencies only when a run uses them, and
the library entry point is imported when it is first used.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":  # fine_pytest.library.evaluate, imported on first use
        from fine_pytest.library import evaluate

        return evaluate
    raise AttributeError(f"module 'fine_pytest' has no attribute {name!r}")
