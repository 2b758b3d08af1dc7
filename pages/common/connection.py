"""The Connection panel in the sidebar, shared by every page.

Every widget takes its value from the session's settings, which are the source
of truth: Streamlit forgets a widget's state when the page changes, the
settings are kept.

Where the model answers (embedded, an Ollama URL, a Cloud Run service with
Google auth), which model, and which embedder. Defaults come from the
environment and `st.secrets` (docs/settings.md); changes apply to this session.
"""

from __future__ import annotations

import streamlit as st

from rag.embeddings import PROVIDERS
from rag.errors import FetchError
from rag.llms.ollama import default_model
from rag.loading.urlpolicy import check_url

from .errors import show_error
from .state import base_settings, index, is_hosted, settings, target, update_settings

KINDS = {
    "embedded": "Embedded (offline)",
    "ollama": "Ollama",
    "openai": "OpenAI-compatible (vLLM, llama.cpp)",
    "cloudrun": "Cloud Run (Google auth)",
}
URL_LABELS = {"ollama": "Ollama URL", "openai": "Server URL", "cloudrun": "Cloud Run service URL"}
# The bearer token field of a target: (setting, widget key, help).
TOKENS = {
    "ollama": ("ollama_token", "conn_token", "Sent as Authorization: Bearer … to an Ollama behind a proxy."),
    "openai": (
        "openai_token",
        "conn_openai_token",
        "Sent as Authorization: Bearer … (vLLM's --api-key, or a proxy's token).",
    ),
}


def through_navigation() -> None:
    """Run this page through streamlit_app.py's st.navigation, even when it was opened directly.

    Streamlit treats a `pages/` folder beside the entrypoint as a legacy multipage
    app until `st.navigation` has been called once in the process: the first visitor
    who opens /index or /chat directly (a bookmark, a reconnect after a restart)
    gets the page script alone, with the auto-generated menu and no page config.
    Switching the process to st.navigation and rerunning sends this very page
    through the entrypoint instead.
    """
    import sys

    from streamlit.runtime.pages_manager import PagesManager

    # AppTest resets the flag before every run (it always runs the page script alone),
    # so there a rerun would repeat on every run and swallow each button click.
    if PagesManager.uses_pages_directory and "streamlit.testing.v1" not in sys.modules:
        PagesManager.uses_pages_directory = False
        st.rerun()


def _split(llm: str) -> tuple[str, str]:
    kind, _, url = llm.partition(":")
    return (kind if kind in KINDS else "embedded"), url


def sidebar() -> None:
    through_navigation()
    s = settings()
    kind0, url0 = _split(s.llm)
    with st.sidebar:
        st.subheader("Connection")
        kind = st.radio(
            "Model target",
            list(KINDS),
            index=list(KINDS).index(kind0),
            format_func=KINDS.get,
            key="conn_kind",
        )
        if kind == "embedded":
            values: dict[str, object] = {"llm": "embedded", "model": ""}
            st.caption(
                "Gemma 3 270M runs in this process with llama.cpp: no network, small and fast, "
                "not very knowledgeable. Gemma terms apply."
            )
        else:
            values = _remote_values(kind, url0 if kind == kind0 else "")
        _embedding_controls(values)
        _apply(values)
        if st.button("Check connection", icon=":material/network_check:", use_container_width=True):
            _check()
        _last_check()


def _remote_values(kind: str, url0: str) -> dict[str, object]:
    """The URL, model and token of a remote target; `llm` only once the URL is usable."""
    s = settings()
    # A bare `ollama` means OLLAMA_URL (docs/settings.md), here as everywhere else.
    default_url = url0 or (s.ollama_url if kind == "ollama" else "")
    label = URL_LABELS[kind]
    url = st.text_input(
        label,
        value=default_url,
        key=f"conn_url_{kind}",
        placeholder="https://ollama-gemma-123456.us-central1.run.app",
    )
    model = st.text_input(
        "Model",
        value=s.model or ("" if kind == "openai" else default_model()),
        key="conn_model",
        help="On an OpenAI-compatible server, empty means the first model it lists.",
    )
    values: dict[str, object] = {"model": model.strip()}
    if kind in TOKENS:
        name, key, tip = TOKENS[kind]
        token = st.text_input(
            "Bearer token (optional)", value=getattr(s, name), type="password", key=key, help=tip
        )
        values[name] = token
    url = url.strip().rstrip("/")
    refused = _refused(kind, url) if url else None
    if url and not url.startswith(("http://", "https://")):
        st.error("The URL must start with http:// or https://.")
    elif refused:
        st.error(refused, icon=":material/block:")
    elif url:
        values.update(llm=f"{kind}:{url}")
    else:
        st.info(f"Enter the {label.lower()} to use this target.")
    return values


