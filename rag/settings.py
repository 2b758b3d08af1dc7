"""All settings in one place: the app, the `rag` and `deploy` libraries, both CLIs.

Each setting has a default, an environment variable and one line of
documentation, and is parsed here only (`_convert`). The CLIs start from
`Settings.from_env()` and put their flags on top; the Streamlit app starts from
`Settings.load(os.environ, st.secrets)` and puts the sidebar on top with
`Settings.merged(...)`. `deploy/` reads its own rows through the same table.
`docs/settings.md` is generated from this module (`python -m rag settings`), and
tests keep the two in step and check that no other module reads a setting's
variable itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

HOSTED_FLAG = "WORKSHOP_HOSTED"
CLOUD_RUN_FLAG = "K_SERVICE"  # Cloud Run sets it on every service

# Variables read by name that belong to other programs, not to this app: documented
# beside the table (docs/settings.md), never settings.
EXTERNAL_ENV = {
    CLOUD_RUN_FLAG: "Set by Cloud Run on every service: hosted mode is on, whatever `WORKSHOP_HOSTED` says.",
    "GOOGLE_APPLICATION_CREDENTIALS": "google-auth's key file, used before gcloud's sign-in "
    "(Cloud Run ID tokens, Vertex AI, the deployer).",
    "CLOUDSDK_CONFIG": "gcloud's configuration folder, where the sign-in of `gcloud auth "
    "application-default login` is looked for.",
    "PYTHONPATH": "Python's module path; the child process that exports the query embedder's ONNX "
    "graph gets the app's folder in front of it.",
}


def _setting(default: Any, env: str, doc: str, *, secret: bool = False) -> Any:
    return field(default=default, repr=not secret, metadata={"env": env, "doc": doc})


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
        "Bearer token sent to an `ollama:` target behind a proxy (and by `python -m deploy tune`); "
        "never logged.",
        secret=True,
    )
    openai_token: str = _setting(
        "",
        "OPENAI_BEARER_TOKEN",
        "Bearer token sent to an `openai:` target (vLLM's `--api-key`, a proxy); never logged. "
        "`OPENAI_API_KEY` is never read, so an OpenAI key is not sent to another server.",
        secret=True,
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
    project: str = _setting(
        "",
        "GOOGLE_CLOUD_PROJECT",
        "Google Cloud project for Vertex AI embeddings, and the Deploy page's first project.",
    )
    region: str = _setting(
        "us-central1", "GOOGLE_CLOUD_REGION", "Google Cloud region for Vertex AI embeddings."
    )
    vertex_base_url: str = _setting(
        "",
        "RAG_VERTEX_BASE_URL",
        "Vertex AI endpoint to call instead of Google's (a local test server); empty means Google's.",
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
        "Fetch loopback/private/link-local URLs and local files. Hosted mode forces false, in the app "
        "and the CLI, and also checks model URLs typed into the sidebar.",
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
        "Where the packaged model file is assembled and the query embedder's ONNX graph exported; "
        "empty means ~/.cache/workshop-rag.",
    )
    hosted: bool = _setting(
        False,
        HOSTED_FLAG,
        "Hosted mode (always on when Cloud Run's `K_SERVICE` is set): private URLs and local files "
        "are refused (`RAG_ALLOW_PRIVATE_URLS` is forced false) and the Deploy page is locked "
        "unless `DEPLOY_ADMIN_SECRET` is set and entered.",
    )
    deploy_admin_secret: str = _setting(
        "",
        "DEPLOY_ADMIN_SECRET",
        "Hosted only: the secret that unlocks the Deploy page; empty keeps the page off. Never logged.",
        secret=True,
    )
    deploy_state_dir: str = _setting(
        "",
        "DEPLOY_STATE_DIR",
        "Folder of the deploy jobs' state files, shared by the Deploy page and `python -m deploy` "
        "(`deploy`, `resume`, `cleanup`; `--state-dir` overrides it); empty means the "
        "repository's `.cache/deploy`.",
    )
    deploy_poll_seconds: float = _setting(
        5.0,
        "DEPLOY_POLL_SECONDS",
        "Seconds between polls of a running Google operation (the Deploy page and `python -m deploy`).",
    )
    deploy_api_base: str = _setting(
        "",
        "DEPLOY_API_BASE",
        "Send every Google API request of the deployer to `{base}/{api}/` (an emulator or a test "
        "server); empty means Google's own hosts. Read from the environment only, also in the app.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The defaults, then the environment, then the hosted-mode rules (the CLIs' start)."""
        return cls.load(env)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Settings:
        """The precedence rule below flags and the sidebar: default < environment < `secrets`.

        `secrets` is `st.secrets` in the app: a top-level entry named like a field or its
        variable, in any case (`top_k`, `RAG_TOP_K`). Hosted mode then forces its rules.
        """
        env = os.environ if env is None else env
        values = {f.name: env[f.metadata["env"]] for f in fields() if f.metadata["env"] in env}
        settings = cls().merged(values).merged(secret_values(secrets))
        if settings.hosted or env.get(CLOUD_RUN_FLAG):
            # one policy wherever a URL is fetched: the pages and the CLI alike
            settings = dataclasses.replace(settings, hosted=True, allow_private_urls=False)
        return settings

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


