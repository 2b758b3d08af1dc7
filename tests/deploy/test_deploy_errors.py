"""Every failure reaches the user as a sentence (.message) and a fix (.fix)."""

from __future__ import annotations

import google.auth.compute_engine._metadata as metadata
import pytest

from deploy import artifactregistry, catalog, cloudrun, errors
from deploy import events as ev
from deploy.http import GoogleHttp, load_credentials
from tests.deploy.fake_google import GPU_REGIONS, Reply, google_error


def _failed(events) -> ev.Failed:
    last = events[-1]
    assert isinstance(last, ev.Failed), events
    assert last.message and last.fix
    return last


def test_no_application_default_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file
    monkeypatch.setattr(metadata, "_NO_GCE_CHECK", True)  # not on Google Cloud
    with pytest.raises(errors.CredentialsError) as info:
        load_credentials()
    assert "No Google Cloud credentials" in info.value.message
    assert "gcloud auth application-default login" in info.value.fix
    with pytest.raises(errors.CredentialsError):
        GoogleHttp()


def test_adc_from_a_key_file_is_used(monkeypatch, sa_file, fake):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_file))
    creds, project = load_credentials()
    assert project == fake.project and creds.service_account_email.startswith("deployer@")


def test_access_token_is_fetched_and_refreshed(http, fake, cfg):
    fake.enabled.add("run.googleapis.com")
    with pytest.raises(errors.NotFoundError):
        http.send(cloudrun.get_service(cfg))
    assert fake.token_requests == 1
    fake.reject_next_token = True  # Google revokes it: AuthorizedSession must refresh
    with pytest.raises(errors.NotFoundError):
        http.send(cloudrun.get_service(cfg))
    assert fake.token_requests == 2
    fake.token_ttl = 60  # shorter than google-auth's refresh margin: refresh each call
    http.credentials.expiry = None
    http.credentials.token = None
    for _ in range(2):
        with pytest.raises(errors.NotFoundError):
            http.send(cloudrun.get_service(cfg))
    assert fake.token_requests >= 4


def test_token_endpoint_refusal_is_a_credentials_error(http, fake, cfg):
    fake.sa_public_pem = fake.server_public_pem  # the key no longer matches
    with pytest.raises(errors.CredentialsError) as info:
        http.send(cloudrun.get_service(cfg))
    assert "access token" in info.value.message
    assert "application-default login" in info.value.fix


def test_api_disabled_names_the_api_and_how_to_enable_it(http, fake, cfg):
    with pytest.raises(errors.ApiDisabledError) as info:
        http.send(cloudrun.get_service(cfg))
    err = info.value
    assert err.service == "run.googleapis.com"
    assert "not enabled in project workshop-proj" in err.message
    assert "gcloud services enable run.googleapis.com --project workshop-proj" in err.fix
    assert err.activation_url.startswith("https://console.developers.google.com/apis/api/")


def test_api_disabled_and_no_right_to_enable_it(fake, make_job, cfg):
    fake.denied.add("serviceusage.services.enable")
    failed = _failed(list(make_job(cfg).run()))
    assert failed.step == "apis" and failed.kind == "permission"
    assert "serviceusage.services.enable" in failed.message
    assert "roles/serviceusage.serviceUsageAdmin" in failed.fix


def test_missing_role_is_named(fake, make_job, cfg):
    fake.denied.add("run.services.create")
    failed = _failed(list(make_job(cfg).run()))
    assert failed.step == "service" and failed.kind == "permission"
    assert "run.services.create" in failed.message and "roles/run.developer" in failed.message
    assert "gcloud projects add-iam-policy-binding workshop-proj" in failed.fix
    assert "--role=roles/run.developer" in failed.fix


def test_no_gpu_quota_in_the_region(fake, make_job, cfg):
    fake.gpu_quota[("nvidia-l4", "us-central1", False)] = 0
    failed = _failed(list(make_job(cfg).run()))
    assert failed.step == "service" and failed.kind == "quota"
    assert "No nvidia-l4 GPU quota left for Cloud Run in us-central1" in failed.message
    assert "https://cloud.google.com/run/quotas#gpu" in failed.fix
    assert "run.googleapis.com/nvidia_l4_gpu_allocation" in failed.fix  # the quota to ask for
    assert fake.called("run.projects.locations.services.create") == 1  # not retried: it will not pass


