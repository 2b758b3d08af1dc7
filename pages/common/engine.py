"""The Deploy page's engine choice: Ollama (a built image) or vLLM (a prebuilt image).

vLLM's settings become DeployConfig fields (engine="vllm"), so the page's fit check,
cost ceiling and Deploy button work for it as for Ollama. Its plan is deploy/vllm.py's:
the same requests `python -m deploy plan --engine vllm` prints, checked against Google's
discovery documents, and the gcloud commands that do the same.
"""

from __future__ import annotations

import streamlit as st

from deploy import vllm
from deploy.config import DeployConfig
from deploy.plan import PLACEHOLDER_MEMBER

ENGINES = {"ollama": "Ollama (built image)", "vllm": "vLLM (OpenAI-compatible)"}


def engine_picker() -> str:
    return st.radio(
        "Engine",
        list(ENGINES),
        format_func=ENGINES.get,
        horizontal=True,
        key="d_engine",
        help="vLLM serves the model's Hugging Face weights from a Cloud Storage bucket (or the Hub) "
        "behind an OpenAI-compatible API; the Chat page detects which API a service speaks.",
    )


def vllm_config(config: DeployConfig) -> DeployConfig:
    """The form's settings with vLLM's: where the weights come from (checked by the config)."""
    cols = st.columns(4)
    bucket = cols[0].text_input("Weights bucket", key="d_vllm_bucket", placeholder="my-gemma-weights")
    folder = cols[1].text_input("Folder in the bucket", key="d_vllm_dir", placeholder="gemma-4-E4B-it")
    secret = cols[2].text_input(
        "Hugging Face token secret (no bucket)",
        key="d_vllm_secret",
        help="The name of a Secret Manager secret holding a Hugging Face token; used only without a "
        "bucket. Deploy lets the service's account read it.",
    )
    repo = cols[3].text_input(
        "Hugging Face repository", key="d_vllm_hf", placeholder=vllm.HF_MODELS.get(config.model, "org/model")
    )
    return config.with_changes(
        engine="vllm",
        use_prebuilt=False,
        weights_bucket=bucket,
        weights_dir=folder.strip(),
        hf_token_secret=secret.strip(),
        hf_model=repo.strip(),
    )


def vllm_plan(config: DeployConfig) -> None:
    """What Deploy will send for vLLM (no repository, no build), and the same as gcloud."""
    opts = config.vllm_options()
    with st.expander("Dry run: the vLLM requests and the gcloud commands", icon=":material/preview:"):
        tab_requests, tab_gcloud = st.tabs(["Requests", "gcloud"])
        tab_requests.code(vllm.plan_text(config, opts, PLACEHOLDER_MEMBER), language=None)
        tab_gcloud.code("\n\n".join(vllm.gcloud_commands(config, opts, PLACEHOLDER_MEMBER)), language="bash")
    st.caption(
        f"Deploy runs {opts.image_for(config)} (nothing to build); once it answers, "
        f"“Use this service” points the Chat at `cloudrun:URL` with model `{config.model}` (the "
        "OpenAI API is detected)."
    )
