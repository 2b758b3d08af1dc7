"""IAM: the caller's permissions, the caller's identity, service accounts, role grants."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from google.auth import jwt
from google.auth.credentials import Credentials

from .api import ApiRequest
from .config import Endpoints
from .errors import ConflictError, DeployError
from .events import Event, Notice
from .http import GoogleHttp

T = TypeVar("T")
# A new service account takes up to ~60 s to be usable in other APIs' IAM policies and
# service bodies; until then they answer 400 "Service account ... does not exist".
NEW_ACCOUNT_WAITS = (2, 4, 8, 16, 30, 30)  # 90 s in all
_ACCOUNT_MISSING = re.compile(r"service account .*(does not exist|not found)", re.IGNORECASE)


def test_project_permissions(project: str, permissions: list[str]) -> ApiRequest:
    """Which of `permissions` the caller holds on the project (Resource Manager v1)."""
    return ApiRequest(
        "cloudresourcemanager",
        "v1",
        "POST",
        f"v1/projects/{project}:testIamPermissions",
        body={"permissions": list(permissions)},
        purpose="Check the caller's permissions (the notebook's roles)",
        context={"project": project},
    )


def get_service_account(project: str, email: str) -> ApiRequest:
    return ApiRequest(
        "iam",
        "v1",
        "GET",
        f"v1/projects/{project}/serviceAccounts/{email}",
        purpose="Does the UI's service account exist?",
        context={"project": project},
    )


def create_service_account(project: str, account_id: str, display_name: str) -> ApiRequest:
    body = {"accountId": account_id, "serviceAccount": {"displayName": display_name}}
    return ApiRequest(
        "iam",
        "v1",
        "POST",
        f"v1/projects/{project}/serviceAccounts",
        body=body,
        purpose="Create the UI's own service account",
        when="if it is missing",
        context={"project": project},
    )


def service_account_email(project: str, account_id: str) -> str:
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def caller_member(http: GoogleHttp | Credentials, endpoints: Endpoints | None = None) -> str | None:
    """IAM member string for whoever the credentials belong to, or None if unknown.

    `http` is the deploy's GoogleHttp (the one request path to Google); bare credentials
    (and `endpoints`) get one of their own."""
    if not isinstance(http, GoogleHttp):
        http = GoogleHttp(http, endpoints or Endpoints())
    credentials = http.credentials
    email = _service_account_email(credentials)
    if email:
        return f"serviceAccount:{email}"
    if not credentials.valid:
        http.refresh()
    email = _service_account_email(credentials) or ""
    if email:
        return f"serviceAccount:{email}"
    email = _id_token_email(credentials) or ""
    if email:
        return f"user:{email}"
    try:
        info = http.token_info()
    except DeployError:
        return None
    email = str(info.get("email") or "") if isinstance(info, dict) else ""
    if not email:
        return None
    kind = "serviceAccount" if email.endswith(".gserviceaccount.com") else "user"
    return f"{kind}:{email}"


def _id_token_email(credentials: Credentials) -> str | None:
    """User credentials from gcloud carry an ID token naming the account."""
    token = getattr(credentials, "id_token", None)
    if not token:
        return None
    try:  # reading our own token's claims; nothing is trusted on its strength
        return jwt.decode(token, verify=False).get("email")
    except ValueError:
        return None


def _service_account_email(credentials: Credentials) -> str | None:
    email = getattr(credentials, "service_account_email", None)
    return email if email and email != "default" else None


def with_role(policy: dict[str, Any], role: str, members: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Policy with `members` holding `role` (unconditionally), and the members actually added."""
    policy = copy.deepcopy(policy)
    bindings = policy.setdefault("bindings", [])
    binding = next((b for b in bindings if b.get("role") == role and not b.get("condition")), None)
    if binding is None:
        binding = {"role": role, "members": []}
        bindings.append(binding)
    added = [m for m in members if m not in binding["members"]]
    binding["members"] = [*binding["members"], *added]
    return policy, added


def grant_role(
    http: GoogleHttp,
    get_req: ApiRequest,
    make_set_req: Callable[[dict[str, Any]], ApiRequest],
    role: str,
    members: list[str],
    attempts: int = 3,
) -> list[str]:
    """Read-modify-write a resource's IAM policy; an etag conflict (ABORTED) re-reads."""
    for attempt in range(attempts):
        policy, added = with_role(http.send(get_req), role, members)
        if not added:
            return []
        try:
            http.send(make_set_req(policy))
            return added
        except ConflictError:
            if attempt == attempts - 1:
                raise
    return []


def account_not_ready(err: DeployError) -> bool:
    """Google's answer while a just-created service account has not propagated yet."""
    return err.http_status == 400 and bool(_ACCOUNT_MISSING.search(err.message))


def when_account_ready(
    call: Callable[[], T],
    email: str,
    sleep: Callable[[float], None],
    waits: tuple[float, ...] = NEW_ACCOUNT_WAITS,
) -> Generator[Event, None, T]:
    """call(), retried with backoff while Google does not know the new account `email` yet."""
    for wait in (*waits, None):
        try:
            return call()
        except DeployError as err:
            if not account_not_ready(err):
                raise
            if wait is None:
                raise DeployError(
                    f"Google still does not know the new service account {email} after "
                    f"{sum(waits):g} s: {err.message}",
                    "Wait a minute and run the same command again (it reuses what exists); "
                    f"check it with `gcloud iam service-accounts describe {email}`.",
                    status=err.status,
                    http_status=err.http_status,
                ) from err
        yield Notice(f"{email} is new and not usable yet; retrying in {wait:g} s.")
        sleep(wait)
    raise AssertionError("unreachable")
