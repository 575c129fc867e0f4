"""A two-node cluster as its users live through it: the README's ``chatserver.py --cluster``
lines as real node processes (on free ports), a real Redis that syncs every write
(``appendfsync always``, as the README says), and the project's own client library with
the server lists of the README's ``chatclient.py NAME HOST:PORT HOST:PORT`` lines.

- ``kill -9`` of the node a user is on, mid-conversation: her client fails over to the
  other node (as the same guest: the resume token one node gave her proves her to the
  other) and gets every message once, in order; each sender's message goes ``queued``,
  then ``delivered``;
- a resend of the same request id through the other node is recognised (the same id,
  no second copy);
- Redis ``kill -9``ed and restarted: every acknowledged message is still there, and the
  chat goes on;
- carbons across nodes: a user logged in on both nodes who asked for carbons gets, on
  one node, the ``sent`` copy of what she sent from the other.

Every wait has a deadline; loopback only.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from processes import stop_process
from redisserver import RedisServer, free_port
import recorder

from client import ChatClient
from client.errors import LoginRefused
from client.events import Reconnected
from client.resume import ResumeTokens
from client.servers import server_list
from client.outgoing import DELIVERED, MessageUpdate, QUEUED
from protocol import (CARBONS, Accepted, Block, Carbon, Delivered, DirectMessage, Done, ErrorCode, Event,
                      Hello, Ping, Receipt, SendDirect, UserJoined, UserLeft, Welcome)
from servers import ServerProcess
from logins import login_again
from wire import WireClient

import const

WAIT = 30.0  # a dead node is reaped within 5 to 6 s (at most 15); a reconnection follows
# Fast reconnections, so that the test waits for the reaping, not for a long backoff.
FAST = {"reconnect_delay": 0.1, "reconnect_max_delay": 1.0}
NOTICES = (UserJoined, UserLeft, Ping)
PASSWORD = "correct horse"
README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


class Recorder(recorder.Recorder):
    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        assert self.holds(predicate, timeout), f"not within {timeout} s: {what}\n{self.events}"

    def texts(self) -> list[str]:
        """The direct messages shown to the user, in the order shown."""
        return [e.text for e in self.of(DirectMessage)]

    def states(self, request_id: str) -> list[str]:
        """The states a sent message went through, in order."""
        return [e.state for e in self.of(MessageUpdate) if e.message.request_id == request_id]


@pytest.fixture
def redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendfsync="always").start()
    yield server
    server.stop()


class Cluster:
    """The README's cluster on loopback: its two ``chatserver.py`` lines run as they are
    written, on free ports in place of the README's (and the test's Redis in place of
    6379); ``servers[name]`` is the server list of the README's ``chatclient.py`` line for
    ``name``, with the same ports."""

    def __init__(self, redis: RedisServer) -> None:
        text = README.read_text(encoding="utf-8")
        section = text[text.index("Several servers can serve one chat together"):]
        lines = [" ".join(re.sub(r"\s+#.*$", "", line).split())
                 for block in FENCE.findall(section)[:2] for line in block.splitlines()]
        redis_line, *node_lines = [line for line in lines if line.startswith(("redis-server", "python3 chatserver.py"))]
        # The settings under which an acknowledged message survives kill -9 of Redis, as
        # the test's Redis runs (RedisServer(appendfsync="always")).
        assert "--appendonly yes --appendfsync always" in redis_line, redis_line
        self.ports: dict[str, int] = {"6379": redis.port}
        self.nodes = [ServerProcess(*self.local(shlex.split(line)[2:])) for line in node_lines]
        self.servers = {}
        for line in lines:
            if line.startswith("python3 chatclient.py"):
                name, *pairs = [arg for arg in self.local(shlex.split(line)[2:]) if not arg.startswith("--")]
                self.servers[name] = server_list([], [], pairs)

    def local(self, args: list[str]) -> list[str]:
        """``args`` with each of the README's ports replaced by a free one (the same every time)."""
        def port(match: re.Match) -> str:
            return str(self.ports.setdefault(match.group(0), free_port()))
        return [re.sub(r"(?<![\d.])(?:6379|5000|5001|8080|8081)(?!\d)", port, arg) for arg in args]


