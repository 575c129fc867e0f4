"""A seeded chaos run, as Jepsen would try it: real servers, real clients, faults at random.

:func:`run_chaos` starts either three ``chatserver.py --cluster`` nodes on one Redis
that syncs every write (``appendfsync always``), or one durable single server
(``--data``), each on a fixed loopback port so that a restart comes back where the
clients look for it. ``clients`` :class:`~client.library.ChatClient` objects (each with
every server in its list, in its own order: failover) send each other direct messages
with unique texts, while a scheduler drawn from ``random.Random(seed)`` kills -9 and
restarts nodes, Redis or the single server, and pauses them (SIGSTOP for a while, then
SIGCONT), or cuts a node off from Redis while the others still reach it (:class:`Partition`),
one target, two or all of them at a time, for ``seconds``; it also drops some
clients' connections, and a quarter of the names log in, leave and come back only later
(what is sent to them meanwhile is queued). A third of the names are accounts (a password,
then a resume credential), the others guests; two of the accounts have a second device,
which loses its connection on its own schedule: one sends and edits half of its user's
messages, the other sends nothing, and goes away and comes back. Every client is a
member of one named room, :data:`ROOM`, to which some of the messages go (at most
:data:`ROOM_POSTS`: what a member away for the whole run gets back at its return,
const.ROOM_BACKLOG_LIMIT, with room to spare). Meanwhile the clients edit some of their
direct messages and posts (:data:`EDIT_RATE`, :data:`ROOM_EDIT_SHARE`).
Then everything runs again, and the run waits (bounded) for every message to reach its
final state and every client to be connected, and checks the invariants from the clients'
own records (:func:`violations`):

- a direct message acknowledged ``sent``/``queued`` (or ``delivered``) ends ``delivered``;
- it was shown to its recipient exactly once (to a device of it at least, to none twice),
  with its msg_id and text;
- per conversation, the recipient was shown them in the sender's order;
- a room message acknowledged ``sent`` was shown to every member exactly once, with its
  msg_id and text; each member was shown the room's messages in one order, the room's
  (by msg_id), which keeps each sender's;
- of an edited message, its recipient came to read the last edit its sender was told was
  stored (or a later one that may have been), and was shown no edit its sender was told
  was refused (edits of one message are made one after another, numbered in their text);
  so did each second device of the recipient that was shown the message, whatever it
  missed while away ("Changes a device missed"); and of an edited post, every device of
  every member (but the one that edited it);
- a second device was shown each direct message at most once, in the sender's order, and
  every room message like any member (it is shown only the direct messages that come while
  it is online: another device confirmed the rest); what it sent is held to the same
  promises as any device's, in its own order (a user's two devices have no common one);
- nothing was shown that was not sent (by that sender, to that recipient or room), nor a
  message its sender was told had failed;
- no message is left unfinished and no client stuck disconnected.

The scheduler's choices depend on the seed alone; when they land relative to the
messages does not (real processes, real time), so a seed names a fault plan, not an
interleaving. Processes are stopped by PID; every wait has a deadline.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from client.errors import NotConnected, RequestFailed, RequestTimeout
from client.library import ChatClient
from client.outgoing import DELIVERED, FAILED, QUEUED, SENT, MessageUpdate, OutgoingMessage
from client.events import Reconnected
from client.resume import ResumeTokens
import const
from protocol import DirectMessage, Edited, RoomEdited, RoomPost
from faultproxy import FaultProxy
from redisserver import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
# The clients' own liveness check, shortened so that a paused server is given up in
# seconds (the default is 45 s of silence).
HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_TIMEOUT = 4.0
# The named room every client joins, and the most messages a run posts there (the warm-up
# included): a member away for the whole run must get them all back at its return, and
# the server sends at most const.ROOM_BACKLOG_LIMIT a room ("Missed messages").
ROOM = "#caos"
ROOM_POSTS = const.ROOM_BACKLOG_LIMIT - 20
# The share of the messages that go to the room (until ROOM_POSTS).
ROOM_SHARE = 0.1
# Edits a second, all clients together; an edit's text is the message's
# with EDIT_MARK and the edit's number after it (1, 2... per message).
EDIT_RATE = 4.0
EDIT_MARK = " ~"
# The share of the edits made to posts in ROOM, and the most of them a run makes: a member
# away for the whole run is told at its return the room's newest const.ROOM_BACKLOG_LIMIT
# changes only ("Changes a device missed"), so a run keeps within them.
ROOM_EDIT_SHARE = 0.25
ROOM_EDITS = const.ROOM_BACKLOG_LIMIT // 2
# The accounts (of those not away from the start) that have a second device, a phone
# beside the laptop. The first one's sends and edits half of its user's messages; the
# others send nothing, and go away and come back. Each one loses its connection, or goes
# away or comes back, about SECOND_RATE times a second, all second devices together.
SECOND_DEVICES = 2
SECOND_RATE = 0.5
# What an edit's sender was told: OK (stored: the recipient must come to read it), REFUSED
# (nothing changed), UNSURE (no answer, or "it may have been done").
OK, REFUSED, UNSURE = "ok", "refused", "unsure"


def unedited(text: str) -> str:
    """A message's text as it was sent, without an edit's mark."""
    return text.split(EDIT_MARK, 1)[0]


def edit_number(text: str) -> int:
    """Which edit of its message ``text`` is (0: the text as sent)."""
    return int(text.split(EDIT_MARK, 1)[1]) if EDIT_MARK in text else 0


class Server:
    """One ``chatserver.py`` on a fixed 127.0.0.1 port: kill -9, pause, start again."""

    def __init__(self, name: str, log: Path, *args: str) -> None:
        self.name = name
        self.port = free_port()
        self.args = args
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.paused = False

    def start(self) -> None:
        assert self.proc is None
        # Only this start's lines: the log holds every earlier start's "listening on" too.
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", str(self.port),
                 "--web-port", "0", "--rate-per-address", "100000", "--rate-per-connection", "10000", *self.args],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + START_TIMEOUT
        pattern = re.compile(rf"listening on \S+:{self.port}\b")
        while not pattern.search(self.log.read_text()[offset:]):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
            self.paused = False

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        self.resume()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


class RedisTarget:
    """The Redis of a cluster, as a fault target."""

    def __init__(self, redis: RedisServer) -> None:
        self.name = "redis"
        self.redis = redis
        self.paused = False

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.redis.process

    def start(self) -> None:
        self.redis.start()

    def kill(self) -> None:
        self.redis.kill()
        self.paused = False

    def pause(self) -> None:
        os.kill(self.redis.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.redis.process is not None and self.paused:
            os.kill(self.redis.process.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        self.resume()
        self.redis.stop()


class Partition:
    """One node cut off from Redis, the others not: the node reaches Redis through a raw
    FaultProxy whose links turn into black holes (nothing passes, nothing is closed: only
    timeouts tell) and which refuses new ones, until it heals (the links are then reset,
    as a NAT that forgot them would). As a fault target, kill and pause cut it off; start
    and resume heal it."""

    def __init__(self, node: str, redis: RedisServer) -> None:
        self.name = f"{node}-x-redis"
        self.proxy = FaultProxy("127.0.0.1", redis.port, raw=True).start()
        self.url = f"redis://127.0.0.1:{self.proxy.port}/0"
        self.cut_off = False

    def kill(self) -> None:
        self.proxy.refuse_new = True
        self.proxy.freeze_all()
        self.cut_off = True

    pause = kill

    def start(self) -> None:
        if self.cut_off:
            self.proxy.refuse_new = False
            self.proxy.cut()
            self.cut_off = False

    resume = start

    def stop(self) -> None:
        self.start()
        self.proxy.stop()


@dataclass
class Record:
    """What one client saw: the direct messages and the posts in :data:`ROOM` shown to it,
    its sent trackers and the states each went through (from its MessageUpdates)."""

    name: str
    shown: list[DirectMessage] = field(default_factory=list)
    posts: list[RoomPost] = field(default_factory=list)  # shown in ROOM, in order
    edited: list = field(default_factory=list)  # edits shown: Edited of messages to it, RoomEdited in ROOM
    edits: dict = field(default_factory=dict)             # msg_id -> [(edit number, OK/REFUSED/UNSURE)]
    sent: list = field(default_factory=list)          # OutgoingMessage, in send order
    states: dict = field(default_factory=dict)         # request_id -> [state, ...]
    session: int = 0                                   # reconnections so far
    sessions: list = field(default_factory=list)       # the session each of ``shown`` came in
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_event(self, event: object) -> None:
        with self.lock:
            if isinstance(event, DirectMessage):
                self.shown.append(event)
                self.sessions.append(self.session)
            elif isinstance(event, RoomPost) and event.room_name == ROOM:
                self.posts.append(event)
            elif isinstance(event, Edited) and event.to == self.name \
                    or isinstance(event, RoomEdited) and event.room_name == ROOM:
                self.edited.append(event)
            elif isinstance(event, Reconnected):
                self.session += 1
            elif isinstance(event, MessageUpdate):
                self.states.setdefault(event.message.request_id, []).append(event.state)


def acknowledged(record: Record, message) -> bool:
    """Whether the server ever said it has the message (sent, queued or delivered)."""
    return bool({SENT, QUEUED, DELIVERED} & set(record.states.get(message.request_id, ()))) \
        or message.state in (SENT, QUEUED, DELIVERED)


def second_label(name: str) -> str:
    """How the problems name ``name``'s second device."""
    return f"{name}'s second device"