def _refused(kind: str, url: str) -> str | None:
    """Hosted, a model URL typed here obeys the policy of the pages to index: public hosts only.

    The operator's own setting (RAG_LLM, st.secrets) is trusted: an Ollama beside the
    app on localhost is a deployment choice, not a participant's probe.
    """
    if not is_hosted() or f"{kind}:{url}" == base_settings().llm:
        return None
    checked = st.session_state.get("conn_url_checked")
    if checked is not None and checked[0] == url:  # one DNS look-up per typed URL, not per rerun
        return checked[1]
    refusal = None
    try:
        check_url(url, allow_private=False)
    except FetchError as error:
        refusal = (
            f"{error.message} This hosted app only connects to public model servers: "
            "give the https:// URL of a Cloud Run service or of a public Ollama."
        )
    st.session_state["conn_url_checked"] = (url, refusal)
    return refusal


def _embedding_controls(values: dict[str, object]) -> None:
    s = settings()
    providers = list(PROVIDERS)
    provider = st.selectbox(
        "Embeddings",
        providers,
        index=providers.index(s.embeddings),
        key="conn_embeddings",
        format_func=lambda p: {
            "local": "Local all-MiniLM-L6-v2 (offline)",
            "ollama": "Ollama",
            "vertex": "Vertex AI",
        }[p],
    )
    values["embeddings"] = provider
    if provider == "vertex":
        values["project"] = st.text_input("Google Cloud project", value=s.project, key="conn_project")
        values["region"] = st.text_input("Region", value=s.region, key="conn_region")
        models = ["text-embedding-005", "gemini-embedding-001", "text-embedding-004"]
        current = s.embedding_model if s.embedding_model in models else models[0]
        values["embedding_model"] = st.selectbox(
            "Vertex AI model", models, index=models.index(current), key="conn_vmodel"
        )
    elif provider == "ollama":
        values["embedding_model"] = st.text_input(
            "Ollama embedding model",
            value=s.embedding_model or PROVIDERS["ollama"].default_model,
            key="conn_omodel",
        )
        if not is_hosted():
            values["ollama_url"] = st.text_input("Embedding server", value=s.ollama_url, key="conn_eurl")
    else:
        values["embedding_model"] = ""
    built = index()
    if built is not None and built.store.info.embedder.split(":")[0] != provider:
        st.caption(
            f"The current index was built with {built.store.info.embedder} and keeps using it; "
            "new indexes will use this choice."
        )


def _apply(values: dict[str, object]) -> None:
    try:
        update_settings(**values)
    except Exception as error:
        show_error(error)


def _check() -> None:
    s = settings()
    with st.spinner("Checking…"):
        try:
            status = target().check(s.model)
        except Exception as error:
            show_error(error)
            return
    # Kept for this target and model, so the answer stays on screen across reruns and
    # page changes; a new target or model clears it.
    st.session_state["conn_checked"] = ((s.llm, s.model), status)


def _last_check() -> None:
    s = settings()
    checked = st.session_state.get("conn_checked")
    if checked is None or checked[0] != (s.llm, s.model):
        return
    status = checked[1]
    if status.ok:
        st.success(status.message, icon=":material/check_circle:")
    else:
        st.error(f"{status.message}\n\n{status.fix}".strip(), icon=":material/error:")
    if status.models and not status.ok:
        st.caption("Models there: " + ", ".join(status.models))