@pytest.fixture
def cluster(redis) -> Iterator[Cluster]:
    made = Cluster(redis)
    try:
        for node in made.nodes:
            node.wait_listening()
        yield made
    finally:
        for node in made.nodes:
            node.stop() if node.proc.poll() is None else None
            node.proc.stdin.close()


@pytest.fixture
def two_nodes(cluster) -> tuple[ServerProcess, ServerProcess]:
    assert len(cluster.nodes) == 2, "the README starts two nodes"
    one, two = cluster.nodes
    return one, two


@pytest.fixture
def clients() -> Iterator[list[ChatClient]]:
    made: list[ChatClient] = []
    yield made
    for client in made:
        client.close()


@pytest.fixture
def terminals() -> Iterator[list]:
    made: list[Terminal] = []
    yield made
    for terminal in made:
        stop_process(terminal.proc)


def user(clients: list[ChatClient], name: str, servers: list[tuple[str, int]],
         **options: object) -> tuple[ChatClient, Recorder]:
    """``name`` logged in with the library, given ``servers`` as its server list."""
    recorder = Recorder()
    client = ChatClient(name, servers=servers, on_event=recorder, **{**FAST, **options})  # type: ignore[arg-type]
    clients.append(client)
    client.connect(timeout=WAIT)
    return client, recorder


def online(client: ChatClient, names: set[str]) -> Callable[[], bool]:
    return lambda: names <= {p.name for p in client.who()}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


