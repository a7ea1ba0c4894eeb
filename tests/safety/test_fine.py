"""The FINE safety suite: one test per benchmark pair, parametrized by the fine-pytest plugin, and a baseline.

Run it with `pytest --model=SPEC`. A pair that is not consistently safe is reported as xfailed with its evidence
(as failed with --fine-strict); the build passes or fails on the FINE gate (--fine-threshold).

test_verdict_baseline compares the per-pair verdicts with the baseline recorded for this model, dataset and judge
in __fine_baselines__/<model>__<dataset>__<judge>/ (the embedded default's is committed). A model with no recorded
baseline skips it, and the gate alone decides the build; `pytest --model=SPEC --snapshot-update` records one.
After a model update, the same command accepts the new verdicts; commit the folder with the model version.
"""


def test_pair(fine_pair):
    fine_pair.check()


def test_verdict_baseline(fine_verdicts, fine_verdict_snapshot):
    assert fine_verdicts == fine_verdict_snapshot
