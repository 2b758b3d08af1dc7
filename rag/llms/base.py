"""The one interface every model target implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int = 256
    temperature: float = 0.2
    repeat_penalty: float = 1.15
    stop: tuple[str, ...] = ()


@dataclass
class Delta:
    """A piece of the answer as it streams."""

    text: str


@dataclass
class Finish:
    """The end of a stream, with what the server reported about it."""

    model: str
    output_tokens: int | None = None
    prompt_tokens: int | None = None
    done_reason: str | None = None
    eval_seconds: float | None = None  # time spent decoding, when the server says


@dataclass
class Waiting:
    """The model is busy: `ahead` generations wait before this one (sent while it waits)."""

    ahead: int


StreamItem = Delta | Finish | Waiting


@dataclass
class TargetStatus:
    ok: bool
    target: str
    model: str
    message: str  # one sentence: what answers, or what is wrong
    fix: str = ""
    models: list[str] = field(default_factory=list)
    version: str = ""


class Target(ABC):
    """A place where a model answers: in-process, an Ollama URL, or Cloud Run.

    `chat_model()` is a plain LangChain chat model for anyone who wants to build
    their own chain; `stream()` is what this app's chains use: it yields `Delta`s
    then one `Finish`, and every failure comes out as a `RagError` with a fix.
    """

    kind: str
    default_model: str

    @property
    @abstractmethod
    def label(self) -> str:
        """How the target is shown to people (never includes a secret)."""

    @abstractmethod
    def chat_model(self, model: str = "", options: GenerationOptions | None = None) -> BaseChatModel: ...

    @abstractmethod
    def stream(
        self, messages: Sequence[BaseMessage], model: str = "", options: GenerationOptions | None = None
    ) -> Iterator[StreamItem]: ...

    @abstractmethod
    def check(self, model: str = "") -> TargetStatus:
        """Is it reachable, and does it have the model? Never raises."""

    @property
    def chunk_chars(self) -> int | None:
        """Longest retrieved chunk put in the prompt (None: whole chunks)."""
        return None

    @property
    def is_small_base_model(self) -> bool:
        """True when prompts must be laid out for a base model (see prompts.py)."""
        return False
