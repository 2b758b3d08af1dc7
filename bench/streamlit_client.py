"""A participant without a browser: Streamlit's own websocket protocol, spoken as its frontend does.

`Session` connects to `/_stcore/stream` and sends the frontend's BackMsgs: a rerun
with the page's URL path when a page opens, a rerun with the target's
`page_script_hash` for a click on a navigation link, and a rerun carrying a
widget's state for a button (`trigger_value`) or a chat input (`chat_input_value`,
the type this Streamlit version registers for `st.chat_input`); triggers are sent
once, then dropped, as the frontend's WidgetStateManager does. Widgets the
participant never touches are left out of the widget states: the server then
keeps their values, which is what the frontend's echo of unchanged values amounts to.

The ForwardMsgs build a tree of what the page shows, by delta path, with the
frontend's rules: an element replaces what was at its path, and a finished run
drops what it did not draw. Widget ids come from the elements' `id` fields.
It claims no cached messages, so the server sends every message in full. Unlike
the frontend it does not reconnect: a websocket the server closes ends the session.

The second half is the workshop app as a participant uses it (bench/load_room.py):
index the sample guide on the Index page, go to Chat, ask, and time each answer
column from the streamed deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Block_pb2 import Block
from streamlit.proto.Common_pb2 import ChatInputValue
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

DeltaPath = tuple[int, ...]
MAIN = 0  # the root containers' first index: main; 1 is the sidebar, 3 the bottom (chat input)
FINISHED = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)
TEXT_FIELDS = ("label", "body", "message", "text")


@dataclass
class Node:
    """One element or block on the page, as the frontend holds it."""

    path: DeltaPath
    kind: str  # the element's or block's type: "markdown", "button", "chat_input", "column"…
    text: str  # what a reader sees of it: body, label, an exception's message
    widget_id: str  # a widget's id; "" for everything else
    error: bool  # an error box (st.error) or an exception
    run: int  # the script run that drew it
    script_hash: str  # the script that drew it: the main script or a page


def describe(item: Element | Block) -> tuple[str, str, str, bool]:
    """(kind, text, widget id, is an error) of an element or a block."""
    kind = item.WhichOneof("type") or ""
    body = getattr(item, kind) if kind else None
    parts = [getattr(body, name, "") for name in TEXT_FIELDS]
    text = " ".join(p for p in parts if isinstance(p, str) and p)
    if kind == "exception":
        text = f"{body.type}: {body.message}"
    widget_id = getattr(body, "id", "") if isinstance(item, Element) else ""
    error = kind == "exception" or (kind == "alert" and body.format == Alert.ERROR)
    return kind, text, widget_id if isinstance(widget_id, str) else "", error


class Session:
    """One browser tab's worth of Streamlit session, over one websocket."""

    def __init__(self, url: str, on_lost: Callable[[], None] | None = None) -> None:
        self.url = url.rstrip("/")
        self.nodes: dict[DeltaPath, Node] = {}
        self.pages: dict[str, str] = {}  # navigation title → page script hash
        self.page_hash = self.main_hash = ""
        self.run = 0  # script runs started (one new_session each)
        self.idle = False  # a run that started after the last request has finished
        self._asked_at = 0  # `run` when the last request was sent: later runs answer it
        self.last_message = time.monotonic()
        self.closed: str | None = None  # why the websocket closed
        self.watchers: list[Callable[[Session, float], None]] = []  # called on every message
        self.on_lost = on_lost  # the server closed the websocket
        self._ws: websockets.ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Condition()
        self._closing = False

    async def connect(self, page: str = "") -> None:
        """Open the app at `page` (a URL path such as "index"; "" for the default page)."""
        ws_url = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        self._ws = await websockets.connect(
            ws_url,
            origin=websockets.Origin(self.url),
            subprotocols=[websockets.Subprotocol("streamlit")],
            max_size=None,  # the server allows large messages (server.maxMessageSize)
            ping_interval=None,  # browsers do not ping; a busy server must not be cut off for it
            proxy=None,
            open_timeout=60,
        )
        self._reader = asyncio.create_task(self._read())
        await self.rerun(page_hash="", page_name=page)

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):  # already closed by the server
                await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                now = time.monotonic()
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._apply(msg)
                self.last_message = now
                for watch in list(self.watchers):
                    watch(self, now)
                async with self._changed:
                    self._changed.notify_all()
        except websockets.ConnectionClosed as error:
            self.closed = f"websocket closed: {error}"
        except Exception as error:  # a message this client cannot follow: the session cannot go on
            self._closing, self.closed = True, f"the client failed: {type(error).__name__}: {error}"
        finally:
            self.closed = self.closed or "websocket closed by the server"
            if not self._closing and self.on_lost is not None:
                self.on_lost()
            async with self._changed:
                self._changed.notify_all()

    def _apply(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            new = msg.new_session
            self.run += 1
            self.main_hash, self.page_hash = new.main_script_hash, new.page_script_hash
        elif kind == "navigation":
            self.pages = {p.page_name: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
        elif kind == "delta":
            self._delta(msg)
        elif kind == "script_finished" and msg.script_finished in FINISHED:
            self.nodes = {p: n for p, n in self.nodes.items() if n.run == self.run}  # stale ones go
            self.idle = self.run > self._asked_at  # a run that began before the request does not count
        elif kind == "ref_hash":  # only sent for a hash the client said it holds; this one holds none
            raise RuntimeError(f"the server referred to a cached message {msg.ref_hash}")

    def _delta(self, msg: ForwardMsg) -> None:
        path = tuple(msg.metadata.delta_path)
        which = msg.delta.WhichOneof("type")
        if which not in ("new_element", "add_block"):
            return  # transient elements (toasts) are not part of the page
        item = msg.delta.new_element if which == "new_element" else msg.delta.add_block
        kind, text, widget_id, error = describe(item)
        old = self.nodes.get(path)
        # An element replaces the subtree at its path; a block of the same type keeps its children.
        if old is not None and (which == "new_element" or old.kind != kind):
            depth = len(path)
            self.nodes = {p: n for p, n in self.nodes.items() if len(p) <= depth or p[:depth] != path}
        script = msg.metadata.active_script_hash
        self.nodes[path] = Node(path, kind, text, widget_id, error, self.run, script)

    async def rerun(
        self, widgets: list[WidgetState] | None = None, page_hash: str | None = None, page_name: str = ""
    ) -> None:
        """The frontend's rerun_script: widget states, and the page (the current one by default)."""
        assert self._ws is not None, "connect first"
        msg = BackMsg()
        state = msg.rerun_script
        state.page_script_hash = self.page_hash if page_hash is None else page_hash
        state.page_name = page_name
        state.widget_states.widgets.extend(widgets or [])
        context = state.context_info
        context.timezone, context.locale = "UTC", "en-US"
        context.url = f"{self.url}/{page_name}"
        self.idle, self._asked_at = False, self.run
        await self._ws.send(msg.SerializeToString())

    def find(self, kind: str, label: str | None = None) -> Node | None:
        """The first widget (by page order) of this kind, with this label if one is given."""
        for path in sorted(self.nodes):
            node = self.nodes[path]
            if node.kind == kind and (label is None or node.text == label) and node.widget_id:
                return node
        return None

    async def click(self, label: str) -> None:
        button = self.find("button", label)
        if button is None:
            raise LookupError(f"no button {label!r} on the page")
        await self.rerun([WidgetState(id=button.widget_id, trigger_value=True)])

    async def chat(self, text: str) -> None:
        box = self.find("chat_input")
        if box is None:
            raise LookupError("no chat input on the page")
        await self.rerun([WidgetState(id=box.widget_id, chat_input_value=ChatInputValue(data=text))])

    async def switch_page(self, title: str) -> None:
        """A click on a navigation link: the page's elements go at once, the main script's stay."""
        if title not in self.pages:
            raise LookupError(f"no page {title!r} in the navigation ({', '.join(self.pages)})")
        self.nodes = {p: n for p, n in self.nodes.items() if n.script_hash == self.main_hash}
        await self.rerun(page_hash=self.pages[title])

    def subtree(self, prefix: DeltaPath) -> list[Node]:
        depth = len(prefix)
        return [self.nodes[p] for p in sorted(self.nodes) if p[:depth] == prefix]

    def text(self) -> str:
        return "\n".join(self.nodes[p].text for p in sorted(self.nodes) if self.nodes[p].text)

    async def wait(self, predicate: Callable[[], object], timeout: float) -> bool:
        """Whether `predicate` held within `timeout` s; a closed websocket raises ConnectionError."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: predicate() or self.closed), timeout)
        if predicate():
            return True
        if self.closed:
            raise ConnectionError(self.closed)
        return False


# The workshop app, as a participant uses it.
Check = Callable[[float], None]  # given the seconds since the last message; raises to give up
POLL_S = 15.0
TOTAL = re.compile(r"total \d+(\.\d+)? s")  # a column's timings caption: its answer is finished
WAITING = re.compile(r"waiting for the model", re.I)
CURSOR = "\u258c"  # a streaming column's text ends with it
SIDES = ("rag", "raw")


async def until(session: Session, predicate: Callable[[], object], check: Check) -> None:
    """Wait for `predicate`, calling `check` every POLL_S s with how long the page has been quiet."""
    while not await session.wait(predicate, POLL_S):
        check(time.monotonic() - session.last_message)


async def index_sample_guide(session: Session, check: Check) -> float:
    """On the Index page: press Index the sample guide; the seconds until the summary says pages ok."""
    await until(session, lambda: session.idle and session.find("button", "Index the sample guide"), check)
    started = time.monotonic()
    await session.click("Index the sample guide")
    failed = ("Indexing failed", "No page could be indexed")
    await until(session, lambda: "pages ok" in session.text() or session.idle, check)
    took = time.monotonic() - started
    await until(session, lambda: session.idle, check)  # the run keeps the index as it ends
    text = session.text()
    problem = next((n.text for n in session.nodes.values() if n.error), None)
    if "pages ok" not in text or problem or any(f in text for f in failed):
        raise RuntimeError(f"indexing the sample guide failed on the page: {problem or text[-300:]}")
    return took


async def open_chat(session: Session, check: Check) -> None:
    await session.switch_page("Chat")
    await until(session, lambda: session.idle and session.find("chat_input"), check)


@dataclass
class Turn:
    """One question's two answer columns, stamped as their deltas arrive (time.monotonic())."""

    question: str
    seen: int  # turns before this one: its chat message is the next one on the page
    t0: float = field(default_factory=time.monotonic)
    first: list[float | None] = field(default_factory=lambda: [None, None])
    done: list[float | None] = field(default_factory=lambda: [None, None])
    error: list[str | None] = field(default_factory=lambda: [None, None])
    waiting: list[bool] = field(default_factory=lambda: [False, False])
    text: list[str | None] = field(default_factory=lambda: [None, None])
    caption: list[str | None] = field(default_factory=lambda: [None, None])
    page_error: str | None = None

    def columns(self, session: Session) -> list[DeltaPath]:
        """This turn's two columns: the first columns after its chat message (earlier turns'
        columns come before it, and a finished turn's linger where they were until redrawn)."""
        top = sorted(p for p in session.nodes if len(p) == 2 and p[0] == MAIN)
        messages = [p for p in top if session.nodes[p].kind == "chat_message"]
        if len(messages) <= self.seen:
            return []
        after = (p for p in top if p > messages[self.seen] and session.nodes.get((*p, 0)))
        for path in after:
            if session.nodes[(*path, 0)].kind == "column":
                return [c for c in ((*path, 0), (*path, 1)) if c in session.nodes]
        return []

    def __call__(self, session: Session, now: float) -> None:
        columns = self.columns(session)
        for j, prefix in enumerate(columns):
            if self.done[j] is None:
                self._column(j, session.subtree(prefix), now)
        if self.settled():
            return
        inside = {n.path for c in columns for n in session.subtree(c)}
        bad = next((n for n in session.nodes.values() if n.error and n.path not in inside), None)
        if bad is not None and self.page_error is None:
            self.page_error = bad.text[:400]

    def _column(self, j: int, nodes: list[Node], now: float) -> None:
        text = " ".join(n.text for n in nodes)
        self.waiting[j] = self.waiting[j] or bool(WAITING.search(text))
        bad = next((n for n in nodes if n.error), None)
        if bad is not None:
            self.error[j] = bad.text[:400]
        if bad is not None or TOTAL.search(text):
            self.done[j] = now
            self.text[j] = text[:240]
            timed = [n.text for n in nodes if TOTAL.search(n.text)]
            self.caption[j] = timed[-1] if timed else None
        streaming = any(CURSOR in n.text and not WAITING.search(n.text) for n in nodes)
        if self.first[j] is None and (self.done[j] is not None or streaming):
            self.first[j] = now

    def settled(self) -> bool:
        return self.page_error is not None or all(d is not None for d in self.done)

    def result(self) -> dict:
        """As bench/load_room.py records a turn: seconds from submitting the question."""

        def since(t: float | None) -> float | None:
            return None if t is None else t - self.t0

        return {
            "first": [since(t) for t in self.first],
            "done": [since(t) for t in self.done],
            "error": self.error,
            "waiting": self.waiting,
            "text": self.text,
            "caption": self.caption,
            "pageError": self.page_error,
        }


async def ask(session: Session, question: str, seen: int, check: Check) -> dict:
    """Type the question into the chat input and submit it; wait for both columns."""
    turn = Turn(question, seen)
    session.watchers.append(turn)
    try:
        turn.t0 = time.monotonic()
        await session.chat(question)
        await until(session, lambda: turn.settled() or session.idle, check)
        if not turn.settled():  # the run ended and both columns did not finish: nothing more comes
            turn.page_error = turn.page_error or "the run ended before both columns had an answer"
    finally:
        session.watchers.remove(turn)
    return turn.result()