def violations(records: dict[str, Record], clients: dict[str, ChatClient], detail: bool = False,
               second: dict[str, Record] | None = None) -> list[str]:
    """Every broken promise, in words (empty: none); ``detail``: with the msg_ids and states.
    ``second``: the records of the second devices, by name (see :func:`readers`)."""
    found: list[str] = []
    for name, client in clients.items():
        if not client.connected:
            found.append(f"{name} is not connected at the end")
    everyone = readers(records, second)
    for sender, record in everyone.items():
        for message in record.sent:
            final = SENT if message.to is None else DELIVERED  # a room message gets no receipt
            if not message.done:
                found.append(f"{sender}: {message!r} unfinished at the end")
            elif acknowledged(record, message) and message.state != final:
                found.append(f"{sender}: acknowledged {message!r} ended {message.state} {message.error}")
    return found + _direct_violations(everyone, detail) + _room_violations(everyone) + _edit_violations(everyone)


def readers(records: dict[str, Record], second: dict[str, Record] | None) -> dict[str, Record]:
    """Every device's record by its label: each name's first device (the name), then the
    second devices (:func:`second_label`). The checks name senders by these labels: each
    device has its own messages, in its own order. A device is shown
    only the direct messages that come while it is online: one another device of its user
    confirmed meanwhile is not its to be shown (PROTOCOL.md, ``since``), so each message
    must be shown to one of the user's devices at least."""
    return {**records, **{second_label(name): record for name, record in (second or {}).items()}}


