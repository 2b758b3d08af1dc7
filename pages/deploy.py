"""Deploy: Gemma on Ollama to Cloud Run with a GPU, from a form, with progress a room can watch.

The work is deploy/'s: preflight checks, the deploy job (APIs, repository, Cloud
Build, the Cloud Run v2 service, the invoker grant, loading the model) and
clean-up. The job keeps its state in a file, so a reloaded page picks up the
running deploy and keeps following it; while one runs, Deploy is disabled.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from deploy import GPU_TYPES, PREBUILT_IMAGES, DeployConfig, DeployJob, cost_note, preflight, regions_for
from deploy.catalog import BUILD_REGIONS, DEFAULT_MODEL, FALLBACK_BUILD_REGION, concurrency_advice
from deploy.events import (
    BuildStatus,
    Done,
    Failed,
    LogLines,
    Notice,
    OperationProgress,
    StepFinished,
    StepStarted,
)
from deploy.hosting import deploy_page_access
from deploy.preflight import enable_apis
from deploy.snippets import curl_snippet, python_snippet, run_test_call
from pages.common.connection import sidebar
from pages.common.errors import show_error
from pages.common.state import update_settings
from pages.common.tuning import tuning_section

STATE_DIR = Path(os.environ.get("DEPLOY_STATE_DIR", ".cache/deploy"))
POLL_S = float(os.environ.get("DEPLOY_POLL_SECONDS", "5"))  # how often running operations are polled
ICONS = {
    "ok": ":green[:material/check_circle:]",
    "warn": ":orange[:material/warning:]",
    "fail": ":red[:material/cancel:]",
    "skip": ":gray[:material/remove_circle:]",
}


def access() -> bool:
    try:
        secrets = st.secrets
    except Exception:
        secrets = None
    decision = deploy_page_access(os.environ, secrets, st.session_state.get("admin_secret"))
    if decision.needs_secret:
        st.text_input("Admin secret", type="password", key="admin_secret")
        decision = deploy_page_access(os.environ, secrets, st.session_state.get("admin_secret"))
    if not decision.enabled:
        st.info(decision.reason, icon=":material/lock:")
    return decision.enabled


def form() -> DeployConfig | None:
    cols = st.columns(3)
    project = cols[0].text_input(
        "Project ID", value=os.environ.get("GOOGLE_CLOUD_PROJECT", ""), key="d_project"
    )
    gpu = cols[1].selectbox("GPU", list(GPU_TYPES), format_func=lambda g: GPU_TYPES[g].label, key="d_gpu")
    regions = regions_for(gpu)
    region = cols[2].selectbox(
        "Region (offering this GPU)",
        [r.name for r in regions],
        key="d_region",
        format_func=lambda r: f"{r} — {dict((x.name, x.label) for x in regions)[r]}",
    )
    cols = st.columns(3)
    prebuilt = cols[0].toggle(
        "Use Google's prebuilt Gemma image (no build)",
        key="d_prebuilt",
        help="Skips the 10–45 minute Cloud Build step; Gemma 3 models only.",
    )
    if prebuilt:
        model = cols[1].selectbox("Model", list(PREBUILT_IMAGES), key="d_prebuilt_model")
    else:
        model = cols[1].text_input(
            "Ollama model",
            value=DEFAULT_MODEL,
            key="d_model",
            help="Any model from the Ollama library; its weights are baked into the image.",
        )
    zonal = cols[2].toggle(
        "GPU zonal redundancy",
        value=False,
        key="d_zonal",
        help="On: reserved failover capacity in other zones, at a higher price.",
    )
    cols = st.columns(4)
    concurrency = cols[0].number_input("Concurrency (requests per instance)", 1, 1000, 4, key="d_conc")
    parallel = cols[1].number_input(
        "OLLAMA_NUM_PARALLEL (0 = same as concurrency)", 0, 64, 0, key="d_parallel"
    )
    max_instances = cols[2].number_input("Max instances", 1, 100, 1, key="d_max")
    min_instances = cols[3].number_input("Min instances (billed while idle)", 0, 10, 0, key="d_min")
    with st.expander("Advanced", icon=":material/tune:"):
        build_location = st.text_input(
            "Cloud Build region (empty = the service region)",
            key="d_build_location",
            placeholder=region,
            help="Some projects may only build in "
            + ", ".join(BUILD_REGIONS)
            + f". The image still goes to the repository in the service region; if Cloud Build "
            f"refuses the region, the deploy retries once in {FALLBACK_BUILD_REGION}.",
        )
    if not project:
        st.info("Enter your Google Cloud project ID to plan a deploy.")
        return None
    config = DeployConfig(
        project=project.strip(),
        region=region,
        model=model.strip(),
        gpu_type=gpu,
        concurrency=int(concurrency),
        num_parallel=int(parallel) or None,
        max_instances=int(max_instances),
        min_instances=int(min_instances),
        gpu_zonal_redundancy=zonal,
        use_prebuilt=prebuilt,
        build_location=build_location.strip() or None,
    )
    st.caption(concurrency_advice(config.concurrency, config.ollama_num_parallel))
    st.caption(
        ":material/payments: "
        + cost_note(gpu, config.cpu_limit, config.memory_limit, config.min_instances, config.max_instances)
    )
    for problem in config.problems():
        st.warning(problem, icon=":material/warning:")
    return config if not config.problems() else None


def checks(config: DeployConfig) -> None:
    if st.button("Run preflight checks", icon=":material/checklist:", key="preflight"):
        with st.spinner("Checking credentials, APIs, permissions and quota…"):
            try:
                st.session_state.preflight_results = preflight(config)
            except Exception as error:
                show_error(error)
                return
    results = st.session_state.get("preflight_results")
    if not results:
        return
    for result in results:
        fix = f" — {result.fix}" if result.fix and result.status != "ok" else ""
        st.markdown(f"{ICONS.get(result.status, '')} **{result.name}**: {result.message}{fix}")
    apis_off = any(r.action == "enable_apis" for r in results)
    if apis_off and st.button("Enable the APIs", icon=":material/power_settings_new:", key="enable_apis"):
        follow(enable_apis(config, poll_interval=POLL_S))
        st.caption("Run the preflight checks again to see the result.")


def follow(events) -> None:
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
                st.error(f"{event.message}\n\n{event.fix}", icon=":material/error:")
                if event.log_tail:
                    st.code("\n".join(event.log_tail), language=None)
            elif isinstance(event, Done):
                st.success(f"{event.service} is ready at {event.url}", icon=":material/rocket_launch:")
    except Exception as error:
        show_error(error)


def deploy(config: DeployConfig) -> None:
    # A second job would orphan the first: its build keeps going, and its later service
    # operation could roll the service back. So one deploy at a time.
    running = DeployJob.latest(STATE_DIR)
    busy = running is not None and not running.finished
    if busy:
        st.info(
            f"Deploy {running.state.job_id} is still running (followed below); Deploy is off "
            "until it finishes, so two deploys never race on one service.",
            icon=":material/hourglass_top:",
        )
    if st.button("Deploy", type="primary", icon=":material/rocket_launch:", key="deploy", disabled=busy):
        try:
            job = DeployJob.create(config, STATE_DIR, poll_interval=POLL_S)
        except Exception as error:
            show_error(error)
            return
        run_job(job, "Deploying…")


def run_job(job: DeployJob, label: str) -> None:
    """Run (or resume) the job, its progress live in a status box that ends with the outcome."""
    with st.status(label, expanded=True) as status:
        follow(job.run())
        state = "complete" if job.status == "succeeded" else "error"
        status.update(label=f"Deploy {job.status}", state=state)


def current_job() -> None:
    """The latest deploy: resumed if it was running when the page reloaded, then its results."""
    job = DeployJob.latest(STATE_DIR, poll_interval=POLL_S)
    if job is None:
        return
    st.subheader(f"Deploy {job.state.job_id}: {job.status}")
    if not job.finished:
        with st.status("Following the running deploy…", expanded=True):
            follow(job.history())
            follow(job.run())
    if job.status == "failed":
        resume(job)
    if job.status == "succeeded" and job.url:
        results(job)
    if job.status in ("succeeded", "failed"):
        cleanup(job)


def resume(job: DeployJob) -> None:
    """Retry a failed deploy where it stopped: finished steps (a built image) are kept."""
    if job.state.error:
        st.error(job.state.error.get("message", "The deploy failed."), icon=":material/error:")
    done = ", ".join(job.state.completed) or "none"
    st.caption(f"Finished steps, kept on a retry: {done}.")
    if st.button("Resume this deploy", icon=":material/replay:", key="resume"):
        run_job(job, "Resuming…")


def results(job: DeployJob) -> None:
    model = job.config.model
    st.markdown(f"**Service URL:** {job.url}")
    if st.button("Use this service in the Chat", icon=":material/forum:", key="use_service"):
        update_settings(llm=f"cloudrun:{job.url}", model=model)
        st.success("The Chat page now talks to this service (with your Google ID token).")
    tab_curl, tab_python = st.tabs(["curl", "Python"])
    tab_curl.code(curl_snippet(job.url, model), language="bash")
    tab_python.code(python_snippet(job.url, model), language="python")
    if st.button("Run the test call", icon=":material/play_arrow:", key="test_call"):
        with st.spinner("Calling the service (a cold start can take a minute)…"):
            try:
                result = run_test_call(job.url, model)
            except Exception as error:
                show_error(error)
                return
        (st.success if result.status == 200 else st.error)(f"HTTP {result.status} in {result.seconds:.1f} s")
        st.write(result.text)


def cleanup(job: DeployJob) -> None:
    with st.expander("Clean up", icon=":material/delete:"):
        image = st.checkbox("Also delete the image", key="del_image")
        repo = st.checkbox("Also delete the repository (only if this deploy created it)", key="del_repo")
        if st.button("Delete the service", key="cleanup", type="primary"):
            follow(job.cleanup(delete_image=image, delete_repository=repo))


sidebar()
st.title("Deploy Gemma on Ollama to Cloud Run")
st.caption(
    "Builds an Ollama image with the model baked in (Cloud Build), deploys it as a private Cloud Run "
    "service with a GPU, and lets the Chat page call it with your Google identity."
)
if access():
    config = form()
    if config is not None:
        checks(config)
        deploy(config)
    current_job()
    latest = DeployJob.latest(STATE_DIR)
    with st.expander(
        "Concurrency tuning", icon=":material/speed:", expanded="tune_report" in st.session_state
    ):
        tuning_section(
            latest.url if latest and latest.url else "", latest.config.model if latest else DEFAULT_MODEL
        )
