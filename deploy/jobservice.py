"""The service steps of a deploy job: the Cloud Run service, who may call it, the warm-up.

A create or patch whose reply was lost may still have landed: the service itself says so
(it runs this image, at a newer generation), and is then followed instead of sent again.
"""

from __future__ import annotations

import time
from collections.abc import Generator

from . import cloudrun, errors, iam, operations, roles, vllm, warm
from .api import ApiRequest
from .config import DeployConfig
from .errors import AlreadyExistsError, NotFoundError
from .events import Event, Notice, OperationProgress
from .jobbase import JobBase, error_context


class ServiceSteps(JobBase):
    """The service, invoker and warm-up steps, the same for both engines."""

    def _service(self) -> Generator[Event, None, str]:
        cfg = self.config
        image = self.state.image or cfg.image
        landed = False
        if not self.state.service_operation:
            with self._exclusive():
                if not self.state.service_operation:
                    landed = self._sent_request_landed(cfg, image)
                    if not landed:
                        op, existed = self._create_or_update(cfg, image)
                        self._update(service_operation=op["name"], service_existed=existed)
        if landed:  # its operation's name never arrived: follow the service itself
            service = yield from self._follow_service(cfg)
        else:
            service = yield from self._wait("run", "v2", self.state.service_operation)
        url = service.get("uri") or self.http.send(cloudrun.get_service(cfg)).get("uri", "")
        self._update(service_url=url)
        verb = "updated" if self.state.service_existed else "created"
        return f"{verb} {cfg.service_name} at {url}"

    def _create_or_update(self, cfg: DeployConfig, image: str) -> tuple[dict, bool]:
        """Each request is marked as sent (saved) before it goes out: see _sent_request_landed."""
        try:
            current = self.http.send(cloudrun.get_service(cfg))
        except NotFoundError:
            try:
                self._update(service_sent="create")
                return self.http.send(_create_service(cfg, image)), False
            except AlreadyExistsError:  # created meanwhile: update it instead
                current = self.http.send(cloudrun.get_service(cfg))
        self._update(service_sent=f"patch {current.get('generation', '0')}")
        return self.http.send(_update_service(cfg, image)), True

    def _sent_request_landed(self, cfg: DeployConfig, image: str) -> bool:
        """Did a create/patch sent before a kill or a lost reply reach Cloud Run? Yes if the
        service now runs this image (and, for a patch, has a newer generation)."""
        verb, _, before = self.state.service_sent.partition(" ")
        if not verb:
            return False
        try:
            service = self.http.send(cloudrun.get_service(cfg))
        except NotFoundError:
            return False
        containers = (service.get("template") or {}).get("containers") or [{}]
        newer = verb == "create" or int(service.get("generation") or 0) > int(before or 0)
        if not newer or containers[0].get("image") != image:
            return False
        self._update(service_existed=verb == "patch")
        return True

    def _follow_service(self, cfg: DeployConfig) -> Generator[Event, None, dict]:
        """Poll the service until Cloud Run stops reconciling it; its terminalCondition
        says whether the revision started (what the operation would have said)."""
        deadline = time.monotonic() + operations.WAIT_LIMIT_S
        while True:
            service = self.http.send(cloudrun.get_service(cfg))
            done = not service.get("reconciling")
            detail = "; ".join(
                f"{c['type']}: {c.get('state', '').removeprefix('CONDITION_').lower()}"
                for c in service.get("conditions") or []
                if c.get("type")
            )
            yield OperationProgress(service.get("name", ""), done, detail)
            if done:
                break
            if time.monotonic() > deadline:
                raise operations.still_running(service.get("name", cfg.service_name))
            self._sleep(self.poll_interval)
        condition = service.get("terminalCondition") or {}
        if condition.get("state") != "CONDITION_SUCCEEDED":
            self.state.service_sent = ""  # that revision failed: a retry sends a new one
            self._cleared.add("service_sent")
            raise errors.from_status(
                {
                    "code": 9,
                    "message": condition.get("message")
                    or f"the service ended {condition.get('state', 'unknown')}",
                },
                error_context(cfg),
            )
        return service

    def _invoker(self) -> Generator[Event, None, str]:
        cfg = self.config
        members = list(cfg.invoker_members)
        if not members:
            granted = self.http.send(cloudrun.test_permissions(cfg, [roles.INVOKE]))
            if roles.INVOKE in granted.get("permissions", []):
                return "you can already invoke it"
            member = iam.caller_member(self.http)
            if member is None:
                yield self._record(
                    Notice(
                        "Could not tell which account you are; grant yourself access with "
                        f"`gcloud run services add-iam-policy-binding {cfg.service_name} "
                        f"--region {cfg.region} --member=user:YOU --role={cloudrun.INVOKER}`.",
                        "warning",
                    )
                )
                return "skipped"
            members = [member]
        added = cloudrun.grant_invoker(self.http, cfg, members)
        if not added:
            return "already granted to " + ", ".join(members)
        return f"granted {cloudrun.INVOKER} to " + ", ".join(added)

    def _warm(self) -> Generator[Event, None, str]:
        """Only a model that loads makes a deploy succeed (the TCP probe cannot tell)."""
        cfg = self.config
        yield self._record(Notice(f"Loading {cfg.model} into GPU memory; a cold start takes a few minutes."))
        seconds = yield from warm.load_model(
            self.state.service_url,
            cfg.model,
            timeout_s=cfg.timeout_s + 30,
            logs_url=cloudrun.logs_url(cfg),
            credentials=self.http.credentials,
            sleep=self._sleep,
            api=warm.OPENAI if cfg.engine == "vllm" else warm.OLLAMA,
        )
        return f"{cfg.model} answered in {seconds:.0f} s"


def _create_service(cfg: DeployConfig, image: str) -> ApiRequest:
    return (
        vllm.create_service(cfg, cfg.vllm_options())
        if cfg.engine == "vllm"
        else cloudrun.create_service(cfg, image)
    )


def _update_service(cfg: DeployConfig, image: str) -> ApiRequest:
    return (
        vllm.update_service(cfg, cfg.vllm_options())
        if cfg.engine == "vllm"
        else cloudrun.update_service(cfg, image)
    )