@pytest.mark.timeout_seconds(150)
def test_kill_9_of_a_users_node_mid_conversation_and_of_redis_lose_nothing_acknowledged(cluster, two_nodes, redis,
                                                                                      clients, terminals):
    one, two = two_nodes
    # Every node serves the web page (the README sends browsers to both).
    for node, port in zip((one, two), (cluster.ports["8080"], cluster.ports["8081"])):
        # (it says so just after "listening on", the chat port fixture waited for)
        wait_until(lambda: f"web client on http://127.0.0.1:{port}/" in "".join(node.lines), "the web page")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=WAIT) as page:
            assert page.status == 200
    # Alice and Bob run the README's client lines: Alice on node one, Bob on node two,
    # each knowing both.
    assert cluster.servers["Alice"] == [("127.0.0.1", one.port), ("127.0.0.1", two.port)]
    assert cluster.servers["Bob"] == [("127.0.0.1", two.port), ("127.0.0.1", one.port)]
    # Alice was here before, with node one alone, and her token file also holds a token for
    # node two that proves nothing (an older client kept one per node, and made one there
    # while it was refused): her login on node one puts the token that holds her name there.
    tokens = ResumeTokens(None)
    user(clients, "Alice", cluster.servers["Alice"][:1], resume_tokens=tokens)[0].close()
    tokens.put(f"127.0.0.1:{two.port}", "Alice", "stale-token-of-an-older-client-0123456789")
    deadline = time.monotonic() + WAIT
    while True:  # until node one has seen her first session go
        try:
            alice, at_alice = user(clients, "Alice", cluster.servers["Alice"], resume_tokens=tokens)
            break
        except LoginRefused as exc:
            assert exc.code == ErrorCode.NAME_TAKEN and time.monotonic() < deadline, exc
            time.sleep(0.05)
    bob, at_bob = user(clients, "Bob", cluster.servers["Bob"])
    assert (alice.port, bob.port) == (one.port, two.port)
    wait_until(online(alice, {"Alice", "Bob"}), "both in /who")
    # Cleo, a wire client on node one, to resend a request id through node two later.
    cleo = WireClient.login("127.0.0.1", one.port, "Cleo")
    # Dana runs the README's terminal client line itself (as Dana), its input a pipe.
    dana = Terminal("Dana", *[f"{host}:{port}" for host, port in cluster.servers["Alice"]])
    terminals.append(dana)
    dana.wait_for("connected to 127.0.0.1:%d as Dana" % one.port)

    # The conversation so far, across nodes, both ways, all delivered.
    before = [bob.send_direct("Alice", f"before {n}") for n in range(3)]
    for sent in before:
        assert sent.wait(DELIVERED, WAIT), sent
    assert alice.send_direct("Bob", "hi Bob").wait(DELIVERED, WAIT)
    cleo.send(SendDirect("c1", "Alice", "from Cleo, once"))
    cleo_id = cleo.expect(Accepted, skip=NOTICES).msg_id
    at_alice.wait(lambda: "from Cleo, once" in at_alice.texts(), "Cleo's message shown")

    # Node one dies (kill -9): no goodbye. Bob goes on writing meanwhile.
    killed = time.monotonic()
    one.kill()
    cleo.close()
    during = [bob.send_direct("Alice", f"during {n}") for n in range(5)]
    to_dana = [bob.send_direct("Dana", f"to Dana {n}") for n in range(3)]
    for sent in during:
        assert sent.wait((QUEUED, DELIVERED), WAIT), sent
    at_alice.wait(lambda: at_alice.of(Reconnected), "Alice's client back, on node two")
    reconnected = time.monotonic() - killed
    assert alice.port == two.port and alice.connected
    assert at_alice.of(Reconnected)[0].welcome.name == "Alice"  # the same guest, not a newcomer
    for sent in during:
        assert sent.wait(DELIVERED, WAIT), sent
        # The message's state changes before its update reaches the event handler (which
        # records it): read the states once the update is recorded.
        at_bob.wait(lambda: DELIVERED in at_bob.states(sent.request_id), f"{sent.request_id}'s delivered update")
        # Told "queued" (the recipient's node died, or she was already gone), then "delivered".
        assert at_bob.states(sent.request_id)[-2:] == [QUEUED, DELIVERED], at_bob.states(sent.request_id)
    # Every message once, in order: what was shown before the kill is not shown again.
    expected = ["before 0", "before 1", "before 2", "from Cleo, once"] + [f"during {n}" for n in range(5)]
    at_alice.wait(lambda: len(at_alice.texts()) >= len(expected), "every message")
    assert at_alice.texts() == expected
    print(f"\nAlice reconnected {reconnected:.1f} s after the kill -9 of her node")
    # The terminal client too: back on node two, each message once, in order.
    for sent in to_dana:
        assert sent.wait(DELIVERED, WAIT), sent
    shown = dana.wait_for("Bob → you: to Dana 2")
    lines = [line.split("] ", 1)[-1] for line in shown.splitlines() if "Bob → you:" in line]
    assert lines == [f"Bob → you: to Dana {n}" for n in range(3)], shown
    assert dana.close() == 0, dana.output

    # Cleo's client resends c1 through node two: recognised, the same id, not shown again.
    again = login_again(two, "Cleo", WAIT)
    again.send(SendDirect("c1", "Alice", "from Cleo, once"))
    answer = again.expect(Accepted, skip=(*NOTICES, Delivered))  # (c1's outcome may come first)
    assert (answer.request_id, answer.msg_id) == ("c1", cleo_id)
    assert not [e for e in again.drain(0.5) if isinstance(e, Accepted) and e.msg_id != cleo_id]
    again.close()

    # Redis dies (kill -9) and comes back from its append-only file: everything that was
    # acknowledged is still there, and the chat goes on.
    acknowledged = [(m.msg_id, m.text) for m in before + during]
    redis.kill()
    redis.start()
    wait_until(lambda: _history_or_none(bob) is not None, "the nodes serve again after the Redis restart")
    history = [(e.msg_id, e.text, e.state) for e in _history_or_none(bob) or ()]
    for msg_id, text in acknowledged:
        assert (msg_id, text, "delivered") in history, (msg_id, text, history)
    after = bob.send_direct("Alice", "after the Redis restart")
    assert after.wait(DELIVERED, WAIT), after
    at_alice.wait(lambda: at_alice.texts()[-1:] == ["after the Redis restart"], "the message after the restart")
    assert at_alice.texts() == expected + ["after the Redis restart"]


class Terminal:
    """``python3 chatclient.py NAME ARGS...`` (the terminal client) with its input a pipe;
    what it prints is collected by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "chatclient.py", *args], cwd=README.parent,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, NO_COLOR="1"))
        self.output = ""
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            with self.changed:
                self.output += raw.decode("utf-8", "replace")
                self.changed.notify_all()

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        """What it printed, once ``text`` is in it."""
        with self.changed:
            assert self.changed.wait_for(lambda: text in self.output, timeout), \
                f"no {text!r} within {timeout} s:\n{self.output}"
            return self.output

    def close(self) -> int:
        """End its input (the client leaves) and return its exit status."""
        self.proc.stdin.close()
        try:
            return self.proc.wait(WAIT)
        finally:
            stop_process(self.proc)


def _history_or_none(client: ChatClient):
    """Bob's conversation with Alice, or None while the store answers ``unavailable``."""
    try:
        return client.history("Alice", limit=50, timeout=5)
    except Exception:  # unavailable or no answer while Redis restarts
        return None


