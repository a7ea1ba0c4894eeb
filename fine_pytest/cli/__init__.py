"""The ``fine-pytest`` command line: one entry (main) and a module per command group."""