def test_quota_as_a_failed_operation_is_translated_too():
    err = errors.from_status(
        {"code": 8, "message": "Quota exceeded for GPUs"}, {"gpu": "nvidia-l4", "region": "europe-west1"}
    )
    assert isinstance(err, errors.QuotaError) and "europe-west1" in err.message


def test_region_without_the_gpu_is_refused_with_the_regions_that_have_it(fake, make_job, cfg, monkeypatch):
    monkeypatch.setitem(GPU_REGIONS, "nvidia-l4", {"europe-west1"})  # Google changed its mind
    failed = _failed(list(make_job(cfg).run()))
    assert failed.kind == "invalid_argument"
    assert "not supported in region us-central1" in failed.message
    for region in catalog.GPU_TYPES["nvidia-l4"].regions:
        assert region in failed.fix


def test_repository_already_existing_is_reused(fake, make_job, cfg):
    name = artifactregistry.repository_name(cfg)
    fake.fail_next["artifactregistry.projects.locations.repositories.create"] = Reply(
        409, google_error(409, "ALREADY_EXISTS", f"the repository already exists: {name}")
    )
    events = list(make_job(cfg).run())
    assert events[-1].type == "done"
    finished = {e.step: e.detail for e in events if isinstance(e, ev.StepFinished)}
    assert finished["repository"] == "reusing ollama-workshop"


def test_service_created_meanwhile_is_updated(fake, make_job, cfg):
    fake.fail_next["run.projects.locations.services.create"] = Reply(
        409, google_error(409, "ALREADY_EXISTS", "Resource 'ollama-gemma2-9b' already exists.")
    )
    name = cloudrun.service_name(cfg)
    fake.services[name] = {"name": name, "generation": "1", "uri": "x", "labels": {}}
    fake.fail_next["run.projects.locations.services.get"] = Reply(
        404, google_error(404, "NOT_FOUND", "not found")
    )  # gone when we looked, back at create
    events = list(make_job(cfg).run())
    assert events[-1].type == "done"
    assert fake.called("run.projects.locations.services.patch") == 1


def test_concurrent_policy_change_is_retried(fake, make_job, cfg):
    fake.fail_next["run.projects.locations.services.setIamPolicy"] = Reply(
        409, google_error(409, "ABORTED", "There were concurrent policy changes.")
    )
    events = list(make_job(cfg).run())
    assert events[-1].type == "done"
    assert fake.called("run.projects.locations.services.setIamPolicy") == 2


def test_a_permission_about_quotas_is_a_permission_error():
    err = errors.from_http(
        403, google_error(403, "PERMISSION_DENIED", "Permission 'serviceusage.quotas.get' denied on project")
    )
    assert isinstance(err, errors.PermissionDeniedError)
    assert err.permission == "serviceusage.quotas.get"


def test_billing_disabled():
    err = errors.from_http(
        403,
        google_error(
            403,
            "PERMISSION_DENIED",
            "This API method requires billing to be enabled.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "BILLING_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {},
                }
            ],
        ),
        {"project": "p"},
    )
    assert isinstance(err, errors.BillingError) and "billing" in err.fix.lower()


def test_non_json_errors_and_server_errors_still_read_well(http, fake, cfg):
    err = errors.from_http(502, "<html>Bad Gateway</html>")
    assert "Bad Gateway" in err.message and err.fix
    fake.enabled.add("run.googleapis.com")
    fake.fail_next["run.projects.locations.services.get"] = Reply(
        503, google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
    )
    with pytest.raises(errors.NotFoundError):  # a GET is retried once the 503 passes
        http.send(cloudrun.get_service(cfg))


def test_unreachable_google_is_a_network_error(credentials, cfg):
    from deploy.config import Endpoints

    http = GoogleHttp(credentials, Endpoints.single_host("http://127.0.0.1:9"), sleep=lambda _s: None)
    credentials.token = "t"  # skip the token fetch: fail at the API call itself
    credentials.expiry = None
    with pytest.raises(errors.NetworkError) as info:
        http.send(cloudrun.get_service(cfg))
    assert "127.0.0.1:9" in info.value.message and info.value.fix