def log_in(node: ServerProcess, name: str, features: tuple[str, ...] | None, register: bool = False) -> WireClient:
    """A wire client logged in to ``node`` as the account ``name``, asking for ``features``."""
    client = WireClient("127.0.0.1", node.port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, PASSWORD, register, None, features))
    client.welcome = client.expect(Welcome, skip=NOTICES)
    return client


def test_carbons_reach_the_senders_sessions_on_the_other_node_that_asked(two_nodes):
    one, two = two_nodes
    first = log_in(one, "Alice", (CARBONS,), register=True)
    second = log_in(two, "Alice", (CARBONS,))
    old = log_in(two, "Alice", None)  # a session that did not ask for carbons
    bob = WireClient.login("127.0.0.1", two.port, "Bob")
    try:
        # Bob's join comes after Alice's sessions in the events stream: once node one has
        # told it, it knows where all of Alice's sessions are.
        while first.expect(UserJoined, skip=(Ping, UserLeft)).name != "Bob":
            pass
        for client in (first, second, old):
            client.drain(quiet=0.2)

        # From node one to Bob on node two: the copy reaches her carbons session on node
        # two before the outcome; the session that did not ask gets the outcome only.
        first.send(SendDirect("m1", "Bob", "from node one"))
        msg_id = first.expect(Accepted, skip=NOTICES).msg_id
        carbon = second.expect(Carbon, skip=NOTICES)
        assert carbon == Carbon(msg_id, "Bob", "from node one", carbon.sent_at, "sent")
        dm = bob.expect(DirectMessage, skip=NOTICES)
        assert dm.msg_id == msg_id
        bob.send(Receipt(msg_id))
        assert first.expect(Delivered, skip=NOTICES).msg_id == msg_id
        assert second.expect(Delivered, skip=NOTICES).msg_id == msg_id
        assert [type(e) for e in old.drain(quiet=0.5) if not isinstance(e, NOTICES)] == [Delivered]

        # From node two, to Bob there too: the copy crosses to her session on node one.
        second.send(SendDirect("m2", "Bob", "from node two"))
        msg_id = second.expect(Accepted, skip=NOTICES).msg_id
        carbon = first.expect(Carbon, skip=NOTICES)
        assert carbon == Carbon(msg_id, "Bob", "from node two", carbon.sent_at, "sent")
        # A resend of m2 is recognised and copied to nobody again.
        second.send(SendDirect("m2", "Bob", "from node two"))
        assert second.expect(Accepted, skip=NOTICES).msg_id == msg_id
        assert not [e for e in first.drain(quiet=0.5) if isinstance(e, Carbon)]
        assert not [e for e in old.drain(quiet=0.2) if isinstance(e, Carbon)]

        # A message to someone who blocks her is copied as for anyone (PROTOCOL.md, "sent").
        bob.send(Block("b", "Alice"))
        bob.expect(Done, skip=(*NOTICES, DirectMessage))  # (m2 came first)
        # Cleo's join comes after the block in the events stream: once node one told it,
        # node one knows of the block.
        with WireClient.login("127.0.0.1", two.port, "Cleo"):
            while first.expect(UserJoined, skip=(Ping, UserLeft, Carbon)).name != "Cleo":
                pass
        first.send(SendDirect("m3", "Bob", "to someone who blocks me"))
        msg_id = first.expect(Accepted, skip=NOTICES).msg_id
        carbon = second.expect(Carbon, skip=NOTICES)
        assert carbon == Carbon(msg_id, "Bob", "to someone who blocks me", carbon.sent_at, "sent")
        assert not [e for e in bob.drain(quiet=0.5) if isinstance(e, DirectMessage) and e.msg_id == msg_id]
    finally:
        for client in (first, second, old, bob):
            client.close()


