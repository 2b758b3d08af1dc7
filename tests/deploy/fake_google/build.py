"""Artifact Registry and Cloud Build: a build advances one step per poll; its log grows in a bucket."""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import unquote

from .common import PROJECT_NUMBER, Reply, google_error, now


class ArtifactRegistry:
    def h_artifactregistry_projects_locations_repositories_get(self, req, **_):
        name = req.path.removeprefix("v1/")
        repo = self.repos.get(name)
        if repo is None or repo.get("pending"):
            return Reply(404, google_error(404, "NOT_FOUND", f"Repository {name} not found"))
        return Reply(200, repo)

    def h_artifactregistry_projects_locations_repositories_create(self, req, **_):
        parent = req.path.removeprefix("v1/").removesuffix("/repositories")
        name = f"{parent}/repositories/{dict(req.params)['repositoryId']}"
        if name in self.repos:
            return Reply(409, google_error(409, "ALREADY_EXISTS", f"the repository already exists: {name}"))
        repo = {**req.body, "name": name, "createTime": now(), "updateTime": now(), "pending": True}
        self.repos[name] = repo

        def finish():
            repo.pop("pending")
            return {
                "response": {
                    "@type": "type.googleapis.com/google.devtools.artifactregistry.v1.Repository",
                    **repo,
                }
            }

        return Reply(200, self.new_op(f"{parent}/operations/{uuid.uuid4()}", finish))

    def h_artifactregistry_projects_locations_repositories_delete(self, req, **_):
        name = req.path.removeprefix("v1/")
        if name not in self.repos:
            return Reply(404, google_error(404, "NOT_FOUND", f"Repository {name} not found"))
        del self.repos[name]
        parent = name.split("/repositories/")[0]
        return Reply(200, self.new_op(f"{parent}/operations/{uuid.uuid4()}", lambda: {"response": {}}))

    def h_artifactregistry_projects_locations_repositories_packages_delete(self, req, **_):
        name = unquote(req.path.removeprefix("v1/"))
        if name not in self.packages:
            return Reply(404, google_error(404, "NOT_FOUND", f"Package {name} not found"))
        self.packages.discard(name)
        parent = name.split("/repositories/")[0]
        return Reply(200, self.new_op(f"{parent}/operations/{uuid.uuid4()}", lambda: {"response": {}}))


