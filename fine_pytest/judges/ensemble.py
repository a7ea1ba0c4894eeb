"""An ensemble of judges (--fine-judge given more than once): each member labels every answer, a rule combines.

The combination rule and its tie-breaking live in core.ensemble. Here the members are loaded, one at a time: two
LLM judges need not fit in memory together, so each is closed before the next loads. The pipeline caches each
member's verdicts under that member's own identity (the same key as when it judges alone) and combines them when
it reads the results; ``judge`` below does the same in one call, for a caller with no cache (``run_loaded``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from fine_pytest.core.ensemble import Member, combine, label
from fine_pytest.core.errors import FineError
from fine_pytest.core.modes import Scoring
from fine_pytest.judges.base import Judge, JudgeItem


def members_of(specs: Sequence[str], formats: Sequence[str]) -> tuple[Member, ...]:
    """The judges a run names, each with its format: one format for every model judge, or one per judge in order.

    A format given once skips the rule judges and the verdict callables (``py:`` without a format), which are not
    asked in any format; given once per judge, it is that judge's, as for a single judge (a ``py:`` judge with a
    format is a chat model; a rule judge ignores the one in its place).
    """
    from fine_pytest import judges

    if len(specs) == 1:
        if len(formats) > 1:
            raise FineError(f"--fine-judge-format is given {len(formats)} times for one judge")
        return (Member(specs[0], formats[0] if formats else None),)
    if len(formats) == len(specs):
        # A rule judge ("refusal") is asked in no format: the one given in its place is not its.
        members = tuple(
            Member(spec, format if judges.uses_model(spec, format) else None)
            for spec, format in zip(specs, formats, strict=True)
        )
    elif len(formats) <= 1:
        shared = formats[0] if formats else None
        members = tuple(Member(spec, shared if judges.uses_model(spec, None) else None) for spec in specs)
    else:
        raise FineError(
            f"--fine-judge-format is given {len(formats)} times for {len(specs)} judges: give it once (for every "
            "model judge) or once per judge, in their order"
        )
    seen: set[Member] = set()
    for member in members:
        if member in seen:
            raise FineError(f"--fine-judge: '{member.label}' is given twice; an ensemble counts each judge once")
        seen.add(member)
    return members


def member_scoring(member: Member, scoring: str) -> str:
    """An ensemble's --fine-judge-scoring applies to its LLM members; a rule or a verdict callable has no
    probabilities to read."""
    from fine_pytest import judges

    return scoring if judges.uses_model(member.spec, member.format) else Scoring.GENERATE


def scorings(members: Sequence[Member], scoring: str) -> list[str]:
    """How each judge's verdicts are read: a lone judge takes the scoring as given (logprob on a rule judge is an
    error), an ensemble's members as ``member_scoring`` says."""
    return [scoring if len(members) == 1 else member_scoring(member, scoring) for member in members]


def check_members(members: Sequence[Member], scoring: str, run_user_code: bool = False) -> None:
    from fine_pytest import judges

    if (
        len(members) > 1
        and scoring != Scoring.GENERATE
        and not any(judges.uses_model(m.spec, m.format) for m in members)
    ):
        # As for one rule judge: a probability reading with nothing to read it from is an error, never ignored.
        raise FineError(
            f"--fine-judge-scoring={scoring} reads an LLM judge's verdict probabilities; no judge of this ensemble is "
            "a model judge"
        )
    for member, chosen in zip(members, scorings(members, scoring), strict=True):
        judges.check_spec(member.spec, run_user_code, member.format, chosen)


def member_identities(members: Sequence[Member], context: Any, memo: Any, scoring: str) -> tuple[Any, ...]:
    from fine_pytest import judges

    return tuple(
        judges.identity(member.spec, member.format, context, memo, member_scoring(member, scoring))
        for member in members
    )


def same_judge(members: Sequence[Member], identities: Sequence[Any]) -> None:
    """Two specs of one judge (a folder by two paths, one file under two schemes) would give it two votes: refused,
    by what the judges are (their weights' or code's digest, format and reading), not by how they are spelled."""
    seen: dict[str, Member] = {}
    for member, identity in zip(members, identities, strict=True):
        what = dict(identity) if isinstance(identity, dict) else {"judge": identity}
        what.pop("judge", None)  # the spec as spelled
        key = json.dumps(what, sort_keys=True, default=str)
        if key in seen:
            raise FineError(
                f"--fine-judge: '{seen[key].label}' and '{member.label}' are the same judge; an ensemble counts each "
                "judge once"
            )
        seen[key] = member


def ensemble_identity(rule: str, identities: Sequence[Any]) -> dict[str, Any]:
    """The whole ensemble's identity: its rule and its members' in order (the run's identity and calibration)."""
    return {"ensemble": str(rule), "members": list(identities)}


class EnsembleJudge:
    """Members loaded on first use, in order, and closed after their turn."""

    def __init__(self, members: Sequence[Member], rule: str, loaders: Sequence[Callable[[], Judge]]) -> None:
        if len(members) != len(loaders) or len(members) < 2:
            raise ValueError("an ensemble needs two or more members, one loader each")
        self.members = tuple(members)
        self.rule = rule
        self.name = label(members, rule)
        self._loaders = tuple(loaders)

    def member(self, index: int) -> Callable[[], Judge]:
        """The loader of one member: the pipeline judges member by member, with its own cache keys."""
        return self._loaders[index]

    def votes(self, items: Sequence[JudgeItem]) -> list[tuple[str, ...]]:
        """Every member's verdict on every item: one row per item, members in order."""
        columns: list[list[str]] = []
        for load in self._loaders:
            judge = load()
            try:
                verdicts = list(judge.judge(items))
            finally:
                judge.close()
            if len(verdicts) != len(items):
                raise FineError(f"judge {judge.name} returned {len(verdicts)} verdicts for {len(items)} answers")
            columns.append(verdicts)
        return [tuple(row) for row in zip(*columns, strict=True)] if items else []

    def judge(self, items: Sequence[JudgeItem]) -> list[str]:
        return [combine(row, self.rule) for row in self.votes(items)]

    def close(self) -> None:
        """Each member is closed after its turn: nothing stays open."""
