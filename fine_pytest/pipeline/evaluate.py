"""The one-way pipeline: pairs -> prompts -> batched generation -> judge -> per-pair results, through the cache.

Every prompt and every verdict has a cache key. ``fill`` generates only the prompts the cache lacks, in chunks;
an answer is written the moment the back end gives it (a back end that streams, as vllm's does, gives each as it
finishes, so a killed run loses only the prompts in flight; the others give a chunk at a time), then judges only
the answers it has no verdict for. ``assemble`` reads everything back. The model and the judge are loaded lazily,
so a run the cache fully answers never starts an engine.

Longer than 300 lines: it is the pipeline, start to finish (prompts and keys, generation in chunks, the letters'
probabilities, judging, reading back); each step is a short function, and they read best in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from fine_pytest.backends.base import (
    TOP_LOGPROBS,
    Answer,
    Conversation,
    InterruptedAnswers,
    LetterScores,
    Model,
    PartialAnswers,
    PromptFailure,
    ScoresLetters,
    StreamsAnswers,
    StreamsScores,
    Truncated,
    collected,
)
from fine_pytest.backends.chat_format import opened as continues
from fine_pytest.core.choice import ChoiceReading, choice_from_scores, read_choice
from fine_pytest.core.dataset import Pair
from fine_pytest.core.defaults import DEFAULT_CHUNK, DEFAULT_MC_METHOD
from fine_pytest.core.ensemble import combine
from fine_pytest.core.errors import FineError
from fine_pytest.core.modes import Question, Scoring
from fine_pytest.core.prompts import (
    COMMIT,
    LETTERS,
    mc_prompt,
    open_prompt,
    with_answer_opening,
    with_commitment,
)
from fine_pytest.core.reply_line import after_thinking, normalised
from fine_pytest.core.results import NOT_JUDGED, UNPARSEABLE, VERDICTS, PairResult
from fine_pytest.core.safe_text import visible
from fine_pytest.core.sampling import MAX_ANSWER_CHARS, GenerationSettings, Sampling
from fine_pytest.judges.base import REFUSAL, SAFETY, Judge, JudgeItem, ScoredJudge
from fine_pytest.judges.ensemble import EnsembleJudge
from fine_pytest.pipeline.cache import AnswerRow, Cache, StoredAnswer, StoredVerdict, VerdictRow, digest
from fine_pytest.pipeline.progress import SILENT, Progress

LOGPROB = Scoring.LOGPROB
PROMPT_KINDS = ("open prompt", "MC prompt (positive as A)", "MC prompt (positive as B)")
# Prompts per model call. Each chunk is written to the cache when it returns; a larger chunk keeps the engine's
# batch fuller, a smaller one loses less to a kill. The benchmark in docs/PERFORMANCE.md measures the trade.
T = TypeVar("T")


@dataclass(frozen=True)
class Keys:
    """What cache keys are made of besides the prompt: the model's and the judge's identity, and the run, which
    only keys answers that may not be reused (sampled without a seed)."""

    model: Any
    judge: Any
    run: str
    # Whether the model honours a seed: sampled answers of one that ignores it are never reused.
    seeded: bool = True
    # An ensemble's members' identities, in order: each member's verdicts are kept under its own key.
    members: tuple[Any, ...] = ()
    # Whether the judge (every member of an ensemble) can say if a benign twin's answer helped: when it cannot,
    # those answers are not judged and the twins are read from the multiple choice alone (judges.reads_refusals).
    refusals: bool = False

    @property
    def judges(self) -> tuple[Any, ...]:
        """The identities under which verdicts are kept: each member's, or the one judge's."""
        return self.members or (self.judge,)

    def reusable(self, sampling: Sampling) -> bool:
        """Greedy answers are reproducible, and sampled ones when a seed is given and honoured."""
        return sampling.temperature == 0 or (sampling.seed is not None and self.seeded)


@dataclass(frozen=True)
class Request:
    """One conversation to send the model, under its cache key (core.prompts.Prompt is its text, keyed by pair)."""

    key: str
    conversation: Conversation
    sampling: Sampling
    # "generate": the model answers in text; "logprob": the answer letters' probabilities are read instead.
    method: str = DEFAULT_MC_METHOD
    # The labels whose probabilities a "logprob" request reads (a consistency form may label its options otherwise).
    labels: tuple[str, ...] = LETTERS
    # A judged form's prompt: the question its reply is judged against, and the reply's opening (given, not
    # generated), which the judge reads before the answer. None: the answer is not judged as it stands.
    judged: str | None = None
    opening: str = ""


@dataclass
class Stats:
    """Where this run's answers and verdicts came from."""

    prompts: int = 0
    generated: int = 0
    cached: int = 0
    verdicts: int = 0
    judged: int = 0
    verdicts_cached: int = 0
    # Told of the work as it is found and done (the run's progress line); not a count.
    progress: Progress = field(default=SILENT, compare=False, repr=False)

    def to_dict(self) -> dict[str, int]:
        return {name: value for name, value in self.__dict__.items() if name != "progress"}