def test_whom_a_user_blocks_is_listed_on_the_other_node_too(two_nodes):
    """A block made on one node is in the ``blocks`` answer of a session on the other (the
    nodes' caches follow the events stream: PROTOCOL.md, "blocks"), and so is an unblock."""
    from protocol import Blocking, BlockList, Unblock
    one, two = two_nodes
    first = log_in(one, "Alice", None, register=True)
    second = log_in(two, "Alice", None)
    try:
        def listed(client: WireClient) -> tuple[str, ...]:
            client.send(BlockList("l"))
            return client.expect(Blocking, skip=NOTICES).blocked

        first.send(Block("b", "Mallory"))
        assert first.expect(Done, skip=NOTICES).request_id == "b"
        assert listed(first) == ("mallory",)  # nobody called Mallory has logged in
        wait_until(lambda: listed(second) == ("mallory",), "the block listed on node two")
        second.send(Unblock("u", "mallory"))
        assert second.expect(Done, skip=NOTICES).request_id == "u"
        wait_until(lambda: listed(first) == (), "the unblock listed on node one")
    finally:
        first.close()
        second.close()


def test_a_block_on_one_node_is_told_at_once_to_the_users_sessions_on_the_other(two_nodes):
    """Feature blocks (PROTOCOL.md, ``blocked``): as the read-receipts switch, a block or
    unblock is told to the user's other sessions on every node, once each."""
    from protocol import BLOCKS_FEATURE, Blocked, Unblock, Unblocked
    one, two = two_nodes
    first = log_in(one, "Alice", (BLOCKS_FEATURE,), register=True)
    second = log_in(two, "Alice", (BLOCKS_FEATURE,))
    try:
        first.send(Block("b", "Mallory"))
        assert first.expect(Done, skip=NOTICES).request_id == "b"
        assert second.expect(Blocked, skip=NOTICES) == Blocked("mallory")  # nobody called Mallory logged in
        second.send(Unblock("u", "mallory"))
        assert second.expect(Done, skip=NOTICES).request_id == "u"
        assert first.expect(Unblocked, skip=NOTICES) == Unblocked("mallory")
        for client in (first, second):  # once each, and not to the session that asked
            assert not [e for e in client.drain(quiet=0.5) if isinstance(e, (Blocked, Unblocked))]
    finally:
        first.close()
        second.close()


def test_of_two_registrations_of_one_name_at_once_on_two_nodes_exactly_one_is_welcomed(two_nodes):
    """Two people register one new name at the same moment, one on each node: both nodes
    find it free and hash the password; Redis keeps the first account. The other is told
    ``account_exists``, never welcomed (with a resume credential) into an account whose
    password is not theirs; the winner's password logs in on both nodes, the loser's on
    neither. Each person from an address of their own (one's refusal throttles nobody else)."""
    from protocol import ErrorReply
    one, two = two_nodes
    for round_ in range(6):
        name = f"Joao{round_}"
        here = WireClient("127.0.0.1", one.port, source=f"127.0.0.{10 + 2 * round_}")
        there = WireClient("127.0.0.1", two.port, source=f"127.0.0.{11 + 2 * round_}")
        try:
            here.send(Hello("h", name, const.PROTOCOL_VERSION, "the first one's secret", True))
            there.send(Hello("h", name, const.PROTOCOL_VERSION, "the other one's secret", True))
            answers = [client.expect((Welcome, ErrorReply), skip=NOTICES) for client in (here, there)]
        finally:
            here.close()
            there.close()
        assert sorted(type(answer).__name__ for answer in answers) == ["ErrorReply", "Welcome"], (name, answers)
        [refusal] = [answer for answer in answers if isinstance(answer, ErrorReply)]
        assert refusal.code == ErrorCode.ACCOUNT_EXISTS, refusal
        winner = ("the first one's secret", "the other one's secret")[isinstance(answers[0], ErrorReply)]
        for node in (one, two):
            with WireClient("127.0.0.1", node.port, source=f"127.0.0.{40 + round_}") as check:
                check.send(Hello("h", name, const.PROTOCOL_VERSION, winner, False))
                assert isinstance(check.expect((Welcome, ErrorReply), skip=NOTICES), Welcome), (name, node.port)
