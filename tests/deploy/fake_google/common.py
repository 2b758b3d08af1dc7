"""What every fake service shares: Google's facts as the fake knows them, replies, errors."""

from __future__ import annotations

import base64
import secrets
import time

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


def crypt_public(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