def _told_failed(record: Record, message) -> str | None:
    """The error code ``message``'s sender was given as its end, if it failed without
    the server ever saying it had it: then it was stored nowhere and sent to no one."""
    if message.state == FAILED and not acknowledged(record, message):
        return message.error[0]
    return None


def _direct_violations(everyone: dict[str, Record], detail: bool) -> list[str]:
    found: list[str] = []
    sent_to: dict[str, dict] = {}  # recipient -> text -> (sending device, index in its sent, message)
    for sender, other in everyone.items():
        for index, message in enumerate(other.sent):
            if message.to is not None:
                sent_to.setdefault(message.to, {})[message.text] = (sender, index, message)
    shown_to: dict[str, set[str]] = {}  # recipient -> the texts shown to any of its devices
    for label, record in everyone.items():
        recipient = record.name
        by_text = sent_to.get(recipient, {})
        times: dict[str, int] = {}
        last_index: dict[str, tuple] = {}
        for position, shown in enumerate(record.shown):
            text = unedited(shown.text)  # (edited before it was delivered: the edit's text)
            times[text] = times.get(text, 0) + 1
            origin = by_text.get(text)
            if origin is None or everyone[origin[0]].name != shown.sender:
                found.append(f"{label} was shown {shown.text!r} from {shown.sender}, never sent so")
                continue
            sender, index, message = origin
            if message.msg_id is not None and message.msg_id != shown.msg_id:
                found.append(f"{label} was shown {shown.text!r} as msg_id {shown.msg_id}, sent as "
                             f"{message.msg_id}")
            failed = _told_failed(everyone[sender], message)
            if failed:
                found.append(f"{label} was shown {shown.text!r}, which {sender} was told had failed ({failed})")
            before = last_index.get(sender)
            if before is not None and before[0] > index:
                found.append(f"{label} was shown {shown.text!r} after {before[1]!r}: not the sender's order"
                             + (f" ({shown.msg_id} {everyone[sender].states.get(message.request_id)}"
                                f" unavailable x{message._unavailable} after {before[2].msg_id} "
                                f"{everyone[sender].states.get(before[2].request_id)} unavailable "
                                f"x{before[2]._unavailable}; shown in sessions {record.sessions[position]} after "
                                f"{before[3]})" if detail else ""))
            if before is None or index > before[0]:
                last_index[sender] = (index, shown.text, message, record.sessions[position])
        for text, count in times.items():
            if count > 1:
                found.append(f"{label} was shown {text!r} {count} times")
        shown_to[recipient] = shown_to.get(recipient, set()) | set(times)
    for recipient, by_text in sent_to.items():  # to one device of the user at least
        for text, (sender, _index, message) in by_text.items():
            if acknowledged(everyone[sender], message) and text not in shown_to.get(recipient, ()):
                found.append(f"{recipient} was never shown {text!r} from {sender} ({message!r})")
    return found


