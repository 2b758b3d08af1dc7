"""The command line of `python -m rag`: one sub-parser per command, and the settings it asks for."""

from __future__ import annotations

import argparse
from typing import Any

from ..settings import Settings

DESCRIPTION = "`python -m rag`: index, search, ask and eval from a terminal or a script."
QUESTIONS_HELP = "JSONL in the format of rag/data/python-docs-qa.jsonl"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embeddings", help="local | ollama | vertex (default: RAG_EMBEDDINGS or local)")
    parser.add_argument("--embedding-model", help="embedding model name (provider default if omitted)")


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm", help="embedded | ollama:URL | openai:URL | cloudrun:URL (default: RAG_LLM or embedded)"
    )
    parser.add_argument(
        "--model", help="model on a remote target, e.g. gemma2:9b (openai: the server's first if omitted)"
    )
    parser.add_argument(
        "--history-mode", choices=["auto", "rewrite", "history"], help="how follow-ups are searched"
    )


def _index(sub: Any) -> None:
    p = sub.add_parser("index", help="fetch pages, split, embed and save an index")
    p.add_argument("urls", nargs="*", help="page URLs (or local HTML/Markdown files)")
    p.add_argument("--urls-file", help="a file with one URL per line")
    p.add_argument("--crawl", metavar="URL", help="crawl the site under this start URL")
    p.add_argument("--max-pages", type=int, help="page limit of the crawl (default: RAG_MAX_PAGES)")
    p.add_argument("--splitter", help="sections (default) | recursive | notebook")
    p.add_argument("--concurrency", type=int, help="pages fetched at once")
    p.add_argument("--save", required=True, metavar="PATH", help="where to write the index file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no per-page progress")
    _common(p)


def _search(sub: Any) -> None:
    p = sub.add_parser("search", help="retrieve chunks for a query, or for a file of queries")
    p.add_argument("query", nargs="?", help="the query")
    p.add_argument("--queries-file", help='JSONL: {"id", "question", "history"} per line')
    p.add_argument("--index", required=True)
    p.add_argument("-k", type=int, default=4)
    p.add_argument("--json", action="store_true")
    _common(p)
    _model_args(p)


def _ask(sub: Any) -> None:
    p = sub.add_parser("ask", help="answer a question with RAG (and the raw model with --compare)")
    p.add_argument("question")
    p.add_argument("--index", required=True)
    p.add_argument("--history", help='JSON file: [{"role": "user"|"assistant", "content": ...}, ...]')
    p.add_argument(
        "--compare", action="store_true", help="also ask the model without retrieval, at the same time"
    )
    p.add_argument("-k", type=int)
    p.add_argument("--json", action="store_true")
    _common(p)
    _model_args(p)


def _eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="retrieval recall@1/4/10 and MRR on a question set")
    p.add_argument("questions", help=QUESTIONS_HELP)
    p.add_argument("--index", required=True)
    p.add_argument("-k", type=int, default=10, help="also report recall@k (recall@1/4/10 always)")
    p.add_argument("--json", action="store_true")
    _common(p)
    _model_args(p)


def _compare(sub: Any) -> None:
    p = sub.add_parser(
        "compare", help="RAG vs the model alone on a question set: answer-key coverage and more"
    )
    p.add_argument("questions", help=QUESTIONS_HELP)
    p.add_argument("--index", required=True)
    p.add_argument("-k", type=int, help="chunks retrieved per question")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--judge", metavar="TARGET", help="also grade answers with this model target (optional)")
    p.add_argument("--judge-model", default="", help="model name for an Ollama judge")
    p.add_argument("--max-tokens", type=int, help="longest answer, in tokens")
    p.add_argument("--json", action="store_true", help="print the summary and every result as JSON")
    p.add_argument("--csv", metavar="FILE", help="also write one row per question to FILE")
    _common(p)
    _model_args(p)


def _info(sub: Any) -> None:
    p = sub.add_parser("info", help="what an index file holds")
    p.add_argument("index")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_index, _search, _ask, _eval, _compare, _info):
        add(sub)
    sub.add_parser("settings", help="print the settings table (docs/settings.md)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings, with the ones the command line gives."""
    values = {
        "embeddings": getattr(args, "embeddings", None),
        "embedding_model": getattr(args, "embedding_model", None),
        "llm": getattr(args, "llm", None),
        "model": getattr(args, "model", None),
        "history_mode": getattr(args, "history_mode", None),
        "splitter": getattr(args, "splitter", None),
        "fetch_concurrency": getattr(args, "concurrency", None),
        "max_pages": getattr(args, "max_pages", None),
    }
    if getattr(args, "k", None) and args.command in ("ask", "compare"):
        values["top_k"] = args.k
    if getattr(args, "max_tokens", None):
        values["max_tokens"] = args.max_tokens
    return Settings.from_env().merged({k: v for k, v in values.items() if v is not None})
