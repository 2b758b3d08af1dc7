"""Long-running operations, Service Usage, Resource Manager, IAM and Secret Manager."""

from __future__ import annotations

from .common import GPU_REGIONS, PROJECT_NUMBER, Reply, etag, google_error


class Operations:
    def new_op(self, name: str, finish, metadata: dict | None = None) -> dict:
        self.ops[name] = {"polls": self.polls_to_done, "finish": finish, "metadata": metadata, "result": None}
        return self._op_view(name)

    def _op_view(self, name: str) -> dict:
        op = self.ops[name]
        view = {"name": name, "done": op["result"] is not None}
        if op["metadata"] is not None:
            view["metadata"] = op["metadata"]
        if op["result"] is not None:
            view.update(op["result"])
        return view

    def _poll(self, name: str) -> Reply:
        op = self.ops.get(name)
        if op is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"Operation {name} not found."))
        if op["result"] is None:
            op["polls"] -= 1
            if op["polls"] <= 0:
                op["result"] = op["finish"]()
        return Reply(200, self._op_view(name))

    def h_serviceusage_operations_get(self, req, **_):
        return self._poll(req.path.removeprefix("v1/"))

    def h_artifactregistry_projects_locations_operations_get(self, req, **_):
        return self._poll(req.path.removeprefix("v1/"))

    def h_run_projects_locations_operations_get(self, req, **_):
        return self._poll(req.path.removeprefix("v2/"))


class ServiceUsage:
    def _service_entry(self, name: str) -> dict:
        state = "ENABLED" if name in self.enabled else "DISABLED"
        return {
            "name": f"projects/{PROJECT_NUMBER}/services/{name}",
            "parent": f"projects/{PROJECT_NUMBER}",
            "state": state,
            "config": {"name": name, "title": name},
        }

    def h_serviceusage_services_batchGet(self, req, **_):
        names = [v.rsplit("/", 1)[-1] for k, v in req.params if k == "names"]
        return Reply(200, {"services": [self._service_entry(n) for n in names]})

    def h_serviceusage_services_batchEnable(self, req, **_):
        wanted = req.body["serviceIds"]

        def finish():
            self.enabled.update(wanted)
            return {
                "response": {
                    "@type": "type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse",
                    "services": [self._service_entry(n) for n in wanted],
                }
            }

        return Reply(200, self.new_op(f"operations/acf.p2-{next(self._ids)}", finish))

    def h_serviceusage_services_consumerQuotaMetrics_list(self, req, **_):
        metrics = []
        for gpu in GPU_REGIONS:
            word = "nvidia_l4" if gpu == "nvidia-l4" else "nvidia_rtx_pro_6000"
            for zonal in (True, False):
                suffix = "" if zonal else "_no_zonal_redundancy"
                metric = f"run.googleapis.com/{word}_gpu_allocation{suffix}"
                buckets = [{"effectiveLimit": "0", "defaultLimit": "0"}]
                buckets += [
                    {
                        "effectiveLimit": str(self.quota(gpu, r, zonal)),
                        "defaultLimit": "0",
                        "dimensions": {"region": r},
                    }
                    for r in sorted(GPU_REGIONS[gpu])
                ]
                name = (
                    f"projects/{PROJECT_NUMBER}/services/run.googleapis.com/"
                    f"consumerQuotaMetrics/{metric.replace('/', '%2F')}"
                )
                metrics.append(
                    {
                        "name": name,
                        "metric": metric,
                        "unit": "1/{project}/{region}",
                        "displayName": f"Total {gpu} GPU allocation"
                        + ("" if zonal else " without zonal redundancy")
                        + ", per project per region",
                        "consumerQuotaLimits": [
                            {
                                "name": f"{name}/limits/%2Fproject%2Fregion",
                                "metric": metric,
                                "isPrecise": True,
                                "unit": "1/{project}/{region}",
                                "quotaBuckets": buckets,
                            }
                        ],
                    }
                )
        if not self.quota_page_size:
            return Reply(200, {"metrics": metrics})
        start = int(dict(req.params).get("pageToken") or 0)
        page = {"metrics": metrics[start : start + self.quota_page_size]}
        if start + self.quota_page_size < len(metrics):
            page["nextPageToken"] = str(start + self.quota_page_size)
        return Reply(200, page)

    def quota(self, gpu: str, region: str, zonal: bool) -> int:
        return self.gpu_quota.get((gpu, region, zonal), self.default_gpu_quota)


class ResourceManager:
    def h_cloudresourcemanager_projects_testIamPermissions(self, req, **_):
        asked = req.body.get("permissions", [])
        return Reply(200, {"permissions": [p for p in asked if p not in self.denied]})

    def h_cloudresourcemanager_projects_get(self, req, **_):
        if req.path.rsplit("/", 1)[-1] != self.project:
            return Reply(403, google_error(403, "PERMISSION_DENIED", "The caller does not have permission"))
        return Reply(
            200,
            {
                "projectId": self.project,
                "projectNumber": self.project_number,
                "name": self.project,
                "lifecycleState": "ACTIVE",
            },
        )


class Iam:
    def h_iam_projects_serviceAccounts_get(self, req, **_):
        email = req.path.rsplit("/", 1)[-1]
        account = self.accounts.get(email)
        if account is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"Unknown service account {email}"))
        return Reply(200, account)

    def h_iam_projects_serviceAccounts_create(self, req, **_):
        email = f"{req.body['accountId']}@{self.project}.iam.gserviceaccount.com"
        if email in self.accounts:
            return Reply(409, google_error(409, "ALREADY_EXISTS", "Service account exists."))
        self.accounts[email] = {
            "name": f"projects/{self.project}/serviceAccounts/{email}",
            "email": email,
            "projectId": self.project,
            "uniqueId": str(next(self._ids)).zfill(21),
            "displayName": req.body["serviceAccount"].get("displayName", ""),
        }
        self.unknown_for[email] = self.new_account_lag
        return Reply(200, self.accounts[email])


class SecretManager:
    def _secret(self, req, verb: str) -> tuple[str, Reply | None]:
        name = req.path.removeprefix("v1/").removesuffix(f":{verb}")
        if name not in self.secrets:
            return name, Reply(404, google_error(404, "NOT_FOUND", f"Secret [{name}] not found."))
        return name, None

    def h_secretmanager_projects_secrets_getIamPolicy(self, req, **_):
        name, missing = self._secret(req, "getIamPolicy")
        return missing or Reply(200, self.policies.get(name, {"version": 1, "etag": "BwYAAAAAAAA="}))

    def h_secretmanager_projects_secrets_setIamPolicy(self, req, **_):
        name, missing = self._secret(req, "setIamPolicy")
        if missing:
            return missing
        current = self.policies.get(name, {"etag": "BwYAAAAAAAA="})
        sent = req.body["policy"]
        if sent.get("etag") and sent["etag"] != current["etag"]:
            return Reply(409, google_error(409, "ABORTED", "The policy was changed meanwhile."))
        self.policies[name] = {**sent, "etag": etag()}
        return Reply(200, self.policies[name])

    def accessors(self, name: str) -> set[str]:
        bindings = self.policies.get(name, {}).get("bindings", [])
        role = "roles/secretmanager.secretAccessor"
        return {m for b in bindings if b["role"] == role for m in b["members"]}