def _edit_states(everyone: dict[str, Record]) -> Iterator[tuple[str, str, OutgoingMessage, int, int, dict]]:
    """(the reader's label, the sending device's, message, the highest edit shown, the
    highest its sender was told was stored, the sender's outcome by edit number) for each
    direct message and each post in :data:`ROOM` shown to a device (:func:`readers`), but
    the device that made the edits (it is told nothing of its own: its ``ok`` said it)."""
    sent_by_id = {message.msg_id: (sender, message) for sender, record in everyone.items()
                  for message in record.sent
                  if (message.to is not None or message.room == ROOM) and message.msg_id is not None}
    for recipient, record in everyone.items():
        latest: dict[int, int] = {}  # msg_id -> the highest edit number shown of it
        for msg_id, text in [(m.msg_id, m.text) for m in [*record.shown, *record.posts, *record.edited]]:
            latest[msg_id] = max(latest.get(msg_id, 0), edit_number(text))
        for msg_id, shown in latest.items():
            origin = sent_by_id.get(msg_id)
            if origin is None or origin[0] == recipient:
                continue  # (named by the checks of what was shown; or its own)
            sender, message = origin
            edits = everyone[sender].edits.get(msg_id, [])
            stored = max([number for number, outcome in edits if outcome == OK], default=0)
            yield recipient, sender, message, shown, stored, {number: outcome for number, outcome in edits}


def edits_behind(records: dict[str, Record], second: dict[str, Record] | None = None) -> bool:
    """Whether some recipient still reads an older edit of a message than its sender was
    told was stored: what the end of a run waits for (bounded) before it checks."""
    return any(shown < stored for _r, _s, _m, shown, stored, _t in _edit_states(readers(records, second)))


def posts_behind(records: dict[str, Record], second: dict[str, Record] | None = None) -> bool:
    """Whether some device has yet to be shown a post of :data:`ROOM` that its sender was
    told was stored (a device that logged in as the run ended gets what it missed from the
    store, asked again every 5 s while a node's link to Redis recovers): what the end of a
    run waits for (bounded) before it checks, as :func:`edits_behind` does."""
    everyone = readers(records, second)
    stored = [message.text for record in everyone.values() for message in list(record.sent)
              if message.room == ROOM and acknowledged(record, message)]
    return any(not {unedited(post.text) for post in list(record.posts)}.issuperset(stored)
               for record in everyone.values())


def _edit_violations(everyone: dict[str, Record]) -> list[str]:
    """The promises of edits: of each message shown, its recipient comes to read the last
    edit its sender was told was stored (or one after it that may have been), and never
    one its sender was told was refused."""
    found: list[str] = []
    for recipient, sender, message, shown, stored, told in _edit_states(everyone):
        if told.get(shown) == REFUSED:
            found.append(f"{recipient} was shown edit {shown} of {message.text!r}, which {sender} was told was "
                         "refused")
        elif shown < stored:
            found.append(f"{recipient} ended with edit {shown} of {message.text!r} (msg_id {message.msg_id}), not "
                         f"edit {stored}, which {sender} was told was stored")
        elif shown > stored and told.get(shown) != UNSURE:
            found.append(f"{recipient} was shown edit {shown} of {message.text!r}, never made so")
    found += _edits_gone_back(everyone)
    return found


def _edits_gone_back(everyone: dict[str, Record]) -> list[str]:
    """An edit shown after a later edit of the same message (a cluster's route tried again
    told the older one late): the reader would be left reading the older text."""
    found: list[str] = []
    for recipient, record in everyone.items():
        latest: dict[int, int] = {}
        for edited in record.edited:
            number = edit_number(edited.text)
            if number < latest.get(edited.msg_id, 0):
                found.append(f"{recipient} was shown edit {number} of message {edited.msg_id} after edit "
                             f"{latest[edited.msg_id]}")
            latest[edited.msg_id] = max(latest.get(edited.msg_id, 0), number)
    return found


