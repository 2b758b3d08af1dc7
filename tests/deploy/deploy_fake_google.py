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
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from google.auth import crypt, jwt

from deploy.api import ApiRequest
from deploy.config import Endpoints, model_slug
from deploy.discovery import resolve, validate_request, validate_response

API_SERVICES = {
    "run": "run.googleapis.com",
    "cloudbuild": "cloudbuild.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com",
    "cloudresourcemanager": "cloudresourcemanager.googleapis.com",
}
DEFAULT_VERSIONS = {"storage": "v1"}
# The fake's own knowledge of Google (deliberately not imported from deploy.catalog).
GPU_REGIONS = {
    "nvidia-l4": {
        "us-central1",
        "europe-west1",
        "europe-west4",
        "asia-southeast1",
        "us-east4",
        "asia-south1",
    },
    "nvidia-rtx-pro-6000": {"us-central1", "asia-southeast1"},
}
GPU_MINIMUMS = {"nvidia-l4": (4, 16), "nvidia-rtx-pro-6000": (20, 80)}
PERMISSION_OF = {
    "run.projects.locations.services.create": "run.services.create",
    "run.projects.locations.services.patch": "run.services.update",
    "run.projects.locations.services.delete": "run.services.delete",
    "run.projects.locations.services.setIamPolicy": "run.services.setIamPolicy",
    "cloudbuild.projects.locations.builds.create": "cloudbuild.builds.create",
    "artifactregistry.projects.locations.repositories.create": "artifactregistry.repositories.create",
    "serviceusage.services.batchEnable": "serviceusage.services.enable",
    "iam.projects.serviceAccounts.create": "iam.serviceAccounts.create",
    "secretmanager.projects.secrets.setIamPolicy": "secretmanager.secrets.setIamPolicy",
}
PROJECT_NUMBER = "123456789012"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def google_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


def error_info(reason: str, domain: str, metadata: dict) -> dict:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": domain,
        "metadata": metadata,
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def etag() -> str:
    return base64.b64encode(secrets.token_bytes(8)).decode()


class Reply:
    lost = False  # True: close the connection without answering

    def __init__(self, status: int, payload=None, raw: bytes | None = None, headers: dict | None = None):
        self.status, self.payload, self.raw, self.headers = status, payload, raw, headers or {}


def lost_reply() -> Reply:
    reply = Reply(0)
    reply.lost = True
    return reply


