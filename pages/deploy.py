"""Deploy: Gemma on Ollama or vLLM to Cloud Run with a GPU, from a form, with progress a room can watch.

The work is deploy/'s: preflight checks, the deploy job (APIs, repository, Cloud
Build, the Cloud Run v2 service, the invoker grant, loading the model) and
clean-up; for vLLM the job skips the repository and the build (its image is prebuilt).
While a deploy runs, Deploy is disabled; following it, and what to do with it once it
ends (resume, use, test, clean up), is pages/common/deploy_job.py.
"""

from __future__ import annotations

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
from deploy.hosting import page_access
from deploy.preflight import enable_apis
from pages.common.connection import sidebar
from pages.common.deploy_job import current_job, follow, jobs_dir, poll_s, run_job
from pages.common.engine import engine_picker, vllm_config, vllm_plan
from pages.common.errors import show_error
from pages.common.state import settings
from pages.common.tuning import tuning_section

ICONS = {
    "ok": ":green[:material/check_circle:]",
    "warn": ":orange[:material/warning:]",
    "fail": ":red[:material/cancel:]",
    "skip": ":gray[:material/remove_circle:]",
}


def access() -> bool:
    decision = page_access(settings(), st.session_state.get("admin_secret"))
    if decision.needs_secret:
        st.text_input("Admin secret", type="password", key="admin_secret")
        decision = page_access(settings(), st.session_state.get("admin_secret"))
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
    latest = DeployJob.latest(jobs_dir())
    return latest.config.project if latest is not None else ""


def form() -> DeployConfig | None:
    cols = st.columns(3)
    project = cols[0].text_input(
        "Project ID",
        value=settings().project or _latest_project(),
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
        follow(enable_apis(config, poll_interval=poll_s()))
        st.caption("Run the preflight checks again to see the result.")


def preflight_failures(config: DeployConfig) -> list[str]:
    return [r.name for r in _checked_for(config) or [] if r.status == "fail"]


def deploy(config: DeployConfig) -> None:
    # A second job would orphan the first: its build keeps going, and its later service
    # operation could roll the service back. So one deploy at a time.
    running = DeployJob.latest(jobs_dir())
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
            job = DeployJob.create(config, jobs_dir(), poll_interval=poll_s())
        except Exception as error:
            show_error(error)
            return
        run_job(job, "Deploying…")


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
    latest = DeployJob.latest(jobs_dir())
    with st.expander(
        "Concurrency tuning", icon=":material/speed:", expanded="tune_report" in st.session_state
    ):
        tuning_section(
            latest.url if latest and latest.url else "", latest.config.model if latest else DEFAULT_MODEL
        )
