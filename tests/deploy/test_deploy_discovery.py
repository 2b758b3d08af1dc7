"""The discovery-document validator: it must accept real requests and fail bad ones."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from deploy import cloudbuild, cloudrun, serviceusage
from deploy.api import ApiRequest
from deploy.config import DeployConfig
from deploy.discovery import ValidationError, check_request, resolve, validate_request

CFG = DeployConfig("workshop-proj", "us-central1")


def _with_body(req: ApiRequest, mutate) -> ApiRequest:
    body = copy.deepcopy(req.body)
    mutate(body)
    return dataclasses.replace(req, body=body)


def test_resolves_methods_by_http_method_and_path_template():
    assert (
        resolve("run", "v2", "GET", "v2/projects/p/locations/r/services/s").id
        == "run.projects.locations.services.get"
    )
    assert (
        resolve("run", "v2", "GET", "v2/projects/p/locations/r/services/s:getIamPolicy").id
        == "run.projects.locations.services.getIamPolicy"
    )
    assert (
        resolve("run", "v2", "PATCH", "v2/projects/p/locations/r/services/s").id
        == "run.projects.locations.services.patch"
    )
    assert resolve("storage", "v1", "GET", "b/bucket.example.com/o/log-1.txt").id == "storage.objects.get"


def test_a_real_service_request_is_valid():
    req = cloudrun.create_service(CFG, CFG.image)
    assert validate_request(req) == []
    assert check_request(req) == "run.projects.locations.services.create"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda b: b["template"].update(gpuZonalRedundancyDisable=True),
            "unknown field 'gpuZonalRedundancyDisable'",
        ),
        (lambda b: b.update(ingress="ALL"), "'ALL' is not one of"),
        (lambda b: b["template"].update(maxInstanceRequestConcurrency="4"), "expected an integer"),
        (lambda b: b["template"].update(timeout=600), "expected a string"),
        (lambda b: b["template"].update(timeout="10m"), "duration like '600s'"),
        (
            lambda b: b["template"]["containers"][0]["resources"]["limits"].update(cpu=8),
            "limits['cpu']: expected a string",
        ),
        (lambda b: b["template"]["containers"][0].update(ports={"containerPort": 8080}), "expected an array"),
        (lambda b: b["template"].update(gpuZonalRedundancyDisabled="true"), "expected true/false"),
        (lambda b: b.update(uri="https://x.run.app"), "output-only field"),
        (lambda b: b["template"]["scaling"].update(maxInstanceCount=2**31), "outside int32"),
    ],
)
def test_bad_service_bodies_fail(mutate, expected):
    problems = validate_request(_with_body(cloudrun.create_service(CFG, CFG.image), mutate))
    assert any(expected in p for p in problems), problems


def test_int64_fields_must_be_strings_of_digits():
    req = cloudbuild.create_build(CFG)
    assert validate_request(req) == []
    bad = _with_body(req, lambda b: b["options"].update(diskSizeGb=100))
    assert any("expected a string" in p for p in validate_request(bad))
    bad = _with_body(req, lambda b: b["options"].update(diskSizeGb="100GB"))
    assert any("int64 written as a string of digits" in p for p in validate_request(bad))
    good = _with_body(req, lambda b: b["options"].update(diskSizeGb="100"))
    assert validate_request(good) == []


def test_wrong_machine_type_enum_fails():
    bad = _with_body(cloudbuild.create_build(CFG), lambda b: b["options"].update(machineType="e2-highcpu-32"))
    assert any("is not one of" in p for p in validate_request(bad))


def test_query_parameters_are_checked():
    req = cloudrun.create_service(CFG, CFG.image)
    assert "unknown query parameter 'serviceID'" in " ".join(
        validate_request(dataclasses.replace(req, params=(("serviceID", "x"),)))
    )
    assert "must be true/false" in " ".join(
        validate_request(dataclasses.replace(req, params=(*req.params, ("validateOnly", "yes"))))
    )
    quota = serviceusage.quota_metrics("p")
    assert "is not one of view" in " ".join(
        validate_request(dataclasses.replace(quota, params=(("view", "ALL"),)))
    )
    # names is a repeated parameter: several values are fine
    assert validate_request(serviceusage.batch_get("p", ("a.googleapis.com", "b"))) == []


@pytest.mark.parametrize(
    "path",
    [
        "v2/projects/p/locations/r/operations/o/extra",  # too many segments
        "v2/projects//locations/r/services/s",  # empty path parameter
        "v2/projects/p/services/s",  # missing location
    ],
)
def test_malformed_paths_fail(path):
    assert validate_request(ApiRequest("run", "v2", "GET", path))


def test_unknown_paths_and_unexpected_bodies_fail():
    with pytest.raises(ValidationError, match="no method"):
        check_request(ApiRequest("run", "v2", "POST", "v2/projects/p/locations/r/servicez"))
    problems = validate_request(
        ApiRequest("run", "v2", "GET", "v2/projects/p/locations/r/services/s", body={})
    )
    assert problems == ["run.projects.locations.services.get takes no request body"]


def test_byte_format_is_base64():
    policy = {"bindings": [{"role": "roles/run.invoker", "members": ["user:a@b.c"]}], "etag": "not base64!"}
    problems = validate_request(cloudrun.set_iam_policy(CFG, policy))
    assert any("base64" in p for p in problems)
    policy["etag"] = "BwYAAAAAAAA="
    assert validate_request(cloudrun.set_iam_policy(CFG, policy)) == []