@dataclass(frozen=True)
class Evaluated:
    """Per-pair results, and the pairs that could not be evaluated with the reason (they have no verdict)."""

    results: list[PairResult]
    failures: dict[str, str]
    stats: Stats = field(default_factory=Stats, compare=False)
    # Each verdict read, by key: whether this run judged it (repeats share the verdict of an equal answer).
    verdict_keys: dict[str, bool] = field(default_factory=dict, compare=False)
    # Each prompt by key: answered in this run (True), found from an earlier one (False), or not answered (None).
    prompt_keys: dict[str, bool | None] = field(default_factory=dict, compare=False)


class Lazy(Generic[T]):
    """Loads a model or judge on first use only; ``loads`` says whether it was."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self.value: T | None = None

    def get(self) -> T:
        if self.value is None:
            self.value = self._load()
        return self.value

    def release(self) -> None:
        """Close what was loaded (an engine gives its device back); a later ``get`` loads it again."""
        value, self.value = self.value, None
        close = getattr(value, "close", None)
        if close is not None:
            close()

    @classmethod
    def of(cls, value: T) -> Lazy[T]:
        lazy = cls(lambda: value)
        lazy.value = value
        return lazy


def prompts_of(pair: Pair, settings: GenerationSettings, keys: Keys) -> tuple[Request, Request, Request]:
    """The open prompt, then the two MC orders next to each other: engines with prefix caching share the question.
    A benign twin is always asked the paper's neutral question: under the safety cue ("the more responsible and safe
    one") the refusal could fairly be picked, and it would count as over-refusal."""
    question, method = Question.BETTER if pair.benign else settings.mc_question, settings.mc_method
    choices = [mc_prompt(pair, order, question, free=method == COMMIT).messages() for order in (0, 1)]
    if method == LOGPROB:
        choices = [with_answer_opening(messages) for messages in choices]
    # The commitment reading's first turn is a generated free answer; its commitment is asked once that exists.
    asked = DEFAULT_MC_METHOD if method == COMMIT else method
    open_conversation = open_prompt(pair).messages()
    first, second = (Request(prompt_key(c, settings.mc, keys, asked), c, settings.mc, asked) for c in choices)
    return Request(prompt_key(open_conversation, settings.open, keys), open_conversation, settings.open), first, second


def commitments(free: Sequence[Request], cache: Cache, keys: Keys) -> dict[str, Request]:
    """--fine-mc-scoring=commit: for each free MC answer the cache holds, the request that reads the model's
    commitment (its turn continued by the cue, one scored step), by the free answer's key."""
    stored = cache.answers([request.key for request in free])
    found = {}
    for request in free:
        answer = stored.get(request.key)
        if answer is not None and answer.answer is not None:
            conversation = with_commitment(request.conversation, answer.answer)
            key = prompt_key(conversation, request.sampling, keys, LOGPROB)
            found[request.key] = Request(key, conversation, request.sampling, LOGPROB)
    return found


def prompt_key(
    conversation: Conversation,
    sampling: Sampling,
    keys: Keys,
    method: str = DEFAULT_MC_METHOD,
    labels: Sequence[str] = LETTERS,
) -> str:
    if method == LOGPROB:
        # A probability reading is one greedy step whatever the sampling settings: they are not part of its key.
        scoring = {"method": LOGPROB, "letters": list(labels), "top": TOP_LOGPROBS}
        return digest({"model": keys.model, "messages": conversation, "scoring": scoring})
    payload: dict[str, Any] = {"model": keys.model, "messages": conversation, "sampling": sampling.to_dict()}
    if not keys.reusable(sampling):
        payload["run"] = keys.run
    return digest(payload)


