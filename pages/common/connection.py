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
from rag.llms.ollama import DEFAULT_MODEL

from .errors import show_error
from .state import index, is_hosted, settings, target, update_settings

KINDS = {"embedded": "Embedded (offline)", "ollama": "Ollama", "cloudrun": "Cloud Run (Google auth)"}


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
        values: dict[str, object] = {}
        if kind == "embedded":
            values.update(llm="embedded", model="")
            st.caption(
                "Gemma 3 270M runs in this process with llama.cpp: no network, small and fast, "
                "not very knowledgeable. Gemma terms apply."
            )
        else:
            default_url = url0 if kind == kind0 else ("" if kind == "cloudrun" else s.ollama_url)
            label = "Ollama URL" if kind == "ollama" else "Cloud Run service URL"
            url = st.text_input(
                label,
                value=default_url,
                key=f"conn_url_{kind}",
                placeholder="https://ollama-gemma-123456.us-central1.run.app",
            )
            model = st.text_input("Model", value=s.model or DEFAULT_MODEL, key="conn_model")
            values.update(model=model.strip())
            if kind == "ollama":
                token = st.text_input(
                    "Bearer token (optional)",
                    value=s.ollama_token,
                    type="password",
                    key="conn_token",
                    help="Sent as Authorization: Bearer … to an Ollama behind a proxy.",
                )
                values.update(ollama_token=token)
            url = url.strip().rstrip("/")
            if url and not url.startswith(("http://", "https://")):
                st.error("The URL must start with http:// or https://.")
            elif url:
                values.update(llm=f"{kind}:{url}")
            else:
                st.info(f"Enter the {label.lower()} to use this target.")
        _embedding_controls(values)
        _apply(values)
        if st.button("Check connection", icon=":material/network_check:", use_container_width=True):
            _check()
        _last_check()


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
