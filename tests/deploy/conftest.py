"""Fixtures: a fake Google on 127.0.0.1 and real google-auth service-account credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.oauth2 import service_account

from deploy.config import DeployConfig
from deploy.http import GoogleHttp
from deploy.job import DeployJob
from tests.deploy.fake_google import FakeGoogle


def _rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def keys() -> dict[str, str]:
    """One key for the service account, one the fake uses to sign ID tokens."""
    from tests.deploy.fake_google import crypt_public

    sa = _rsa_pem()
    return {"sa": sa, "sa_public": crypt_public(sa), "server": _rsa_pem()}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake(keys):
    server = FakeGoogle(keys["sa_public"], keys["server"]).start()
    yield server
    server.stop()
    # Whatever a test did, nothing it sent (or the fake answered) broke the discovery docs.
    assert server.problems == []


@pytest.fixture
def sa_info(fake, keys) -> dict:
    """A service-account key file whose token_uri is the fake's token endpoint."""
    return {
        "type": "service_account",
        "project_id": fake.project,
        "private_key_id": "k1",
        "private_key": keys["sa"],
        "client_id": "1234567890",
        "client_email": f"deployer@{fake.project}.iam.gserviceaccount.com",
        "token_uri": fake.token_uri,
    }


@pytest.fixture
def sa_file(tmp_path, sa_info) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(sa_info))
    return path


@pytest.fixture
def credentials(sa_info):
    return service_account.Credentials.from_service_account_info(
        sa_info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )


@pytest.fixture
def http(credentials, fake) -> GoogleHttp:
    return GoogleHttp(credentials, fake.endpoints, sleep=lambda _s: None)


@pytest.fixture
def cfg(fake) -> DeployConfig:
    # the notebook's model: small enough that the fit check never is what a test is about
    return DeployConfig(project=fake.project, region="us-central1", model="gemma2:9b")


@pytest.fixture
def make_job(tmp_path, credentials, fake):
    def make(config: DeployConfig, **kwargs) -> DeployJob:
        kwargs.setdefault("credentials", credentials)
        kwargs.setdefault("endpoints", fake.endpoints)
        kwargs.setdefault("sleep", lambda _s: None)
        return DeployJob.create(config, tmp_path / "state", **kwargs)

    return make


@pytest.fixture
def reload_job(credentials, fake):
    """A brand-new DeployJob (as after a restart) reading a state file."""

    def load(path: Path) -> DeployJob:
        return DeployJob.load(path, credentials=credentials, endpoints=fake.endpoints, sleep=lambda _s: None)

    return load
