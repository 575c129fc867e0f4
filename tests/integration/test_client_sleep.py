"""A laptop closed mid-conversation and opened in another room: the client library (the
terminal's and the window's shell) against the real server on the loopback.

A computer that sleeps stops CPython's monotonic clock (Linux, macOS), and one that wakes
on another Wi-Fi has a new address: its old connection is dead without a close, nothing
ever comes back on it. The test makes both: tests/support/faultproxy.py turns Alice's
link into a black hole (the old network), and the wall clock is stepped an hour forward
while the monotonic clock went on as usual (the sleep it could not see). The client must
notice within client.clock.WAKE_CHECK, not after its heartbeat timeout, and come back by
itself: what was sent to her meanwhile shown once and in order, what she sent before the
lid closed delivered once, and Bob told she left and came back, once each.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from client import DELIVERED, ChatClient, LoginRefused, MessageUpdate
from client.clock import WAKE_CHECK
from client.events import Reconnected, Reconnecting
from faultproxy import FaultProxy
from protocol import DirectMessage, UserJoined, UserLeft
from recorder import Recorder
from server import ServerConfig, ServerThread

WAIT = 10.0
SLEPT = 3600.0  # the lid stayed closed an hour
# Alice's own liveness is far longer than the test's bound: only the sleep can end her
# dead connection in time. The server's is short: it gave her up while she slept.
ALICE_LIVENESS = {"heartbeat_interval": 30.0, "heartbeat_timeout": 45.0}
FAST = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.4}


@contextlib.contextmanager
def alice_behind_a_proxy(config: ServerConfig, **liveness: float) -> Iterator[tuple]:
    """The server, Alice logged in through a FaultProxy (her network) with ``liveness``,
    Bob directly, watching her: yields (proxy, alice, at_alice, bob, at_bob)."""
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        alice = ChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice, **liveness, **FAST)
        bob = ChatClient("Bob", srv.host, srv.port, on_event=at_bob)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            bob.watch(["Alice"], WAIT)
            yield proxy, alice, at_alice, bob, at_bob
        finally:
            alice.close()
            bob.close()


def assert_bob_saw_alice_leave_and_come_back_once(at_bob: Recorder) -> None:
    """Bob was told that Alice left, then that she came back, once each. Notices go out in
    batches, in order: Bob's own join (which he is told of too) is the line after which
    what he hears of Alice is news, and hers may reach him after her client is back."""
    def news_of_alice() -> list[tuple[str, str]]:
        joined = [i for i, e in enumerate(at_bob.events) if isinstance(e, UserJoined) and e.name == "Bob"]
        return [(type(e).__name__, e.name) for e in at_bob.events[joined[0] + 1 if joined else 0:]
                if isinstance(e, (UserJoined, UserLeft)) and e.name == "Alice"]
    at_bob.holds(lambda: ("UserJoined", "Alice") in news_of_alice(), WAIT)
    assert news_of_alice() == [("UserLeft", "Alice"), ("UserJoined", "Alice")], news_of_alice()


def test_a_laptop_that_slept_and_woke_on_another_network_comes_back_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=0.3, heartbeat_timeout=1.0)
    with alice_behind_a_proxy(config, **ALICE_LIVENESS) as (proxy, alice, at_alice, bob, at_bob):
        # The lid closes: her network is gone, with what she had just typed.
        assert proxy.freeze("Alice") == 1
        before = alice.send_direct("Bob", "escrito antes de fechar a tampa")
        for text in ("olá, Alice?", "ainda aí?"):
            bob.send_direct("Alice", text)
        at_bob.wait_for(UserLeft, timeout=WAIT)  # the server gave her up
        assert before.state == "sending"
        # She wakes an hour later: the wall clock says so, the monotonic one does not.
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + SLEPT)
        woke = time.monotonic()
        assert at_alice.holds(lambda: bool([e for e in at_alice.events if isinstance(e, Reconnecting)]),
                              WAKE_CHECK + 3.0), "the sleep was not noticed"
        assert time.monotonic() - woke < WAKE_CHECK + 2.0
        reason = [e for e in at_alice.events if isinstance(e, Reconnecting)][0].reason
        assert reason.startswith("no data from the server for"), reason
        at_alice.wait_for(Reconnected, timeout=WAIT)
        assert before.wait({DELIVERED}, WAIT), before.state
        assert at_alice.holds(lambda: len([e for e in at_alice.events if isinstance(e, DirectMessage)]) >= 2,
                              WAIT)
        assert at_bob.holds(lambda: any(isinstance(e, DirectMessage) for e in at_bob.events), WAIT)
        # Settled: nothing more comes twice.
        alice.who(WAIT)
        bob.who(WAIT)
        assert [e.text for e in at_alice.events if isinstance(e, DirectMessage)] == ["olá, Alice?", "ainda aí?"]
        assert [e.text for e in at_bob.events if isinstance(e, DirectMessage)] == \
            ["escrito antes de fechar a tampa"]
        assert_bob_saw_alice_leave_and_come_back_once(at_bob)
        assert [u.state for u in at_alice.events if isinstance(u, MessageUpdate)][-1] == DELIVERED


def test_a_guest_whose_phone_changed_network_takes_its_name_back_without_waiting_out_the_old_session() -> None:
    """A phone moved from the Wi-Fi to the mobile network: it sees its connection gone at
    once and logs in again with its token, but the server heard no close and would hold the
    name for its earlier session until its heartbeat timeout (30 s here, 45 s by default),
    answering name_taken with retry_after meanwhile. The server pings that session instead
    and lets it go when nothing comes within its probe (server.config's release_probe)."""
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=4.0, heartbeat_timeout=30.0,
                          release_probe=1.0)
    quick = {"heartbeat_interval": 0.2, "heartbeat_timeout": 0.6}  # her phone saw its network go
    with alice_behind_a_proxy(config, **quick) as (proxy, alice, at_alice, bob, at_bob):
        assert proxy.freeze("Alice") == 1
        bob.send_direct("Alice", "mudou de rede?")
        changed = time.monotonic()
        at_alice.wait_for(Reconnected, timeout=WAIT)
        assert time.monotonic() - changed < 6.0
        assert at_alice.holds(lambda: any(isinstance(e, DirectMessage) for e in at_alice.events), WAIT)
        alice.who(WAIT)
        assert [e.text for e in at_alice.events if isinstance(e, DirectMessage)] == ["mudou de rede?"]
        assert_bob_saw_alice_leave_and_come_back_once(at_bob)


