"""The pure core: datasets, prompts, answer reading, results, metrics, statistics, baseline comparison, the gate
and conclude(). Standard library only: no pytest, no SQLite, no back end (tests/plugin/test_architecture.py)."""
