"""Checking the form families a run names, before any model work, and rendering a variant's prompts with a
user's family kept at arm's length: whatever it raises or returns wrong becomes a FineError naming it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fine_pytest.core.dataset import Pair
from fine_pytest.core.defaults import DEFAULT_MC_QUESTION
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import FAMILIES, REGISTERED, Dimension, Family, Opening, named

MAX_VARIANTS = 100_000  # a family's variants are listed to draw from: a bigger space is a mistake, not a plan
MAX_ASK_ALL = 16  # a family asked whole of every pair (ask_all) multiplies every pair's prompts by its size


def resolve_families(names: Sequence[str], probes: Sequence[Pair], scored: bool = False) -> tuple[Family, ...]:
    """The families named, as values: built in, registered by a conftest, or a py: reference imported (and named as
    given, so every process of a run calls it the same). Each is checked well formed, renders a pair without
    raising, and with ``scored`` (--fine-mc-scoring=logprob) gives its openings (a judged family: its reply's
    opening), before any model work; FineError otherwise."""
    from fine_pytest.backends import user_code

    resolved = []
    for name in names:
        family = named(name)
        if family is None and name.startswith("py:"):
            found = user_code.import_reference(name[3:], "--fine-forms", callable_only=False)
            if not isinstance(found, Family):
                raise FineError(
                    f"--fine-forms: {name} is a {type(found).__name__}, not a fine_pytest.core.forms.Family"
                )
            family = replace(found, name=name)
        if family is None:
            known = sorted({*FAMILIES, *REGISTERED})
            raise FineError(
                f"--fine-forms: unknown form family {name!r}; registered: {', '.join(known)} (or name one "
                "as py:module:attribute)"
            )
        resolved.append(family)
        shaped = bool(family.dimensions) and all(
            isinstance(dimension, Dimension)
            and isinstance(dimension.values, tuple)
            and dimension.values
            and all(isinstance(value, str) for value in dimension.values)
            for dimension in family.dimensions
        )
        if not shaped:
            raise FineError(
                f"--fine-forms: family {name!r} needs dimensions, each a Dimension with a tuple of value descriptions"
            )
        if family.judged and len(family.prompt_names) != 1:
            # A judged variant is one prompt: its evidence names one (a family that kept the two default names).
            family = replace(family, prompt_names=("open answer, begun for the model",))
            resolved[-1] = family
        if family.judged and not family.ask_all:
            raise FineError(
                f"--fine-forms: family {name!r} is judged (its answers are read by the run's judge), so it must be "
                "asked whole of every pair (ask_all=True): a search for a simpler flip would need the judge in every "
                "round"
            )
        if family.ask_all and family.size() > MAX_ASK_ALL:
            raise FineError(
                f"--fine-forms: family {name!r} is asked whole of every pair (ask_all) and has {family.size()} "
                f"variants; such a family may have at most {MAX_ASK_ALL}"
            )
        if not 0 < family.size() <= MAX_VARIANTS:
            raise FineError(
                f"--fine-forms: family {name!r} has {family.size()} variants to draw from; it needs 1 to {MAX_VARIANTS}"
            )
        for pair in probes:
            for changes in (tuple(0 for _ in family.dimensions), tuple(len(d.values) - 1 for d in family.dimensions)):
                rendered = render(family, pair, changes, DEFAULT_MC_QUESTION)
                system_message(family, changes)
                if family.judged and not rendered[1].strip():
                    raise FineError(
                        f"--fine-forms: family {name!r} is judged, and its render must give the open question and "
                        f"the opening the reply is begun with; variant {list(changes)} gave no opening"
                    )
                if scored and not family.judged:
                    openings(family, changes)
    return tuple(resolved)


def render(family: Family, pair: Pair, changes: tuple[int, ...], question: str) -> tuple[str, str]:
    """A family's two prompts for a variant; a FineError naming the family and pair when its render misbehaves."""
    try:
        rendered = family.render(pair, changes, question)
    except Exception as error:  # a user's family: name it, not our frames
        raise FineError(
            f"--fine-forms: family {family.name!r} failed to render pair {pair.key} (variant {list(changes)}): "
            f"{type(error).__name__}: {error}"
        ) from None
    if not (isinstance(rendered, tuple) and len(rendered) == 2 and all(isinstance(text, str) for text in rendered)):
        raise FineError(
            f"--fine-forms: family {family.name!r} rendered pair {pair.key} as {type(rendered).__name__}, not two "
            "prompts (a tuple of two strings)"
        )
    return rendered[0], rendered[1]


def system_message(family: Family, changes: tuple[int, ...]) -> str:
    """A family's system message for a variant ("" for none); a FineError naming the family when it misbehaves."""
    if family.system is None:
        return ""
    try:
        message = family.system(changes)
    except Exception as error:  # a user's family: name it, not our frames
        raise FineError(
            f"--fine-forms: family {family.name!r} failed to give the system message of variant {list(changes)}: "
            f"{type(error).__name__}: {error}"
        ) from None
    if message is not None and not isinstance(message, str):
        raise FineError(
            f"--fine-forms: family {family.name!r} gave a {type(message).__name__} as the system message of variant "
            f"{list(changes)}, not a string"
        )
    return message or ""


def openings(family: Family, changes: tuple[int, ...]) -> tuple[Opening, Opening]:
    """A family's log-probability openings for a variant; a FineError naming the family when it has none or they
    are malformed (two distinct non-empty labels, the wanted one among them)."""
    if family.openings is None:
        raise FineError(
            f"--fine-forms: family {family.name!r} is read as text only (it has no openings), so it cannot be read "
            "with --fine-mc-scoring=logprob; use --fine-mc-scoring=generate or give the family openings"
        )
    try:
        found = family.openings(changes)
    except Exception as error:  # a user's family: name it, not our frames
        raise FineError(
            f"--fine-forms: family {family.name!r} failed to give the openings of variant {list(changes)}: "
            f"{type(error).__name__}: {error}"
        ) from None
    if not (isinstance(found, tuple) and len(found) == 2 and all(_well_formed(opening) for opening in found)):
        raise FineError(
            f"--fine-forms: family {family.name!r} gave {found!r:.120} as the openings of variant {list(changes)}, not "
            "two Openings (a text prefix, two distinct non-empty labels, and the wanted label among them)"
        )
    return found[0], found[1]


def _well_formed(opening: object) -> bool:
    return (
        isinstance(opening, Opening)
        and isinstance(opening.prefix, str)
        and isinstance(opening.labels, tuple)
        and len(opening.labels) == 2
        and all(isinstance(label, str) and label.strip() == label and label for label in opening.labels)
        and opening.labels[0].lower() != opening.labels[1].lower()
        and opening.wanted in opening.labels
    )
