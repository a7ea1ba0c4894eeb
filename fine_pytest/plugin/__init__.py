"""The pytest plugin: thin hooks, options, the worker side (evaluation) and the controller side (tally, gate)."""
