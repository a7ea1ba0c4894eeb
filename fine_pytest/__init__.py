"""fine-pytest: FINE (Fake alIgNment Evaluation) as a pytest plugin.

Importing this package stays cheap: model back ends load their heavy dependencies only when a run uses them.
"""

__version__ = "0.1.0"
