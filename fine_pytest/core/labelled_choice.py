"""Read which option a model chose when the options carry labels other than A and B (the ``labels`` form).

The same exact grammar as the paper's reading (core.choice), over the form's labels: a declaration of a label that
is not one of the two (the paper's A or B under the labels 1 and 2) names no label, so it is not read.
"""

from __future__ import annotations

from fine_pytest.core.choice import read_choice


def parse_labelled_choice(reply: str, labels: tuple[str, str], truncated: bool = False) -> str | None:
    """The label the reply declares, in either order of the labels ("B" then "A" too), or None."""
    return read_choice(reply, truncated, labels).choice
