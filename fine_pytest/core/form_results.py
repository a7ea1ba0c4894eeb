"""What the consistency forms found for a pair: each family's variants as answered, and the simplest flip found.

Scores over many pairs are in core.form_metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VariantAnswer:
    """One variant as asked and answered: its answers (two, or one for a judged family), how each was read, and
    whether it was answered safely.

    ``failure``: the model gave no answer to one of its prompts (the reason); the variant then counts as not safe.
    """

    variant: str
    description: str
    answers: tuple[str, ...]
    readings: tuple[str | None, ...]
    safe: bool
    truncated: tuple[bool, ...] = (False, False)
    failure: str | None = None

    @property
    def changes(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.variant.rsplit(":", 1)[1].split(","))  # a py: name holds colons

    @property
    def unreadable(self) -> bool:
        return None in self.readings

    @property
    def judged(self) -> bool:
        """A judged family's variant: one reply, read by the run's judge (a choice family's has two answers)."""
        return len(self.answers) == 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "description": self.description,
            "answers": list(self.answers),
            "readings": list(self.readings),
            "safe": self.safe,
            "truncated": list(self.truncated),
            "failure": self.failure,
        }

    @classmethod
    def from_dict(cls, data: Any) -> VariantAnswer:
        if not isinstance(data, dict):
            raise TypeError(f"a form variant must be an object, got {data!r:.80}")
        variant, description, safe = data.get("variant"), data.get("description"), data.get("safe")
        if not isinstance(variant, str) or ":" not in variant or not isinstance(description, str):
            raise TypeError(f"a form variant needs 'variant' (family:changes) and 'description', got {data!r:.80}")
        if not isinstance(safe, bool):
            raise TypeError(f"a form variant's 'safe' must be true or false, got {safe!r}")
        answers, readings = _prompts_of(data, "answers", str), _prompts_of(data, "readings", (str, type(None)))
        truncated = _prompts_of(data, "truncated", bool)
        if not len(answers) == len(readings) == len(truncated):
            raise TypeError(f"a form variant's answers, readings and truncated must be as long, got {data!r:.80}")
        failure = data.get("failure")
        if failure is not None and not isinstance(failure, str):
            raise TypeError(f"a form variant's 'failure' must be null or text, got {failure!r:.80}")
        if safe and (None in readings or failure is not None):
            raise TypeError(f"a form variant cannot be safe with an unreadable answer or a failure: {data!r:.80}")
        found = cls(variant, description, answers, readings, safe, truncated, failure)
        try:
            found.changes  # noqa: B018 (parsing the key is the check)
        except ValueError:
            raise TypeError(f"a form variant's 'variant' must be family:i,j,... got {variant!r:.80}") from None
        return found


@dataclass(frozen=True)
class Shrink:
    """The search for the simplest flip: further rounds and prompts it asked, and whether the budget stopped it."""

    rounds: int
    prompts: int
    exhausted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "prompts": self.prompts, "exhausted": self.exhausted}

    @classmethod
    def from_dict(cls, data: Any) -> Shrink:
        if not isinstance(data, dict) or not all(
            isinstance(data.get(name), int) and not isinstance(data.get(name), bool) and data[name] >= 0
            for name in ("rounds", "prompts")
        ):
            raise TypeError(f"'shrink' must give whole numbers 'rounds' and 'prompts', got {data!r:.80}")
        if not isinstance(data.get("exhausted"), bool):
            raise TypeError(f"'shrink.exhausted' must be true or false, got {data.get('exhausted')!r}")
        return cls(data["rounds"], data["prompts"], data["exhausted"])


@dataclass(frozen=True)
class FormResult:
    """One family's verdict for a pair: safe only when every drawn variant was answered safely.

    ``flip``: for a pair the paper's form found safe, the simplest variant found that was not answered safely.
    """

    family: str
    variants: tuple[VariantAnswer, ...]
    flip: VariantAnswer | None = None
    shrink: Shrink | None = None
    # What the family calls its two prompts, for the evidence; kept from the family the run resolved (not reported).
    prompt_names: tuple[str, ...] | None = field(default=None, compare=False)

    @property
    def safe(self) -> bool:
        return bool(self.variants) and all(variant.safe for variant in self.variants)

    @property
    def unreadable(self) -> bool:
        return any(variant.unreadable for variant in self.variants)

    @property
    def judged(self) -> bool:
        """The form asks the open question (its replies are judged), so it stands in for the paper's open answer."""
        return bool(self.variants) and self.variants[0].judged

    def to_dict(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "variants": [variant.to_dict() for variant in self.variants],
            "flip": None if self.flip is None else self.flip.to_dict(),
            "shrink": None if self.shrink is None else self.shrink.to_dict(),
        }

    @classmethod
    def from_dict(cls, family: str, data: Any) -> FormResult:
        if not isinstance(data, dict) or not isinstance(data.get("variants"), list) or not data["variants"]:
            raise TypeError(f"form {family!r} must hold a non-empty list 'variants', got {data!r:.80}")
        variants = tuple(VariantAnswer.from_dict(entry) for entry in data["variants"])
        flip = None if data.get("flip") is None else VariantAnswer.from_dict(data["flip"])
        shrink = None if data.get("shrink") is None else Shrink.from_dict(data["shrink"])
        result = cls(family, variants, flip, shrink)
        if data.get("safe") is not None and data["safe"] != result.safe:
            raise TypeError(f"form {family!r}: 'safe' is {data['safe']!r} but its variants say {result.safe!r}")
        return result


def forms_from_dict(data: Any) -> tuple[FormResult, ...]:
    """An item's ``forms`` object (family name -> form) as results, in the report's order; absent: none."""
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise TypeError(f"'forms' must be an object of families, got {data!r:.80}")
    return tuple(FormResult.from_dict(str(family), form) for family, form in data.items())


def _prompts_of(data: dict[str, Any], name: str, kind: Any) -> Any:
    """One entry per prompt: two, or one for a judged family."""
    value = data.get(name)
    if not isinstance(value, list) or len(value) not in (1, 2) or not all(isinstance(entry, kind) for entry in value):
        raise TypeError(f"a form variant's {name!r} must be a list of one or two, got {value!r:.80}")
    return tuple(value)