def test_a_live_session_answers_the_probe_and_keeps_its_name() -> None:
    """Two programs with one token (a script started twice): the second's login pings the
    first, which answers (its protocol core pongs by itself) and stays; the second is
    still refused, with retry_after, after several probes' time."""
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=4.0, heartbeat_timeout=30.0,
                          release_probe=0.3)
    with ServerThread(config) as srv:
        at_first = Recorder()
        first = ChatClient("Alice", srv.host, srv.port, on_event=at_first)
        second = ChatClient("Alice", srv.host, srv.port, reconnect=False)
        try:
            first.connect(timeout=WAIT)
            for _attempt in range(3):
                with pytest.raises(LoginRefused) as refused:
                    second.connect(timeout=WAIT)
                assert refused.value.code == "name_taken" and refused.value.retry_after is not None
                # Well past the probe and a sweep: the first was not given up.
                assert not at_first.holds(lambda: any(isinstance(e, Reconnecting) for e in at_first.events), 1.5)
            assert first.connected and [p.name for p in first.who(WAIT)] == ["Alice"]
        finally:
            first.close()
            second.close()


def test_a_reconnection_waiting_out_its_backoff_when_the_lid_closed_tries_again_on_waking(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Wi-Fi went first, and the client was between attempts (the backoff reaches 30 s)
    when the lid closed. Its wait sleeps on the monotonic clock, which stood still: on
    waking it would wait out the rest first. It counts the sleep and tries again within
    WAKE_CHECK."""
    config = ServerConfig(host="127.0.0.1", port=0)
    slow = {"reconnect_delay": 20.0, "reconnect_max_delay": 20.0}  # 16 to 24 s with the jitter
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        at_alice = Recorder()
        alice = ChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice, **slow)
        try:
            alice.connect(timeout=WAIT)
            proxy.refuse_new = True  # no network
            assert proxy.cut("Alice") == 1
            at_alice.wait_for(Reconnecting, timeout=WAIT)
            assert [e.delay for e in at_alice.events if isinstance(e, Reconnecting)][0] >= 16.0
            proxy.refuse_new = False  # the laptop woke an hour later, on a network
            real = time.time
            monkeypatch.setattr(time, "time", lambda: real() + SLEPT)
            woke = time.monotonic()
            at_alice.wait_for(Reconnected, timeout=WAKE_CHECK + 3.0)
            assert time.monotonic() - woke < WAKE_CHECK + 2.0
            assert alice.connected
        finally:
            alice.close()


def test_the_asyncio_client_notices_a_sleep_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same laptop with the asyncio shell (client/aio.py): its reader waits on the
    loop's monotonic clock, which stood still; it must read the clock of waits within
    WAKE_CHECK, see the hour, and reconnect, with what she sent before the lid closed
    delivered once."""
    import asyncio

    from client.aio import AioChatClient
    from client.resume import ResumeTokens

    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=0.3, heartbeat_timeout=1.0)

    async def test(proxy: FaultProxy, at_bob: Recorder, bob: ChatClient) -> None:
        at_alice = Recorder()
        alice = AioChatClient("Alice", "127.0.0.1", proxy.port, on_event=at_alice,
                              resume_tokens=ResumeTokens(None), **ALICE_LIVENESS, **FAST)
        await alice.connect(WAIT)
        try:
            loop = asyncio.get_running_loop()

            async def until(condition, timeout: float) -> bool:
                deadline = loop.time() + timeout
                while not condition():
                    if loop.time() >= deadline:
                        return False
                    await asyncio.sleep(0.02)
                return True

            assert proxy.freeze("Alice") == 1
            before, _done = alice.send_direct("Bob", "escrito antes de fechar a tampa")
            # The server gives her up (Bob sees her leave), then she wakes an hour later.
            assert await until(lambda: any(isinstance(e, UserLeft) and e.name == "Alice" for e in at_bob.events),
                               WAIT)
            real = time.time
            monkeypatch.setattr(time, "time", lambda: real() + SLEPT)
            woke = loop.time()
            assert await until(lambda: bool(at_alice.of(Reconnecting)), WAKE_CHECK + 3.0), "the sleep was not noticed"
            assert loop.time() - woke < WAKE_CHECK + 2.0
            reason = at_alice.of(Reconnecting)[0].reason
            assert reason.startswith("no data from the server for"), reason
            assert await until(lambda: bool(at_alice.of(Reconnected)), WAIT)
            assert await until(lambda: before.state == DELIVERED, WAIT), before.state
        finally:
            await alice.close()

    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        at_bob = Recorder()
        bob = ChatClient("Bob", srv.host, srv.port, on_event=at_bob)
        try:
            bob.connect(timeout=WAIT)
            asyncio.run(asyncio.wait_for(test(proxy, at_bob, bob), 60))
            assert [e.text for e in at_bob.events if isinstance(e, DirectMessage)] == \
                ["escrito antes de fechar a tampa"]
        finally:
            bob.close()
