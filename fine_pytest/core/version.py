"""The tool's version: in every report, in every run's identity, and behind ``fine-pytest --version``."""

__version__ = "0.1.0"
