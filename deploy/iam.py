"""IAM: the caller's permissions, the caller's identity, service accounts."""

from __future__ import annotations

import requests
from google.auth import jwt
from google.auth.transport.requests import Request

from deploy.api import ApiRequest
from deploy.config import Endpoints


def test_project_permissions(project: str, permissions: list[str]) -> ApiRequest:
    """Which of `permissions` the caller holds on the project (Resource Manager v1)."""
    return ApiRequest("cloudresourcemanager", "v1", "POST",
                      f"v1/projects/{project}:testIamPermissions",
                      body={"permissions": list(permissions)},
                      purpose="Check the caller's permissions (the notebook's roles)",
                      context={"project": project})


def get_service_account(project: str, email: str) -> ApiRequest:
    return ApiRequest("iam", "v1", "GET", f"v1/projects/{project}/serviceAccounts/{email}",
                      purpose="Does the UI's service account exist?",
                      context={"project": project})


def create_service_account(project: str, account_id: str, display_name: str) -> ApiRequest:
    body = {"accountId": account_id, "serviceAccount": {"displayName": display_name}}
    return ApiRequest("iam", "v1", "POST", f"v1/projects/{project}/serviceAccounts", body=body,
                      purpose="Create the UI's own service account", when="if it is missing",
                      context={"project": project})


def service_account_email(project: str, account_id: str) -> str:
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def caller_member(credentials, endpoints: Endpoints | None = None) -> str | None:
    """IAM member string for whoever the credentials belong to, or None if unknown."""
    email = _service_account_email(credentials)
    if email:
        return f"serviceAccount:{email}"
    try:
        if not credentials.valid:
            credentials.refresh(Request())
        email = _service_account_email(credentials)
        if email:
            return f"serviceAccount:{email}"
        email = _id_token_email(credentials)
        if email:
            return f"user:{email}"
        url = (endpoints or Endpoints()).tokeninfo
        resp = requests.get(url, params={"access_token": credentials.token}, timeout=10)
        email = resp.json().get("email") if resp.ok else None
    except (requests.RequestException, ValueError, AttributeError):
        return None
    if not email:
        return None
    kind = "serviceAccount" if email.endswith(".gserviceaccount.com") else "user"
    return f"{kind}:{email}"


def _id_token_email(credentials) -> str | None:
    """User credentials from gcloud carry an ID token naming the account."""
    token = getattr(credentials, "id_token", None)
    if not token:
        return None
    try:  # reading our own token's claims; nothing is trusted on its strength
        return jwt.decode(token, verify=False).get("email")
    except ValueError:
        return None


def _service_account_email(credentials) -> str | None:
    email = getattr(credentials, "service_account_email", None)
    return email if email and email != "default" else None
