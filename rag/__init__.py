"""The notebook's RAG pipeline as a library: load, split, embed, store, retrieve, answer.

Modules, in pipeline order: `loading` (fetch, crawl, extract), `splitting`,
`embeddings`, `store`, `lexical` + `retrieval`, `llms` (model targets) with
`auth`, `prompts`, `chains`, `side_by_side`, `indexing`, `evaluation`; `settings`
and `errors` are shared; `pipeline` wires them from settings; `cli` is
`python -m rag`. Nothing here imports Streamlit.
"""

__version__ = "0.1.0"
