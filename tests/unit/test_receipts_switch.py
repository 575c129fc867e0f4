"""The read receipts switch told to the user's other sessions (server/afterdelivered.py,
PROTOCOL.md "The switch: `settings`"), without sockets: a store that answers when told to,
sessions that record what they are sent, and a node's events stream played by hand.

A user who turns receipts off on the phone must not see the laptop go on sending reads and
typing that the server refuses in English until its next login: the laptop is told."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from protocol import READ, TYPING, Done, ErrorCode, ErrorReply, Read, Settings
from server.afterdelivered import AfterDelivered
from server.stores.base import StoreUnavailable


class DeferredStore:
    """Keeps the switch; answers each call when :meth:`run` says, or fails it."""

    def __init__(self) -> None:
        self.off: set[str] = set()
        self.pending: list[tuple[Callable[[], None], Callable[[Any], None]]] = []

    def receipts_off(self) -> set[str]:
        return set(self.off)

    def set_read_receipts(self, key: str, on: bool, callback: Any, on_error: Any) -> None:
        def do() -> None:
            (self.off.discard if on else self.off.add)(key)
            if callback is not None:
                callback(None)
        self.pending.append((do, on_error))

    def run(self) -> None:
        while self.pending:
            self.pending.pop(0)[0]()

    def fail(self) -> None:
        while self.pending:
            self.pending.pop(0)[1](StoreUnavailable("the disk is full"))


class FakeSession:
    def __init__(self, name: str) -> None:
        self.name, self.key = name, name.lower()
        self.closing, self.is_open = False, True
        self.sent: list[Any] = []

    def send(self, event: Any) -> None:
        self.sent.append(event)

    def take(self) -> list[Any]:
        sent, self.sent = self.sent, []
        return sent


class FakeRelay:
    def __init__(self) -> None:
        self.store = DeferredStore()
        self.by_key: dict[str, list[FakeSession]] = {}
        self.registry = SimpleNamespace(sessions_by_key=lambda key: self.by_key.get(key, []))
        self.config = SimpleNamespace(typing_interval=5.0)
        self.room_desk = SimpleNamespace(schedule=None, rooms=SimpleNamespace(rooms_of=lambda key: ()))
        # One server: the switch stored, no other node to tell (server/peers.py's Peers).
        self.peers = SimpleNamespace(routes=False, store_receipts_switch=lambda store, key, on, callback=None,
                                     on_error=None: store.set_read_receipts(key, on, callback, on_error))
        self.known: dict[str, str] = {}
        self.blocked: dict[str, set[str]] = {}

    def unavailable(self, session: FakeSession, request_id: str) -> Callable[[StoreUnavailable], None]:
        return lambda failure: session.send(ErrorReply(ErrorCode.UNAVAILABLE, "not stored", request_id))


def ana_on_three_devices() -> tuple[AfterDelivered, FakeRelay, FakeSession, FakeSession, FakeSession]:
    relay = FakeRelay()
    after = AfterDelivered(relay)  # type: ignore[arg-type]
    phone, laptop, old = FakeSession("Ana"), FakeSession("Ana"), FakeSession("Ana")
    relay.by_key["ana"] = [phone, laptop, old]
    after.logged_in(phone, (READ, TYPING))
    after.logged_in(laptop, (READ,))
    after.logged_in(old, ())  # a client without the feature: it has no switch to show
    return after, relay, phone, laptop, old


def test_the_other_sessions_are_told_the_new_switch_once_it_is_stored_and_stop_being_refused_in_english():
    after, relay, phone, laptop, old = ana_on_three_devices()
    after.handlers()[Settings](phone, Settings("s1", False))
    assert laptop.take() == []  # not before it is stored: "unavailable" would make it untrue
    relay.store.run()
    assert phone.take() == [Done("s1")]
    assert laptop.take() == [Settings(None, False)]  # the frame without id: the server's
    assert old.take() == []
    # Turned on again: told again; the same setting again changes nothing, and tells nothing.
    after.handlers()[Settings](phone, Settings("s2", True))
    relay.store.run()
    assert laptop.take() == [Settings(None, True)]
    after.handlers()[Settings](phone, Settings("s3", True))
    relay.store.run()
    assert phone.take() == [Done("s2"), Done("s3")] and laptop.take() == []


def test_a_switch_the_store_could_not_keep_is_told_to_nobody():
    after, relay, phone, laptop, _old = ana_on_three_devices()
    after.handlers()[Settings](phone, Settings("s1", False))
    relay.store.fail()
    assert [type(e) for e in phone.take()] == [ErrorReply]
    assert laptop.take() == [] and "ana" not in after.receipts_off


def test_a_switch_from_another_node_is_told_here_when_it_changes_this_nodes_switch():
    after, _relay, phone, laptop, _old = ana_on_three_devices()
    after.switched("ana", False)  # the events stream: Ana turned it off on another node
    assert phone.take() == [Settings(None, False)] and laptop.take() == [Settings(None, False)]
    # Its own entry on the node that stored it (already changed there): told there already.
    after.switched("ana", False)
    assert phone.take() == [] and laptop.take() == []


def test_a_settings_frame_without_id_from_a_client_is_refused_clearly():
    after, relay, phone, laptop, _old = ana_on_three_devices()
    after.handlers()[Settings](phone, Settings(None, False))
    [error] = phone.take()
    assert error.code == ErrorCode.BAD_FIELD and "'id'" in error.message
    relay.store.run()
    assert "ana" not in after.receipts_off and laptop.take() == []


def test_a_read_sent_before_the_news_came_is_refused():
    """The race the clients handle quietly (client/core.py): the refusal has no id."""
    after, relay, phone, laptop, _old = ana_on_three_devices()
    after.handlers()[Settings](phone, Settings("s1", False))
    after.handlers()[Read](laptop, Read("Bob", 5))
    [refusal] = laptop.take()
    assert refusal.code == ErrorCode.FORBIDDEN and refusal.request_id is None
