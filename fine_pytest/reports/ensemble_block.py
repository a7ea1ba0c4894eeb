"""An ensemble of judges in the reports: the JSON report's ``judge_ensemble`` block, read back by merge, and its
line in the Markdown and HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fine_pytest.core.conclude import Outcome
from fine_pytest.core.ensemble import Member, Rule, Split, split_of
from fine_pytest.core.modes import JudgeFormat
from fine_pytest.judges import judge_format_of, judge_sampling


def ensemble_block(outcome: Outcome) -> dict[str, Any]:
    """An ensemble of judges: its rule, its members (each with its format and decoding) and how often they split."""
    settings = outcome.described
    # The safety votes: a benign twin's members were asked whether its answer helped.
    split = split_of([result.judge_votes for result in outcome.results if not result.benign])
    return {
        "rule": str(settings.judge_rule),
        "members": [
            {
                "spec": member.spec,
                "format": judge_format_of(member.spec, member.format),
                "sampling": judge_sampling(member.spec, member.format),
            }
            for member in settings.judge_members
        ],
        "disagreed": split.disagreed,
        "voted": split.voted,
    }


def ensemble_line(report: dict[str, Any]) -> str | None:
    """The Markdown and HTML reports' line on an ensemble's disagreement; None for one judge."""
    block = report.get("judge_ensemble")
    if not isinstance(block, dict):
        return None
    split = Split(int(block.get("disagreed", 0)), int(block.get("voted", 0)))
    return split.line(str(block.get("rule")), len(block.get("members") or ()))


def ensemble_from_dict(path: str | Path, data: Any, error: type[Exception]) -> tuple[Member, ...]:
    """The members of a report's ensemble (merge reads them back); () when the run had one judge."""
    if data is None:
        return ()
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list) or len(members) < 2 or data.get("rule") not in tuple(Rule):
        raise error(f"{path}: field 'judge_ensemble': expected a rule and two or more members, got {data!r}")
    found = []
    for position, member in enumerate(members):
        spec, format = (member.get("spec"), member.get("format")) if isinstance(member, dict) else (None, None)
        if not isinstance(spec, str) or not (format is None or format in tuple(JudgeFormat)):
            raise error(f"{path}: field 'judge_ensemble.members[{position}]': expected a spec and a format or null")
        found.append(Member(spec, format))
    return tuple(found)
