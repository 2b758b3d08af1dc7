"""The notebook's required roles, as the permissions testIamPermissions can check.

testIamPermissions answers for permissions, not roles, so each role is
represented by the permissions this deployer actually exercises.
"""

from __future__ import annotations

REQUIRED_ROLES: dict[str, tuple[str, ...]] = {
    "roles/artifactregistry.admin": (
        "artifactregistry.repositories.create",
        "artifactregistry.repositories.get",
        "artifactregistry.repositories.delete",
        "artifactregistry.packages.delete",
    ),
    "roles/cloudbuild.builds.editor": ("cloudbuild.builds.create", "cloudbuild.builds.get"),
    "roles/run.developer": (
        "run.services.create",
        "run.services.get",
        "run.services.update",
        "run.services.delete",
        "run.operations.get",
    ),
    "roles/iam.serviceAccountUser": ("iam.serviceAccounts.actAs",),
    "roles/serviceusage.serviceUsageConsumer": (
        "serviceusage.services.use",
        "serviceusage.services.get",
    ),
    # Cloud Build writes its log to a bucket; reading it is how we tail the build.
    "roles/storage.admin": ("storage.buckets.get", "storage.objects.get"),
}

# Needed only in some runs; missing ones are warnings, with the role that has them.
OPTIONAL_PERMISSIONS: dict[str, tuple[str, str]] = {
    "serviceusage.services.enable": (
        "roles/serviceusage.serviceUsageAdmin",
        "only if an API still has to be enabled",
    ),
    "run.services.setIamPolicy": (
        "roles/run.admin",
        "only to grant roles/run.invoker (run.developer cannot set IAM policies)",
    ),
}

# Calling a Cloud Run service; who holds it need not be granted roles/run.invoker.
INVOKE = "run.routes.invoke"

# Roles that can do what a permission needs, for error messages.
_EXTRA_ROLES = {
    INVOKE: "roles/run.invoker",
    "iam.serviceAccounts.create": "roles/iam.serviceAccountAdmin",
}


def all_permissions() -> list[str]:
    perms = [p for ps in REQUIRED_ROLES.values() for p in ps]
    return perms + list(OPTIONAL_PERMISSIONS)


def role_for(permission: str) -> str | None:
    """The role (from the notebook's list where possible) granting a permission."""
    for role, perms in REQUIRED_ROLES.items():
        if permission in perms:
            return role
    if permission in OPTIONAL_PERMISSIONS:
        return OPTIONAL_PERMISSIONS[permission][0]
    if permission in _EXTRA_ROLES:
        return _EXTRA_ROLES[permission]
    prefix = permission.split(".")[0]
    guesses = {
        "run": "roles/run.developer",
        "cloudbuild": "roles/cloudbuild.builds.editor",
        "artifactregistry": "roles/artifactregistry.admin",
        "serviceusage": "roles/serviceusage.serviceUsageConsumer",
        "storage": "roles/storage.admin",
        "iam": "roles/iam.serviceAccountUser",
    }
    return guesses.get(prefix)


def missing_roles(granted: set[str]) -> dict[str, list[str]]:
    """Role -> its permissions the caller lacks (only roles with gaps)."""
    gaps = {}
    for role, perms in REQUIRED_ROLES.items():
        lacking = [p for p in perms if p not in granted]
        if lacking:
            gaps[role] = lacking
    return gaps