def _room_violations(everyone: dict[str, Record]) -> list[str]:
    """The promises of :data:`ROOM`, every client a member: each message acknowledged shown
    to each member's every device once (a device away gets what it missed at its return:
    "Missed messages"), in the room's order (by msg_id), which keeps each sender's."""
    found: list[str] = []
    posts = {message.text: (sender, message) for sender, record in everyone.items()
             for message in record.sent if message.room == ROOM}
    for member, record in everyone.items():
        times: dict[str, int] = {}
        last: RoomPost | None = None  # the post with the highest msg_id shown so far
        for shown in record.posts:
            text = unedited(shown.text)  # (edited before this device was shown it: the edit's text)
            times[text] = times.get(text, 0) + 1
            origin = posts.get(text)
            if origin is None or everyone[origin[0]].name != shown.sender:
                found.append(f"{member} was shown {shown.text!r} from {shown.sender} in {ROOM}, never sent so")
                continue
            sender, message = origin
            if message.msg_id is not None and message.msg_id != shown.msg_id:
                found.append(f"{member} was shown {shown.text!r} as msg_id {shown.msg_id}, sent as {message.msg_id}")
            failed = _told_failed(everyone[sender], message)
            if failed:
                found.append(f"{member} was shown {shown.text!r}, which {sender} was told had failed ({failed})")
            if last is not None and shown.msg_id < last.msg_id:
                found.append(f"{member} was shown {shown.text!r} ({shown.msg_id}) after {last.text!r} "
                             f"({last.msg_id}): not the room's order")
            if last is None or shown.msg_id > last.msg_id:
                last = shown
        for text, count in times.items():
            if count > 1:
                found.append(f"{member} was shown {text!r} {count} times in {ROOM}")
        for text, (sender, message) in posts.items():
            if acknowledged(everyone[sender], message) and text not in times:
                found.append(f"{member} was never shown {text!r} from {sender} in {ROOM} ({message!r})")
    for sender, record in everyone.items():  # the room's order keeps each sender's
        numbered = [m for m in record.sent if m.room == ROOM and m.msg_id is not None]
        for earlier, later in zip(numbered, numbered[1:]):
            if later.msg_id < earlier.msg_id:
                found.append(f"{sender}'s {later.text!r} was stored as {later.msg_id}, before its earlier "
                             f"{earlier.text!r} ({earlier.msg_id}): not the sender's order")
    return found


def store_view(url: str, problems: list[str]) -> list[str]:
    """What Redis holds of each unfinished message the problems name (its state, whether it
    is pending for its recipient, whether its outcome waits untold for its sender): where a
    promise broke, for the reader of a failed run."""
    import asyncio

    from resp import RedisClient

    wanted, changed = [], []
    for line in problems:
        match = re.match(r"(\w+)(?:'s second device)?: <OutgoingMessage \S+ to='(\w+)' \w+ msg_id=(\d+)> unfinished",
                         line)
        if match:
            wanted.append(match.groups())
        match = re.match(r"(\w+) ended with edit \d+ of .* \(msg_id (\d+)\), not edit", line)
        if match:
            changed.append(match.groups())

    async def look() -> list[str]:
        lines = []
        async with RedisClient(url) as client:
            for sender, to, msg_id in wanted[:20]:
                fields = await client.execute("HGETALL", f"{{chat}}:m:{msg_id}")
                held = dict(zip(fields[::2], fields[1::2])) if isinstance(fields, list) else fields
                pending = await client.execute("ZSCORE", f"{{chat}}:pend:{to.lower()}", msg_id)
                untold = await client.execute("ZSCORE", f"{{chat}}:untold:{sender.lower()}", msg_id)
                lines.append(f"store: {msg_id} {sender}>{to}: st={held.get(b'st')} pending={pending is not None} "
                             f"untold={untold is not None}")
            for recipient, msg_id in changed[:20]:  # an edit stored: its text, and whether it waits
                held = await client.execute("HMGET", f"{{chat}}:m:{msg_id}", "t", "e", "st")
                waiting = await client.execute("ZSCORE", f"{{chat}}:chg:{recipient.lower()}", msg_id)
                lines.append(f"store: {msg_id} to {recipient}: text={held[0]!r} edited at {held[1]!r} st={held[2]!r}"
                             f" unconfirmed={waiting is not None}")
        return lines
    try:
        return asyncio.run(asyncio.wait_for(look(), 10))
    except Exception as exc:  # a diagnosis only: never the run's failure
        return [f"store: not read ({exc!r})"]


