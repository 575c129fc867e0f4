"""Carbons (issue 12): a direct message sent from one session of a user is copied, with its
text and state, to the user's other sessions that asked for the ``carbons`` feature in
their hello (PROTOCOL.md "Features", frame ``sent``); its outcome then reaches every
session. A client that did not ask (today's clients) gets no frame it does not know.

A real server on 127.0.0.1 port 0; the wire client sends exactly the frames the tests
want; the client library is checked end to end. Every wait is bounded.
"""

from __future__ import annotations

import queue
import time

import const
from client import ChatClient
from protocol import (
    CARBONS, Accepted, Carbon, Delivered, DirectMessage, ErrorReply, Hello, Queued, Receipt, SendDirect,
    UserJoined, UserLeft, Welcome,
)
from wire import WireClient

WAIT = 10.0
NOTICES = (UserJoined, UserLeft)
PASSWORD = "correct horse"


def log_in(server, name: str, features: tuple[str, ...] | None, password: str | None = PASSWORD,
           register: bool = False) -> WireClient:
    """A wire client logged in as ``name``, its hello asking for ``features``."""
    client = WireClient(server.host, server.port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register, None, features))
    client.welcome = client.expect(Welcome, skip=NOTICES)
    return client


def no_carbon(client: WireClient) -> list:
    events = client.drain(quiet=0.3)
    assert not [e for e in events if isinstance(e, Carbon)], events
    return events


def test_the_other_sessions_get_the_text_and_every_session_the_outcome(server):
    with log_in(server, "Alice", (CARBONS,), register=True) as first, \
            log_in(server, "Alice", (CARBONS, "some-later-feature")) as second, \
            log_in(server, "Alice", None) as old, \
            WireClient.login(server.host, server.port, "Bob") as bob:
        # The welcome names the features turned on: the known ones of the hello only.
        assert first.welcome.features == (CARBONS,) and second.welcome.features == (CARBONS,)
        assert old.welcome.features is None
        for client in (first, second, old):
            client.drain(quiet=0.2)
        first.send(SendDirect("m1", "bob", "olá, Bob\nsecond line"))
        accepted = first.expect(Accepted, skip=NOTICES)
        carbon = second.expect(Carbon, skip=NOTICES)
        assert carbon == Carbon(accepted.msg_id, "Bob", "olá, Bob\nsecond line", carbon.sent_at, "sent")
        assert abs(carbon.sent_at - time.time()) < 60
        dm = bob.expect(DirectMessage, skip=NOTICES)
        assert dm.msg_id == accepted.msg_id
        bob.send(Receipt(dm.msg_id))
        # The outcome reaches every session, the one without carbons too (as before).
        for client in (first, second, old):
            assert client.expect(Delivered, skip=NOTICES).msg_id == accepted.msg_id
        # Neither the sending session nor the old client gets a copy.
        no_carbon(first)
        no_carbon(old)


def test_a_message_to_someone_offline_is_copied_as_queued_and_a_resend_is_not_copied_again(server):
    with WireClient.login(server.host, server.port, "Carol"):
        pass  # Carol is known, and offline
    with log_in(server, "Alice", (CARBONS,), register=True) as first, \
            log_in(server, "Alice", (CARBONS,)) as second:
        second.drain(quiet=0.2)
        first.send(SendDirect("m2", "carol", "for later"))
        queued = first.expect(Queued, skip=NOTICES)
        carbon = second.expect(Carbon, skip=NOTICES)
        assert carbon == Carbon(queued.msg_id, "Carol", "for later", carbon.sent_at, "queued")
        # The same request again (a resend after a reconnect): answered, not copied again.
        first.send(SendDirect("m2", "carol", "for later"))
        assert first.expect(Queued, skip=NOTICES).msg_id == queued.msg_id
        no_carbon(second)


def test_a_hello_whose_features_are_not_a_list_of_names_is_refused(server):
    with WireClient(server.host, server.port) as client:
        client.send_raw(b'{"type":"hello","id":"h","name":"Alice","version":1,"features":"carbons"}\n')
        assert client.expect(ErrorReply).code == "bad_field"
        client.send_raw(b'{"type":"hello","id":"h2","name":"Dave","version":1,"features":["carbons"]}\n')
        welcome = client.expect(Welcome, skip=NOTICES)
        assert welcome.features == (CARBONS,)  # a guest may ask too; it has one session


