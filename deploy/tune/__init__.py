"""Concurrency tuning: load-test an Ollama or OpenAI-compatible (vLLM) endpoint and recommend
deploy settings. The API is detected (`measure.resolve_api`).

The page's entry points (no Streamlit here; see docs/tune.md):
    target_for(url, cloudrun=None, token="", source=None) -> OllamaTarget   the app's auth
    sweep(target, model, SweepSettings(...), cancel=Event, on_progress=fn) -> TuneReport
    report.rows() / report.to_dict() / report.table()                       table, JSON, text
    recommend(report, latency_target_s, participants) -> Recommendation
    recommendation.as_form_values() -> {"concurrency", "num_parallel", "max_instances"}
"""

from .measure import Sample, TuneError, is_cloud_run_url, target_for
from .prompt import chat_payload, rag_messages
from .recommend import Recommendation, recommend
from .report import (
    CANCELLED,
    COMPLETED,
    LEVEL_TIME_CAP,
    LEVELS,
    NO_SUCCESS,
    TIME_CAP,
    LevelResult,
    Progress,
    SweepSettings,
    TuneReport,
    format_table,
    percentile,
)
from .sweep import sweep

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "LEVELS",
    "LEVEL_TIME_CAP",
    "NO_SUCCESS",
    "TIME_CAP",
    "LevelResult",
    "Progress",
    "Recommendation",
    "Sample",
    "SweepSettings",
    "TuneError",
    "TuneReport",
    "chat_payload",
    "format_table",
    "is_cloud_run_url",
    "percentile",
    "rag_messages",
    "recommend",
    "sweep",
    "target_for",
]
