"""Cloud Run's admin API: services (checked like Cloud Run checks GPUs), their operations, IAM."""

from __future__ import annotations

import uuid

from .common import GPU_MINIMUMS, GPU_REGIONS, Reply, etag, google_error, now


class CloudRun:
    def h_run_projects_locations_services_get(self, req, **_):
        name = req.path.removeprefix("v2/")
        service = self.services.get(name)
        if service is None:
            return Reply(
                404, google_error(404, "NOT_FOUND", f"Resource '{name.rsplit('/', 1)[-1]}' not found.")
            )
        op = self.service_ops.get(name)
        if op is not None and service.get("reconciling"):  # time passes for a follower polling the service
            self._poll(op)
        return Reply(200, service)

    def _gpu_problem(self, region: str, body: dict) -> Reply | None:
        template = body.get("template", {})
        gpu = template.get("nodeSelector", {}).get("accelerator")
        if not gpu:
            return None
        if region not in GPU_REGIONS.get(gpu, ()):
            return Reply(
                400,
                google_error(400, "INVALID_ARGUMENT", f"GPU type {gpu} is not supported in region {region}."),
            )
        probe = template["containers"][0].get("startupProbe", {})
        if probe.get("failureThreshold", 1) * probe.get("periodSeconds", 10) > 1800:  # Cloud Run, with a GPU
            return Reply(
                400,
                google_error(
                    400, "INVALID_ARGUMENT", "startupProbe: failureThreshold x periodSeconds exceeds 1800s."
                ),
            )
        limits = template["containers"][0]["resources"]["limits"]
        cpu, mem = int(limits["cpu"]), int(limits["memory"].removesuffix("Gi"))
        min_cpu, min_mem = GPU_MINIMUMS[gpu]
        if cpu < min_cpu or mem < min_mem:
            return Reply(
                400,
                google_error(
                    400, "INVALID_ARGUMENT", f"{gpu} requires at least {min_cpu} CPU and {min_mem}Gi memory."
                ),
            )
        zonal = not template.get("gpuZonalRedundancyDisabled", False)
        wanted = template.get("scaling", {}).get("maxInstanceCount", 100)
        if self.quota(gpu, region, zonal) < wanted:
            return Reply(
                429,
                google_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    f"Quota exceeded for total allowable count of GPUs per project per region: "
                    f"requested {wanted}, available {self.quota(gpu, region, zonal)}.",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [
                                {
                                    "subject": f"projects/{self.project}",
                                    "description": f"{gpu} quota in {region}",
                                }
                            ],
                        }
                    ],
                ),
            )
        return None

    def _deploy(self, name: str, body: dict, generation: int) -> Reply:
        region = name.split("/")[3]
        service_id = name.rsplit("/", 1)[-1]
        service = {
            **{k: v for k, v in body.items() if k != "name"},
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": str(generation),
            "createTime": now(),
            "updateTime": now(),
            "uri": f"{self.base_url}/svc/{service_id}",
            "urls": [f"{self.base_url}/svc/{service_id}"],
            "latestCreatedRevision": f"{name}/revisions/{service_id}-{generation:05d}",
            "reconciling": True,
        }
        metadata = {
            "@type": "type.googleapis.com/google.cloud.run.v2.Service",
            **service,
            "conditions": [
                {"type": "Ready", "state": "CONDITION_PENDING"},
                {"type": "RoutesReady", "state": "CONDITION_PENDING"},
            ],
        }
        self.services[name] = service
        op_name = f"projects/{self.project}/locations/{region}/operations/{uuid.uuid4()}"
        self.service_ops[name] = op_name

        def finish():
            service["reconciling"] = False
            if not self.container_starts:
                message = (
                    f"Revision '{service_id}-{generation:05d}' is not ready and cannot serve "
                    "traffic. The user-provided container failed to start and listen on the "
                    "port defined provided by the PORT=8080 environment variable within the "
                    "allocated timeout."
                )
                service["terminalCondition"] = {
                    "type": "Ready",
                    "state": "CONDITION_FAILED",
                    "message": message,
                }
                return {"error": {"code": 9, "message": message}}
            service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_SUCCEEDED"}
            service["latestReadyRevision"] = service["latestCreatedRevision"]
            for condition in metadata["conditions"]:
                condition["state"] = "CONDITION_SUCCEEDED"
            return {"response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", **service}}

        return Reply(200, self.new_op(op_name, finish, metadata))

    def h_run_projects_locations_services_create(self, req, **_):
        parent = req.path.removeprefix("v2/").removesuffix("/services")
        name = f"{parent}/services/{dict(req.params)['serviceId']}"
        if name in self.services:
            return Reply(409, google_error(409, "ALREADY_EXISTS", f"Resource '{name}' already exists."))
        problem = self._gpu_problem(parent.rsplit("/", 1)[-1], req.body)
        return problem or self._deploy(name, req.body, 1)

    def h_run_projects_locations_services_patch(self, req, **_):
        name = req.path.removeprefix("v2/")
        if name not in self.services:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        if req.body.get("name") != name:
            return Reply(400, google_error(400, "INVALID_ARGUMENT", "name must match the URL"))
        problem = self._gpu_problem(name.split("/")[3], req.body)
        generation = int(self.services[name]["generation"]) + 1
        return problem or self._deploy(name, req.body, generation)

    def h_run_projects_locations_services_delete(self, req, **_):
        name = req.path.removeprefix("v2/")
        service = self.services.pop(name, None)
        if service is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        self.policies.pop(name, None)
        region = name.split("/")[3]
        return Reply(
            200,
            self.new_op(
                f"projects/{self.project}/locations/{region}/operations/{uuid.uuid4()}",
                lambda: {"response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", **service}},
            ),
        )

    def _resource(self, req, verb: str) -> str:
        return req.path.removeprefix("v2/").removesuffix(f":{verb}")

    def h_run_projects_locations_services_getIamPolicy(self, req, **_):
        name = self._resource(req, "getIamPolicy")
        if name not in self.services:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        return Reply(200, self.policies.get(name, {"etag": "ACAB"}))

    def h_run_projects_locations_services_setIamPolicy(self, req, **_):
        name = self._resource(req, "setIamPolicy")
        if name not in self.services:
            return Reply(404, google_error(404, "NOT_FOUND", f"Resource '{name}' not found."))
        current = self.policies.get(name, {"etag": "ACAB"})
        sent = req.body["policy"]
        if sent.get("etag") and sent["etag"] != current["etag"]:
            return Reply(409, google_error(409, "ABORTED", "The policy was changed meanwhile."))
        policy = {**sent, "etag": etag()}
        self.policies[name] = policy
        return Reply(200, policy)

    def invokers(self, name: str) -> set[str]:
        bindings = self.policies.get(name, {}).get("bindings", [])
        return {m for b in bindings if b["role"] == "roles/run.invoker" for m in b["members"]}

    def h_run_projects_locations_services_testIamPermissions(self, req, email, **_):
        name = self._resource(req, "testIamPermissions")
        can = "run.routes.invoke" not in self.denied or f"serviceAccount:{email}" in self.invokers(name)
        asked = req.body.get("permissions", [])
        return Reply(200, {"permissions": [p for p in asked if p != "run.routes.invoke" or can]})
