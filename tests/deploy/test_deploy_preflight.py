"""Preflight: a list of results, each ok/warn/fail with a sentence and a fix."""

from __future__ import annotations

import google.auth.compute_engine._metadata as metadata

from deploy import serviceusage
from deploy.preflight import enable_apis, preflight, settings_checks


def _by_name(results):
    return {r.name: r for r in results}


def test_everything_in_place(fake, http, cfg):
    fake.enabled |= {"run.googleapis.com", "artifactregistry.googleapis.com", "cloudbuild.googleapis.com"}
    fake.denied = set()
    results = _by_name(preflight(cfg, http=http))
    assert [r.status for r in results.values()] == ["ok"] * len(results), results
    assert results["credentials"].message == "Signed in as deployer@workshop-proj.iam.gserviceaccount.com."
    assert "GPU quota for nvidia-l4 in us-central1: 3" in results["quota"].message
    assert fake.problems == []


def test_disabled_apis_warn_and_missing_roles_fail(fake, http, cfg):
    fake.denied |= {"run.services.create", "cloudbuild.builds.get", "serviceusage.services.enable"}
    results = _by_name(preflight(cfg, http=http))
    assert results["apis"].status == "warn"
    assert "run.googleapis.com" in results["apis"].message
    assert "gcloud services enable" in results["apis"].fix
    assert results["apis"].action == "enable_apis"  # the page shows its Enable button from this
    assert results["role:roles/run.developer"].action == ""
    run_dev = results["role:roles/run.developer"]
    assert run_dev.status == "fail" and "run.services.create" in run_dev.message
    assert "--role=roles/run.developer" in run_dev.fix
    assert "--member=serviceAccount:deployer@" in run_dev.fix
    assert results["role:roles/cloudbuild.builds.editor"].status == "fail"
    assert results["optional:serviceusage.services.enable"].status == "warn"
    assert not results["role:roles/run.developer"].ok


def test_prebuilt_needs_no_build_roles(fake, http, cfg):
    fake.denied |= {"cloudbuild.builds.create", "artifactregistry.repositories.create"}
    results = _by_name(preflight(cfg.with_changes(model="gemma3:1b", use_prebuilt=True), http=http))
    assert not any(name.startswith("role:") for name in results)
    assert results["apis"].message.endswith("needs serviceusage.services.enable).")


def test_gpu_quota_zero_or_too_small(fake, http, cfg):
    fake.gpu_quota[("nvidia-l4", "us-central1", False)] = 0
    quota = _by_name(preflight(cfg, http=http))["quota"]
    assert quota.status == "fail" and "No GPU quota" in quota.message
    assert "without zonal redundancy" in quota.fix
    fake.gpu_quota[("nvidia-l4", "us-central1", False)] = 2
    quota = _by_name(preflight(cfg.with_changes(max_instances=3), http=http))["quota"]
    assert quota.status == "fail" and "below max instances 3" in quota.message
    fake.gpu_quota[("nvidia-l4", "us-central1", True)] = 5  # the zonal-redundant quota
    quota = _by_name(preflight(cfg.with_changes(max_instances=3, gpu_zonal_redundancy=True), http=http))[
        "quota"
    ]
    assert quota.status == "ok"


def test_unreadable_quota_is_a_warning(fake, http, cfg):
    from tests.deploy.fake_google import Reply, google_error

    fake.fail_next["serviceusage.services.consumerQuotaMetrics.list"] = Reply(
        403, google_error(403, "PERMISSION_DENIED", "Permission 'serviceusage.quotas.get' denied")
    )
    quota = _by_name(preflight(cfg, http=http))["quota"]
    assert quota.status == "warn" and quota.message.startswith("Could not check")


def test_no_credentials_fails_and_skips_the_rest(monkeypatch, tmp_path, cfg):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setattr(metadata, "_NO_GCE_CHECK", True)
    results = _by_name(preflight(cfg))
    assert results["credentials"].status == "fail"
    assert "gcloud auth application-default login" in results["credentials"].fix
    assert {results[n].status for n in ("apis", "permissions", "quota")} == {"skip"}


def test_settings_are_checked_without_google(cfg):
    bad = cfg.with_changes(region="europe-west2", cpu="2", memory="8Gi", concurrency=9, num_parallel=4)
    results = _by_name(settings_checks(bad))
    assert results["region"].status == "fail" and "us-central1" in results["region"].message
    assert "at least 4 CPU and 16Gi" in results["resources"].message
    assert "more than twice" in results["concurrency"].message
    good = _by_name(settings_checks(cfg))
    assert {r.status for r in good.values()} == {"ok"}


