"""Placeholder entry point; the pages arrive with the Streamlit app."""

import streamlit as st

st.title("Open models on Cloud Run")
st.write("The RAG library is ready: see `python -m rag --help`.")
