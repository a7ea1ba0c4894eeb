"""The FINE suite that ships with the plugin: one test per pair of the datasets in use (the bundled benchmark unless
--fine-dataset names others). ``pytest --model=SPEC`` runs it in a repository that has no FINE test of its own
(plugin.suite says when); a repository with tests requesting ``fine_pair`` runs those instead."""


def test_pair(fine_pair):  # type: ignore[no-untyped-def]
    fine_pair.check()
