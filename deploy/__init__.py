"""Deploy Ollama + a model to Cloud Run with a GPU, as a library (no UI code here).

The Deploy page's entry points:
    catalog.regions_for(gpu), catalog.GPU_TYPES, catalog.cost_note(...)
    DeployConfig(...).problems()            form validation
    preflight(config) -> [CheckResult]      credentials, APIs, roles, quota
    DeployJob.create(config) / DeployJob.latest() / job.run() -> events
    job.cleanup(delete_image=..., delete_repository=...)
    snippets.curl_snippet / python_snippet / run_test_call
    hosting.deploy_page_access(os.environ, st.secrets, supplied)
"""

from .catalog import GPU_TYPES, PREBUILT_IMAGES, cost_note, regions_for
from .config import DeployConfig, Endpoints
from .errors import DeployError
from .hosting import deploy_page_access
from .job import DeployJob
from .preflight import CheckResult, preflight

__all__ = [
    "GPU_TYPES",
    "PREBUILT_IMAGES",
    "CheckResult",
    "DeployConfig",
    "DeployError",
    "DeployJob",
    "Endpoints",
    "cost_note",
    "deploy_page_access",
    "preflight",
    "regions_for",
]
