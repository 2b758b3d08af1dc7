"""Where release notes rank, chosen leave-one-manual-out (issue 12, fortieth round).

    .venv/bin/python bench/notes_probe.py [--corpora limits pook ...] [--weights 2 3 ...]

On each manual's saved `ours` index (bench/retrieval.py, run it first) that holds release
notes (rag/release_notes.py), the manual's questions scored as the benchmark scores them, in
the same run, with:
- `last`: the release notes a question neither asks about nor quotes after every other page
  (the default until this round: `notes_penalty` None);
- `penalty-X`: those release notes' fused score less X (summed z-scores) instead, so they
  still lead where they lead every other page by more (`notes_penalty` X).
The hub-page count is the default's in every row. Each manual's setting is chosen on the
*other* manuals by the default's rule (bench/retrieval_variants.py, against the baselines of
each manual's last result file). Each row also names the questions whose rank differs from
`last`'s. Manuals without a saved index, without release notes or small enough to be fused by
rank are skipped. Results: bench/results/notes-probe.json; a run on some manuals keeps the
others' rows.
"""

from __future__ import annotations

from common import CACHE
from listings_probe import penalty_rows
from probe_grid import weights_main
from retrieval_variants import EMBEDDER, MemoEmbeddings

from rag.retrieval import Retriever
from rag.store import SKLearnStore

PENALTIES = (1.0, 2.0, 3.0, 4.0, 6.0)


def notes_rows(name: str, embeddings: MemoEmbeddings, penalties: list[float]) -> dict[str, dict]:
    """The manual's row at each setting, with the questions that rank otherwise than `last`."""
    path = CACHE / f"{name}-ours.ragidx"
    if not path.exists():
        return {}
    retriever = Retriever(SKLearnStore.load(path, embeddings, EMBEDDER), notes_penalty=None)
    if retriever.page_cap() is None:
        return {}
    retriever.prepare()  # the hub-page count as the default makes it
    if not retriever._notes:
        return {}
    return penalty_rows(retriever, name, "notes_penalty", penalties, {"notes pages": len(retriever._notes)})


def main() -> None:
    weights_main("notes-probe", notes_rows, weights=PENALTIES)


if __name__ == "__main__":
    main()
