"""Open models on Cloud Run: the workshop app.

Deploy Gemma on Ollama to Cloud Run with a GPU, index web pages, and chat with a
RAG chain beside the raw model. Works offline on the embedded defaults.
The pages live in pages/ (each draws the shared Connection sidebar itself, so
AppTest, which reruns only the page script, sees it too); the work is done by
rag/ and deploy/.
"""

import streamlit as st

st.set_page_config(page_title="Open models on Cloud Run", page_icon=":material/rocket_launch:", layout="wide")

PAGES = [
    st.Page("pages/chat.py", title="Chat", icon=":material/forum:", default=True),
    st.Page("pages/index.py", title="Index", icon=":material/library_add:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/deploy.py", title="Deploy", icon=":material/rocket_launch:"),
]

st.navigation(PAGES).run()