def judged_key(item: JudgeItem, judge: Any) -> str:
    """A verdict's key: the judge's identity and the item; an ensemble member's is the same as when it judges alone.
    A refusal reading is another question about the same answer: its task is part of its key."""
    payload = {"judge": judge, "question": item.question, "answer": item.answer}
    return digest(payload if item.task == SAFETY else {**payload, "task": item.task})


def judge_item(pair: Pair, answer: StoredAnswer, keys: Keys) -> JudgeItem | str:
    """What the judge is asked about a pair's open answer: is it safe, or for a benign twin, did it help. A twin's
    answer no judge is asked about has its verdict instead: "not judged" under a judge that cannot tell (the twin is
    read from the multiple choice alone), unparseable when the answer cannot count as help whatever a judge says
    (empty, or nothing but a think block the budget left open). An answer the budget cut after it began is judged on
    what it says, as a safety verdict is: a refusal is short, and a long answer cut while helping has helped."""
    text = str(answer.answer)
    if not pair.benign:
        return JudgeItem(pair.question.strip(), text)
    if not keys.refusals:
        return NOT_JUDGED
    if not (after_thinking(normalised(text)).text or "").strip():
        return UNPARSEABLE
    return JudgeItem(pair.question.strip(), text, REFUSAL)


def fill(
    pairs: Sequence[Pair],
    model: Lazy[Model],
    judge: Lazy[Judge],
    settings: GenerationSettings,
    cache: Cache,
    keys: Keys,
    chunk_size: int = DEFAULT_CHUNK,
    exclusive: bool = False,
    produced: Stats | None = None,
    extra: Sequence[Request] = (),
    collect: list[Request] | None = None,
    repeats: Sequence[GenerationSettings] = (),
) -> None:
    """Generate and judge what the cache lacks for these pairs; each answer is in the cache as soon as it is back.
    ``repeats``: the same pairs asked again with other seeds (--fine-repeats), in the same batch, and judged too.

    ``exclusive``: the judge is a model too, so the model under test is released before the judge loads.
    ``produced`` counts the prompts answered and answers judged here, as they finish: the cache keeps the first
    of two equal answers, so who stored a row does not say who did the work. ``extra``: more prompts to answer in
    the same batch (the consistency forms'); only a judged form's are judged (``Request.judged``). ``collect``:
    nothing is generated or judged; the prompts the cache lacks are added to it (a batch file is exported instead).
    """
    produced = produced if produced is not None else Stats()
    asked = [pair for _ in (settings, *repeats) for pair in pairs]
    planned = [prompts_of(pair, generation, keys) for generation in (settings, *repeats) for pair in pairs]
    unique = list({prompt.key: prompt for prompts in [*planned, extra] for prompt in prompts}.values())
    generate_missing(unique, model, cache, keys, chunk_size, produced, collect)
    if settings.mc_method == COMMIT:
        # Only free answers that exist can be continued: an export asks for the rest in a second round.
        follow = commitments([prompt for prompts in planned for prompt in prompts[1:]], cache, keys)
        generate_missing(list(follow.values()), model, cache, keys, chunk_size, produced, collect)
    if collect is not None:
        return
    stored = cache.answers([prompt.key for prompts in planned for prompt in prompts])
    items: list[JudgeItem] = []
    for pair, prompts in zip(asked, planned, strict=True):
        texts = [_text(stored.get(prompt.key)) for prompt in prompts]
        # A pair with a prompt the model could not answer has no verdict; its open answer is not judged.
        if None in texts:
            continue
        item = judge_item(pair, stored[prompts[0].key], keys)
        if isinstance(item, JudgeItem):
            items.append(item)
    items += form_items(extra, cache)
    if not keys.members:
        _judge_missing(items, keys.judge, judge, model, cache, keys.run, chunk_size, exclusive, produced)
        return
    for index, member in enumerate(keys.members):
        # Each member loads when its turn comes and is closed after it, so two LLM judges never share memory.
        loaded: Lazy[Judge] = Lazy(partial(_member, judge, index))
        try:
            _judge_missing(items, member, loaded, model, cache, keys.run, chunk_size, exclusive, produced)
        finally:
            loaded.release()


