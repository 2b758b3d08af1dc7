"""`python -m rag`: index, search, ask and eval from a terminal or a script.

Progress goes to stderr, results to stdout (`--json` for machines). Any
`RagError` ends the command with its sentence and fix and exit status 1 (2 for
bad arguments); a traceback means a bug.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import InputError, RagError
from .settings import Settings, settings_markdown


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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

    p = sub.add_parser("search", help="retrieve chunks for a query, or for a file of queries")
    p.add_argument("query", nargs="?", help="the query")
    p.add_argument("--queries-file", help='JSONL: {"id", "question", "history"} per line')
    p.add_argument("--index", required=True)
    p.add_argument("-k", type=int, default=4)
    p.add_argument("--json", action="store_true")
    _common(p)
    _model_args(p)

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

    p = sub.add_parser("eval", help="retrieval recall@1/4/10 and MRR on a question set")
    p.add_argument("questions", help="JSONL in the format of shared/eval/python-qa.jsonl")
    p.add_argument("--index", required=True)
    p.add_argument("-k", type=int, default=10, help="also report recall@k (recall@1/4/10 always)")
    p.add_argument("--json", action="store_true")
    _common(p)
    _model_args(p)

    p = sub.add_parser(
        "compare", help="RAG vs the model alone on a question set: answer-key coverage and more"
    )
    p.add_argument("questions", help="JSONL in the format of shared/eval/python-qa.jsonl")
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

    p = sub.add_parser("info", help="what an index file holds")
    p.add_argument("index")
    p.add_argument("--json", action="store_true")

    sub.add_parser("settings", help="print the settings table (docs/settings.md)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped.", file=sys.stderr)
        return 130


# index ---------------------------------------------------------------------


def cmd_index(args: argparse.Namespace) -> int:
    from .indexing import EmbedEvent, PageEvent
    from .loading.loader import read_urls_file, to_url
    from .pipeline import index_pages

    settings = settings_from(args)
    sources = list(args.urls) + (read_urls_file(args.urls_file) if args.urls_file else [])
    urls = [to_url(s) for s in sources]
    crawl = to_url(args.crawl) if args.crawl else None
    if not urls and not crawl:
        raise InputError("Nothing to index.", "Give URLs, --urls-file F, or --crawl URL.")

    def progress(event: Any) -> None:
        if args.quiet:
            return
        if isinstance(event, PageEvent):
            r = event.result
            status = f"ok   ({len(r.documents)} chunks)" if r.ok else f"FAIL {r.error}"
            print(f"[{event.pages_done}] {r.url} {status}", file=sys.stderr, flush=True)
        elif isinstance(event, EmbedEvent):
            print(f"  embedded {event.chunks_done}/{event.chunks_seen} chunks", file=sys.stderr, flush=True)

    store, report = index_pages(settings, urls=urls, crawl=crawl, max_pages=args.max_pages, on_event=progress)
    saved = None
    if report.pages_ok:
        saved = str(store.save(args.save))
    summary = {
        "pages_ok": report.pages_ok,
        "pages_failed": len(report.failures),
        "failures": [asdict(f) for f in report.failures],
        "chunks": report.chunks,
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(report.chunks_per_s, 1),
        "embedded": report.embedded,
        "embedder": store.info.embedder,
        "splitter": store.info.splitter,
        "saved": saved,
    }
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(report.summary())
        for failure in report.failures:
            print(f"  failed: {failure.url}: {failure.message}")
        print(f"saved to {saved}" if saved else "nothing saved")
    if not report.pages_ok:
        raise RagError("No page could be indexed, so no index was written.", "See the reasons above.")
    return 0


# search --------------------------------------------------------------------


def _open(args: argparse.Namespace, settings: Settings):
    from .pipeline import make_chains, open_index
    from .retrieval import Retriever

    retriever = Retriever(open_index(args.index, settings))
    rag, raw = make_chains(settings, retriever)
    assert rag is not None
    return rag, raw


def _hit_json(hit: Any) -> dict[str, Any]:
    meta = hit.document.metadata
    return {
        "source": meta.get("source", ""),
        "title": meta.get("title", ""),
        "content": hit.document.page_content,
        "score": round(hit.score, 6),
    }


def cmd_search(args: argparse.Namespace) -> int:
    from .evaluation import load_questions

    if bool(args.query) == bool(args.queries_file):
        raise InputError("Give either a QUERY or --queries-file F.")
    settings = settings_from(args)
    rag, _ = _open(args, settings)
    rag.k = args.k
    if args.query:
        query, _, hits = rag.retrieve(args.query)
        if args.json:
            print(json.dumps({"query": query, "hits": [_hit_json(h) for h in hits]}, ensure_ascii=False))
        else:
            for i, hit in enumerate(hits, 1):
                meta = hit.document.metadata
                print(f"{i}. [{hit.score:.4f}] {meta.get('title', '')}\n   {meta.get('source', '')}")
                print("   " + hit.document.page_content[:300].replace("\n", "\n   ") + "\n")
        return 0
    for q in load_questions(args.queries_file):
        query, _rewritten, hits = rag.retrieve(q.question, q.history)
        line = {"id": q.id, "query": query, "hits": [_hit_json(h) for h in hits]}
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


# ask -----------------------------------------------------------------------


def _read_history(path: str | None) -> list[dict[str, str]]:
    if not path:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"Cannot read the history file {path} ({exc.strerror}).") from None
    try:
        history = (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except ValueError:
        raise InputError(f"{path} is not JSON.", 'Write [{"role": "user", "content": "..."}, ...].') from None
    if not all(isinstance(m, dict) and "role" in m and "content" in m for m in history):
        raise InputError(f"{path}: every message needs a role and a content.")
    return history


def _answer_json(answer: Any) -> dict[str, Any]:
    return asdict(answer)


def _print_answer(title: str, answer: Any) -> None:
    t = answer.timings
    print(f"== {title} ({answer.model})")
    print(answer.text or "(no answer)")
    if answer.sources:
        print("\nSources:")
        for s in answer.sources:
            print(f"  - {s.title}: {s.url}")
    if answer.rewritten:
        print(f"\nSearched for: {answer.query}")
    first = f"{t.first_token:.2f} s" if t.first_token is not None else "-"
    rate = f", {t.tokens_per_s:.1f} tokens/s" if t.tokens_per_s else ""
    print(f"\n[first token {first}, total {t.total:.2f} s{rate}]\n")


def cmd_ask(args: argparse.Namespace) -> int:
    from .chains import AnswerEvent, TokenEvent
    from .side_by_side import compare

    settings = settings_from(args)
    history = _read_history(args.history)
    rag, raw = _open(args, settings)
    if args.compare:
        results = compare(rag, raw, args.question, history)
        errors = {side: r for side, r in results.items() if isinstance(r, RagError)}
        if args.json:
            out = {
                side: ({"error": str(r)} if isinstance(r, RagError) else _answer_json(r))
                for side, r in results.items()
            }
            print(json.dumps(out, indent=1, ensure_ascii=False))
        else:
            for side, title in (("rag", "RAG"), ("raw", "Model only")):
                result = results[side]
                if isinstance(result, RagError):
                    print(f"== {title}\nerror: {result}\n")
                else:
                    _print_answer(title, result)
        if errors:
            raise next(iter(errors.values()))
        return 0
    answer = None
    for event in rag.stream(args.question, history):
        if isinstance(event, TokenEvent) and not args.json:
            print(event.text, end="", flush=True)
        elif isinstance(event, AnswerEvent):
            answer = event.answer
    assert answer is not None
    if args.json:
        print(json.dumps(_answer_json(answer), indent=1, ensure_ascii=False))
    else:
        print("\n")
        _print_answer("RAG", answer)
    return 0


# eval / info / settings ------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import KS, evaluate

    settings = settings_from(args)
    questions = _questions(args.questions)  # a bad file is refused before the index is opened
    rag, _ = _open(args, settings)
    ks = sorted({*KS, args.k})  # recall@1/4/10, and @k when -k asks for another depth
    rag.k = max(ks)

    def search(q: Any) -> list[str]:
        _, _, hits = rag.retrieve(q.question, q.history)
        return [h.document.metadata.get("source", "") for h in hits]

    report = evaluate(questions, search, ks)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{'group':<12} {'n':>3} " + " ".join(f"{'R@' + str(k):>6}" for k in ks) + f" {'MRR':>6}")
    rows = [
        ("all", report["overall"]),
        *report["groups"].items(),
        *(("kind:" + k, v) for k, v in report["kinds"].items()),
    ]
    for name, s in rows:
        print(
            f"{name:<12} {s['n']:>3} "
            + " ".join(f"{s[f'recall@{k}']:>6.3f}" for k in ks)
            + f" {s['mrr']:>6.3f}"
        )
    return 0


def _questions(path: str) -> list:
    from .evaluation import load_questions

    questions = load_questions(path)
    if not questions:
        raise InputError(f"{path} holds no questions.", 'Write one JSON object with a "question" per line.')
    return questions


def _progress_line(result: Any) -> str:
    def cov(scores: Any) -> str:
        return "error" if scores.error else "-" if result.unanswerable else f"{scores.coverage:.2f}"

    def secs(scores: Any) -> str:
        return "error" if scores.error else f"{scores.total_s or 0:.1f} s"

    return (
        f"{result.id} ({result.kind}) coverage RAG vs raw: {cov(result.rag)} vs {cov(result.raw)} "
        f"({secs(result.rag)} / {secs(result.raw)})"
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import nothing_measured, run_comparison
    from .llms import make_target

    settings = settings_from(args)
    questions = _questions(args.questions)[: args.limit]  # checked before any model is asked
    rag, raw = _open(args, settings)
    judge = make_target(args.judge, settings) if args.judge else None
    results = []
    cancel = threading.Event()
    with _ctrl_c_sets(cancel):
        for i, result in enumerate(
            run_comparison(rag, raw, questions, judge=judge, judge_model=args.judge_model, cancel=cancel), 1
        ):
            results.append(result)
            print(f"[{i}/{len(questions)}] {_progress_line(result)}", file=sys.stderr, flush=True)
    if cancel.is_set():
        print(f"stopped: {len(results)} of {len(questions)} questions scored.", file=sys.stderr)
    _compare_output(args, results)
    if cancel.is_set():
        return 130
    failure = nothing_measured(results)
    if failure:
        raise RagError(failure)
    return 0


@contextlib.contextmanager
def _ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C stops a long run cleanly: the answers in flight end, the finished results
    are printed and saved. A second Ctrl-C interrupts as usual."""

    def stop(signum: int, frame: Any) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _compare_output(args: argparse.Namespace, results: list) -> None:
    from .compare import summarise, to_csv, to_json

    if args.csv:
        Path(args.csv).write_text(to_csv(results), encoding="utf-8")
    if args.json:
        print(json.dumps(to_json(results), indent=1, ensure_ascii=False))
        return
    columns = {
        "RAG errors": "rag_errors",
        "raw errors": "raw_errors",
        "RAG cov": "rag_coverage",
        "raw cov": "raw_coverage",
        "RAG all": "rag_all_keys",
        "raw all": "raw_all_keys",
        "gold cited": "rag_cited_gold",
        "RAG idk": "rag_abstained_unanswerable",
        "raw made up": "raw_invented_unanswerable",
        "RAG s": "rag_total_s",
        "raw s": "raw_total_s",
    }
    print(f"{'kind':<13} {'n':>3} " + " ".join(f"{h:>11}" for h in columns))
    for kind, row in summarise(results).items():
        cells = (
            "-" if row[key] is None else f"{row[key]}" if key.endswith("errors") else f"{row[key]:.2f}"
            for key in columns.values()
        )
        print(f"{kind:<13} {row['n']:>3} " + " ".join(f"{c:>11}" for c in cells))
    if any(r.rag.error or r.raw.error for r in results):
        print("Failed answers count as errors and are left out of every rate.")


def cmd_info(args: argparse.Namespace) -> int:
    from .store import read_index

    info, _docs, _, _ = read_index(args.index)
    data = {**asdict(info), "page_count": info.page_count}
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(f"{args.index}: {info.chunks} chunks from {info.page_count} pages")
        print(f"embedder {info.embedder} ({info.dims} dims), splitter {info.splitter or '?'}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    print(settings_markdown(), end="")
    return 0


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "ask": cmd_ask,
    "eval": cmd_eval,
    "compare": cmd_compare,
    "info": cmd_info,
    "settings": cmd_settings,
}


def run() -> None:
    sys.exit(main())