def log_in(client: ChatClient, patience: float = 30.0) -> str | None:
    """A first login that tries again (bounded) while the servers are coming back; None
    once logged in, else why not (the last error)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            client.connect(timeout=5, retry_until=deadline)
            return None
        except Exception as exc:
            if time.monotonic() > deadline:
                return f"{client.name} could not log in within {patience} s: {exc!r}"
            time.sleep(0.2)


def crashed(servers: list[Server]) -> list[str]:
    """The servers whose process ended by itself (not killed by the scheduler)."""
    return [f"{s.name} exited by itself ({s.proc.returncode}):\n{s.log.read_text()[-3000:]}"
            for s in servers if s.proc is not None and s.proc.poll() is not None]


@dataclass
class Outcome:
    seed: int
    faults: list[str]
    sent: int
    acknowledged: int
    room_posts: int  # of ``sent``: to ROOM (the warm-up included)
    edits: dict[str, int]  # edits of direct messages by what their senders were told (OK...)
    problems: list[str]
    logs: str
    failures: dict[str, int]  # error code -> messages that failed with it
    second: dict[str, str]  # name -> what its second device was shown, and how often it came back
    room_edits: int = 0  # of the edits: of posts in ROOM


def run_chaos(tmp: Path, seed: int, *, cluster: bool, seconds: float, clients: int = 12,
              settle: float = 90.0, rate: float = 25.0) -> Outcome:
    """One chaos run (see the module docstring); ``rate``: messages a second, all
    clients together; ``settle``: the bound on the wait for the end state."""
    rng = random.Random(seed)
    tmp.mkdir(parents=True, exist_ok=True)
    targets: list = []
    servers: list[Server] = []
    redis = None
    chat: dict[str, ChatClient] = {}
    second: dict[str, ChatClient] = {}  # the second devices, by name
    second_records: dict[str, Record] = {}
    returns: dict[str, int] = {}  # name -> how often its second device came back from away
    # The edits go on after the faults, until every message is final: so that a short run
    # in which the servers were down most of the time stores some too.
    edits_stop = threading.Event()
    try:
        if cluster:
            redis = RedisServer(tmp / "redis", appendfsync="always")
            redis.start()
            targets.append(RedisTarget(redis))
            for i in range(3):
                partition = Partition(f"node{i}", redis)
                targets.append(partition)
                servers.append(Server(f"node{i}", tmp / f"node{i}.log", "--cluster", partition.url))
        else:
            servers.append(Server("single", tmp / "single.log", "--data", str(tmp / "data")))
        for server in servers:
            server.start()
        targets.extend(servers)
        addresses = [("127.0.0.1", s.port) for s in servers]
        names = [f"U{i:02d}" for i in range(clients)]
        records = {name: Record(name) for name in names}
    # A third of the names are accounts, registered at their first login: they log in
        # again by their resume credential (or, after a close, their password), kept in
        # the store as the guests' names are in the registry.
        accounts = set(names[1::3])
        for i, name in enumerate(names):
            order = addresses[i % len(addresses):] + addresses[:i % len(addresses)]
            chat[name] = ChatClient(name, servers=order, on_event=records[name].on_event,
                                    resume_tokens=ResumeTokens(None), heartbeat_interval=HEARTBEAT_INTERVAL,
                                    heartbeat_timeout=HEARTBEAT_TIMEOUT, reconnect_max_delay=2.0,
                                    password=f"senha de {name} {seed}" if name in accounts else None,
                                    register=name in accounts)
        # A quarter of the names log in once, leave (close), and come back only at a moment
        # the scheduler draws (during the run or after it): what is sent to them meanwhile
        # is queued. (They send nothing while away: a message sent then would fail at once.)
        late = set(names[-max(1, clients // 4):])
        for name in names:
            chat[name].connect(timeout=10)
            chat[name].join(ROOM)  # the first creates it
            if (name in accounts) != chat[name].registered:
                raise AssertionError(f"{name} is {'not ' if name in accounts else ''}an account")
        # The second devices log in once their accounts exist, before the warm-up post, so
        # that they too have shown a post of the room: their hellos say so from then on.
        twins = sorted(accounts - late)[:SECOND_DEVICES]
        # The first of them sends and edits as its first device does, and only loses its
        # connection (a close would end the trackers of what it sent: they fail at once);
        # the others go away and come back, and send nothing.
        sending = set(twins[:1])
        second_records = {name: Record(name) for name in twins}
        for name in twins:
            i = names.index(name) + 1  # first to another server than the first device's
            second[name] = ChatClient(name, servers=addresses[i % len(addresses):] + addresses[:i % len(addresses)],
                                      on_event=second_records[name].on_event, resume_tokens=ResumeTokens(None),
                                      heartbeat_interval=HEARTBEAT_INTERVAL, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                                      reconnect_max_delay=2.0, password=f"senha de {name} {seed}")
            second[name].connect(timeout=10)
        # A warm-up post, shown to everyone before anything else happens: from then on
        # each client's hello says what it has shown of the room (room_seen), so that a
        # connection cut while posts were on their way gets them again ("Room messages cut
        # mid-stream"), as any client that has shown one does.
        warm_up = chat[names[0]].send_to_room(ROOM, f"{seed}:{names[0]}>{ROOM}:0")
        records[names[0]].sent.append(warm_up)
        shown_by = time.monotonic() + START_TIMEOUT
        everyone = readers(records, second_records)  # every device's record
        while not all(r.posts for r in everyone.values()):
            if time.monotonic() > shown_by:
                raise AssertionError(f"the warm-up post was not shown to everyone: {warm_up!r}")
            time.sleep(0.02)
        for name in late:
            chat[name].close()
        faults: list[str] = []
        harness: list[str] = []  # what stopped the run early: a crash, a login that never came
        stop = threading.Event()
        sender_rng = random.Random(seed * 7919 + 1)
        counter, room_posts, room_edits = [0], [1], [0]  # (the warm-up)

        # Which device of a name with a sending second device sends, or edits: drawn apart,
        # so that the rest of the seed's plan is what it was without them.
        send_device_rng = random.Random(seed * 7919 + 4)
        edit_device_rng = random.Random(seed * 7919 + 5)

        def device(name: str, draw: random.Random) -> tuple[ChatClient, Record]:
            if name in sending and draw.random() < 0.5:
                return second[name], second_records[name]
            return chat[name], records[name]

        def send_loop() -> None:
            while not stop.wait(sender_rng.expovariate(rate)):
                sender, to = sender_rng.sample(names, 2)
                to_room = sender_rng.random() < ROOM_SHARE and room_posts[0] < ROOM_POSTS
                if sender in late:
                    continue  # away: it would fail at once, not_connected
                client, record = device(sender, send_device_rng)
                counter[0] += 1
                if to_room:
                    room_posts[0] += 1
                    message = client.send_to_room(ROOM, f"{seed}:{sender}>{ROOM}:{counter[0]}")
                else:
                    message = client.send_direct(to, f"{seed}:{sender}>{to}:{counter[0]}")
                with record.lock:
                    record.sent.append(message)

        edit_rng = random.Random(seed * 7919 + 2)
        second_rng = random.Random(seed * 7919 + 3)  # (its own: the scheduler's plan stays the seed's)
        away: set[str] = set()  # the second devices closed for now

        def second_loop() -> None:
            """A second device goes away (closes) or comes back (logs in again, its hello
            saying until when it heard the server), or loses its connection."""
            while not stop.wait(second_rng.expovariate(SECOND_RATE)):
                name = second_rng.choice(twins)
                if name in sending:
                    second[name]._cut()
                elif name in away:
                    problem = log_in(second[name])
                    if problem:
                        harness.append(problem + " (a second device)")
                        return
                    away.discard(name)
                    returns[name] = returns.get(name, 0) + 1
                elif second_rng.random() < 0.5:
                    second[name].close()
                    away.add(name)
                else:
                    second[name]._cut()

        def edit_loop() -> None:
            """Edit a message a sender has an id for, one at a time (a request waits for its
            answer), and note what the sender was told."""
            while not edits_stop.wait(edit_rng.expovariate(EDIT_RATE)):
                editor = edit_rng.choice(names)
                client, record = device(editor, edit_device_rng)
                to_room = edit_rng.random() < ROOM_EDIT_SHARE and room_edits[0] < ROOM_EDITS
                with record.lock:
                    mine = [m for m in record.sent if m.msg_id is not None
                            and (m.room == ROOM if to_room else m.to is not None)]
                if editor in late or not mine or not client.connected:
                    continue
                message = edit_rng.choice(mine)
                room_edits[0] += to_room
                number = len(record.edits.get(message.msg_id, ())) + 1
                try:
                    client.edit(message.msg_id, f"{message.text}{EDIT_MARK}{number}", timeout=5)
                    outcome = OK
                except RequestFailed as exc:
                    outcome = UNSURE if exc.uncertain else REFUSED
                except (NotConnected, RequestTimeout):  # (perhaps written before the connection broke)
                    outcome = UNSURE
                with record.lock:
                    record.edits.setdefault(message.msg_id, []).append((number, outcome))

        sender_thread = threading.Thread(target=send_loop, daemon=True)
        sender_thread.start()
        edit_thread = threading.Thread(target=edit_loop, daemon=True)
        edit_thread.start()
        second_thread = threading.Thread(target=second_loop, daemon=True)
        if twins:
            second_thread.start()
        deadline = time.monotonic() + seconds
        waiter = threading.Event()  # never set: its timed wait is the scheduler's clock
        while time.monotonic() < deadline:
            waiter.wait(rng.uniform(0.1, 1.0))
            if crashed(servers):
                harness.extend(crashed(servers))
                break
            # One target, or two, or everything at once; killed, or paused (8 s outlasts
            # both the clients' heartbeat and a node's registry TTL).
            if late and rng.random() < 0.15:
                name = rng.choice(sorted(late))
                faults.append(f"{time.monotonic() - deadline + seconds:6.2f}s {name} logs in")
                problem = log_in(chat[name])
                if problem:
                    harness.append(problem + f" (servers running: {[s.name for s in servers if s.proc]})")
                    harness.extend(crashed(servers))
                    break
                late.discard(name)  # only now may it send (before, a send would fail at once)
                continue
            if rng.random() < 0.15:
                # The network drops some clients' connections (the server stays up).
                cut = rng.sample(names, rng.randint(1, 4))
                faults.append(f"{time.monotonic() - deadline + seconds:6.2f}s cut {'+'.join(cut)}")
                for name in cut:
                    chat[name]._cut()
                continue
            hit = rng.sample(targets, min(len(targets), rng.choice((1, 1, 1, 2, len(targets)))))
            fault = rng.choice(("kill", "kill", "pause"))
            held = rng.choice((0.05, 0.3, 1.0, 2.5, 6.0, 8.0))
            names_hit = "+".join(t.name for t in hit)
            faults.append(f"{time.monotonic() - deadline + seconds:6.2f}s {fault} {names_hit} {held}s")
            for target in hit:
                target.kill() if fault == "kill" else target.pause()
            waiter.wait(held)
            # Redis first, then the links to it: a node refuses to start without it
            # ("cannot start"), rightly.
            for target in sorted(hit, key=lambda t: (not isinstance(t, RedisTarget), not isinstance(t, Partition))):
                target.start() if fault == "kill" else target.resume()
        stop.set()
        sender_thread.join(10)
        if twins:
            second_thread.join(40)  # (a log_in is bounded by 30 s)
        for name in sorted(away):
            faults.append(f"after the run: {name}'s second device logs in")
            problem = log_in(second[name])
            if problem:
                harness.append(problem + " (a second device)")
        for name in sorted(late):
            faults.append(f"after the run: {name} logs in")
            problem = log_in(chat[name])
            if problem:
                harness.append(problem)
        end = time.monotonic() + settle

        def settled() -> bool:
            return all(c.connected for c in [*chat.values(), *second.values()]) and all(
                m.done for r in everyone.values() for m in list(r.sent))

        while not settled() and time.monotonic() < end:
            time.sleep(0.05)
        edits_stop.set()
        edit_thread.join(10)
        # Every edit its sender was told was stored reaches its recipient: routed to its
        # node, or told again when that node's link to Redis comes back. Waited for as the
        # messages are (a quiet second alone was no such wait), within the same bound.
        while edits_behind(records, second_records) and time.monotonic() < end:
            time.sleep(0.05)
        # And every post stored reaches every member: a device that logged in after the run
        # on a node just back to Redis is sent the posts it missed once the store answers.
        while posts_behind(records, second_records) and time.monotonic() < end:
            time.sleep(0.05)
        # Give the last receipts' duplicates a moment to show up (should any come): wait
        # until nothing new is shown for a second, bounded by the same deadline.
        last = -1
        while time.monotonic() < end:
            count = sum(len(r.shown) + len(r.posts) + len(r.edited) for r in everyone.values())
            if count == last:
                break
            last = count
            waiter.wait(1.0)
        devices = {**chat, **{second_label(name): client for name, client in second.items()}}
        problems = harness + crashed(servers) + violations(records, devices, detail=True, second=second_records)
        if cluster and redis is not None and problems:
            problems += store_view(redis.url, problems)
        total = sum(len(r.sent) for r in everyone.values())
        acked = sum(acknowledged(r, m) for r in everyone.values() for m in r.sent)
        logs = "".join(f"--- {s.name}\n{s.log.read_text()[-3000:]}" for s in servers) if problems else ""
        failures: dict[str, int] = {}
        for record in everyone.values():
            for message in record.sent:
                if message.state == FAILED:
                    failures[message.error[0]] = failures.get(message.error[0], 0) + 1
        posted = sum(m.room == ROOM for r in everyone.values() for m in r.sent)
        edits: dict[str, int] = {}
        for record in everyone.values():
            for told in record.edits.values():
                for _number, outcome in told:
                    edits[outcome] = edits.get(outcome, 0) + 1
        second_seen = {name: f"{len(r.sent)} sent, shown {len(r.shown)} direct messages, {len(r.edited)} edits, "
                              f"{len(r.posts)} room posts, {r.session} reconnections, "
                              f"{returns.get(name, 0)} returns from away" for name, r in second_records.items()}
        return Outcome(seed, faults, total, acked, posted, edits, problems, logs, failures, second_seen, room_edits[0])
    finally:
        edits_stop.set()
        for client in [*chat.values(), *second.values()]:
            client.close()
        for target in targets:
            target.stop()
        if redis is not None and redis.process is not None:
            redis.stop()
