"""A real server whose disk fills up, and two servers on one data folder.

The disk is filled for real as SQLite sees it: ``PRAGMA max_page_count`` on the server's
own connection makes every write that needs a new page fail with "database or disk is
full"; raising it again frees the disk. Servers run in a thread (``ServerThread``) or as
``chatserver.py`` subprocesses; clients are the wire-level test client and ``--send``.
Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import io
import logging
import time

import pytest

from client.exitcodes import ExitCode
from client.outgoing import SENDING
from client.oneshot import send_once
from logins import library_login, login
from protocol import Accepted, DirectMessage, ErrorCode, HistoryPage, HistoryRequest, RoomMessage, SendDirect, SendRoom
from server import ServerThread
from server.lockfile import DataDirInUse
from servers import ServerProcess, assert_one_line_error, run_chatserver, server_config
from test_durability import NOTICES, config
from wire import WireClient

BIG = "x" * 4000  # the longest text allowed: each such message needs a page of its own


def fill_the_disk(server: ServerThread) -> None:
    """No page may be added to the database from now on (and none is free)."""
    def fill() -> None:
        db = server.server.store.db
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    server.call(fill)


def free_the_disk(server: ServerThread) -> None:
    server.call(lambda: server.server.store.db.execute("PRAGMA max_page_count = 1073741823"))


@pytest.fixture
def server(tmp_path):
    with ServerThread(config(tmp_path / "data")) as srv:
        yield srv


def test_a_full_disk_gets_every_request_an_answer_logs_once_and_service_resumes(server, caplog):
    caplog.set_level(logging.INFO, logger="chat.store")
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        alice.send(SendDirect("first", "Bob", BIG))  # the messages table now has no room left in its page
        alice.expect(Accepted, skip=NOTICES)
        assert bob.expect(DirectMessage, skip=NOTICES).text == BIG
        fill_the_disk(server)
        for i in range(5):
            alice.send(SendDirect(f"dm{i}", "Bob", BIG))
            alice.send(SendRoom(f"room{i}", BIG))
        answers = {}
        for _ in range(10):
            error = alice.expect_error(ErrorCode.UNAVAILABLE, skip=NOTICES)
            answers[error.request_id] = error
        assert sorted(answers) == sorted([f"dm{i}" for i in range(5)] + [f"room{i}" for i in range(5)])
        # The store's refusals say its wait. One that came after its conversation's earlier
        # message was refused waits behind that one (server/sendorder.py) and says the time
        # left until that one may come again, a few ms less, as it came a few ms later.
        configured = server.server.config.unavailable_retry_after
        assert answers["dm0"].retry_after == answers["room0"].retry_after == configured
        for e in answers.values():
            if "must come first" in e.message:
                assert configured - 1.0 < e.retry_after <= configured, e
            else:
                assert e.retry_after == configured, e
        # A failed COMMIT is rolled back: "nothing was done" is true here, and said so.
        assert all(e.uncertain is None and "nothing was done" in e.message for e in answers.values())
        assert not [e for e in bob.drain(quiet=0.3) if isinstance(e, (DirectMessage, RoomMessage))]
        # Reading still works on a full disk.
        alice.send(HistoryRequest("hist", "Bob"))
        assert [m.text for m in alice.expect(HistoryPage, skip=NOTICES).messages] == [BIG]

        free_the_disk(server)
        alice.send(SendDirect("dm0", "Bob", "after"))  # the same request again, as a user would
        assert alice.expect(Accepted, skip=NOTICES).request_id == "dm0"
        assert bob.expect(DirectMessage, skip=NOTICES).text == "after"
    store_lines = [r for r in caplog.records if r.name == "chat.store" and r.levelno >= logging.INFO
                   and "migrated" not in r.getMessage()]
    assert [r.levelname for r in store_lines] == ["WARNING", "INFO"], [r.getMessage() for r in store_lines]
    assert "database or disk is full" in store_lines[0].getMessage()
    assert "storage works again" in store_lines[1].getMessage()
    assert "Traceback" not in caplog.text


def test_send_exits_7_and_says_why_when_the_disk_is_full(server):
    with login(server, "Bob") as bob:
        bob.send(SendDirect("first", "Bob", BIG))  # to himself: fills the table's page
        bob.expect(Accepted, skip=NOTICES)
        fill_the_disk(server)
        out, err = io.StringIO(), io.StringIO()
        code = send_once("Carol", "Bob", BIG, host=server.host, port=server.port, timeout=10, stdout=out,
                         stderr=err)
    assert (code, out.getvalue()) == (ExitCode.UNAVAILABLE, "")
    assert err.getvalue().startswith("error: not sent to Bob — the server cannot use its storage right now")
    assert err.getvalue().rstrip().endswith("so nothing was done; try again later")


def test_messages_queued_on_a_full_disk_are_resent_paced_not_in_a_storm_then_delivered_once(tmp_path, clients):
    """A tester's 150 long messages on a full disk, with the real rate limits: the terminal
    client was answered rate_limited 8,483 times in 90 s, every refused message written
    again the moment the shortest wait passed. Now about one resend per hold: at most the
    first writes of the 150 are refused within these seconds, and once the disk is free
    the messages arrive in order, each once, under their ids."""
    with ServerThread(server_config(tmp_path / "data")) as srv, login(srv, "Bob") as bob:
        bob.send(SendDirect("first", "Bob", BIG))
        bob.expect(Accepted, skip=NOTICES)
        bob.expect(DirectMessage, skip=NOTICES)
        fill_the_disk(srv)
        metrics = srv.server.relay.metrics
        accepted = metrics.direct_accepted  # Bob's own, above
        alice = library_login(clients, srv.port, "Alice")
        messages = [alice.send_direct("Bob", f"{i:03d} " + BIG[4:]) for i in range(150)]
        end = time.monotonic() + 4.0
        while time.monotonic() < end:  # fails as soon as the storm shows
            assert metrics.direct_rate_limited <= 150 + 10, metrics.direct_rate_limited
            time.sleep(0.05)
        assert metrics.direct_accepted == accepted and all(m.state == SENDING for m in messages)
        free_the_disk(srv)
        # The hold under way (a few seconds of backoff) ends, then they flow again.
        got = [bob.expect(DirectMessage, timeout=40, skip=NOTICES).text[:3] for _ in range(5)]
        assert got == [f"{i:03d}" for i in range(5)]  # in order, none twice


# --- One server per data folder --------------------------------------------------------------


def test_a_second_chatserver_on_the_same_data_folder_refuses_in_one_line(tmp_path):
    data = tmp_path / "data"
    with ServerProcess("--data", str(data)) as first:
        line = assert_one_line_error(run_chatserver("--data", str(data)), "another chat server",
                                     f"(pid {first.proc.pid})", str(data), "--data OTHER")
        assert "Traceback" not in line
        # The first one goes on serving, untouched.
        with WireClient.login("127.0.0.1", first.port, "Alice") as alice:
            alice.send(SendDirect("m", "Alice", "still here"))
            alice.expect(Accepted, skip=NOTICES)
        first.kill()  # no clean exit: the lock goes with the process all the same
    with ServerProcess("--data", str(data)) as second:
        with WireClient.login("127.0.0.1", second.port, "Alice") as alice:
            assert alice.expect(DirectMessage, skip=NOTICES).text == "still here"
        assert second.stop() == 0


def test_a_server_in_this_process_is_refused_too_and_the_folder_is_free_once_it_stops(tmp_path):
    data = tmp_path / "data"
    with ServerThread(config(data)) as first:
        with pytest.raises(DataDirInUse) as refused:
            with ServerThread(config(data)):
                pass
        assert refused.value.data_dir == data
        with login(first, "Alice"):
            pass
    with ServerThread(config(data)) as again:
        with login(again, "Alice"):
            pass
