"""Model targets behind one interface (`Target` in base.py).

`make_target("embedded" | "ollama:URL" | "openai:URL" | "cloudrun:URL", settings)` builds one;
`TARGETS` maps each kind to its factory, so adding a target touches one place.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InputError
from ..settings import Settings
from .base import Delta, Finish, GenerationOptions, StreamItem, Target, TargetStatus


def _embedded(url: str, settings: Settings) -> Target:
    from .embedded import EmbeddedTarget

    return EmbeddedTarget(settings.cache_dir, settings.embedded_contexts, settings.embedded_threads)


def _ollama(url: str, settings: Settings) -> Target:
    from .ollama import bearer_target

    return bearer_target(url or settings.ollama_url, settings.ollama_token)


def _openai(url: str, settings: Settings) -> Target:
    from ..auth import BearerAuth
    from .openai import OpenAITarget

    if not url:
        raise InputError(
            "An OpenAI-compatible target needs the server's URL.", "Use openai:http://host:port."
        )
    return OpenAITarget(url, auth=BearerAuth(settings.openai_token) if settings.openai_token else None)


def _cloudrun(url: str, settings: Settings) -> Target:
    from .openai import CloudRunService

    if not url:
        raise InputError("A Cloud Run target needs the service URL.", "Use cloudrun:https://SERVICE-URL.")
    return CloudRunService(url)  # Ollama or OpenAI-compatible: asked on first use


TARGETS: dict[str, Callable[[str, Settings], Target]] = {
    "embedded": _embedded,
    "ollama": _ollama,
    "openai": _openai,
    "cloudrun": _cloudrun,
}


def make_target(spec: str, settings: Settings | None = None) -> Target:
    """`embedded`, `ollama`, `ollama:http://host:11434`, `openai:http://host:8000` or `cloudrun:https://...`."""
    settings = settings or Settings()
    kind, _, url = spec.strip().partition(":")
    if kind not in TARGETS:
        raise InputError(
            f"Unknown model target {spec!r}.", "Use embedded, ollama:URL, openai:URL or cloudrun:URL."
        )
    if url and not url.startswith(("http://", "https://")):
        raise InputError(f"{url!r} is not an http(s) URL.", f"Use {kind}:https://host[:port].")
    return TARGETS[kind](url, settings)


__all__ = [
    "TARGETS",
    "Delta",
    "Finish",
    "GenerationOptions",
    "StreamItem",
    "Target",
    "TargetStatus",
    "make_target",
]