def form_items(requests: Sequence[Request], cache: Cache) -> list[JudgeItem]:
    """What the judge is asked about the judged forms' replies that exist: the reply whole, its opening included."""
    judged = [request for request in requests if request.judged is not None]
    stored = cache.answers([request.key for request in judged])
    found = []
    for request in judged:
        text = _text(stored.get(request.key))
        if text is not None and request.judged is not None:
            found.append(JudgeItem(request.judged, request.opening + text))
    return found


def _member(judge: Lazy[Judge], index: int) -> Judge:
    """An ensemble's member, loaded: the ensemble itself only holds the loaders."""
    ensemble = judge.get()
    if not isinstance(ensemble, EnsembleJudge):
        raise FineError(f"the run's keys name an ensemble of judges but its judge is {ensemble.name}")
    return ensemble.member(index)()


def _judge_missing(
    items: Sequence[JudgeItem],
    identity: Any,
    judge: Lazy[Judge],
    model: Lazy[Model],
    cache: Cache,
    run: str,
    chunk_size: int,
    exclusive: bool,
    produced: Stats,
) -> None:
    """Judge the items the cache holds no verdict for under this judge's identity, chunk by chunk."""
    to_judge = {judged_key(item, identity): item for item in items}
    judged = cache.verdicts(list(to_judge))
    waiting = [(key, item) for key, item in to_judge.items() if key not in judged]
    produced.progress.add(len(waiting))
    if waiting and exclusive:
        model.release()
    for start in range(0, len(waiting), chunk_size):
        batch = waiting[start : start + chunk_size]
        loaded_judge = judge.get()
        batch_items = [item for _, item in batch]
        if isinstance(loaded_judge, ScoredJudge):
            judged_items = loaded_judge.judge_with_probabilities(batch_items)
        else:
            judged_items = [(verdict, None) for verdict in loaded_judge.judge(batch_items)]
        if len(judged_items) != len(batch) or any(verdict not in VERDICTS for verdict, _ in judged_items):
            raise FineError(f"judge {loaded_judge.name} returned verdicts outside {VERDICTS}")
        cache.put_verdicts(
            (
                VerdictRow(key, verdict, probability)
                for (key, _), (verdict, probability) in zip(batch, judged_items, strict=True)
            ),
            run,
        )
        produced.judged += len(batch)
        produced.progress.advance(len(batch))


def generate_missing(
    unique: Sequence[Request],
    model: Lazy[Model],
    cache: Cache,
    keys: Keys,
    chunk_size: int,
    produced: Stats,
    collect: list[Request] | None = None,
) -> None:
    """Answer the requests the cache has not settled (see ``Cache.settled``), in chunks, each answer stored as it
    returns (a kill keeps what was back); with ``collect``, add them to it instead."""
    known = cache.settled([prompt.key for prompt in unique], keys.run)
    missing = [prompt for prompt in unique if prompt.key not in known]
    if collect is not None:
        collect += missing
        return
    produced.progress.add(len(missing))
    for start in range(0, len(missing), chunk_size):
        chunk = missing[start : start + chunk_size]
        loaded = model.get()
        store = _ChunkStore(chunk, cache, keys, produced)
        try:
            answers = _answer(loaded, chunk, store)
        except (PartialAnswers, InterruptedAnswers) as partial:
            # Keep what came back before the break or the interrupt: the next run asks only for the rest.
            store(sorted(partial.answers.items()))
            if isinstance(partial, InterruptedAnswers):
                raise KeyboardInterrupt(str(partial)) from None  # the interrupt pytest knows, answers kept
            raise
        store(list(enumerate(answers)))


class _ChunkStore:
    """One chunk's answers into the cache, each once, the moment the back end gives it: a back end that streams
    loses only what is in flight."""

    def __init__(self, chunk: Sequence[Request], cache: Cache, keys: Keys, produced: Stats) -> None:
        self.chunk, self.cache, self.keys, self.produced = chunk, cache, keys, produced
        self.stored: set[int] = set()

    def __call__(self, answered: Sequence[tuple[int, Answer | LetterScores]]) -> None:
        fresh = [(self.chunk[i], a) for i, a in answered if 0 <= i < len(self.chunk) and i not in self.stored]
        self.cache.put_answers(answer_rows(fresh, self.keys), self.keys.run)
        self.stored.update(i for i, _ in answered)
        self.produced.generated += len(fresh)
        self.produced.progress.advance(len(fresh))


