"""Who is calling: IAM's member string, asked through the one request path to Google."""

from __future__ import annotations

import pytest
from google.oauth2 import credentials as user_credentials

from deploy import errors, iam
from deploy.config import Endpoints
from deploy.http import GoogleHttp


def _access_token(http: GoogleHttp) -> str:
    http.refresh()  # the fake's token endpoint issues it and remembers whose it is
    return http.credentials.token


def test_a_service_account_is_named_without_a_request(credentials, fake):
    http = GoogleHttp(credentials, fake.endpoints)
    assert iam.caller_member(http) == f"serviceAccount:deployer@{fake.project}.iam.gserviceaccount.com"
    assert fake.token_requests == 0


def test_other_credentials_are_named_by_tokeninfo_through_google_http(http, fake):
    token = _access_token(http)
    someone = user_credentials.Credentials(token=token)  # no email of its own, no ID token
    member = iam.caller_member(GoogleHttp(someone, fake.endpoints))
    assert member == f"serviceAccount:deployer@{fake.project}.iam.gserviceaccount.com"
    # the old call form (credentials, endpoints) still works, through a GoogleHttp of its own
    assert iam.caller_member(someone, fake.endpoints) == member


def test_an_unknown_token_or_no_tokeninfo_is_unknown_not_an_error(fake):
    stranger = user_credentials.Credentials(token="not-a-token-the-fake-issued")
    assert iam.caller_member(GoogleHttp(stranger, fake.endpoints)) is None
    nowhere = Endpoints.single_host("http://127.0.0.1:9")
    assert iam.caller_member(GoogleHttp(stranger, nowhere)) is None


def test_a_refresh_that_fails_is_a_sentence(http, fake):
    fake.sa_public_pem = fake.server_public_pem  # the key no longer matches
    with pytest.raises(errors.CredentialsError) as info:
        http.refresh()
    assert "access token" in info.value.message and "application-default login" in info.value.fix
    unreachable = user_credentials.Credentials(
        token=None, refresh_token="r", token_uri="http://127.0.0.1:9/token", client_id="c", client_secret="s"
    )
    with pytest.raises(errors.NetworkError) as down:
        GoogleHttp(unreachable, fake.endpoints).refresh()
    assert "token service" in down.value.message and "network" in down.value.fix
