"""In a cluster, a named room's frames that the events stream brings while a post to the
room is being stored from here wait for its answer (RoomDesk._posting, _deferred: its
sender hears ``accepted`` before their own post). So every answer must end that wait,
even one whose handling raised: else the room's frames pile up here for ever and none of
its members on this node hears anything more from it. No sockets (test_room_replay's
fakes, with the cluster's one-step post)."""

from __future__ import annotations

import pytest
from test_room_replay import FakeSession, setting

from protocol import SendToRoom
from server import mailbox
from server.rooms import room_key


def test_a_post_whose_answer_raises_still_lets_the_room_s_frames_go() -> None:
    desk, relay, laptop = setting()  # Olga and Bob in #redes; Bob's laptop online
    answers: list = []
    relay.peers.shares_rooms = True
    relay.peers.store_room_post = lambda message, version, stored, not_stored: answers.append(stored)
    relay.unavailable = lambda *request: None

    def a_bug(sender_key: str, key: str) -> None:
        raise ValueError("a bug after the accepted")

    relay.after.message_sent = a_bug
    olga = FakeSession("Olga")
    olga.registered, olga.address = True, "10.0.0.7"
    desk.post(olga, SendToRoom("r1", "#redes", "olá"))  # type: ignore[arg-type]
    key = room_key("#redes")
    desk._streamed[key] = ("#redes", ["olga", "bob"])  # as the stream's records have the room
    stored = mailbox.StoredMessage(7, "Olga", "olga", "#redes", key, "olá", 1700000000.0, "r1", "room")
    with pytest.raises(ValueError):  # to the store, which logs it
        answers.pop()((stored, mailbox.NEW))
    desk.fan_out(stored)  # the stream brings the post itself
    assert laptop.posts() == [7]
    assert desk._deferred == {} and desk._posting == {}
