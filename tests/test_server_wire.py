"""The server against hostile wire input (issue 8, items 5, 10, 11, 12): fields out of
range, floods of bad frames, frames left unfinished, and answers too big for one frame.

A real server on 127.0.0.1 (port 0) in a thread, raw frames from ``tests.wire.WireClient``.
"""

from __future__ import annotations

import logging
import time

import pytest

from protocol import ErrorCode, ErrorReply, HistoryPage, HistoryRequest, Ping, Pong, UserJoined, UserLeft

NOTICES = (UserJoined, UserLeft)
from server import ServerConfig, ServerThread
from tests.wire import WireClient

TWO_TO_63 = 2 ** 63


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert bad == [], [r.getMessage() for r in bad]
    assert "Traceback" not in caplog.text


# --- Item 5: every field in range -----------------------------------------------------------


def test_integers_of_2_63_get_bad_field_and_log_no_traceback(server: ServerThread, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with WireClient.login(server.host, server.port, "Alice") as alice:
        alice.send_raw(b'{"type":"history","id":"h1","with":"Bob","before":%d}\n' % TWO_TO_63)
        error = alice.expect_error(ErrorCode.BAD_FIELD, skip=NOTICES)
        assert error.request_id == "h1" and "before" in error.message
        alice.send_raw(b'{"type":"receipt","msg_id":%d}\n' % TWO_TO_63)
        error = alice.expect_error(ErrorCode.BAD_FIELD, skip=NOTICES)
        assert error.request_id is None and "msg_id" in error.message
        # The session goes on, and answers the largest value in range.
        alice.send(HistoryRequest("h2", "Bob", 10, 2 ** 53 - 1))
        assert alice.expect(HistoryPage, skip=NOTICES).request_id == "h2"
    _no_tracebacks(caplog)
