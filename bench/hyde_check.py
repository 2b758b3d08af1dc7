"""Whether the embedded model could write the hypothetical answer a HyDE search embeds
(issue 12, twenty-first round; measured, not taken).

    .venv/bin/python bench/hyde_check.py [--corpora gnuplot cmake ...]

HyDE (Gao et al. 2022) searches with a model's guess at the answer instead of the question,
so the guess must name what the manual calls the feature. Here the embedded Gemma 3 270M
(the offline model, through llama.cpp as the app loads it) writes 60 tokens after
"Question: ...\nAnswer (from the <manual> manual):" (its base-model form; its chat form
returned nothing), greedily with llama.cpp's repeat penalty at 1.2, for each answerable
single-turn question, and each guess is scored as answers are (rag/compare.py's
`keys_stated`): the share of questions whose guess states an answer key the question does
not already state. A guess that names nothing the question does not cannot move a search
towards the page; a share near 0 ends the idea before a ranking probe. Results: bench/results/hyde-check.json.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from common import CORPORA, corpus, questions_of, write_result
from report import MANUALS

from rag.compare import keys_stated
from rag.llms.embedded.model_file import model_path

if TYPE_CHECKING:
    from llama_cpp import Llama

TOKENS = 60
# the eight manuals furthest below the floor, and the four written this round
WEAKEST = ["gnuplot", "cmake", "zsh", "rsyslog", "sqlite", "varnish", "exim", "git"]
FRESH = ["hypothesis", "pygments", "ntpsec", "libgcrypt"]


def guesses(llm: Llama, name: str) -> dict:
    label = MANUALS.get(name, name).split(" (")[0]
    rows, new, took = [], 0, 0.0
    for q in questions_of(corpus(name)):
        if q.kind in ("unanswerable", "followup") or not q.answer_keys:
            continue
        started = time.perf_counter()
        prompt = f"Question: {q.question}\nAnswer (from the {label} manual):"
        text = llm(prompt, max_tokens=TOKENS, temperature=0.0, repeat_penalty=1.2)["choices"][0]["text"]
        took += time.perf_counter() - started
        asked = keys_stated(q.question, q.answer_keys)
        said = keys_stated(text, q.answer_keys)
        adds = any(s and not a for s, a in zip(said, asked, strict=True))
        new += adds
        rows.append({"id": q.id, "adds a key": adds, "guess": text.strip()[:300]})
    n = len(rows)
    print(f"{name}: {new} of {n} guesses state a key the question does not", flush=True)
    return {
        "questions": n,
        "adds a key": new,
        "share": round(new / n, 4) if n else None,
        "s per guess": round(took / n, 2) if n else None,
        "rows": rows,
    }


def main() -> None:
    from llama_cpp import Llama

    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", nargs="*", default=WEAKEST + FRESH)
    args = parser.parse_args()
    llm = Llama(str(model_path()), n_ctx=1024, verbose=False, seed=0)
    found = {name: guesses(llm, name) for name in args.corpora if name in CORPORA}
    total = sum(r["questions"] for r in found.values())
    adds = sum(r["adds a key"] for r in found.values())
    write_result(
        "hyde-check",
        {
            "model": model_path().name,
            "tokens": TOKENS,
            "manuals": found,
            "overall": {"questions": total, "adds a key": adds},
        },
    )


if __name__ == "__main__":
    main()
