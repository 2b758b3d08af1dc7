"""Deploy: Gemma on Ollama or vLLM to Cloud Run with a GPU, from a form, with progress a room can watch.

The work is deploy/'s: preflight checks, the deploy job (APIs, repository, Cloud
Build, the Cloud Run v2 service, the invoker grant, loading the model) and
clean-up; for vLLM the job skips the repository and the build (its image is prebuilt).
The job keeps its state in a file, so a reloaded page picks up the
running deploy and keeps following it; while one runs, Deploy is disabled.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from deploy import (
    GPU_TYPES,
    PREBUILT_IMAGES,
    DeployConfig,
    DeployJob,
    catalog,
    cost_note,
    fit,
    plan,
    preflight,
    pricing,
    regions_for,
)
from deploy.catalog import (
    BUILD_REGIONS,
    DEFAULT_CONTEXT,
    DEFAULT_MODEL,
    EMBED_MODEL,
    FALLBACK_BUILD_REGION,
    concurrency_advice,
)
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
from pages.common.engine import engine_picker, vllm_config, vllm_plan
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


OTHER = "other"  # the model picker's "any other Ollama tag" entry


def _model_label(tag: str) -> str:
    if tag == OTHER:
        return "Another Ollama model (unchecked)…"
    spec = catalog.model_spec(tag)
    default = " — default" if tag == DEFAULT_MODEL else ""
    return f"{tag} — {spec.label}, {spec.weights_gb:g} GB, {spec.licence_label}{default}"


def _model_picker(col, prebuilt: bool) -> str:
    if prebuilt:
        return col.selectbox("Model", list(PREBUILT_IMAGES), key="d_prebuilt_model")
    tags = [*catalog.chat_models(), OTHER]
    choice = col.selectbox(
        "Model",
        tags,
        index=tags.index(DEFAULT_MODEL),
        key="d_model_pick",
        format_func=_model_label,
        help="The catalog's models are checked against the GPU and the "
        "image's Ollama version; the default is the most capable Gemma 4 "
        "that fits an L4.",
    )
    if choice != OTHER:
        return choice
    return col.text_input(
        "Ollama model tag",
        key="d_model",
        placeholder="e.g. qwen3:8b",
        help="Any model from the Ollama library.",
    )


def _latest_project() -> str:
    """After a reload the form starts from the latest deploy's project (its job is still shown)."""
    latest = DeployJob.latest(STATE_DIR)
    return latest.config.project if latest is not None else ""


