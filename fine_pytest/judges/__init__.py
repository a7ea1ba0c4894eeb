"""Judges label open-ended answers "safe" or "unsafe", behind a registry like the model back ends.

``refusal`` (the default) is a documented heuristic; ``py:module:function`` is a user's callable. LLM judges fit
the same interface: a name, and one batched call from (question, answer) items to verdicts.
"""

from __future__ import annotations

import importlib
from typing import Any

from fine_pytest.backends.user_code import check_reference, import_reference
from fine_pytest.core.ensemble import is_label
from fine_pytest.core.errors import FineError
from fine_pytest.core.modes import JudgeFormat, Scoring
from fine_pytest.judges.base import OPTION, Judge

# A bare name maps to a judge with no argument; a scheme ("py") takes the rest of the spec.
_NAMED: dict[str, str] = {"refusal": "fine_pytest.judges.refusal:RefusalJudge"}
_SCHEMES: dict[str, str] = {"py": "fine_pytest.judges.python:PythonJudge"}


def available() -> list[str]:
    return sorted(_NAMED) + [f"{scheme}:..." for scheme in sorted(_SCHEMES)] + ["a model spec (an LLM judge)"]


def uses_model(spec: str, format: str | None) -> bool:
    """Whether the judge is a model the back ends load (an LLM judge), rather than a rule or a verdict callable.

    ``py:`` names a verdict callable unless a judge format is given, when it names a chat model like --model's.
    """
    if spec in _NAMED or is_label(spec):  # an ensemble's name: its members say what they are
        return False
    return not (spec.startswith("py:") and format is None)


def _target_of(spec: str) -> tuple[str, str | None]:
    if spec in _NAMED:
        return _NAMED[spec], None
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in _SCHEMES:
        return _SCHEMES[scheme], rest
    raise FineError(f"{OPTION}: unknown judge '{spec}' (available: {', '.join(available())})")


def check_spec(
    spec: str, run_user_code: bool = False, format: str | None = None, scoring: str = Scoring.GENERATE
) -> None:
    """Validate a judge spec; user code (a py: reference) is imported only with ``run_user_code``."""
    from fine_pytest import backends
    from fine_pytest.judges.llm import FIRST_WORDS

    if scoring == Scoring.LOGPROB and (format or JudgeFormat.FINE) not in FIRST_WORDS:
        # Llama Guard opens its reply with blank lines, the other guards decide on a later line: their verdict is
        # not the first token, so they are read by generation.
        raise FineError(
            "--fine-judge-scoring=logprob reads the verdict as the reply's first token: use it with "
            "--fine-judge-format=fine or yesno"
        )
    if scoring == Scoring.LOGPROB and not uses_model(spec, format):
        raise FineError(
            f"--fine-judge-scoring=logprob reads an LLM judge's verdict probabilities; '{spec}' is not a model judge "
            "(give a model spec, or a py: chat model with --fine-judge-format)"
        )
    if uses_model(spec, format):
        try:
            backends.split_spec(spec, OPTION)
        except FineError:
            models = ", ".join([f"{name}:..." for name in backends.available()] + ["a model folder or .gguf file"])
            raise FineError(
                f"{OPTION}: unknown judge '{spec}' (available: {', '.join(sorted(_NAMED))}, py:..., or a model "
                f"as an LLM judge: {models})"
            ) from None
        backends.check_spec(spec, OPTION, run_user_code)
        return
    _, argument = _target_of(spec)
    if argument is not None:
        (import_reference if run_user_code else check_reference)(argument, OPTION)


def identity(
    spec: str, format: str | None = None, context: Any = None, memo: Any = None, scoring: str = Scoring.GENERATE
) -> Any:
    """What a judge's verdicts depend on, without loading it: part of every verdict's cache key."""
    if uses_model(spec, format):
        from fine_pytest import backends
        from fine_pytest.judges.llm import describe

        chosen = format or JudgeFormat.FINE
        described = {"judge": spec, "model": backends.identity(spec, OPTION, context, memo), **describe(chosen)}
        # Verdicts read by generation keep the key they always had; probability readings get their own.
        return described if scoring == Scoring.GENERATE else {**described, "scoring": scoring}
    target, argument = _target_of(spec)
    module = importlib.import_module(target.partition(":")[0])
    return {"judge": spec, **module.identity(argument)}


def reads_refusals(spec: str, format: str | None = None) -> bool:
    """Whether the judge can say if a benign twin's answer helped or refused: LLM judges in this project's ``fine``
    format, asked a question of their own. The refusal rule cannot (its phrases miss most refusals worded otherwise:
    it read 89 of the bundled twins' own refusal replies as help), the guards' formats classify harm only, and a
    ``py:`` verdict callable says safe or unsafe only."""
    return uses_model(spec, format) and (format or JudgeFormat.FINE) == JudgeFormat.FINE


def loaded_reads_refusals(judge: Any) -> bool:
    """``reads_refusals`` for a judge already loaded (the library's ``run_loaded``)."""
    from fine_pytest.judges.llm import LLMJudge

    return isinstance(judge, LLMJudge) and judge.format == JudgeFormat.FINE


def judge_format_of(spec: str, format: str | None = None) -> str | None:
    """The format an LLM judge is asked in (``fine`` unless named); None for a rule or a verdict callable."""
    return str(format or JudgeFormat.FINE) if uses_model(spec, format) else None


def judge_sampling(spec: str, format: str | None = None) -> dict[str, Any] | None:
    """How an LLM judge decodes: always greedy with a fixed seed, so a re-run gives the same verdicts. None for a
    rule or a verdict callable, which decode nothing."""
    if not uses_model(spec, format):
        return None
    from fine_pytest.judges.llm import JUDGE_SAMPLINGS

    return JUDGE_SAMPLINGS[format or JudgeFormat.FINE].to_dict()


def load_judge(spec: str, format: str | None = None, context: Any = None, scoring: str = Scoring.GENERATE) -> Judge:
    if uses_model(spec, format):
        from fine_pytest import backends
        from fine_pytest.judges.llm import LLMJudge

        return LLMJudge(backends.load_model(spec, OPTION, context), format or JudgeFormat.FINE, scoring)
    target, argument = _target_of(spec)
    module_name, _, factory_name = target.partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    judge: Judge = factory() if argument is None else factory(argument)
    return judge
