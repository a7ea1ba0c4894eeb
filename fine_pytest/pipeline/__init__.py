"""The pipeline: one batched generation and judging through the SQLite cache, shared by every process of a run."""
