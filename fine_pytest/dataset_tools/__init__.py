"""Dataset tools behind ``fine-pytest``: audit, convert, build-options, export-training."""