def cache_folder(cache_dir: str = "") -> Path:
    """The cache folder (`RAG_CACHE_DIR`), or its default: model files prepared on first use."""
    return Path(cache_dir or Path.home() / ".cache" / "workshop-rag")


def env_value(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One setting from the environment alone, parsed like the rest (its default when unset).

    For readers that need one row and must not fail on another's bad value (`deploy`).
    """
    env = os.environ if env is None else env
    return getattr(Settings().merged({name: env.get(_field(name).metadata["env"])}), name)


def is_hosted(env: Mapping[str, str] | None = None) -> bool:
    """Hosted mode: on Cloud Run (which sets K_SERVICE), or forced with WORKSHOP_HOSTED=1."""
    env = os.environ if env is None else env
    return bool(env.get(CLOUD_RUN_FLAG)) or env_value("hosted", env)


def secret_values(secrets: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings found in `secrets` (`st.secrets`), by field name; {} when it cannot be read.

    `st.secrets` raises when there is no secrets file: that means no secrets, here, once.
    """
    try:
        found = {str(k).lower(): v for k, v in (secrets or {}).items() if not isinstance(v, Mapping)}
    except Exception:
        return {}
    values: dict[str, Any] = {}
    for f in fields():
        for key in (f.name, f.metadata["env"].lower()):
            if key in found:
                values[f.name] = found[key]
    return values


def fields() -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(Settings)


def _field(name: str) -> dataclasses.Field:
    for f in fields():
        if f.name == name:
            return f
    raise InputError(f"Unknown setting {name!r}.", f"Known: {', '.join(f.name for f in fields())}.")


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


PRECEDENCE = """\
## Precedence

One rule for every setting, in the app and both CLIs; the first that gives a value wins:

1. a command-line flag (`python -m rag ...`, `python -m deploy ...`) or the app's sidebar
   (for that browser session only);
2. an `st.secrets` entry (the app only), named like the setting or its variable, in any case
   (`top_k` or `RAG_TOP_K`);
3. the environment variable;
4. the default.

An empty value counts as unset, except where the default itself is empty. Every value is
parsed by `rag/settings.py` alone: numbers as numbers, booleans from `1/true/yes/on` or
`0/false/no/off`; a bad value stops with a sentence naming the variable. Hosted mode
(`WORKSHOP_HOSTED`, or `K_SERVICE`) is applied last and forces `RAG_ALLOW_PRIVATE_URLS` off.
"""


def settings_markdown() -> str:
    """docs/settings.md, whole: `python -m rag settings > docs/settings.md` regenerates it."""
    intro = (
        "# Settings\n\n"
        "Every setting of the app, the `rag` and `deploy` libraries and both CLIs is a row of one "
        "table, `Settings` in `rag/settings.py`, which this page is generated from "
        "(`python -m rag settings > docs/settings.md`); a test keeps the two in step, and fails "
        "when code in `rag/`, `deploy/` or `pages/` reads an environment variable that is "
        "not listed here.\n\n"
    )
    rows = ["| Environment variable | Setting | Default | Meaning |", "|---|---|---|---|"]
    for f in fields():
        default = f"`{f.default}`" if f.default != "" else "(empty)"
        rows.append(f"| `{f.metadata['env']}` | `{f.name}` | {default} | {f.metadata['doc']} |")
    other = ["| Environment variable | Read for |", "|---|---|"]
    other += [f"| `{name}` | {doc} |" for name, doc in EXTERNAL_ENV.items()]
    return (
        intro
        + PRECEDENCE
        + "\n## The settings\n\n"
        + "\n".join(rows)
        + "\n\n## Read, but not settings\n\n"
        + "Variables that belong to other programs; the app reads them as those programs define them.\n\n"
        + "\n".join(other)
        + "\n"
    )
