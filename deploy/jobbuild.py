"""The image steps of a deploy job: the Artifact Registry repository and the Cloud Build.

A create whose reply was lost (a timeout, a killed process) may still have happened, so
each is marked as sent before it goes out and looked for before it is sent again.
"""

from __future__ import annotations

from collections.abc import Generator

from . import artifactregistry, catalog, cloudbuild
from .config import MANAGED_LABELS, DeployConfig
from .errors import AlreadyExistsError, BuildFailedError, DeployError, NotFoundError
from .events import BuildStatus, Event, LogLines, Notice
from .jobbase import JobBase
from .jobstate import KEEP_LOG_LINES


class BuildSteps(JobBase):
    """The repository and build steps (skipped for a prebuilt image)."""

    def _repository(self) -> Generator[Event, None, str]:
        cfg = self.config
        if cfg.use_prebuilt:
            return "not needed: prebuilt image"
        if not self.state.repo_operation:
            try:
                return self._reuse(self.http.send(artifactregistry.get_repository(cfg)))
            except NotFoundError:
                pass
            with self._exclusive():
                if not self.state.repo_operation:
                    try:
                        op = self.http.send(artifactregistry.create_repository(cfg))
                    except AlreadyExistsError:  # made meanwhile: read its labels
                        return self._reuse(self._repository_or_empty(cfg))
                    self._update(repo_operation=op["name"], repository_created=True)
        yield from self._wait("artifactregistry", "v1", self.state.repo_operation)
        return f"created {cfg.repository}"

    def _reuse(self, repo: dict) -> str:
        """An existing repository carrying this app's label counts as the app's, so a
        redeploy's clean-up may delete it; anyone else's is never deleted."""
        if MANAGED_LABELS.items() <= (repo.get("labels") or {}).items():
            self._update(repository_created=True)
            return f"reusing {self.config.repository} (made by this app)"
        return f"reusing {self.config.repository}"

    def _repository_or_empty(self, cfg: DeployConfig) -> dict:
        try:
            return self.http.send(artifactregistry.get_repository(cfg))
        except NotFoundError:
            return {}

    def _build(self) -> Generator[Event, None, str]:
        cfg = self.config
        if cfg.use_prebuilt:
            self._update(image=cfg.image)
            return f"skipped: using the prebuilt {cfg.image}"
        notice = None
        if not self.state.build_id:
            with self._exclusive():  # no yield while holding the lock
                if not self.state.build_id:
                    build, op_name, notice = self._find_or_create_build()
                    self._update(
                        build_id=build["id"],
                        build_operation=op_name,
                        log_url=build.get("logUrl", ""),
                        logs_bucket=build.get("logsBucket", ""),
                    )
        if notice:
            yield self._record(notice)
        build = yield from self._follow_build()
        image = cloudbuild.built_image(build, cfg.image)
        self._update(image=image)
        return f"built {image}"

    @property
    def build_config(self) -> DeployConfig:
        """The config with the region the build actually runs in (after a fallback)."""
        cfg = self.config
        return cfg.with_changes(build_location=self.state.build_region) if self.state.build_region else cfg

    def _find_or_create_build(self) -> tuple[dict, str, Notice | None]:
        """(build, operation name, notice). A create whose reply was lost (a timeout, a kill)
        may still have started a build: find it by the job's tag before creating another."""
        tag = cloudbuild.job_tag(self.state.job_id)
        if self.state.build_sent:
            found = cloudbuild.reusable(
                self.http.send(cloudbuild.find_builds(self.build_config, tag)).get("builds", [])
            )
            if found:
                return (
                    found,
                    "",
                    Notice(
                        f"Found build {found['id']}, started before this deploy "
                        "stopped; following it instead of starting another."
                    ),
                )
        op, notice = self._create_build(tag)
        return (op.get("metadata") or {}).get("build") or {}, op.get("name", ""), notice

    def _create_build(self, tag: str) -> tuple[dict, Notice | None]:
        """Create the build; if Cloud Build refuses the region, once more in the fallback.
        Where a create goes is saved before it is sent, so a resume knows where to look."""
        cfg = self.build_config
        self._update(build_sent=True)
        try:
            return self.http.send(cloudbuild.create_build(cfg, tag)), None
        except DeployError as err:
            if not cloudbuild.location_refused(err):
                raise
            if cfg.build_region == catalog.FALLBACK_BUILD_REGION:
                raise cloudbuild.location_error(cfg, err) from err
        fallback = catalog.FALLBACK_BUILD_REGION
        self._update(build_region=fallback)
        try:
            op = self.http.send(cloudbuild.create_build(cfg.with_changes(build_location=fallback), tag))
        except DeployError as err:
            if cloudbuild.location_refused(err):
                raise cloudbuild.location_error(cfg, err) from err
            raise
        return op, Notice(
            f"Cloud Build does not run builds in {cfg.build_region} for this project; "
            f"building in {fallback} instead (the image still goes to the "
            f"repository in {cfg.region}).",
            "warning",
        )

    def _follow_build(self) -> Generator[Event, None, dict]:
        cfg, last = self.build_config, None
        while True:
            build = self.http.send(cloudbuild.get_build(cfg, self.state.build_id))
            status = build.get("status", "STATUS_UNKNOWN")
            seen = (status, cloudbuild.step_statuses(build))
            if seen != last:
                last = seen
                self._update(
                    build_status=status,
                    log_url=build.get("logUrl", self.state.log_url),
                    logs_bucket=build.get("logsBucket") or self.state.logs_bucket,
                )
                yield self._record(BuildStatus(self.state.build_id, status, self.state.log_url, seen[1]))
            yield from self._tail_log()
            if status in cloudbuild.TERMINAL:
                break
            self._sleep(self.poll_interval)
        if status != "SUCCESS":
            raise BuildFailedError(
                f"The image build ended with {status}: {cloudbuild.failure_reason(build)}",
                "Read the log tail below (the full log is at the link). A wrong model name "
                "shows up as a failed pull; fix the model and deploy again.",
                log_tail=tuple(self.state.log_tail[-30:]),
                log_url=self.state.log_url,
                status=status,
            )
        return build

    def _tail_log(self) -> Generator[Event, None, None]:
        self._catch_up()  # another follower may have read further: start from there
        st = self.state
        if not st.logs_bucket or st.log_unreadable:
            return
        req = cloudbuild.read_log(st.logs_bucket, st.build_id)
        try:
            resp = self.http.send_raw(
                req, headers={"Range": f"bytes={st.log_offset}-"}, ok_statuses=(404, 416)
            )
        except DeployError as err:  # no read access: the page still links the log
            self._update(log_unreadable=True)
            yield self._record(
                Notice(f"Cannot read the build log ({err.message}); follow it at {st.log_url}", "warning")
            )
            return
        if resp.status_code not in (200, 206):
            return  # 404: not written yet; 416: nothing new
        chunk = resp.content
        if resp.status_code == 200:  # the Range was ignored: the whole object came back
            chunk = chunk[st.log_offset :]
        end = chunk.rfind(b"\n") + 1  # only whole lines; the rest comes next time
        if end == 0:
            return
        lines = chunk[:end].decode("utf-8", "replace").splitlines()
        self._update(log_offset=st.log_offset + end, log_tail=(st.log_tail + lines)[-KEEP_LOG_LINES:])
        yield self._record(LogLines(tuple(lines)))