def _text(answer: StoredAnswer | None) -> str | None:
    """A stored answer's text; None when there is none (never generated, or the model failed on the prompt)."""
    return None if answer is None else answer.answer


Store = Callable[[Sequence[tuple[int, Any]]], None]


def _nowhere(answered: Sequence[tuple[int, Any]]) -> None:
    """The store of a caller that keeps the answers it is returned, and nothing sooner."""


def _answer(model: Model, chunk: Sequence[Request], store: Store = _nowhere) -> list[Answer | LetterScores]:
    """Answers to a chunk, in its order: generated text, and the letters' probabilities for scored prompts.
    ``store`` gets each answer, by position in the chunk, as soon as the back end gives it."""
    answers: list[Answer | LetterScores] = [""] * len(chunk)
    generated = [i for i, prompt in enumerate(chunk) if prompt.method != LOGPROB]
    scored = [i for i, prompt in enumerate(chunk) if prompt.method == LOGPROB]
    finished: list[int] = []  # positions answered by an earlier call of this chunk
    for indices, call in ((generated, _generate), (scored, _score)):
        if not indices:
            continue
        try:
            returned = call(model, [chunk[i] for i in indices], _moved(store, indices))
        except (PartialAnswers, InterruptedAnswers) as partial:
            # Positions in the call are positions in the chunk here; an earlier call's answers are kept too.
            moved = {i: answers[i] for i in finished} | {indices[i]: a for i, a in partial.answers.items()}
            raise type(partial)(str(partial), moved) from None
        if len(returned) != len(indices):
            raise FineError(f"model {model.name} returned {len(returned)} answers for {len(indices)} prompts")
        for index, answer in zip(indices, returned, strict=True):
            answers[index] = answer
        finished += indices
    return answers


def _moved(store: Store, indices: Sequence[int]) -> Store:
    """``store`` for a call over some of the prompts: its positions mapped back to the caller's."""
    return lambda answered: store([(indices[i], answer) for i, answer in answered if 0 <= i < len(indices)])


def _generate(model: Model, prompts: Sequence[Request], store: Store) -> list[Answer]:
    conversations, samplings = [p.conversation for p in prompts], [p.sampling for p in prompts]
    if not isinstance(model, StreamsAnswers):
        return model.generate(conversations, samplings)
    return collected(model.generate_stream(conversations, samplings), len(prompts), store)


def _score(model: Model, prompts: Sequence[Request], store: Store) -> list[LetterScores | PromptFailure]:
    if not isinstance(model, ScoresLetters):
        raise FineError(
            f"--fine-mc-scoring=logprob: the back end of {model.name} cannot give log-probabilities; use "
            "--fine-mc-scoring=generate"
        )
    stream = model.score_stream if isinstance(model, StreamsScores) else None
    # One call per set of labels and kind of opening: an opened answer is continued, an unopened one is begun (a
    # form whose format puts the label first has no opening to continue).
    scores: list[LetterScores | PromptFailure | None] = [None] * len(prompts)
    groups: dict[tuple[tuple[str, ...], bool], list[int]] = {}
    for index, prompt in enumerate(prompts):
        opened = continues(prompt.conversation)
        groups.setdefault((prompt.labels, opened), []).append(index)
    for (labels, opened), indices in groups.items():
        conversations = [prompts[i].conversation for i in indices]
        flags = {} if opened else {"continue_final": False}
        try:
            if stream is None:
                returned = model.score_letters(conversations, labels, **flags)
            else:
                returned = collected(stream(conversations, labels, **flags), len(indices), _moved(store, indices))
        except (PartialAnswers, InterruptedAnswers) as partial:
            # Positions in this call are positions among these prompts; earlier groups' answers are kept too.
            moved: dict[int, Answer | LetterScores] = {i: a for i, a in enumerate(scores) if a is not None}
            moved |= {indices[i]: a for i, a in partial.answers.items() if 0 <= i < len(indices)}
            raise type(partial)(str(partial), moved) from None
        if len(returned) != len(indices):
            raise FineError(f"model {model.name} returned {len(returned)} scores for {len(indices)} prompts")
        for index, answer in zip(indices, returned, strict=True):
            scores[index] = answer
    return [answer for answer in scores if answer is not None]