def _events(client: ChatClient, kind: type, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = client.events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {kind.__name__} within {timeout} s") from None
        if isinstance(event, kind):
            return event


def test_the_client_library_asks_for_carbons_and_hands_them_on(server, clients):
    first = ChatClient("Alice", "127.0.0.1", server.port, password=PASSWORD, register=True)
    clients.append(first)
    first.connect(timeout=WAIT)
    second = ChatClient("Alice", "127.0.0.1", server.port, password=PASSWORD)
    clients.append(second)
    # "resume": an account's password login asks for its resume credential (client/credential.py).
    assert second.connect(timeout=WAIT).features == (CARBONS, "resume", "read", "typing", "edits", "batch_acks",
                                                     "since", "blocks", "catch_up")
    bob = ChatClient("Bob", "127.0.0.1", server.port)
    clients.append(bob)
    bob.connect(timeout=WAIT)
    message = first.send_direct("Bob", "from my laptop")
    carbon = _events(second, Carbon)
    assert (carbon.to, carbon.text, carbon.state) == ("Bob", "from my laptop", "sent")
    assert message.wait({"delivered"}, timeout=WAIT)
    assert _events(second, Delivered).msg_id == carbon.msg_id == message.msg_id


# --- What the terminal and the window make of them (no sockets) -------------------------


def test_the_terminal_shows_a_copy_with_its_text_and_its_outcome_with_the_recipient():
    from client.terminal_lines import describe_event
    carbon = Carbon(122, "Bob", "from my laptop", 1_700_000_000.0, "sent")
    line = describe_event(carbon, "Alice")
    assert "you" in line and "Bob" in line and "from my laptop" in line and "(sent)" in line
    # Its outcome names the recipient and the text, not "message 122".
    assert describe_event(Delivered("other-session-id", 122), "Alice", {122: carbon}) == \
        "✓✓ delivered to Bob: from my laptop"
    assert describe_event(Delivered("x", 7), "Alice", {122: carbon}) == "✓✓ delivered: message 7"


def test_the_window_adds_a_line_of_ours_and_updates_its_state():
    from client.gui.model import ChatModel
    from client.gui.changes import LineAdded, StateChanged
    model = ChatModel("Alice")
    model.take_changes()
    model.apply(Carbon(122, "Bob", "from my laptop", 1_700_000_000.0, "queued"))
    lines = model.conversations["bob"].lines
    assert [(line.kind, line.text, line.state, line.msg_id) for line in lines] == \
        [("out", "from my laptop", "queued", 122)]
    assert any(isinstance(change, LineAdded) for change in model.take_changes())
    model.apply(Delivered("other-session-id", 122))
    assert lines[0].state == "delivered"
    assert [type(change) for change in model.take_changes()] == [StateChanged]
    # The same message in a history page later is not shown twice.
    from protocol import HistoryEntry
    model.add_history("Bob", [HistoryEntry(122, "Alice", "Bob", "from my laptop", 1_700_000_000.0, "delivered")])
    assert len(lines) == 1


def test_the_terminal_screen_shows_a_copy_once_stamped_and_its_outcome_with_the_recipient():
    from client.terminal_lines import describe_on_screen
    from client.screen import Style
    carbon = Carbon(122, "Bob", "from my laptop", 1_700_000_000.0, "sent")
    plain = Style(False)
    line = describe_on_screen(carbon, "Alice", plain, "12:00")
    assert line.count("[") == 1 and "from my laptop" in line  # one time stamp, the message's own
    two = describe_on_screen(Carbon(123, "Bob", "linha um\nlinha dois", 1_700_000_000.0, "sent"), "Alice", plain,
                             "12:00")
    assert two.endswith("→ Bob: linha um\n        linha dois (sent)")  # never a literal "\\n"
    assert describe_on_screen(Delivered("x", 122), "Alice", plain, "12:01", {122: carbon}) == \
        "[12:01] ✓✓ delivered to Bob: from my laptop"
