"""The fake itself: one local HTTP server routing each request to the service that answers it."""

from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from google.auth import crypt

from deploy.api import ApiRequest
from deploy.config import Endpoints
from deploy.discovery import resolve, validate_request, validate_response

from .apis import Iam, Operations, ResourceManager, SecretManager, ServiceUsage
from .auth import OAuth
from .build import ArtifactRegistry, CloudBuild
from .common import (
    API_SERVICES,
    DEFAULT_VERSIONS,
    PERMISSION_OF,
    PROJECT_NUMBER,
    Reply,
    crypt_public,
    error_info,
    google_error,
    lost_reply,
)
from .run import CloudRun
from .service import DeployedService


class FakeGoogle(
    OAuth,
    Operations,
    ServiceUsage,
    ResourceManager,
    ArtifactRegistry,
    CloudBuild,
    CloudRun,
    Iam,
    SecretManager,
    DeployedService,
):
    """Google's APIs on 127.0.0.1; each service's handlers come from its class (h_<method id>)."""

    def __init__(self, sa_public_pem: str, server_key_pem: str, project: str = "workshop-proj"):
        self.project = project
        self.sa_public_pem = sa_public_pem
        self.server_signer = crypt.RSASigner.from_string(server_key_pem)
        self.server_public_pem = crypt_public(server_key_pem)
        self.lock = threading.RLock()
        self.enabled = {
            "serviceusage.googleapis.com",
            "cloudresourcemanager.googleapis.com",
            "storage.googleapis.com",
            "iam.googleapis.com",
        }
        self.denied: set[str] = {"run.routes.invoke"}
        self.polls_to_done = 2
        self.build_outcome = "SUCCESS"
        self.container_starts = True
        self.model_loads = True  # False: /api/generate fails like Ollama out of GPU memory
        self.service_busy_calls = 0  # the next N calls to the service get 503 (cold start)
        self.build_regions: set[str] | None = None  # None: Cloud Build builds anywhere
        self.quota_page_size: int | None = None  # page consumerQuotaMetrics.list
        self.new_account_lag = 0  # uses of a new service account answered "does not exist"
        self.unknown_for: dict[str, int] = {}  # account email -> such uses left
        self.secrets: set[str] = set()  # projects/P/secrets/S
        self.gpu_quota: dict[tuple[str, str, bool], int] = {}  # (gpu, region, zonal) -> GPUs
        self.default_gpu_quota = 3
        self.token_ttl = 3600
        self.reject_next_token = False
        self.tokens: dict[str, str] = {}  # access token -> email
        self.token_requests = 0
        self.id_token_requests = 0
        self.calls: list[tuple[str, str]] = []  # (method id, path)
        self.problems: list[str] = []  # discovery validation failures (requests/responses)
        self.fail_next: dict[str, Reply | list[Reply]] = {}
        self.lose_reply: dict[str, int] = {}  # method id -> successful calls never answered
        self.hold_reply: dict[str, threading.Event] = {}  # method id -> set once it was received
        self.released = threading.Event()  # lets held replies go (bounded wait)
        self.repos: dict[str, dict] = {}
        self.packages: set[str] = set()
        self.builds: dict[str, dict] = {}
        self.ops: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.service_ops: dict[str, str] = {}  # service -> its latest create/patch operation
        self.policies: dict[str, dict] = {}
        self.accounts: dict[str, dict] = {}
        self.generate_calls: list[dict] = []
        self.embed_calls: list[dict] = []  # /api/embed on a deployed service
        self.openai_calls: list[tuple[str, dict]] = []  # (path, body) on a vLLM service
        self.project_number = "123456789012"
        self._ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # Lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeGoogle:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints.single_host(self.base_url)

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def called(self, method_id: str) -> int:
        return sum(1 for m, _ in self.calls if m == method_id)

    # Dispatch ------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> Reply:
        url = urlsplit(h.path)
        prefix, _, rest = url.path.lstrip("/").partition("/")
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if prefix == "token":
            return self._token(raw)
        if prefix == "tokeninfo":
            return self._tokeninfo(url.query)
        if prefix == "svc":
            return self._service_call(h, rest, raw)
        if prefix in (
            "run",
            "cloudbuild",
            "artifactregistry",
            "serviceusage",
            "iam",
            "cloudresourcemanager",
            "storage",
            "secretmanager",
        ):
            return self._api(h, prefix, rest, url.query, raw)
        return Reply(404, {"error": "no such endpoint"})

    def _api(self, h, api: str, path: str, query: str, raw: bytes) -> Reply:
        email = self._caller(h)
        if email is None:
            return Reply(
                401, google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            )
        first = path.split("/", 1)[0]
        version = first if re.fullmatch(r"v\d+\w*", first) else DEFAULT_VERSIONS[api]
        body = json.loads(raw) if raw else None
        req = ApiRequest(api, version, h.command, path, tuple(parse_qsl(query, keep_blank_values=True)), body)
        problems = validate_request(req)
        if problems:
            self.problems += problems
            return Reply(400, google_error(400, "INVALID_ARGUMENT", "; ".join(problems)))
        method_id = resolve(api, version, h.command, path).id
        with self.lock:
            self.calls.append((method_id, path))
            reply = self._guarded(method_id, api, email, req, h)
            lose = self.lose_reply.get(method_id, 0) > 0 and reply.status < 300
            if lose:
                self.lose_reply[method_id] -= 1
            held = self.hold_reply.pop(method_id, None)
        if reply.raw is None and reply.status < 300:
            self.problems += [f"response {p}" for p in validate_response(req, reply.payload)]
        if held is not None:  # done; the answer waits (the client may be killed meanwhile)
            held.set()
            self.released.wait(30)
        return lost_reply() if lose else reply

    def release(self) -> None:
        self.released.set()

    def _guarded(self, method_id: str, api: str, email: str, req: ApiRequest, h) -> Reply:
        if method_id in self.fail_next:
            queued = self.fail_next[method_id]
            if not isinstance(queued, list):
                return self.fail_next.pop(method_id)
            reply = queued.pop(0)
            if not queued:
                del self.fail_next[method_id]
            return reply
        service = API_SERVICES.get(api)
        if service and service not in self.enabled:
            return self._service_disabled(service)
        perm = PERMISSION_OF.get(method_id)
        if perm in self.denied:
            return Reply(
                403,
                google_error(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission '{perm}' denied on resource '{req.path}' (or it may not exist).",
                    [error_info("IAM_PERMISSION_DENIED", "iam.googleapis.com", {"permission": perm})],
                ),
            )
        unknown = self._unknown_account(req)
        if unknown:
            return Reply(
                400, google_error(400, "INVALID_ARGUMENT", f"Service account {unknown} does not exist.")
            )
        handler = getattr(self, "h_" + method_id.replace(".", "_"))
        return handler(req, email=email, headers=h.headers)

    def _unknown_account(self, req: ApiRequest) -> str | None:
        """A just-created account that this request names, while it has not propagated."""
        body = json.dumps(req.body) if req.body else ""
        for email, left in self.unknown_for.items():
            if left > 0 and email in body:
                self.unknown_for[email] = left - 1
                return email
        return None

    def _service_disabled(self, service: str) -> Reply:
        url = f"https://console.developers.google.com/apis/api/{service}/overview?project={PROJECT_NUMBER}"
        return Reply(
            403,
            google_error(
                403,
                "PERMISSION_DENIED",
                f"{service} has not been used in project {PROJECT_NUMBER} before or it is "
                f"disabled. Enable it by visiting {url} then retry.",
                [
                    error_info(
                        "SERVICE_DISABLED",
                        "googleapis.com",
                        {
                            "service": service,
                            "consumer": f"projects/{PROJECT_NUMBER}",
                            "activationUrl": url,
                            "serviceTitle": service.split(".")[0].title() + " API",
                            "containerInfo": PROJECT_NUMBER,
                        },
                    ),
                    {
                        "@type": "type.googleapis.com/google.rpc.Help",
                        "links": [{"description": "Google developers console API activation", "url": url}],
                    },
                ],
            ),
        )


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        reply = self.server.fake.handle(self)
        if reply.lost:  # the request was carried out; its answer never arrives
            self.close_connection = True
            return
        data = reply.raw if reply.raw is not None else json.dumps(reply.payload).encode()
        self.send_response(reply.status)
        ctype = "text/plain" if reply.raw is not None else "application/json; charset=UTF-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve

    def log_message(self, *args) -> None:  # keep test output quiet
        pass
