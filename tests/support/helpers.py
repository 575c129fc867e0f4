"""Test helpers: a client and a server :class:`Connection` joined by an in-memory link.

``ConnectionPair.send(sender, *events)`` encodes on one side, feeds the bytes to the other
and returns what the other side yields; ``open_pair()`` runs the hello/welcome exchange.
``SAMPLES`` holds one representative instance of every wire event class.
"""

from __future__ import annotations

import const
from protocol import OutcomeAcks, Receipts
from protocol import RoomDeleted, RoomEdited, RoomTyping  # issue 13, in rooms
from protocol import RoomRead  # issue 13, read marks in rooms
from protocol import SincePage, SinceRequest  # feature since
from protocol import Blocked, Blocking, BlockList, Unblocked  # whom one blocks, for the UIs
from protocol import CatchUp  # feature catch_up
from protocol import (
    Accepted, Connection, Delivered, DirectMessage, ErrorReply, Event, Goodbye, Hello,
    LookupRequest, LookupResult, Ping, Pong, Receipt, Role, RoomMessage, RoomSkipped, SendDirect,
    SendRoom, State, OutcomeAck, UserJoined, UserLeft, UserList, Welcome, WhoRequest,
    Block, Done, HistoryEntry, HistoryPage, HistoryRequest, Queued, Register, Unblock,
    Unwatch, Watch, Watching, Carbon, Revoke,
    Edit, Delete, EditReceipt, Settings, Edited, Deleted, Read, Typing,
)
from protocol import (
    LATEST_VERSION, Appoint, Ban, Invite, JoinRoom, Kick, LeaveRoom, MemberEntry, MemberList,
    MembersRequest, Mute, RoomEntry, RoomInfo, RoomList, RoomNotice, RoomPost, RoomsRequest,
    SendToRoom, SetTopic, Unban, Unmute,
)
from protocol import SetRoomMode  # issue 13, after the room core
from protocol import ChangePassword, Unregister
from protocol.events import Presence

TEXT = "olá 🌍 ação"


class ConnectionPair:
    """A client and a server connection; bytes one sends are fed straight to the other."""

    def __init__(self, **limits: int) -> None:
        self.client = Connection(Role.CLIENT, **limits)
        self.server = Connection(Role.SERVER, **limits)

    def peer(self, conn: Connection) -> Connection:
        return self.server if conn is self.client else self.client

    def send(self, sender: Connection, *events: Event) -> list[Event]:
        """Send ``events`` from ``sender``; return everything the peer yields for them."""
        receiver = self.peer(sender)
        receiver.receive_data(b"".join(sender.send(event) for event in events))
        return list(receiver.events())


HELLO = Hello("login-1", "zoë", const.PROTOCOL_VERSION)
WELCOME = Welcome("login-1", "zoë", const.PROTOCOL_VERSION, "chat ação", 15.0)


def open_pair(version: int = const.PROTOCOL_VERSION, **limits: int) -> ConnectionPair:
    """A pair whose hello/welcome exchange has passed at ``version``: both sides are OPEN."""
    pair = ConnectionPair(**limits)
    hello, welcome = HELLO, WELCOME
    if version != const.PROTOCOL_VERSION:
        hello = Hello(HELLO.request_id, HELLO.name, version)
        welcome = Welcome(WELCOME.request_id, WELCOME.name, version, WELCOME.server, WELCOME.heartbeat)
    assert pair.send(pair.client, hello) == [hello]
    assert pair.send(pair.server, welcome) == [welcome]
    assert pair.client.state is State.OPEN and pair.server.state is State.OPEN
    return pair


def ready_receiver(event: Event, **limits: int) -> Connection:
    """A connection in a state where ``event`` from its legitimate sender is accepted."""
    if type(event) is Hello:
        return Connection(Role.SERVER, **limits)
    if type(event) is Welcome:
        return Connection(Role.CLIENT, **limits)
    pair = open_pair(event.SINCE, **limits)
    return pair.client if event.SENDER == "server" else pair.server


