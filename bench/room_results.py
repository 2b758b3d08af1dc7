"""What a target's sessions add up to in the room bench (bench/load_room.py): percentiles of
their turns, a summary with errors, crashes and waiting columns, and issue 10's floors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.common import percentile

if TYPE_CHECKING:
    from bench.load_room import Live


def stats(turns: list[dict]) -> dict:
    """p50/p95 of time to first token and to the finished answer, per column and over both."""
    out: dict[str, dict] = {}
    keys = (("first", "first_token_s"), ("done", "answer_s"), ("app_first", "app_first_token_s"))
    for key, label in keys:
        per = {"rag": [], "raw": []}
        for turn in turns:
            for side, value in zip(("rag", "raw"), turn.get(key, [None, None]), strict=True):
                if value is not None and not turn["error"][0 if side == "rag" else 1]:
                    per[side].append(value)
        per["all"] = per["rag"] + per["raw"]
        out[label] = {
            side: {
                "p50": round(percentile(v, 50), 3),
                "p95": round(percentile(v, 95), 3),
                "n": len(v),
            }
            for side, v in per.items()
            if v
        }
    return out


def summarise(single: Live, lives: list[Live], questions: int, crashed: bool) -> dict:
    done = [lv for lv in lives if not lv.error and not lv.cut and len(lv.turns) == questions]
    turns = [t for lv in lives for t in lv.turns]
    columns = [(t, j) for t in turns for j in (0, 1) if t["first"][j] is not None]
    base = stats(single.turns).get("first_token_s", {})
    slow = {0: base.get("rag", {}).get("p50"), 1: base.get("raw", {}).get("p50")}
    return {
        "sessions": len(lives),
        "questions": questions,
        "completed": len(done),
        "errors": sum(1 for lv in lives if lv.error) + (1 if single.error else 0),
        "error_samples": [f"{lv.name}: {lv.error}" for lv in [single, *lives] if lv.error][:10],
        "cut_by_time_limit": sum(1 for lv in lives if lv.cut),
        "crashes": {
            "server_died": crashed,
            "websockets_lost": sum(lv.ws_lost for lv in [single, *lives]),
        },
        "index_s": {
            "p50": round(percentile([lv.index_s for lv in lives if lv.index_s], 50), 2),
            "p95": round(percentile([lv.index_s for lv in lives if lv.index_s], 95), 2),
        },
        "single": {"completed": not single.error and len(single.turns) == questions, **stats(single.turns)},
        "room": stats(turns),
        "waiting": {
            "columns": len(columns),
            "showed_waiting_message": sum(1 for t, j in columns if t["waiting"][j]),
            # first token later than 3× the single session's median, with no message on screen
            "slow_without_message": sum(
                1 for t, j in columns if slow[j] and t["first"][j] > 3 * slow[j] and not t["waiting"][j]
            ),
            # the same by column: a RAG column that quotes its sources never waits for the
            # model, so its delay is retrieval's, not the queue's
            "slow_without_message_by_side": {
                side: sum(
                    1
                    for t, j in columns
                    if j == col and slow[j] and t["first"][j] > 3 * slow[j] and not t["waiting"][j]
                )
                for col, side in enumerate(("rag", "raw"))
            },
        },
    }


def floors(r: dict) -> dict[str, bool]:
    """The issue's floors for one target (the first-token one only with the Ollama server)."""
    m = r["memory_mb"]
    grown = (m[str(r["sessions"])] - m["1"]) / max(r["sessions"] - 1, 1)
    checks = {
        "no_errors": r["errors"] == 0 and r["completed"] == r["sessions"] and r["single"]["completed"],
        "no_crashes": not r["crashes"]["server_died"] and r["crashes"]["websockets_lost"] == 0,
        "memory_per_session_mb": grown <= 60,
    }
    single, crowd = r["single"].get("first_token_s", {}), r["room"].get("first_token_s", {})
    if "ollama_server" in r and "all" in single and "all" in crowd:
        checks["first_token_p95"] = crowd["all"]["p95"] <= 3 * single["all"]["p95"]
    r["memory_per_extra_session_mb"] = round(grown, 1)
    return checks