def test_enable_button_turns_the_apis_on(fake, http, cfg):
    events = list(enable_apis(cfg, http=http, sleep=lambda _s: None))
    assert events[-1].detail.startswith("enabled run.googleapis.com")
    assert {"run.googleapis.com", "cloudbuild.googleapis.com"} <= fake.enabled
    assert _by_name(preflight(cfg, http=http))["apis"].status == "ok"
    assert list(enable_apis(cfg, http=http))[-1].detail == "already enabled"


def test_an_apis_check_that_errs_offers_no_enable_button(fake, http, cfg):
    from tests.deploy.fake_google import Reply, google_error

    fake.fail_next["serviceusage.services.batchGet"] = Reply(
        403, google_error(403, "PERMISSION_DENIED", "Permission 'serviceusage.services.get' denied")
    )
    apis = _by_name(preflight(cfg, http=http))["apis"]
    assert apis.status == "warn" and apis.message.startswith("Could not check") and apis.action == ""


def test_resource_manager_off_is_explained_and_enabled(fake, http, cfg):
    fake.enabled |= {"run.googleapis.com", "artifactregistry.googleapis.com", "cloudbuild.googleapis.com"}
    fake.enabled.discard("cloudresourcemanager.googleapis.com")
    results = _by_name(preflight(cfg, http=http))
    assert "cloudresourcemanager.googleapis.com" in results["apis"].message
    assert "lets this preflight check your roles" in results["apis"].message
    perms = results["permissions"]
    assert perms.status == "warn" and perms.action == "enable_apis"
    assert perms.message.startswith(
        "Cannot check your roles: the preflight asks the Cloud Resource Manager API"
    )
    assert "gcloud services enable cloudresourcemanager.googleapis.com" in perms.fix
    events = list(enable_apis(cfg, http=http, sleep=lambda _s: None))
    assert events[-1].detail == "enabled cloudresourcemanager.googleapis.com"
    assert _by_name(preflight(cfg, http=http))["permissions"].status in ("ok", "fail")


def test_gpu_quota_on_a_later_page_is_found(fake, http, cfg):
    fake.quota_page_size = 1  # the L4 metric without zonal redundancy is on page 2 of 4
    fake.gpu_quota[("nvidia-l4", "us-central1", False)] = 2
    quota = _by_name(preflight(cfg, http=http))["quota"]
    assert quota.status == "ok" and quota.message.endswith(": 2."), quota
    assert fake.called("serviceusage.services.consumerQuotaMetrics.list") == 4


def test_quota_paging_is_bounded(fake, http, cfg):
    fake.quota_page_size = 1
    metrics = serviceusage.all_quota_metrics(http.send, cfg.project, max_pages=2)["metrics"]
    assert len(metrics) == 2 and fake.called("serviceusage.services.consumerQuotaMetrics.list") == 2


def test_granting_invoker_without_set_iam_policy_fails_only_when_the_deploy_needs_it(fake, http, cfg):
    fake.enabled |= {"run.googleapis.com", "artifactregistry.googleapis.com", "cloudbuild.googleapis.com"}
    fake.denied = {"run.services.setIamPolicy"}  # a run.developer: it can invoke, not grant
    gap = _by_name(preflight(cfg, http=http))["optional:run.services.setIamPolicy"]
    assert gap.status == "warn"  # the caller can invoke already: the grant step is skipped
    ui = "serviceAccount:workshop-ui@workshop-proj.iam.gserviceaccount.com"
    gap = _by_name(preflight(cfg.with_changes(invoker_members=(ui,)), http=http))[
        "optional:run.services.setIamPolicy"
    ]
    assert gap.status == "fail" and ui in gap.message and "roles/run.admin" in gap.fix
    fake.denied = {"run.services.setIamPolicy", "run.routes.invoke"}
    gap = _by_name(preflight(cfg, http=http))["optional:run.services.setIamPolicy"]
    assert gap.status == "fail" and "cannot invoke" in gap.message
    assert fake.problems == []


def test_the_model_check_names_the_fit_and_its_fixes(cfg):
    good = _by_name(settings_checks(cfg.with_changes(model="gemma4:e4b")))["model"]
    assert good.status == "ok" and good.message.startswith("Fits: gemma4:e4b on nvidia-l4: ")
    bad = _by_name(settings_checks(cfg.with_changes(model="gemma4:31b")))["model"]
    assert bad.status == "fail" and "Will not fit: gemma4:31b on nvidia-l4" in bad.message
    assert bad.fix.startswith("Nearest fixes: ") and "gemma4:26b" in bad.fix
    unchecked = _by_name(settings_checks(cfg.with_changes(model="someone/tuned:q4")))["model"]
    assert unchecked.status == "warn" and "unchecked" in unchecked.message