def answer_rows(answered: Sequence[tuple[Request, Answer | LetterScores]], keys: Keys) -> list[AnswerRow]:
    rows = []
    for prompt, answer in answered:
        ephemeral = not keys.reusable(prompt.sampling) and prompt.method != LOGPROB
        if isinstance(answer, LetterScores):
            # Stored as JSON text in the answer column: a probability reading is an answer of its own kind.
            rows.append(AnswerRow(prompt.key, json.dumps(dict(answer.probabilities), sort_keys=True), None, ephemeral))
        elif isinstance(answer, PromptFailure):
            rows.append(AnswerRow(prompt.key, None, answer.reason, ephemeral))
        elif (size := len(answer if isinstance(answer, str) else answer.text)) > MAX_ANSWER_CHARS:
            reason = f"an answer of {size:,} characters, over the {MAX_ANSWER_CHARS:,} stored for one prompt"
            rows.append(AnswerRow(prompt.key, None, reason, ephemeral))
        elif isinstance(answer, Truncated):
            rows.append(AnswerRow(prompt.key, answer.text, None, ephemeral, truncated=True))
        else:
            rows.append(AnswerRow(prompt.key, answer, None, ephemeral))
    return rows


def assemble(pairs: Sequence[Pair], settings: GenerationSettings, cache: Cache, keys: Keys) -> Evaluated:
    """Read every pair's answers and verdict from the cache; a pair missing any has no verdict, with the reason."""
    planned = [prompts_of(pair, settings, keys) for pair in pairs]
    follow: dict[str, Request] = {}
    if settings.mc_method == COMMIT:
        follow = commitments([prompt for prompts in planned for prompt in prompts[1:]], cache, keys)
    prompt_keys = list(dict.fromkeys([prompt.key for prompts in planned for prompt in prompts]))
    prompt_keys += list(dict.fromkeys(request.key for request in follow.values()))
    stored = cache.answers(prompt_keys)
    stats = Stats(prompts=len(prompt_keys))
    answered = {key: stored[key].run == keys.run for key in prompt_keys if key in stored}
    stats.generated = sum(answered.values())
    stats.cached = len(answered) - stats.generated
    results: list[PairResult] = []
    failures: dict[str, str] = {}
    judged_keys: dict[str, tuple[str, ...]] = {}
    given: dict[str, str] = {}  # a twin's open verdict that no judge was asked for
    for pair, prompts in zip(pairs, planned, strict=True):
        answers = [stored.get(prompt.key) for prompt in prompts]
        problems = []
        for kind, answer in zip(PROMPT_KINDS, answers, strict=True):
            if answer is None:
                problems.append(f"{kind}: no answer was generated")
            elif answer.answer is None:
                problems.append(f"{kind}: {answer.failure}")
        if settings.mc_method == COMMIT and not problems:
            problems += _commitment_problems(prompts[1:], follow, stored)
        open_text = _text(answers[0])
        if problems or open_text is None:  # the open answer has no text only with a problem
            failures[pair.key] = no_verdict(pair.key, "; ".join(problems))
            continue
        item = judge_item(pair, stored[prompts[0].key], keys)
        if isinstance(item, str):
            given[pair.key], judged_keys[pair.key] = item, ()
        else:
            judged_keys[pair.key] = tuple(judged_key(item, judge) for judge in keys.judges)
    every_key = list(dict.fromkeys(key for member_keys in judged_keys.values() for key in member_keys))
    verdicts = cache.verdicts(every_key)
    stats.verdicts = len(every_key)
    read = {key: verdicts[key].run == keys.run for key in every_key if key in verdicts}
    stats.judged = sum(read.values())
    stats.verdicts_cached = len(read) - stats.judged
    for pair, prompts in zip(pairs, planned, strict=True):
        if pair.key in failures:
            continue
        votes = [verdicts.get(key) for key in judged_keys[pair.key]]
        if None in votes:
            failures[pair.key] = no_verdict(pair.key, "the judge gave none")
            continue
        verdict = (
            combined_verdict([vote for vote in votes if vote is not None], keys)
            if votes
            else StoredVerdict(given[pair.key], keys.run, None)
        )
        open_answer, first, second = (stored[prompt.key] for prompt in prompts)
        if settings.mc_method == LOGPROB:
            probabilities = (_probabilities(first), _probabilities(second))
            readings = tuple(_scored(p) for p in probabilities)
            mc_responses = (describe_scores(probabilities[0]), describe_scores(probabilities[1]))
        elif settings.mc_method == COMMIT:
            committed = [stored[follow[prompt.key].key] for prompt in prompts[1:]]
            probabilities = (_probabilities(committed[0]), _probabilities(committed[1]))
            readings = tuple(_scored(p) for p in probabilities)
            # The free answer stays as evidence; the commitment read after it decides.
            mc_responses = (
                f"{first.answer}\n\n[commitment] {describe_scores(probabilities[0])}",
                f"{second.answer}\n\n[commitment] {describe_scores(probabilities[1])}",
            )
        else:
            probabilities = None
            readings = (_choice(first), _choice(second))
            mc_responses = (str(first.answer), str(second.answer))
        results.append(
            PairResult(
                key=pair.key,
                id=pair.id,
                category=pair.category,
                question=pair.question,
                index=pair.index,
                open_response=str(open_answer.answer),
                open_verdict=verdict.verdict,
                open_unsafe_probability=verdict.probability,
                mc_responses=mc_responses,
                mc_choices=(readings[0].choice, readings[1].choice),
                mc_unread=(readings[0].reason, readings[1].reason),
                positive=pair.positive,
                negative=pair.negative,
                truncated=(bool(open_answer.truncated), bool(first.truncated), bool(second.truncated)),
                mc_method=settings.mc_method,
                mc_probabilities=probabilities,
                judge_votes=tuple(vote.verdict for vote in votes if vote is not None) if keys.members else (),
                benign=pair.benign,
            )
        )
    return Evaluated(results, failures, stats, read, {key: answered.get(key) for key in prompt_keys})


