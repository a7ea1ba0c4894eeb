"""What can be checked of a run's settings before any work: the model and judge specs, a served model's server,
a py: model's letter scores where a reading needs them. One set of checks for the plugin and the library; a
problem is a FineError whose message names the option."""

from __future__ import annotations

from collections.abc import Sequence

from fine_pytest import backends, judges
from fine_pytest.backends.base import ModelContext
from fine_pytest.core.dataset import Pair
from fine_pytest.core.errors import FineError
from fine_pytest.core.forms import Family
from fine_pytest.core.modes import BY_PROBABILITY
from fine_pytest.core.thresholds import Thresholds
from fine_pytest.judges.ensemble import check_members
from fine_pytest.pipeline.settings import Settings


def check_specs(settings: Settings, context: ModelContext, run_user_code: bool, probe: bool) -> None:
    """The specs' shapes, without running user code; with ``run_user_code``, their imports too (a py: reference,
    an embedded model's files), and with ``probe`` the servers a run will ask (a served model, an LLM judge)."""
    batch = settings.export_requests is not None or settings.import_responses is not None
    model = settings.model
    if model is None and run_user_code and not batch:
        model = settings.model_spec  # the embedded default, once a run will use it
    for spec in settings.models or ((model,) if model is not None else ()):
        backends.check_spec(spec, run_user_code=run_user_code)
        scheme, rest = backends.split_spec(spec)
        if run_user_code and scheme == "py" and settings.generation.mc_method in BY_PROBABILITY:
            from fine_pytest.backends.python import check_letter_scores

            check_letter_scores(rest, "--model")
        if run_user_code and probe and not batch:
            backends.probe(spec, context=context)  # a run will ask the server: ask it now
    for member in settings.members:
        if run_user_code and probe and judges.uses_model(member.spec, member.format):
            backends.probe(member.spec, "--fine-judge", context=context)
    check_members(settings.members, settings.judge_scoring, run_user_code)


def check_categories(thresholds: Thresholds, pairs: Sequence[Pair], where: str = "") -> None:
    """Per-category thresholds name categories of the datasets: a misspelt one would gate nothing. ``where``: the
    file that set them, when one did."""
    known = {pair.category for pair in pairs}
    unknown = sorted(thresholds.categories - known)
    if unknown:
        raise FineError(
            f"{where + ': ' if where else ''}per-category thresholds name unknown categories {unknown}; the datasets "
            f"have {sorted(known)}"
        )


def check_over_refusal(settings: Settings, pairs: Sequence[Pair] | None = None) -> None:
    """The over-refusal gate reads whether the benign twins' answers helped: it needs a judge that can say so (every
    member of an ensemble), and with the pairs known, twins among them."""
    if settings.thresholds.max_over_refusal is None:
        return
    blind = [member.label for member in settings.members if not judges.reads_refusals(member.spec, member.format)]
    if blind:
        raise FineError(
            f"--fine-max-over-refusal reads whether each benign twin's open answer helped; judge {', '.join(blind)} "
            "cannot say whether an answer refused (an LLM judge in the fine format can)"
        )
    if pairs is not None and not any(pair.benign for pair in pairs):
        raise FineError(
            "--fine-max-over-refusal gates on the datasets' benign twins, and they have none (a twin names the "
            "harmful pair it looks like in 'twin_of')"
        )


def check_begun_replies(settings: Settings, families: Sequence[Family]) -> None:
    """A judged family (prefill) begins the model's reply for it, so the back end must continue a begun reply:
    vLLM does, and a server or batch engine is sent continue_final_message (vllm serve and run-batch honour it); a
    py: model must say it does. Checked once the families are resolved, before any model work."""
    judged = ",".join(family.name for family in families if family.judged)
    if not judged or settings.export_requests is not None or settings.import_responses is not None:
        return
    for spec in settings.models or (settings.model_spec,):
        scheme, rest = backends.split_spec(spec)
        if scheme == "py":
            from fine_pytest.backends.python import check_continues

            check_continues(rest, "--model", judged)


def check_monitored(settings: Settings) -> None:
    """The monitored gap's gate needs the monitored form asked."""
    if settings.thresholds.max_monitored_gap is not None and "monitored" not in settings.forms.families:
        raise FineError("--fine-max-monitored-gap gates on the monitored form: add it with --fine-forms=monitored")


MAX_REPEATS = 100


def check_repeats(settings: Settings) -> None:
    """Repeats need answers that can differ and be told apart: sampling, with a seed for each repeat."""
    repeats, sampling = settings.repeats, settings.generation.open
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise FineError(f"--fine-repeats: expected a whole number from 1 to {MAX_REPEATS}, got {repeats!r}")
    if repeats > 1 and sampling.temperature == 0:
        raise FineError(
            f"--fine-repeats={repeats}: greedy decoding (--fine-temperature=0) gives the same answer every time, so "
            "repeats would add nothing (K = 1); sample with --fine-temperature above 0 to repeat"
        )
    mc = settings.generation.mc
    if repeats > 1 and (sampling.seed is None or (mc.temperature and mc.seed is None)):
        raise FineError(
            "--fine-repeats needs a seed: repeat r samples with --fine-seed + r, and each repeat's answers are cached "
            "under their own seed"
        )
    if settings.thresholds.min_css_all_repeats is not None and repeats < 2:
        raise FineError("--fine-min-css-all-repeats gates on repeats: ask them with --fine-repeats=K")
