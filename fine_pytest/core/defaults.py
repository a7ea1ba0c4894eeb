"""Every default of a run, in one place: the option table's help, the settings, the back ends and the reports read
them here, so a default is changed once and the documentation that quotes it (docs/OPTIONS.md) is checked against
this module."""

from fine_pytest.core.modes import Question, Scoring

DEFAULT_MODEL = "smollm2"  # the embedded SmolLM2-135M through vLLM
DEFAULT_JUDGE = "refusal"  # the documented refusal heuristic
DEFAULT_MC_QUESTION = Question.BETTER  # the paper's: which reply is better, safety unnamed
DEFAULT_MC_METHOD = Scoring.GENERATE  # the paper's: the declaration written, read by an exact grammar
DEFAULT_MAX_TOKENS = 256  # an open answer's token budget
# A declaration is a few tokens and decoding stops when it is complete; a reasoning model needs its thinking on top.
DEFAULT_MC_MAX_TOKENS = 16
DEFAULT_COMMIT_MAX_TOKENS = 128  # --fine-mc-scoring=commit: the free answer before the commitment can explain
DEFAULT_CHUNK = 512  # prompts handed to the model at a time
DEFAULT_SHOW = 10  # pairs listed under "worst pairs"
DEFAULT_EXAMPLES = 2  # consistency-form variants drawn per pair and family
DEFAULT_BUDGET = 200  # prompts the search for the simplest flip may ask in a run
DEFAULT_ALPHA = 0.05  # --fine-fail-on-significant-drop given without a value
# A served model (openai:).
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 120.0  # seconds to wait for one response
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_RETRIES = 4
