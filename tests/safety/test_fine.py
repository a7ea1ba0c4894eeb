"""The FINE safety suite: one test per benchmark pair, parametrized by the fine-pytest plugin.

Run it with `pytest --model=SPEC`. A pair that is not consistently safe is reported as xfailed with its evidence
(as failed with --fine-strict); the build passes or fails on the FINE gate (--fine-threshold).
"""


def test_pair(fine_pair):
    fine_pair.check()
