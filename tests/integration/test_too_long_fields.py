"""A string over its limit in a request (a topic, a reason, a message) is refused with the
error frame naming the field and its limit (PROTOCOL.md "error": ``field``, ``max_chars``),
so that a client says it in its user's language, not in the server's English. Real servers
on 127.0.0.1 port 0: a single one (memory, SQLite) and a ``--cluster`` node on Redis (the
same relay code decodes every frame); wire clients send exactly these frames. Bounded waits.
"""

from __future__ import annotations

import json

import const
from protocol import Done, ErrorCode, ErrorReply, RoomPost
from server import ServerThread

from test_rooms_after_delivered import QUIET, join, log_in
from test_rooms_after_delivered import config  # noqa: F401  (the store fixture: memory, SQLite, Redis)


def frame(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode() + b"\n"


def test_a_field_too_long_is_refused_with_its_name_and_limit_and_the_session_goes_on(config):  # noqa: F811
    with ServerThread(config) as server, log_in(server, "Ana") as ana:
        join(ana)
        ana.send_raw(frame(type="topic", id="t1", room="#redes", topic="á" * (const.MAX_TOPIC_CHARS + 1)))
        refused = ana.expect(ErrorReply, skip=QUIET + (RoomPost,))
        assert (refused.request_id, refused.code, refused.field, refused.max_chars, refused.max_bytes) == (
            "t1", ErrorCode.BAD_FIELD, "topic", const.MAX_TOPIC_CHARS, None)
        ana.send_raw(frame(type="kick", id="k1", room="#redes", name="Bia", reason="x" * 300))
        refused = ana.expect(ErrorReply, skip=QUIET + (RoomPost,))
        assert (refused.request_id, refused.code, refused.field, refused.max_chars) == (
            "k1", ErrorCode.BAD_FIELD, "reason", 256)
        ana.send_raw(frame(type="send", id="m1", room="#redes", text="x" * (const.MAX_TEXT_CHARS + 1)))
        refused = ana.expect(ErrorReply, skip=QUIET + (RoomPost,))
        assert (refused.request_id, refused.code, refused.field, refused.max_chars) == (
            "m1", ErrorCode.MESSAGE_TOO_LARGE, "text", const.MAX_TEXT_CHARS)
        # The same topic at its limit is taken.
        ana.send_raw(frame(type="topic", id="t2", room="#redes", topic="á" * const.MAX_TOPIC_CHARS))
        assert ana.expect(Done, skip=QUIET + (RoomPost,)).request_id == "t2"
