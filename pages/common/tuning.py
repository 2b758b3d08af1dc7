"""The Deploy page's concurrency tuning section: sweep a service, then size the deploy form."""

from __future__ import annotations

import threading

import pandas as pd
import streamlit as st

from deploy import tune

from .errors import show_error


def apply_to_form(values: dict[str, int]) -> None:
    """on_click: widget values may only change before the widgets are drawn."""
    st.session_state.d_conc = values["concurrency"]
    st.session_state.d_parallel = values["num_parallel"]
    st.session_state.d_max = values["max_instances"]


def tuning_section(default_url: str, default_model: str) -> None:
    st.subheader("Size the service: concurrency tuning")
    st.caption(
        "Sends a fixed number of RAG-sized chat requests at each concurrency level and measures "
        "throughput, time to first token and latency, then recommends OLLAMA_NUM_PARALLEL, "
        "--concurrency and --max-instances. It loads the service: run it before the room arrives."
    )
    cols = st.columns(3)
    url = cols[0].text_input("Service or Ollama URL", value=default_url, key="t_url")
    model = cols[1].text_input("Model", value=default_model, key="t_model")
    levels = cols[2].multiselect(
        "Concurrency levels", [1, 2, 4, 8, 16, 32], default=[1, 2, 4, 8, 16], key="t_levels"
    )
    cols = st.columns(4)
    requests = cols[0].number_input(
        "Requests per level (0 = 2 × level, at least 8)", 0, 200, 0, key="t_requests"
    )
    max_tokens = cols[1].number_input("Answer length (tokens)", 16, 2048, 256, key="t_tokens")
    target_s = cols[2].number_input("Latency target, p95 (s)", 1.0, 600.0, 30.0, key="t_target")
    participants = cols[3].number_input("Workshop participants", 1, 1000, 30, key="t_people")
    if st.button("Run the sweep", icon=":material/speed:", key="t_run", disabled=not url.strip()):
        settings = tune.SweepSettings(
            levels=tuple(sorted(levels)), requests=int(requests) or None, max_tokens=int(max_tokens)
        )
        problems = settings.problems()
        if problems:
            st.warning(" ".join(problems))
        else:
            run(url.strip(), model.strip(), settings)
    report = st.session_state.get("tune_report")
    if report is not None:
        show(report, float(target_s), int(participants))


def run(url: str, model: str, settings: tune.SweepSettings) -> None:
    stop = st.empty()
    stop.button("Stop", icon=":material/stop_circle:", key="t_stop")
    bar = st.progress(0.0, text="Checking the service…")
    cancel = threading.Event()
    try:
        st.session_state.tune_report = tune.sweep(
            tune.target_for(url),
            model,
            settings,
            cancel=cancel,
            on_progress=lambda p: bar.progress(min(p.fraction, 1.0), text=p.line()),
        )
    except Exception as error:
        show_error(error)
    finally:
        cancel.set()
        stop.empty()


def show(report: tune.TuneReport, target_s: float, participants: int) -> None:
    rows = pd.DataFrame(report.rows())
    if rows.empty:
        st.info("The sweep measured nothing; see the reason above.")
        return
    st.dataframe(rows, hide_index=True, use_container_width=True)
    chart = rows.set_index("level")[["output_tokens_per_s", "total_p95_s", "ttft_p95_s"]]
    left, right = st.columns(2)
    left.line_chart(chart[["output_tokens_per_s"]], y_label="output tokens/s")
    right.line_chart(chart[["total_p95_s", "ttft_p95_s"]], y_label="seconds (p95)")
    advice = tune.recommend(report, target_s, participants)
    st.markdown(
        f"**Recommendation:** `OLLAMA_NUM_PARALLEL={advice.num_parallel}` · "
        f"`--concurrency {advice.concurrency}` · `--max-instances {advice.max_instances}`"
    )
    for reason in advice.reasons:
        st.caption(reason)
    st.button(
        "Apply to the deploy form",
        icon=":material/input:",
        key="t_apply",
        on_click=apply_to_form,
        args=(advice.as_form_values(),),
    )
