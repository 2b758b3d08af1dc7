"""The Deploy page's job view: follow a deploy's events, then resume, use, test or clean it up.

The job keeps its state in a file (DEPLOY_STATE_DIR, the same folder as `python -m deploy`),
so a reloaded page picks up the running deploy and keeps following it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import streamlit as st

from deploy import DeployJob
from deploy.config import poll_seconds, state_dir
from deploy.events import (
    BuildStatus,
    Done,
    Event,
    Failed,
    LogLines,
    Notice,
    OperationProgress,
    StepFinished,
    StepStarted,
)
from deploy.snippets import curl_snippet, python_snippet, run_test_call
from pages.common.errors import show_error
from pages.common.state import settings, update_settings


def jobs_dir() -> Path:
    """The deploy jobs' folder: DEPLOY_STATE_DIR, the same as `python -m deploy` (docs/settings.md)."""
    return state_dir(settings())


def poll_s() -> float:
    """How often running operations are polled (DEPLOY_POLL_SECONDS)."""
    return poll_seconds(settings())


def follow(events: Iterable[Event]) -> None:
    """Render deploy events as they arrive; errors become a sentence, a fix and the log tail."""
    log = None
    lines: list[str] = []
    try:
        for event in events:
            if isinstance(event, StepStarted):
                st.markdown(f":material/pending: {event.title}…")
            elif isinstance(event, StepFinished):
                st.markdown(
                    f":green[:material/check:] {event.title}" + (f" — {event.detail}" if event.detail else "")
                )
            elif isinstance(event, BuildStatus):
                link = f" ([build log]({event.log_url}))" if event.log_url else ""
                steps = ", ".join(f"{name}: {status}" for name, status in event.steps)
                st.caption(f"Cloud Build {event.build_id[:8]}: **{event.status}**{link} {steps}")
            elif isinstance(event, LogLines):
                lines = (lines + list(event.lines))[-30:]
                log = log or st.empty()
                log.code("\n".join(lines), language=None)
            elif isinstance(event, OperationProgress):
                st.caption(
                    f"{event.name.rsplit('/', 1)[-1]}: {'done' if event.done else 'in progress'} "
                    f"{event.detail}"
                )
            elif isinstance(event, Notice):
                (st.warning if event.level == "warning" else st.info)(event.message)
            elif isinstance(event, Failed):
                fix = f"\n\n**Fix:** {event.fix}" if event.fix else ""
                st.error(f"{event.message}{fix}", icon=":material/error:")
                if event.log_tail:
                    st.code("\n".join(event.log_tail), language=None)
            elif isinstance(event, Done):
                st.success(f"{event.service} is ready at {event.url}", icon=":material/rocket_launch:")
    except Exception as error:
        show_error(error)


def run_job(job: DeployJob, label: str) -> None:
    """Run (or resume) the job, its progress live in a status box that ends with the outcome."""
    with st.status(label, expanded=True) as status:
        follow(job.run())
        state = "complete" if job.status == "succeeded" else "error"
        # a failure stays open: its red box carries the fix
        status.update(label=f"Deploy {job.status}", state=state, expanded=state == "error")


def current_job() -> None:
    """The latest deploy: resumed if it was running when the page reloaded, then its results."""
    job = DeployJob.latest(jobs_dir(), poll_interval=poll_s())
    if job is None:
        return
    st.subheader(f"Deploy {job.state.job_id}: {job.status}")
    if not job.finished:
        with st.status("Following the running deploy…", expanded=True):
            follow(job.history())
            follow(job.run())
    if job.status == "failed" and not created_anything(job):
        nothing_created(job)
        return
    if job.status == "failed":
        resume(job)
    if job.status == "succeeded" and job.url:
        results(job)
    if job.status in ("succeeded", "failed"):
        cleanup(job)


def created_anything(job: DeployJob) -> bool:
    """Did the job leave anything in the project: a repository, a build, a service?"""
    s = job.state
    return bool(
        s.repository_created
        or s.build_sent
        or s.build_id
        or s.image
        or s.service_sent
        or s.service_operation
        or s.service_existed
        or s.service_url
    )


def _error_box(job: DeployJob) -> None:
    """The failure with its fix, in the red box itself."""
    error = job.state.error or {}
    text = error.get("message", "The deploy failed.")
    if error.get("fix"):
        text += f"\n\n**Fix:** {error['fix']}"
    st.error(text, icon=":material/error:")


def nothing_created(job: DeployJob) -> None:
    """A deploy that failed before creating anything: no service to resume or clean up."""
    _error_box(job)
    st.caption(
        f"Nothing was created in {job.config.project}: there is nothing to resume or "
        "clean up. Fix the cause above, then press Deploy again."
    )


def resume(job: DeployJob) -> None:
    """Retry a failed deploy where it stopped: finished steps (a built image) are kept."""
    _error_box(job)
    done = ", ".join(job.state.completed) or "none"
    st.caption(f"Finished steps, kept on a retry: {done}.")
    if st.button("Resume this deploy", icon=":material/replay:", key="resume"):
        run_job(job, "Resuming…")


def results(job: DeployJob) -> None:
    model = job.config.model
    api = "openai" if job.config.engine == "vllm" else "ollama"  # what the service speaks
    st.markdown(f"**Service URL:** {job.url}")
    embed = job.config.embed_model
    if st.button("Use this service in the Chat", icon=":material/forum:", key="use_service"):
        use_service(job.url, model, embed)
    tab_curl, tab_python = st.tabs(["curl", "Python"])
    tab_curl.code(curl_snippet(job.url, model, api=api), language="bash")
    tab_python.code(python_snippet(job.url, model, api=api), language="python")
    if st.button("Run the test call", icon=":material/play_arrow:", key="test_call"):
        with st.spinner("Calling the service (a cold start can take a minute)…"):
            try:
                result = run_test_call(job.url, model, api=api)
            except Exception as error:
                show_error(error)
                return
        (st.success if result.status == 200 else st.error)(f"HTTP {result.status} in {result.seconds:.1f} s")
        st.write(result.text)


SIDEBAR_KEYS = ("conn_kind", "conn_model", "conn_url_cloudrun", "conn_embeddings", "conn_omodel", "conn_eurl")


def use_service(url: str, model: str, embed_model: str) -> None:
    """Chat and (when the image serves one) embeddings both go to the service, with ID tokens.
    cloudrun:URL detects the API, so a vLLM service (no embedder) is used through OpenAI's."""
    values = {"llm": f"cloudrun:{url}", "model": model}
    if embed_model:
        values |= {"embeddings": "ollama", "embedding_model": embed_model, "ollama_url": url}
    update_settings(**values)
    for key in SIDEBAR_KEYS:  # the sidebar's widgets start again from the new settings
        st.session_state.pop(key, None)
    what = f"and embeds with {embed_model} " if embed_model else ""
    st.success(
        f"The Chat page now talks to this service {what}(with your Google ID token). "
        "Indexes built from now on use these embeddings."
    )


def cleanup(job: DeployJob) -> None:
    with st.expander("Clean up", icon=":material/delete:"):
        image = st.checkbox("Also delete the image", key="del_image")
        repo = st.checkbox("Also delete the repository (only if this deploy created it)", key="del_repo")
        if st.button("Delete the service", key="cleanup", type="primary"):
            follow(job.cleanup(delete_image=image, delete_repository=repo))
