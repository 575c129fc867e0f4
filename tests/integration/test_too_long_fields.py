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

from wire import WireClient

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


def test_a_name_too_long_is_refused_with_its_field_and_the_real_limit(config):  # noqa: F811
    """A name of 33 to 256 characters was refused invalid_name with neither "field" nor
    "max_chars" (so a client said a sentence about letters and symbols), and one over 256
    was told "max_chars": 256, when no name is ever longer than const.MAX_NAME_LENGTH. Each
    field that holds a name says its key and the limit of 32, whichever desk refused it."""
    limit = const.MAX_NAME_LENGTH
    with ServerThread(config) as server, log_in(server, "Ana") as ana:
        join(ana)
        for length in (limit + 1, 300):
            with WireClient(server.host, server.port) as newcomer:
                newcomer.send_raw(frame(type="hello", id="h", name="a" * length, version=2))
                refused = newcomer.expect(ErrorReply)
            assert (refused.request_id, refused.code, refused.field, refused.max_chars) == (
                "h", ErrorCode.INVALID_NAME, "name", limit), length
            long_name = "b" * length
            asked = [(dict(type="join", id="j", room="#" + long_name), "room"),
                     (dict(type="send", id="s", to=long_name, text="oi"), "to"),
                     (dict(type="block", id="b", name=long_name), "name"),
                     (dict(type="watch", id="w", names=[long_name]), "names"),
                     (dict(type="history", id="y", **{"with": long_name}), "with"),
                     (dict(type="invite", id="i", room="#redes", name=long_name), "name")]
            for request, field in asked:
                ana.send_raw(frame(**request))
                refused = ana.expect(ErrorReply, skip=QUIET + (RoomPost,))
                assert (refused.request_id, refused.code, refused.field, refused.max_chars) == (
                    request["id"], ErrorCode.INVALID_NAME, field, limit), (length, request["type"])
