"""Compare: measure what retrieval adds, on a question set, instead of judging one answer by eye."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common.connection import sidebar
from pages.common.errors import show_error
from pages.common.state import index, settings, target
from rag.compare import JUDGE_PROMPT, nothing_measured, run_comparison, summarise, to_csv, to_json, to_rows
from rag.evaluation import KS, Question, evaluate, load_questions
from rag.pipeline import make_chains

DATA = Path(__file__).resolve().parent.parent / "rag" / "data"
SETS = {
    "Sample guide (offline)": DATA / "sample-guide-qa.jsonl",
    "Python 3.11 docs": DATA / "python-docs-qa.jsonl",
    "What is Cloud Run (online)": DATA / "cloud-run-qa.jsonl",
}


def question_set() -> list[Question]:
    source = st.radio("Questions", [*SETS, "Upload a file", "Type your own"], horizontal=True, key="c_source")
    if source in SETS:
        return load_questions(SETS[source])
    if source == "Upload a file":
        upload = st.file_uploader("Question set (.jsonl)", type=["jsonl", "json"], key="c_upload")
        if upload is None:
            return []
        return load_questions(upload.getvalue(), name=upload.name)
    st.caption(
        "One question per row, and the facts a right answer must state, separated by semicolons. "
        "Leave the facts empty for a question the documents cannot answer."
    )
    table = st.data_editor(
        pd.DataFrame({"question": [""], "facts": [""]}),
        num_rows="dynamic",
        key="c_typed",
        use_container_width=True,
    )
    rows = [r for r in table.to_dict("records") if str(r.get("question") or "").strip()]
    return [
        Question(
            id=f"q{i}",
            question=str(r["question"]).strip(),
            answer_keys=[f.strip() for f in str(r.get("facts") or "").split(";") if f.strip()],
            kind="typed" if str(r.get("facts") or "").strip() else "unanswerable",
        )
        for i, r in enumerate(rows, 1)
    ]


def run(questions: list[Question], limit: int, use_judge: bool) -> None:
    built = index()
    rag, raw = make_chains(settings(), built.retriever, target())
    assert rag is not None
    chosen = questions[:limit]
    st.session_state.compare_retrieval = retrieval_scores(rag, chosen)
    results = st.session_state.compare_results = []
    stop = st.empty()
    stop.button("Stop", icon=":material/stop_circle:", key="c_stop")
    progress = st.progress(0.0, text=f"0 of {len(chosen)} questions")
    live = st.empty()
    cancel = threading.Event()
    try:
        for i, result in enumerate(
            run_comparison(
                rag,
                raw,
                chosen,
                judge=target() if use_judge else None,
                judge_model=settings().model,
                cancel=cancel,
            ),
            1,
        ):
            results.append(result)
            progress.progress(i / len(chosen), text=f"{i} of {len(chosen)} questions")
            live.dataframe(
                pd.DataFrame(to_rows(results))[
                    ["id", "kind", "rag_coverage", "raw_coverage", "rag_error", "raw_error"]
                ],
                hide_index=True,
            )
        stop.empty()
    finally:
        cancel.set()  # a Stop (or any click) ends the run; the results so far stay


def report() -> None:
    results = st.session_state.get("compare_results") or []
    if not results:
        return
    st.subheader(f"Results ({len(results)} questions)")
    failure = nothing_measured(results)
    errors = sum(bool(r.rag.error) + bool(r.raw.error) for r in results)
    if failure:  # say so instead of showing empty rates
        st.error(failure, icon=":material/error:")
    elif errors:
        st.warning(
            f"{errors} answers failed. They are counted as errors (the error columns) and left out of "
            "every rate.",
            icon=":material/warning:",
        )
    summary = pd.DataFrame(summarise(results)).T
    left, right = st.columns([3, 2])
    left.dataframe(summary, use_container_width=True)
    chart = (
        summary[["rag_coverage", "raw_coverage"]]
        .dropna()
        .rename(columns={"rag_coverage": "RAG", "raw_coverage": "Model only"})
    )
    right.bar_chart(chart, stack=False, y_label="answer-key coverage")
    recall = st.session_state.get("compare_retrieval")
    if recall:
        st.caption("Retrieval on the same questions (a hit is a chunk from a gold page):")
        st.dataframe(pd.DataFrame({**recall["groups"], "all": recall["overall"]}).T, use_container_width=True)
    st.dataframe(pd.DataFrame(to_rows(results)), hide_index=True, use_container_width=True)
    cols = st.columns(2)
    cols[0].download_button(
        "Download CSV", to_csv(results), "comparison.csv", "text/csv", icon=":material/download:"
    )
    cols[1].download_button(
        "Download JSON",
        json.dumps(to_json(results), indent=1),
        "comparison.json",
        "application/json",
        icon=":material/download:",
    )


def retrieval_scores(rag, questions: list[Question]) -> dict | None:
    """recall@k and MRR on the same questions, searched the way the chat searches them."""
    scored = [q for q in questions if q.gold]
    if not scored:
        return None

    def search(q: Question) -> list[str]:
        _, _, hits = rag.retrieve(q.question, q.history, k=max(KS))
        return [h.document.metadata.get("source", "") for h in hits]

    return evaluate(scored, search)


sidebar()
st.title("Compare")
st.caption(
    "Ask every question to the RAG chain and to the model alone, at the same time, and score both the "
    "same way: how many of the answer's key facts each states, whether RAG cited a right page, whether "
    "each admits not knowing when the documents have no answer."
)
if index() is None:
    st.info("Build or load an index first; the sample guide and its question set work offline.")
    st.page_link("pages/index.py", label="Build an index", icon=":material/library_add:")
else:
    try:
        questions = question_set()
    except Exception as error:
        show_error(error)
        questions = []
    if questions:
        cols = st.columns(2)
        limit = cols[0].number_input(
            "Questions to run", 1, len(questions), min(len(questions), 40), key="c_limit"
        )
        use_judge = cols[1].toggle("Also grade with an LLM judge (the current model)", key="c_judge")
        if use_judge:
            with st.expander("The judge's prompt"):
                st.code(JUDGE_PROMPT, language=None)
        if st.button("Run the comparison", type="primary", icon=":material/compare:", key="c_run"):
            try:
                run(questions, int(limit), use_judge)
            except Exception as error:
                show_error(error)
    report()
