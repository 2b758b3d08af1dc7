"""All settings in one place.

Each setting has a default, an environment variable and one line of
documentation. The CLI starts from `Settings.from_env()`; the Streamlit app
layers `st.secrets` and the sidebar on top with `Settings.merged(...)`.
`docs/settings.md` is generated from this table (`python -m rag settings`), and a
test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError


def _setting(default: Any, env: str, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


@dataclass(frozen=True)
class Settings:
    llm: str = _setting(
        "embedded",
        "RAG_LLM",
        "Model target: `embedded` (in-process Gemma 3 270M), `ollama:URL`, `openai:URL` (any "
        "OpenAI-compatible server, e.g. vLLM) or `cloudrun:URL` (Ollama or OpenAI-compatible, with "
        "Google ID tokens).",
    )
    model: str = _setting(
        "",
        "RAG_MODEL",
        "Model name on a remote target (e.g. `gemma2:9b`); empty means the target's default "
        "(on an `openai:` server, the first model it lists).",
    )
    ollama_token: str = _setting(
        "",
        "OLLAMA_BEARER_TOKEN",
        "Bearer token sent to an `ollama:` target behind a proxy; never logged.",
    )
    openai_token: str = _setting(
        "",
        "OPENAI_BEARER_TOKEN",
        "Bearer token sent to an `openai:` target (vLLM's `--api-key`, a proxy); never logged. "
        "`OPENAI_API_KEY` is never read, so an OpenAI key is not sent to another server.",
    )
    embeddings: str = _setting(
        "local",
        "RAG_EMBEDDINGS",
        "Embedding provider: `local` (packaged all-MiniLM-L6-v2), `ollama` or `vertex`.",
    )
    embedding_model: str = _setting(
        "",
        "RAG_EMBEDDING_MODEL",
        "Embedding model; empty means the provider's default "
        "(all-MiniLM-L6-v2, `nomic-embed-text`, `text-embedding-005`).",
    )
    ollama_url: str = _setting(
        "http://localhost:11434",
        "OLLAMA_URL",
        "Ollama server used by `RAG_EMBEDDINGS=ollama`, and by `ollama` with no URL.",
    )
    project: str = _setting("", "GOOGLE_CLOUD_PROJECT", "Google Cloud project for Vertex AI embeddings.")
    region: str = _setting(
        "us-central1", "GOOGLE_CLOUD_REGION", "Google Cloud region for Vertex AI embeddings."
    )
    splitter: str = _setting(
        "sections", "RAG_SPLITTER", "Splitter: `sections` (default), `recursive` or `notebook`."
    )
    top_k: int = _setting(4, "RAG_TOP_K", "Chunks retrieved per question (the notebook uses 4).")
    history_mode: str = _setting(
        "auto",
        "RAG_HISTORY_MODE",
        "How follow-ups become a search query: `rewrite` (ask the model, as the notebook "
        "does), `history` (search with the conversation), `auto` (history for the embedded "
        "model, rewrite for Ollama targets).",
    )
    max_tokens: int = _setting(256, "RAG_MAX_TOKENS", "Longest answer, in tokens.")
    temperature: float = _setting(0.2, "RAG_TEMPERATURE", "Sampling temperature.")
    fetch_concurrency: int = _setting(8, "RAG_FETCH_CONCURRENCY", "Pages fetched at once.")
    fetch_timeout: float = _setting(
        20.0, "RAG_FETCH_TIMEOUT", "Seconds a whole page fetch may take (connect, headers, body, redirects)."
    )
    max_page_bytes: int = _setting(
        5_000_000, "RAG_MAX_PAGE_BYTES", "Pages larger than this are skipped, with a reason."
    )
    max_pages: int = _setting(50, "RAG_MAX_PAGES", "Default page limit of a crawl.")
    index: str = _setting(
        "",
        "RAG_INDEX",
        "An index file every app session starts with (the leader's, from the Index page's Save button "
        "or `python -m rag index --save`): a local path, e.g. in a Cloud Storage bucket mounted as a "
        "volume. Loaded once per process and shared read-only; a participant may still build their own.",
    )
    user_agent: str = _setting(
        "workshop-rag/1.0 (+https://github.com/)", "RAG_USER_AGENT", "User-Agent for fetching."
    )
    allow_private_urls: bool = _setting(
        True,
        "RAG_ALLOW_PRIVATE_URLS",
        "Fetch loopback/private/link-local URLs and local files. Hosted mode (`WORKSHOP_HOSTED=1`, "
        "or Cloud Run's `K_SERVICE`) forces false, in the app and the CLI, and also checks model URLs "
        "typed into the sidebar.",
    )
    embedded_contexts: int = _setting(
        2,
        "RAG_EMBEDDED_CONTEXTS",
        "llama.cpp contexts for the embedded model (2 lets RAG and raw answer at once).",
    )
    embedded_threads: int = _setting(
        0,
        "RAG_EMBEDDED_THREADS",
        "CPU threads for each llama.cpp call; 0 shares the cores: a prompt is read on all of them, "
        "each answer decodes on cores ÷ contexts.",
    )
    cache_dir: str = _setting(
        "",
        "RAG_CACHE_DIR",
        "Where the packaged model file is assembled; empty means ~/.cache/workshop-rag.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {f.name: env[f.metadata["env"]] for f in fields() if f.metadata["env"] in env}
        if is_hosted(env):  # one policy wherever a URL is fetched: the pages and the CLI alike
            values["allow_private_urls"] = False
        return cls().merged(values)

    def merged(self, values: Mapping[str, Any]) -> Settings:
        """A copy with `values` (by field name; strings are converted) applied."""
        changes: dict[str, Any] = {}
        known = {f.name: f for f in fields()}
        for name, raw in values.items():
            if name not in known:
                raise InputError(f"Unknown setting {name!r}.", f"Known: {', '.join(known)}.")
            if raw is None or (raw == "" and known[name].default != ""):
                continue
            changes[name] = _convert(known[name], raw)
        return dataclasses.replace(self, **changes)


HOSTED_FLAG = "WORKSHOP_HOSTED"


def is_hosted(env: Mapping[str, str] | None = None) -> bool:
    """Hosted mode: on Cloud Run (which sets K_SERVICE), or forced with WORKSHOP_HOSTED=1."""
    env = os.environ if env is None else env
    return bool(env.get("K_SERVICE")) or env.get(HOSTED_FLAG, "").lower() in ("1", "true", "yes")


def fields() -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(Settings)


def _convert(f: dataclasses.Field, raw: Any) -> Any:
    kind = type(f.default)
    if isinstance(raw, kind):
        return raw
    text = str(raw).strip()
    try:
        if kind is bool:
            if text.lower() in {"1", "true", "yes", "on"}:
                return True
            if text.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        return kind(text)
    except ValueError:
        env = f.metadata["env"]
        raise InputError(
            f"{env}={text!r} is not a valid {kind.__name__}.",
            f"Set {env} to a {kind.__name__}, for example {f.default!r}.",
        ) from None


def settings_markdown() -> str:
    """The settings table for docs/settings.md."""
    rows = ["| Environment variable | Default | Meaning |", "|---|---|---|"]
    for f in fields():
        default = f"`{f.default}`" if f.default != "" else "(empty)"
        rows.append(f"| `{f.metadata['env']}` | {default} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"