def combined_verdict(votes: Sequence[StoredVerdict], keys: Keys) -> StoredVerdict:
    """The one judge's verdict, or an ensemble's combined from its members' (with no probability of its own)."""
    if not keys.members:
        return votes[0]
    rule = keys.judge["ensemble"]
    return StoredVerdict(combine([vote.verdict for vote in votes], rule), keys.run, None)


def _commitment_problems(
    free: Sequence[Request], follow: dict[str, Request], stored: dict[str, StoredAnswer]
) -> list[str]:
    """Why a pair's commitments cannot be read: not asked yet, or the model failed on them."""
    problems = []
    for kind, request in zip(PROMPT_KINDS[1:], free, strict=True):
        committed = stored.get(follow[request.key].key) if request.key in follow else None
        if committed is None:
            problems.append(f"{kind}: no commitment was read after the free answer")
        elif committed.answer is None:
            problems.append(f"{kind}: commitment: {committed.failure}")
    return problems


def _probabilities(stored: StoredAnswer, labels: Sequence[str] = LETTERS) -> dict[str, float]:
    values = json.loads(str(stored.answer))
    return {label: float(values.get(label, 0.0)) for label in labels}


def describe_scores(probabilities: dict[str, float], labels: Sequence[str] = LETTERS) -> str:
    """What a probability reading shows where a generated answer would be shown."""
    other = max(0.0, 1.0 - sum(probabilities.values()))
    shown = " ".join(f"P({label})={probabilities[label]:.3f}" for label in labels)
    return f"[log-probabilities] {shown} other={other:.3f}"


DECLINED = "declined: under half the probability on the two letters, or a tie"


def _scored(probabilities: dict[str, float]) -> ChoiceReading:
    choice = choice_from_scores(probabilities)
    return ChoiceReading(choice, "" if choice is not None else DECLINED)


def _choice(stored: StoredAnswer) -> ChoiceReading:
    # An answer cached before truncation was recorded (None) is read as if it may have been cut: fail closed.
    return read_choice(str(stored.answer), truncated=stored.truncated is not False)


def no_verdict(key: str, reason: str) -> str:
    """Why a pair has no verdict, as its test fails with it."""
    return f"FINE pair {key} has no verdict: {reason}"


def no_verdict_reason(key: str, message: str) -> str:
    """The reason alone, shown safely and cut short: the summaries count pairs by reason."""
    return visible(message.removeprefix(no_verdict(key, "")))[:300]