class CloudBuild:
    def h_cloudbuild_projects_locations_builds_create(self, req, **_):
        parent = req.path.removeprefix("v1/").removesuffix("/builds")
        region = parent.rsplit("/", 1)[-1]
        if self.build_regions is not None and region not in self.build_regions:
            return Reply(
                400,
                google_error(
                    400,
                    "FAILED_PRECONDITION",
                    "failed precondition: due to quota restrictions, cannot run builds in this "
                    "region. Please contact support",
                ),
            )
        bad = [t for t in req.body.get("tags", []) if not re.fullmatch(r"[\w][\w.-]{0,127}", t, re.ASCII)]
        if bad:  # Cloud Build's own rule (the discovery document only says "string")
            return Reply(
                400,
                google_error(400, "INVALID_ARGUMENT", f'invalid build: invalid tag "{bad[0]}"'),
            )
        build_id = str(uuid.uuid4())
        subs = req.body.get("substitutions", {})
        steps = [
            {"id": s.get("id", ""), "name": s["name"], "args": s.get("args", []), "status": "QUEUED"}
            for s in req.body["steps"]
        ]
        build = {
            "id": build_id,
            "name": f"{parent}/builds/{build_id}",
            "projectId": self.project,
            "status": "QUEUED",
            "createTime": now(),
            "steps": steps,
            "images": [subs.get("_IMAGE", i) for i in req.body.get("images", [])],
            "substitutions": subs,
            "options": req.body.get("options", {}),
            "timeout": req.body.get("timeout", "600s"),
            "tags": req.body.get("tags", []),
            "logsBucket": f"gs://{PROJECT_NUMBER}.cloudbuild-logs.googleusercontent.com",
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={region}/"
            f"{build_id}?project={PROJECT_NUMBER}",
        }
        self.builds[build_id] = {"build": build, "polls": 0, "log": ""}
        meta = {
            "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
            "build": dict(build),
        }
        op = self.new_op(f"{parent}/operations/{uuid.uuid4()}", lambda: {"response": build}, metadata=meta)
        return Reply(200, op)

    def h_cloudbuild_projects_locations_builds_list(self, req, **_):
        """Only the filter the deployer sends (tags="T"); Cloud Build returns newest first."""
        parent = req.path.removeprefix("v1/").removesuffix("/builds")
        params = dict(req.params)
        match = re.fullmatch(r'tags="([^"]+)"', params.get("filter", ""))
        if match is None or params.get("projectId") != self.project:
            return Reply(400, google_error(400, "INVALID_ARGUMENT", "unsupported filter or project"))
        found = [
            r["build"]
            for r in reversed(self.builds.values())
            if r["build"]["name"].startswith(f"{parent}/") and match.group(1) in r["build"]["tags"]
        ]
        return Reply(200, {"builds": found[: int(params.get("pageSize") or 50)]})

    def h_cloudbuild_projects_locations_builds_get(self, req, **_):
        build_id = req.path.rsplit("/", 1)[-1]
        record = self.builds.get(build_id)
        if record is None:
            return Reply(404, google_error(404, "NOT_FOUND", f"build {build_id} not found"))
        self._advance_build(record)
        return Reply(200, record["build"])

    def _advance_build(self, record: dict) -> None:
        """Each poll moves the build on: QUEUED, then one poll per step, then the end."""
        build, steps = record["build"], record["build"]["steps"]
        if build["status"] in ("SUCCESS", "FAILURE"):
            return
        record["polls"] += 1
        index = record["polls"] - 2  # first poll: still queued
        if index < 0:
            return
        build["status"] = "WORKING"
        build.setdefault("startTime", now())
        for i, step in enumerate(steps):
            step["status"] = "SUCCESS" if i < index else ("WORKING" if i == index else "QUEUED")
        if index < len(steps):
            record["log"] += (
                f'Step #{index} - "{steps[index]["id"]}": starting\n'
                f'Step #{index} - "{steps[index]["id"]}": working...\n'
            )
            return
        self._finish_build(record)

    def _finish_build(self, record: dict) -> None:
        build = record["build"]
        build["finishTime"] = now()
        if self.build_outcome == "SUCCESS":
            build["status"] = "SUCCESS"
            digest = "sha256:" + secrets.token_hex(32)
            build["results"] = {"images": [{"name": i, "digest": digest} for i in build["images"]]}
            for image in build["images"]:
                repo, _, pkg = image.split(":")[0].rpartition("/")
                host, project, repo_id = repo.split("/")
                region = host.removesuffix("-docker.pkg.dev")
                self.packages.add(
                    f"projects/{project}/locations/{region}/repositories/{repo_id}/packages/{pkg}"
                )
            record["log"] += "PUSH\nDONE\n"
            return
        build["status"] = "FAILURE"
        build["steps"][-1]["status"] = "FAILURE"
        detail = (
            'Build step failure: build step 1 "gcr.io/cloud-builders/docker" failed: '
            "step exited with non-zero status: 1"
        )
        build["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": detail}
        build["statusDetail"] = detail
        model = build["substitutions"].get("_MODEL", "?")
        record["log"] += (
            f"pulling manifest\nError: pull model manifest: file does not exist\n"
            f"start-ollama: FATAL: could not pull {model}\nERROR\n"
        )

    def h_storage_objects_get(self, req, headers, **_):
        match = re.fullmatch(r"b/[^/]+/o/log-(.+)\.txt", unquote(req.path))
        record = self.builds.get(match.group(1)) if match else None
        if record is None:
            return Reply(404, google_error(404, "NOT_FOUND", "No such object."), raw=None)
        data = record["log"].encode()
        start = int(re.fullmatch(r"bytes=(\d+)-", headers.get("Range", "bytes=0-")).group(1))
        if start >= len(data):
            return Reply(416, raw=b"", headers={"Content-Range": f"bytes */{len(data)}"})
        return Reply(
            206, raw=data[start:], headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        )
