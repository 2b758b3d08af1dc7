"""Where source listings rank, chosen leave-one-manual-out (issue 12, thirty-eighth and
thirty-ninth rounds).

    .venv/bin/python bench/listings_probe.py [--corpora tooz sqlobject ...] [--weights 0 1.5 ...]

On each manual's saved `ours` index (bench/retrieval.py, run it first) that holds source
listings (rag/retrieval.py's SOURCE_LISTING), the manual's questions scored as the benchmark
scores them, in the same run, with:
- `last`: every listing after every other page (the default from the fourth round to the
  thirty-eighth: `listing_penalty` None);
- `penalty-X`: each listing's fused score less X (summed z-scores), so it still leads where
  it leads the pages of prose by more (`listing_penalty` X; `penalty-0`: every listing where
  its scores put it; the default's LISTING_PENALTY among them).
The hub-page count is the default's in every row (listings last there). Each manual's setting
is chosen on the *other* manuals by the default's rule (bench/retrieval_variants.py, against
the baselines of each manual's last result file). Each row also names the questions whose
rank differs from `last`'s. Manuals without a saved index, without listings or small enough
to be fused by rank are skipped. Results: bench/results/listings-probe.json; a run on some
manuals keeps the others' rows.
"""

from __future__ import annotations

from common import CACHE
from probe_grid import ranked_row, weights_main
from retrieval_variants import EMBEDDER, MemoEmbeddings

from rag.retrieval import SOURCE_LISTING, Retriever
from rag.store import SKLearnStore

PENALTIES = (0.0, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0)


def settings(penalties: list[float]) -> dict[str, float | None]:
    """Each row's penalty: None puts the pages last (`last`)."""
    return {"last": None, **{f"penalty-{x:g}": x for x in penalties}}


def listing_rows(name: str, embeddings: MemoEmbeddings, penalties: list[float]) -> dict[str, dict]:
    """The manual's row at each setting, with the questions that rank otherwise than `last`."""
    path = CACHE / f"{name}-ours.ragidx"
    if not path.exists():
        return {}
    store = SKLearnStore.load(path, embeddings, EMBEDDER)
    listings = sum(1 for d in store.documents if SOURCE_LISTING.search(d.metadata.get("url", "")))
    retriever = Retriever(store)
    if not listings or retriever.page_cap() is None:
        return {}
    retriever.prepare()  # the hub-page count as the default makes it (listings last)
    return penalty_rows(retriever, name, "listing_penalty", penalties, {"listing chunks": listings})


def penalty_rows(
    retriever: Retriever, name: str, option: str, penalties: list[float], extra: dict
) -> dict[str, dict]:
    """The manual's row at each of `settings(penalties)`, set as the retriever's `option`,
    with `extra` and the questions that rank otherwise than at the first (`last`)."""
    rows, last = {}, {}
    for label, penalty in settings(penalties).items():
        setattr(retriever, option, penalty)
        row, ranks = ranked_row(retriever, name)
        last = last or ranks
        moved = {q: rank for q, rank in ranks.items() if rank != last[q]}
        rows[label] = {**row, **extra, "moved": moved}
    return rows


def main() -> None:
    weights_main("listings-probe", listing_rows, weights=PENALTIES)


if __name__ == "__main__":
    main()