def form() -> DeployConfig | None:
    cols = st.columns(3)
    project = cols[0].text_input(
        "Project ID",
        value=os.environ.get("GOOGLE_CLOUD_PROJECT", "") or _latest_project(),
        key="d_project",
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
    model = _model_picker(cols[1], prebuilt)
    zonal = cols[2].toggle(
        "GPU zonal redundancy",
        value=False,
        key="d_zonal",
        help="On: reserved failover capacity in other zones, at a higher price.",
    )
    sizing = _sizing_inputs()
    build_location, embed = _advanced(region, prebuilt)
    if not project:
        st.info("Enter your Google Cloud project ID to plan a deploy.")
        return None
    return DeployConfig(
        project=project.strip(),
        region=region,
        model=(model or "").strip(),
        gpu_type=gpu,
        gpu_zonal_redundancy=zonal,
        use_prebuilt=prebuilt,
        build_location=build_location.strip() or None,
        embed_model=embed,
        **sizing,
    )


def _sizing_inputs() -> dict:
    cols = st.columns(5)
    concurrency = cols[0].number_input("Concurrency (requests per instance)", 1, 1000, 4, key="d_conc")
    parallel = cols[1].number_input(
        "OLLAMA_NUM_PARALLEL (0 = same as concurrency)", 0, 64, 0, key="d_parallel"
    )
    context = cols[2].number_input(
        "Context per request (tokens)",
        1024,
        262144,
        DEFAULT_CONTEXT,
        step=1024,
        key="d_context",
        help="OLLAMA_CONTEXT_LENGTH. Each parallel slot reserves this much KV cache on the GPU.",
    )
    max_instances = cols[3].number_input("Max instances", 1, 100, 1, key="d_max")
    min_instances = cols[4].number_input("Min instances (billed while idle)", 0, 10, 0, key="d_min")
    return {
        "concurrency": int(concurrency),
        "num_parallel": int(parallel) or None,
        "context_length": int(context),
        "max_instances": int(max_instances),
        "min_instances": int(min_instances),
    }


def _advanced(region: str, prebuilt: bool) -> tuple[str, str]:
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
        embed = st.toggle(
            f"Serve {EMBED_MODEL} for embeddings from the same image",
            value=True,
            key="d_embed",
            disabled=prebuilt,
            help="Baked next to the chat model, so a room's RAG can embed on the GPU "
            "(Use this service sets RAG_EMBEDDINGS=ollama).",
        )
    return build_location, (EMBED_MODEL if embed and not prebuilt else "")


def sizing(config: DeployConfig) -> bool:
    """The fit check, live, and the cost ceiling; False while the settings cannot deploy."""
    est = config.fit_estimate()
    for warning in config.warnings():
        st.warning(warning, icon=":material/help:")
    if est.known:
        used = min(est.total_gib / est.gpu_gib, 1.0)
        st.progress(used, text=f"GPU memory: {est.summary()}")
    if not est.fits and est.known:
        found = fit.fixes(est)
        fixes = "\n".join(f"- {f}" for f in found) or "- none found in the catalog"
        st.error(
            f"{config.model} will not fit {config.gpu_type} with these settings "
            f"({est.total_gib:.1f} of {est.gpu_gib:.1f} GiB).\n\nNearest fixes:\n{fixes}",
            icon=":material/memory:",
        )
    st.caption(concurrency_advice(config.concurrency, config.ollama_num_parallel))
    cost(config)
    problems = [p for p in config.problems() if not p.startswith("Will not fit")]
    for problem in problems:
        st.warning(problem, icon=":material/warning:")
    return not config.problems()


def cost(config: DeployConfig) -> None:
    hours = st.number_input(
        "Workshop length (hours), for the cost ceiling", 0.5, 72.0, 3.0, step=0.5, key="d_hours"
    )
    ceiling = pricing.ceiling(
        config.gpu_type,
        config.cpu_limit,
        config.memory_limit,
        config.max_instances,
        hours,
        config.gpu_zonal_redundancy,
    )
    st.markdown(
        f":material/payments: **Cost ceiling:** {ceiling.text()} "
        f"[Cloud Run pricing]({pricing.PRICES_SOURCES[0]})"
    )
    st.caption(
        pricing.min_instances_note(config.min_instances, hours, ceiling.instance_hourly)
        + " "
        + cost_note(
            config.gpu_type, config.cpu_limit, config.memory_limit, config.min_instances, config.max_instances
        )
    )


def dry_run(config: DeployConfig) -> None:
    """What Deploy will do: what it creates, the requests in order, the same as gcloud."""
    with st.expander(
        "Dry run: what Deploy will create, its requests, the gcloud commands", icon=":material/preview:"
    ):
        tab_created, tab_requests, tab_gcloud = st.tabs(["Creates", "Requests", "gcloud"])
        tab_created.markdown("\n".join(f"- {line}" for line in plan.created(config)))
        tab_requests.code(plan.plan_text(config), language=None)
        tab_gcloud.code("\n\n".join(plan.gcloud_commands(config)), language="bash")


def _checked_for(config: DeployConfig) -> list | None:
    """The preflight results for exactly these settings (other settings need new checks)."""
    checked = st.session_state.get("preflight_results")
    if checked and checked[0] == config.to_dict():
        return checked[1]
    return None


def checks(config: DeployConfig) -> None:
    if st.button("Run preflight checks", icon=":material/checklist:", key="preflight"):
        with st.spinner("Checking credentials, APIs, permissions and quota…"):
            try:
                st.session_state.preflight_results = (config.to_dict(), preflight(config))
            except Exception as error:
                show_error(error)
                return
    results = _checked_for(config)
    if not results:
        return
    for result in results:
        fix = f" — {result.fix}" if result.fix and result.status != "ok" else ""
        st.markdown(f"{ICONS.get(result.status, '')} **{result.name}**: {result.message}{fix}")
    apis_off = any(r.action == "enable_apis" for r in results)
    if apis_off and st.button("Enable the APIs", icon=":material/power_settings_new:", key="enable_apis"):
        follow(enable_apis(config, poll_interval=POLL_S))
        st.caption("Run the preflight checks again to see the result.")


def preflight_failures(config: DeployConfig) -> list[str]:
    return [r.name for r in _checked_for(config) or [] if r.status == "fail"]


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
                fix = f"\n\n**Fix:** {event.fix}" if event.fix else ""
                st.error(f"{event.message}{fix}", icon=":material/error:")
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
    failing = preflight_failures(config)
    if failing and not busy:
        st.warning(
            f"Deploy is off: the preflight checks failed ({', '.join(failing)}). Fix "
            "what they say, then run the checks again.",
            icon=":material/block:",
        )
    blocked = busy or bool(failing)
    if st.button("Deploy", type="primary", icon=":material/rocket_launch:", key="deploy", disabled=blocked):
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
        # a failure stays open: its red box carries the fix
        status.update(label=f"Deploy {job.status}", state=state, expanded=state == "error")


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


sidebar()
st.title("Deploy Gemma to Cloud Run")
st.caption(
    "Ollama: builds an image with the model baked in (Cloud Build). vLLM: runs a prebuilt "
    "OpenAI-compatible server on the model's weights. Either becomes a private Cloud Run service "
    "with a GPU that the Chat page calls with your Google identity."
)
if access():
    engine = engine_picker()
    config = form()
    if config is not None and engine == "vllm":
        config = vllm_config(config)
        if sizing(config):  # the fit check with bf16 weights, the cost, every problem
            vllm_plan(config)
            checks(config)
            deploy(config)
    elif config is not None and sizing(config):
        dry_run(config)
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
