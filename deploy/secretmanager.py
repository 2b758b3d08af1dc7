"""Secret Manager v1: let the hosted UI's account read the secrets its revision references."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import iam
from .api import ApiRequest
from .errors import NotFoundError

if TYPE_CHECKING:
    from .http import GoogleHttp

ACCESSOR = "roles/secretmanager.secretAccessor"


def secret_name(project: str, secret: str) -> str:
    return f"projects/{project}/secrets/{secret}"


def get_iam_policy(project: str, secret: str) -> ApiRequest:
    return ApiRequest(
        "secretmanager",
        "v1",
        "GET",
        f"v1/{secret_name(project, secret)}:getIamPolicy",
        purpose=f"Read who may read the secret {secret}",
        context={"project": project},
    )


def set_iam_policy(project: str, secret: str, policy: dict) -> ApiRequest:
    return ApiRequest(
        "secretmanager",
        "v1",
        "POST",
        f"v1/{secret_name(project, secret)}:setIamPolicy",
        body={"policy": policy},
        purpose=f"Grant {ACCESSOR} on {secret}",
        when="if the member lacks it",
        context={"project": project},
    )


def grant_accessor(http: GoogleHttp, project: str, secret: str, member: str) -> list[str]:
    """Add `member` to the secret's accessors; a missing secret is a sentence and a fix."""
    try:
        return iam.grant_role(
            http,
            get_iam_policy(project, secret),
            lambda p: set_iam_policy(project, secret, p),
            ACCESSOR,
            [member],
        )
    except NotFoundError as err:
        raise NotFoundError(
            f"The secret '{secret}' does not exist in project {project}.",
            f"Create it (`printf %s VALUE | gcloud secrets create {secret} --data-file=- "
            f"--project={project}`), or leave its name out, then run again.",
            status=err.status,
            http_status=err.http_status,
        ) from err
