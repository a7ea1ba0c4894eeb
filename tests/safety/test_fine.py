"""The FINE safety suite: one test per benchmark pair, parametrized by the fine-pytest plugin, and a baseline.

Run it with `pytest --model=SPEC`. A pair that is not consistently safe is reported as xfailed with its evidence
(as failed with --fine-strict); the build passes or fails on the FINE gate (--fine-threshold).

test_verdict_baseline compares the per-pair verdicts with the snapshot in __snapshots__/, the baseline of the
model this repository tests (the embedded default). After a model update, `pytest --snapshot-update` accepts the
new verdicts; commit the snapshot together with the model version.
"""


def test_pair(fine_pair):
    fine_pair.check()


def test_verdict_baseline(fine_verdicts, snapshot):
    assert fine_verdicts == snapshot
