"""Wiring: settings in, ready-to-use pieces out. Shared by the CLI and the pages.

Nothing here does work of its own; it only builds the embedder, loader, store,
retriever, target and chains from one `Settings`, so both front ends assemble
the pipeline the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from .chains import RagChain, RawChain
from .embeddings import EmbedderSpec, make_embeddings
from .indexing import Event, IndexReport, build_index
from .llms import make_target
from .llms.base import GenerationOptions, Target
from .loading.fetch import FetchConfig
from .loading.loader import WebLoader
from .retrieval import Retriever
from .settings import Settings
from .splitting import get_splitter
from .store import SKLearnStore


def fetch_config(settings: Settings) -> FetchConfig:
    return FetchConfig(
        timeout=settings.fetch_timeout,
        max_bytes=settings.max_page_bytes,
        concurrency=settings.fetch_concurrency,
        user_agent=settings.user_agent,
        allow_private=settings.allow_private_urls,
        allow_files=settings.allow_private_urls,
    )


def index_pages(
    settings: Settings,
    *,
    urls: Iterable[str] = (),
    crawl: str | None = None,
    max_pages: int | None = None,
    embeddings: tuple[Embeddings, EmbedderSpec] | None = None,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    splitter: tuple[str, Callable[[list[Document]], list[Document]]] | None = None,
) -> tuple[SKLearnStore, IndexReport]:
    # `splitter`: another than the settings' one, named (bench/min_section.py measures one)
    embedder, spec = embeddings or make_embeddings(settings)
    loader = WebLoader(fetch_config(settings))
    try:
        return build_index(
            loader,
            embedder,
            spec.id,
            urls=urls,
            crawl=crawl,
            max_pages=max_pages or settings.max_pages,
            splitter=splitter or (settings.splitter, get_splitter(settings.splitter)),
            on_event=on_event,
            cancel=cancel,
        )
    finally:
        loader.fetcher.close()


def open_index(
    path: str, settings: Settings, embeddings: tuple[Embeddings, EmbedderSpec] | None = None
) -> SKLearnStore:
    embedder, spec = embeddings or make_embeddings(settings)
    return SKLearnStore.load(path, embedder, spec.id)


def generation_options(settings: Settings) -> GenerationOptions:
    return GenerationOptions(max_tokens=settings.max_tokens, temperature=settings.temperature)


def make_chains(
    settings: Settings, retriever: Retriever | None, target: Target | None = None
) -> tuple[RagChain | None, RawChain]:
    target = target or make_target(settings.llm, settings)
    options = generation_options(settings)
    raw = RawChain(target, model=settings.model, options=options)
    if retriever is None:
        return None, raw
    rag = RagChain(
        target,
        retriever,
        model=settings.model,
        k=settings.top_k,
        options=options,
        history_mode=settings.history_mode,  # type: ignore[arg-type]
    )
    return rag, raw