# One representative instance of each class in WIRE_EVENTS, with non-ASCII text.
SAMPLES: list[Event] = [
    HELLO,
    SendDirect("req-ação", "bob", TEXT),
    SendRoom("req-2", TEXT),
    Receipt(7),
    OutcomeAck(41),
    WhoRequest("req-3"),
    LookupRequest("req-4", "jürgen"),
    Register("req-5", "pässwörd"),
    HistoryRequest("req-6", "bob", 20, 99),
    Block("req-7", "mallory"),
    Unblock("req-8", "mallory"),
    BlockList("req-8b", "mallory"),
    WELCOME,
    Queued("req-1", 43),
    Done("req-7"),
    HistoryPage("req-6", "bob", (HistoryEntry(41, "zoë", "bob", TEXT, 1700000000.25, "delivered"),
                                 HistoryEntry(44, "bob", "zoë", "hi", 1700000003.0, "queued")), 41),
    SinceRequest("req-9", 40, 20),
    SincePage("req-9", (HistoryEntry(41, "zoë", "bob", TEXT, 1700000000.25, "delivered"),
                        HistoryEntry(44, "ana", "zoë", "oi", 1700000003.0, "queued", True)), 44),
    Accepted("req-1", 41),
    Delivered("req-1", 41),
    ErrorReply("unknown_recipient", "no user 'bøb' 🌍", "req-1"),
    DirectMessage(41, "zoë", "bob", TEXT, 1700000000.25),
    RoomMessage(42, "zoë", TEXT, 1700000000.5),
    UserJoined("zoë", 1700000001.0),
    UserLeft("zoë", "timeout ação", 1700000002.0),
    UserList("req-3", (Presence("bob", 1.5), Presence("zoë", 2.0))),
    LookupResult("req-4", "zoë", "online", "192.0.2.1", 50123, 1700000000.0),
    Ping("tok-🌍"),
    Pong("tok-🌍"),
    Goodbye(TEXT),
    RoomSkipped(12),
    Watch("req-9", ("bob", "jürgen")),
    Unwatch("req-10", ("bob",)),
    Watching("req-9", (Presence("bob", 1.5),), ("jürgen",)),
    Blocking("req-8b", ("Mallory", "jürgen"), "jürgen"),
    Blocked("jürgen"),  # feature blocks: told of another session's block
    Unblocked("Mallory"),
    CatchUp(),  # feature catch_up: a cluster node back from a break
    Carbon(45, "bob", TEXT, 1700000004.5, "queued"),
    Revoke("req-11", "q0Jc4yqD6tQy1Vg2rHk1S1a0bq3VbM8kTz3s1dY9e8U"),
    ChangePassword("req-12", "old 🔑 senha", "new \"ação\" pass", "q0Jc4yqD6tQy1Vg2rHk1S1a0bq3VbM8kTz3s1dY9e8U"),
    Unregister("req-13", "minha 🔑 senha"),
    # Rooms and moderation (protocol version 2).
    JoinRoom("req-11", "#ação", True, True),
    LeaveRoom("req-12", "#ação"),
    RoomsRequest("req-13", "#ação"),
    MembersRequest("req-14", "#ação", "jürgen"),
    SendToRoom("req-15", "#ação", TEXT),
    Invite("req-16", "#ação", "jürgen"),
    SetTopic("req-17", "#ação", TEXT),
    Kick("req-18", "#ação", "mallory", TEXT),
    Ban("req-19", "#ação", "mallory", TEXT),
    Unban("req-20", "#ação", "mallory"),
    Mute("req-21", "#ação", "mallory", TEXT, 600),
    Unmute("req-22", "#ação", "mallory"),
    Appoint("req-23", "#ação", "jürgen", "moderator"),
    SetRoomMode("req-24", "#ação", True),
    RoomInfo("req-11", "#ação", 3, True, TEXT, "zoë", True),
    RoomList("req-13", (RoomEntry("#ação", 3, TEXT), RoomEntry("#redes", 0, "")), "#redes"),
    MemberList("req-14", "#ação", (MemberEntry("zoë", "owner", True), MemberEntry("bob", "member", False)), "bob"),
    RoomPost(45, "zoë", "#ação", TEXT, 1700000004.5),
    RoomNotice("#ação", "mute", "mallory", 1700000005.0, "zoë", TEXT, None, 1700000605.0),
    Edit("req-12", 45, TEXT),
    Delete("req-13", 45),
    EditReceipt(45, 1763712100.25),  # the change it confirms, by its at
    Settings("req-14", False),
    Edited(45, "alice", "bob", TEXT, 1700000005.5),
    Deleted(45, "alice", "bob", 1700000006.5),
    Read("alice", 44, "bob"),
    Typing("bob", "alice"),
]
# Feature batch_acks (issue 9): several ids per receipt and ack.
SAMPLES += [Receipts((7, 8, 0)), OutcomeAcks((41,))]
# Typing, edits and deletes in rooms (issue 13).
SAMPLES += [RoomTyping("#ação", "zoë"), RoomEdited(45, "zoë", "#ação", TEXT, 1700000007.5),
            RoomDeleted(45, "zoë", "#ação", 1700000008.5, "mallory")]
# Read marks in rooms (issue 13): the server's form (the client's, with msg_id, is in
# test_protocol_roundtrip.py EXTRA).
SAMPLES += [RoomRead("#ação", marks=(90, 88, 75))]