class FakeGoogle:
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

    # OAuth -----------------------------------------------------------------------------
    def _token(self, raw: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        try:
            # google-auth signs for Google's token audience whatever token_uri is
            claims = jwt.decode(
                form["assertion"], certs=self.sa_public_pem, audience=[self.token_uri, GOOGLE_TOKEN_AUDIENCE]
            )
        except (KeyError, ValueError) as err:
            return Reply(400, {"error": "invalid_grant", "error_description": str(err)})
        with self.lock:
            self.token_requests += 1
            if claims.get("target_audience"):
                self.id_token_requests += 1
                return Reply(200, {"id_token": self.id_token(claims["iss"], claims["target_audience"])})
            token = "ya29.fake-" + secrets.token_urlsafe(12)
            self.tokens[token] = claims["iss"]
        return Reply(200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"})

    def id_token(self, email: str, audience: str) -> str:
        issued = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "sub": "1" * 21,
            "email": email,
            "email_verified": True,
            "iat": issued,
            "exp": issued + 3600,
        }
        return jwt.encode(self.server_signer, payload).decode()

    def _tokeninfo(self, query: str) -> Reply:
        token = dict(parse_qsl(query)).get("access_token", "")
        email = self.tokens.get(token)
        if email is None:
            return Reply(400, {"error": "invalid_token"})
        return Reply(200, {"email": email, "email_verified": "true", "expires_in": "3599"})

    def _caller(self, h) -> str | None:
        auth = h.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        with self.lock:
            if self.reject_next_token and token in self.tokens:
                self.reject_next_token = False
                del self.tokens[token]  # as if revoked: the client must refresh
            return self.tokens.get(token)

    # Operations --------------------------------------------------------------------------
    def new_op(self, name: str, finish, metadata: dict | None = None) -> dict:
        self.ops[name] = {"polls": self.polls_to_done, "finish": finish, "metadata": metadata, "result": None}
        return self._op_view(name)

    def _op_view(self, name: str) -> dict:
        op = self.ops[name]
        view = {"name": name, "done": op["result"] is not None}
        if op["metadata"] is not None:
            view["metadata"] = op["metadata"]
        if op["result"] is not None:
            view.update(op["result"])
        return view

    def _poll(self, name: str) -> Reply:
        op = self.ops.get(name)
        if op is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"Operation {name} not found."))
        if op["result"] is None:
            op["polls"] -= 1
            if op["polls"] <= 0:
                op["result"] = op["finish"]()
        return Reply(200, self._op_view(name))

    def h_serviceusage_operations_get(self, req, **_):
        return self._poll(req.path.removeprefix("v1/"))

    def h_artifactregistry_projects_locations_operations_get(self, req, **_):
        return self._poll(req.path.removeprefix("v1/"))

    def h_run_projects_locations_operations_get(self, req, **_):
        return self._poll(req.path.removeprefix("v2/"))

    # Service Usage -----------------------------------------------------------------------
    def _service_entry(self, name: str) -> dict:
        state = "ENABLED" if name in self.enabled else "DISABLED"
        return {
            "name": f"projects/{PROJECT_NUMBER}/services/{name}",
            "parent": f"projects/{PROJECT_NUMBER}",
            "state": state,
            "config": {"name": name, "title": name},
        }

    def h_serviceusage_services_batchGet(self, req, **_):
        names = [v.rsplit("/", 1)[-1] for k, v in req.params if k == "names"]
        return Reply(200, {"services": [self._service_entry(n) for n in names]})

    def h_serviceusage_services_batchEnable(self, req, **_):
        wanted = req.body["serviceIds"]

        def finish():
            self.enabled.update(wanted)
            return {
                "response": {
                    "@type": "type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse",
                    "services": [self._service_entry(n) for n in wanted],
                }
            }

        return Reply(200, self.new_op(f"operations/acf.p2-{next(self._ids)}", finish))

    def h_serviceusage_services_consumerQuotaMetrics_list(self, req, **_):
        metrics = []
        for gpu in GPU_REGIONS:
            word = "nvidia_l4" if gpu == "nvidia-l4" else "nvidia_rtx_pro_6000"
            for zonal in (True, False):
                suffix = "" if zonal else "_no_zonal_redundancy"
                metric = f"run.googleapis.com/{word}_gpu_allocation{suffix}"
                buckets = [{"effectiveLimit": "0", "defaultLimit": "0"}]
                buckets += [
                    {
                        "effectiveLimit": str(self.quota(gpu, r, zonal)),
                        "defaultLimit": "0",
                        "dimensions": {"region": r},
                    }
                    for r in sorted(GPU_REGIONS[gpu])
                ]
                name = (
                    f"projects/{PROJECT_NUMBER}/services/run.googleapis.com/"
                    f"consumerQuotaMetrics/{metric.replace('/', '%2F')}"
                )
                metrics.append(
                    {
                        "name": name,
                        "metric": metric,
                        "unit": "1/{project}/{region}",
                        "displayName": f"Total {gpu} GPU allocation"
                        + ("" if zonal else " without zonal redundancy")
                        + ", per project per region",
                        "consumerQuotaLimits": [
                            {
                                "name": f"{name}/limits/%2Fproject%2Fregion",
                                "metric": metric,
                                "isPrecise": True,
                                "unit": "1/{project}/{region}",
                                "quotaBuckets": buckets,
                            }
                        ],
                    }
                )
        if not self.quota_page_size:
            return Reply(200, {"metrics": metrics})
        start = int(dict(req.params).get("pageToken") or 0)
        page = {"metrics": metrics[start : start + self.quota_page_size]}
        if start + self.quota_page_size < len(metrics):
            page["nextPageToken"] = str(start + self.quota_page_size)
        return Reply(200, page)

    def quota(self, gpu: str, region: str, zonal: bool) -> int:
        return self.gpu_quota.get((gpu, region, zonal), self.default_gpu_quota)

    # Resource Manager -------------------------------------------------------------------
    def h_cloudresourcemanager_projects_testIamPermissions(self, req, **_):
        asked = req.body.get("permissions", [])
        return Reply(200, {"permissions": [p for p in asked if p not in self.denied]})

    # Artifact Registry ------------------------------------------------------------------
    def h_cloudresourcemanager_projects_get(self, req, **_):
        if req.path.rsplit("/", 1)[-1] != self.project:
            return Reply(403, google_error(403, "PERMISSION_DENIED", "The caller does not have permission"))
        return Reply(
            200,
            {
                "projectId": self.project,
                "projectNumber": self.project_number,
                "name": self.project,
                "lifecycleState": "ACTIVE",
            },
        )

    def h_artifactregistry_projects_locations_repositories_get(self, req, **_):
        name = req.path.removeprefix("v1/")
        repo = self.repos.get(name)
        if repo is None or repo.get("pending"):
            return Reply(404, google_error(404, "NOT_FOUND", f"Repository {name} not found"))
        return Reply(200, repo)

    def h_artifactregistry_projects_locations_repositories_create(self, req, **_):
        parent = req.path.removeprefix("v1/").removesuffix("/repositories")
        name = f"{parent}/repositories/{dict(req.params)['repositoryId']}"
        if name in self.repos:
            return Reply(409, google_error(409, "ALREADY_EXISTS", f"the repository already exists: {name}"))
        repo = {**req.body, "name": name, "createTime": now(), "updateTime": now(), "pending": True}
        self.repos[name] = repo

        def finish():
            repo.pop("pending")
            return {
                "response": {
                    "@type": "type.googleapis.com/google.devtools.artifactregistry.v1.Repository",
                    **repo,
                }
            }

        return Reply(200, self.new_op(f"{parent}/operations/{uuid.uuid4()}", finish))

    def h_artifactregistry_projects_locations_repositories_delete(self, req, **_):
        name = req.path.removeprefix("v1/")
        if name not in self.repos:
            return Reply(404, google_error(404, "NOT_FOUND", f"Repository {name} not found"))
        del self.repos[name]
        parent = name.split("/repositories/")[0]
        return Reply(200, self.new_op(f"{parent}/operations/{uuid.uuid4()}", lambda: {"response": {}}))

    def h_artifactregistry_projects_locations_repositories_packages_delete(self, req, **_):
        name = unquote(req.path.removeprefix("v1/"))
        if name not in self.packages:
            return Reply(404, google_error(404, "NOT_FOUND", f"Package {name} not found"))
        self.packages.discard(name)
        parent = name.split("/repositories/")[0]
        return Reply(200, self.new_op(f"{parent}/operations/{uuid.uuid4()}", lambda: {"response": {}}))

    # Cloud Build ------------------------------------------------------------------------
    def h_cloudbuild_projects_locations_builds_create(self, req, **_):
        parent = req.path.removeprefix("v1/").removesuffix("/builds")
        region = parent.rsplit("/", 1)[-1]
        if self.build_regions is not None and region not in self.build_regions:
            return Reply(
                400,
                google_error(
                    400,
                    "FAILED_PRECONDITION",
                    "failed precondition: due to quota restrictions, cannot run builds in this "
                    "region. Please contact support",
                ),
            )
        bad = [t for t in req.body.get("tags", []) if not re.fullmatch(r"[\w][\w.-]{0,127}", t, re.ASCII)]
        if bad:  # Cloud Build's own rule (the discovery document only says "string")
            return Reply(
                400,
                google_error(400, "INVALID_ARGUMENT", f'invalid build: invalid tag "{bad[0]}"'),
            )
        build_id = str(uuid.uuid4())
        subs = req.body.get("substitutions", {})
        steps = [
            {"id": s.get("id", ""), "name": s["name"], "args": s.get("args", []), "status": "QUEUED"}
            for s in req.body["steps"]
        ]
        build = {
            "id": build_id,
            "name": f"{parent}/builds/{build_id}",
            "projectId": self.project,
            "status": "QUEUED",
            "createTime": now(),
            "steps": steps,
            "images": [subs.get("_IMAGE", i) for i in req.body.get("images", [])],
            "substitutions": subs,
            "options": req.body.get("options", {}),
            "timeout": req.body.get("timeout", "600s"),
            "tags": req.body.get("tags", []),
            "logsBucket": f"gs://{PROJECT_NUMBER}.cloudbuild-logs.googleusercontent.com",
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={region}/"
            f"{build_id}?project={PROJECT_NUMBER}",
        }
        self.builds[build_id] = {"build": build, "polls": 0, "log": ""}
        meta = {
            "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
            "build": dict(build),
        }
        op = self.new_op(f"{parent}/operations/{uuid.uuid4()}", lambda: {"response": build}, metadata=meta)
        return Reply(200, op)

    def h_cloudbuild_projects_locations_builds_list(self, req, **_):
        """Only the filter the deployer sends (tags="T"); Cloud Build returns newest first."""
        parent = req.path.removeprefix("v1/").removesuffix("/builds")
        params = dict(req.params)
        match = re.fullmatch(r'tags="([^"]+)"', params.get("filter", ""))
        if match is None or params.get("projectId") != self.project:
            return Reply(400, google_error(400, "INVALID_ARGUMENT", "unsupported filter or project"))
        found = [
            r["build"]
            for r in reversed(self.builds.values())
            if r["build"]["name"].startswith(f"{parent}/") and match.group(1) in r["build"]["tags"]
        ]
        return Reply(200, {"builds": found[: int(params.get("pageSize") or 50)]})

    def h_cloudbuild_projects_locations_builds_get(self, req, **_):
        build_id = req.path.rsplit("/", 1)[-1]
        record = self.builds.get(build_id)
        if record is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"build {build_id} not found"))
        self._advance_build(record)
        return Reply(200, record["build"])

    def _advance_build(self, record: dict) -> None:
        """Each poll moves the build on: QUEUED, then one poll per step, then the end."""
        build, steps = record["build"], record["build"]["steps"]
        if build["status"] in ("SUCCESS", "FAILURE"):
            return
        record["polls"] += 1
        index = record["polls"] - 2  # first poll: still queued
        if index < 0:
            return
        build["status"] = "WORKING"
        build.setdefault("startTime", now())
        for i, step in enumerate(steps):
            step["status"] = "SUCCESS" if i < index else ("WORKING" if i == index else "QUEUED")
        if index < len(steps):
            record["log"] += (
                f'Step #{index} - "{steps[index]["id"]}": starting\n'
                f'Step #{index} - "{steps[index]["id"]}": working...\n'
            )
            return
        self._finish_build(record)

    def _finish_build(self, record: dict) -> None:
        build = record["build"]
        build["finishTime"] = now()
        if self.build_outcome == "SUCCESS":
            build["status"] = "SUCCESS"
            digest = "sha256:" + secrets.token_hex(32)
            build["results"] = {"images": [{"name": i, "digest": digest} for i in build["images"]]}
            for image in build["images"]:
                repo, _, pkg = image.split(":")[0].rpartition("/")
                host, project, repo_id = repo.split("/")
                region = host.removesuffix("-docker.pkg.dev")
                self.packages.add(
                    f"projects/{project}/locations/{region}/repositories/{repo_id}/packages/{pkg}"
                )
            record["log"] += "PUSH\nDONE\n"
            return
        build["status"] = "FAILURE"
        build["steps"][-1]["status"] = "FAILURE"
        detail = (
            'Build step failure: build step 1 "gcr.io/cloud-builders/docker" failed: '
            "step exited with non-zero status: 1"
        )
        build["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": detail}
        build["statusDetail"] = detail
        model = build["substitutions"].get("_MODEL", "?")
        record["log"] += (
            f"pulling manifest\nError: pull model manifest: file does not exist\n"
            f"start-ollama: FATAL: could not pull {model}\nERROR\n"
        )

    def h_storage_objects_get(self, req, headers, **_):
        match = re.fullmatch(r"b/[^/]+/o/log-(.+)\.txt", unquote(req.path))
        record = self.builds.get(match.group(1)) if match else None
        if record is None:
            return Reply(404, google_error(404, "NOT_FOUND", "No such object."), raw=None)
        data = record["log"].encode()
        start = int(re.fullmatch(r"bytes=(\d+)-", headers.get("Range", "bytes=0-")).group(1))
        if start >= len(data):
            return Reply(416, raw=b"", headers={"Content-Range": f"bytes */{len(data)}"})
        return Reply(
            206, raw=data[start:], headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        )

    # Cloud Run ----------------------------------------------------------------------------
    def h_run_projects_locations_services_get(self, req, **_):
        name = req.path.removeprefix("v2/")
        service = self.services.get(name)
        if service is None:
            return Reply(
                404, google_error(404, "NOT_FOUND", f"Resource '{name.rsplit('/', 1)[-1]}' not found.")
            )
        op = self.service_ops.get(name)
        if op is not None and service.get("reconciling"):  # time passes for a follower polling the service
            self._poll(op)
        return Reply(200, service)

    def _gpu_problem(self, region: str, body: dict) -> Reply | None:
        template = body.get("template", {})
        gpu = template.get("nodeSelector", {}).get("accelerator")
        if not gpu:
            return None
        if region not in GPU_REGIONS.get(gpu, ()):
            return Reply(
                400,
                google_error(400, "INVALID_ARGUMENT", f"GPU type {gpu} is not supported in region {region}."),
            )
        probe = template["containers"][0].get("startupProbe", {})
        if probe.get("failureThreshold", 1) * probe.get("periodSeconds", 10) > 1800:  # Cloud Run, with a GPU
            return Reply(
                400,
                google_error(
                    400, "INVALID_ARGUMENT", "startupProbe: failureThreshold x periodSeconds exceeds 1800s."
                ),
            )
        limits = template["containers"][0]["resources"]["limits"]
        cpu, mem = int(limits["cpu"]), int(limits["memory"].removesuffix("Gi"))
        min_cpu, min_mem = GPU_MINIMUMS[gpu]
        if cpu < min_cpu or mem < min_mem:
            return Reply(
                400,
                google_error(
                    400, "INVALID_ARGUMENT", f"{gpu} requires at least {min_cpu} CPU and {min_mem}Gi memory."
                ),
            )
        zonal = not template.get("gpuZonalRedundancyDisabled", False)
        wanted = template.get("scaling", {}).get("maxInstanceCount", 100)
        if self.quota(gpu, region, zonal) < wanted:
            return Reply(
                429,
                google_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    f"Quota exceeded for total allowable count of GPUs per project per region: "
                    f"requested {wanted}, available {self.quota(gpu, region, zonal)}.",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [
                                {
                                    "subject": f"projects/{self.project}",
                                    "description": f"{gpu} quota in {region}",
                                }
                            ],
                        }
                    ],
                ),
            )
        return None

    def _deploy(self, name: str, body: dict, generation: int) -> Reply:
        region = name.split("/")[3]
        service_id = name.rsplit("/", 1)[-1]
        service = {
            **{k: v for k, v in body.items() if k != "name"},
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": str(generation),
            "createTime": now(),
            "updateTime": now(),
            "uri": f"{self.base_url}/svc/{service_id}",
            "urls": [f"{self.base_url}/svc/{service_id}"],
            "latestCreatedRevision": f"{name}/revisions/{service_id}-{generation:05d}",
            "reconciling": True,
        }
        metadata = {
            "@type": "type.googleapis.com/google.cloud.run.v2.Service",
            **service,
            "conditions": [
                {"type": "Ready", "state": "CONDITION_PENDING"},
                {"type": "RoutesReady", "state": "CONDITION_PENDING"},
            ],
        }
        self.services[name] = service
        op_name = f"projects/{self.project}/locations/{region}/operations/{uuid.uuid4()}"
        self.service_ops[name] = op_name

        def finish():
            service["reconciling"] = False
            if not self.container_starts:
                message = (
                    f"Revision '{service_id}-{generation:05d}' is not ready and cannot serve "
                    "traffic. The user-provided container failed to start and listen on the "
                    "port defined provided by the PORT=8080 environment variable within the "
                    "allocated timeout."
                )
                service["terminalCondition"] = {
                    "type": "Ready",
                    "state": "CONDITION_FAILED",
                    "message": message,
                }
                return {"error": {"code": 9, "message": message}}
            service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_SUCCEEDED"}
            service["latestReadyRevision"] = service["latestCreatedRevision"]
            for condition in metadata["conditions"]:
                condition["state"] = "CONDITION_SUCCEEDED"
            return {"response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", **service}}

        return Reply(200, self.new_op(op_name, finish, metadata))

    def h_run_projects_locations_services_create(self, req, **_):
        parent = req.path.removeprefix("v2/").removesuffix("/services")
        name = f"{parent}/services/{dict(req.params)['serviceId']}"
        if name in self.services:
            return Reply(409, google_error(409, "ALREADY_EXISTS", f"Resource '{name}' already exists."))
        problem = self._gpu_problem(parent.rsplit("/", 1)[-1], req.body)
        return problem or self._deploy(name, req.body, 1)

    def h_run_projects_locations_services_patch(self, req, **_):
        name = req.path.removeprefix("v2/")
        if name not in self.services:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        if req.body.get("name") != name:
            return Reply(400, google_error(400, "INVALID_ARGUMENT", "name must match the URL"))
        problem = self._gpu_problem(name.split("/")[3], req.body)
        generation = int(self.services[name]["generation"]) + 1
        return problem or self._deploy(name, req.body, generation)

    def h_run_projects_locations_services_delete(self, req, **_):
        name = req.path.removeprefix("v2/")
        service = self.services.pop(name, None)
        if service is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        self.policies.pop(name, None)
        region = name.split("/")[3]
        return Reply(
            200,
            self.new_op(
                f"projects/{self.project}/locations/{region}/operations/{uuid.uuid4()}",
                lambda: {"response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", **service}},
            ),
        )

    def _resource(self, req, verb: str) -> str:
        return req.path.removeprefix("v2/").removesuffix(f":{verb}")

    def h_run_projects_locations_services_getIamPolicy(self, req, **_):
        name = self._resource(req, "getIamPolicy")
        if name not in self.services:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        return Reply(200, self.policies.get(name, {"etag": "ACAB"}))

    def h_run_projects_locations_services_setIamPolicy(self, req, **_):
        name = self._resource(req, "setIamPolicy")
        if name not in self.services:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        current = self.policies.get(name, {"etag": "ACAB"})
        sent = req.body["policy"]
        if sent.get("etag") and sent["etag"] != current["etag"]:
            return Reply(409, google_error(409, "ABORTED", "The policy was changed meanwhile."))
        policy = {**sent, "etag": etag()}
        self.policies[name] = policy
        return Reply(200, policy)

    def invokers(self, name: str) -> set[str]:
        bindings = self.policies.get(name, {}).get("bindings", [])
        return {m for b in bindings if b["role"] == "roles/run.invoker" for m in b["members"]}

    def h_run_projects_locations_services_testIamPermissions(self, req, email, **_):
        name = self._resource(req, "testIamPermissions")
        can = "run.routes.invoke" not in self.denied or f"serviceAccount:{email}" in self.invokers(name)
        asked = req.body.get("permissions", [])
        return Reply(200, {"permissions": [p for p in asked if p != "run.routes.invoke" or can]})

    # IAM ------------------------------------------------------------------------------------
    def h_iam_projects_serviceAccounts_get(self, req, **_):
        email = req.path.rsplit("/", 1)[-1]
        account = self.accounts.get(email)
        if account is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"Unknown service account {email}"))
        return Reply(200, account)

    def h_iam_projects_serviceAccounts_create(self, req, **_):
        email = f"{req.body['accountId']}@{self.project}.iam.gserviceaccount.com"
        if email in self.accounts:
            return Reply(409, google_error(409, "ALREADY_EXISTS", "Service account exists."))
        self.accounts[email] = {
            "name": f"projects/{self.project}/serviceAccounts/{email}",
            "email": email,
            "projectId": self.project,
            "uniqueId": str(next(self._ids)).zfill(21),
            "displayName": req.body["serviceAccount"].get("displayName", ""),
        }
        self.unknown_for[email] = self.new_account_lag
        return Reply(200, self.accounts[email])

    # Secret Manager -------------------------------------------------------------------------
    def _secret(self, req, verb: str) -> tuple[str, Reply | None]:
        name = req.path.removeprefix("v1/").removesuffix(f":{verb}")
        if name not in self.secrets:
            return name, Reply(404, google_error(404, "NOT_FOUND", f"Secret [{name}] not found."))
        return name, None

    def h_secretmanager_projects_secrets_getIamPolicy(self, req, **_):
        name, missing = self._secret(req, "getIamPolicy")
        return missing or Reply(200, self.policies.get(name, {"version": 1, "etag": "BwYAAAAAAAA="}))

    def h_secretmanager_projects_secrets_setIamPolicy(self, req, **_):
        name, missing = self._secret(req, "setIamPolicy")
        if missing:
            return missing
        current = self.policies.get(name, {"etag": "BwYAAAAAAAA="})
        sent = req.body["policy"]
        if sent.get("etag") and sent["etag"] != current["etag"]:
            return Reply(409, google_error(409, "ABORTED", "The policy was changed meanwhile."))
        self.policies[name] = {**sent, "etag": etag()}
        return Reply(200, self.policies[name])

    def accessors(self, name: str) -> set[str]:
        bindings = self.policies.get(name, {}).get("bindings", [])
        role = "roles/secretmanager.secretAccessor"
        return {m for b in bindings if b["role"] == role for m in b["members"]}

    # The deployed service -----------------------------------------------------------------
    def _embed(self, body: dict) -> Reply:
        """Ollama's /api/embed for the image's embedding model: one vector per input."""
        self.embed_calls.append(body)
        if body.get("model", "").removesuffix(":latest") != "embeddinggemma":
            return Reply(404, {"error": f"model '{body.get('model')}' not found"})
        texts = body["input"] if isinstance(body.get("input"), list) else [body.get("input", "")]
        vectors = [[float(len(t) % 7), 1.0, 0.5] for t in texts]
        return Reply(200, {"model": body["model"], "embeddings": vectors, "prompt_eval_count": 1})

    def _openai(self, name: str, sub: str, body: dict) -> Reply:
        """vLLM's OpenAI-compatible server: it starts only if it could read its token."""
        service = self.services[name]
        self.openai_calls.append((sub, body))
        if missing := _unreadable_secrets(self, service):
            return Reply(503, {"error": f"container failed to start: secret {missing[0]} permission denied"})
        with self.lock:
            if self.service_busy_calls > 0:
                self.service_busy_calls -= 1
                return Reply(503, {"error": "The service is starting; no instance available."})
        served = _served_model(service)
        if sub == "v1/models":
            return Reply(
                200, {"object": "list", "data": [{"id": served, "object": "model", "owned_by": "vllm"}]}
            )
        if sub != "v1/chat/completions":
            return Reply(404, {"detail": "Not Found"})
        if body.get("model") != served:
            return Reply(
                404,
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "NotFoundError",
                        "code": 404,
                    }
                },
            )
        return Reply(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": served,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "length",
                        "message": {"role": "assistant", "content": "Hello"},
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
            },
        )

    def _service_call(self, h, rest: str, raw: bytes) -> Reply:
        service_id, _, sub = rest.partition("/")
        name = next((n for n in self.services if n.endswith(f"/services/{service_id}")), None)
        if name is None:
            return Reply(404, {"error": "Page not found"})
        audience = self.services[name]["uri"]
        token = h.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, certs=self.server_public_pem, audience=audience)
        except ValueError:
            return Reply(401, {"error": "Your client does not have permission (bad ID token)."})
        invoker = "run.routes.invoke" not in self.denied  # e.g. an owner: no binding needed
        if not invoker and f"serviceAccount:{claims['email']}" not in self.invokers(name):
            return Reply(403, {"error": "Your client does not have permission to invoke it."})
        body = json.loads(raw or b"{}")
        if self.services[name]["labels"].get("engine") == "vllm":
            return self._openai(name, sub, body)
        if sub == "api/embed":  # the embedding model baked next to the chat model
            return self._embed(body)
        self.generate_calls.append(body)
        with self.lock:
            if self.service_busy_calls > 0:
                self.service_busy_calls -= 1
                return Reply(503, {"error": "The service is starting; no instance available."})
        if (
            sub != "api/generate"
            or model_slug(body.get("model", "")) != self.services[name]["labels"]["model"]
        ):
            return Reply(404, {"error": f"model '{body.get('model')}' not found"})
        if not self.model_loads:
            return Reply(
                500,
                {"error": "llama runner process has terminated: cudaMalloc failed: out of memory"},
            )
        return Reply(
            200,
            {
                "model": body["model"],
                "created_at": now(),
                "done": True,
                "response": "Because air scatters blue light more than red.",
            },
        )


def _served_model(service: dict) -> str:
    args = service["template"]["containers"][0].get("args", [])
    return next((a.split("=", 1)[1] for a in args if a.startswith("--served-model-name=")), "")


def _unreadable_secrets(fake: FakeGoogle, service: dict) -> list[str]:
    """Secrets the revision's env reads that its runtime account may not access."""
    account = (
        service["template"].get("serviceAccount")
        or f"{fake.project_number}-compute@developer.gserviceaccount.com"
    )
    refs = [
        e["valueSource"]["secretKeyRef"]["secret"]
        for e in service["template"]["containers"][0].get("env", [])
        if e.get("valueSource")
    ]
    return [
        s
        for s in refs
        if f"serviceAccount:{account}" not in fake.accessors(f"projects/{fake.project}/secrets/{s}")
    ]


def crypt_public(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
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
