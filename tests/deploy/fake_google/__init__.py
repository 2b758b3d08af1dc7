"""A local stand-in for the Google APIs the deployer calls, speaking their protocol.

- OAuth: a token endpoint that verifies the service account's signed JWT and
  issues access tokens (or ID tokens when the JWT asks for target_audience).
- Every API request must carry an issued token, and is validated against the
  discovery documents (bad requests get Google's 400 and are recorded).
- Long-running operations finish after a few polls; Cloud Build goes
  QUEUED -> WORKING -> SUCCESS (or FAILURE) while its log grows in a "bucket".
- Errors use Google's JSON shape: SERVICE_DISABLED, IAM_PERMISSION_DENIED,
  ALREADY_EXISTS, RESOURCE_EXHAUSTED (GPU quota), INVALID_ARGUMENT (region/GPU).
- /svc/<name>/api/generate is the deployed service: it checks the caller's ID
  token and invoker binding, then answers like Ollama (or fails to load the
  model, or is busy for a few calls). A service labelled engine=vllm answers
  the OpenAI API instead (/v1/models lists its --served-model-name,
  /v1/chat/completions), and only if its revision can read what it mounts: a
  secretKeyRef env var needs secretAccessor for the runtime account.
- Secret Manager secrets with IAM policies; a new service account is unknown to
  other APIs for its first few uses (Google's propagation delay).
- Faults: fail_next[method] (one Reply, or a list answered in turn: 429 with
  Retry-After, 500s); lose_reply[method] = N carries out the next N successful
  calls but closes the connection without answering (a timeout, or a client
  killed after sending); hold_reply[method] makes the next call wait for
  release() after carrying it out (a client can be killed meanwhile).

One module per service: auth (OAuth), apis (operations, Service Usage, Resource Manager,
IAM, Secret Manager), build (Artifact Registry, Cloud Build and its log bucket), run (Cloud
Run's admin API), service (the deployed Ollama or vLLM service); server routes requests.
"""

from .common import GPU_REGIONS, Reply, crypt_public, error_info, google_error, lost_reply
from .server import FakeGoogle

__all__ = ["GPU_REGIONS", "FakeGoogle", "Reply", "crypt_public", "error_info", "google_error", "lost_reply"]
