"""Cluster nodes as real ``chatserver.py --cluster`` processes on one real Redis.

Three nodes and a Redis that syncs every write, on loopback: a direct message across
nodes with both acknowledgements; a message to someone offline, picked up on another
node and confirmed back to the sender on a third; ``kill -9`` of the node a recipient
is on, mid-delivery (the sender hears ``queued``, the others see the recipient leave
within 15 s, and the message arrives once, on another node); the same with twenty
messages, five confirmed before the kill (the other fifteen arrive once, in order); Redis
killed and restarted; a browser on one node and a terminal on another; ``--workers 2``
(two processes on one port). Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redisserver import RedisServer, free_port
from processes import stop_process

from server.cluster.node import BEAT, TTL
from protocol import (Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Hello, JoinRoom, LookupRequest,
                      LookupResult, Ping, Queued, Receipt, RoomInfo, RoomNotice, RoomPost, SendDirect, SendToRoom,
                      UserJoined, UserLeft, UserList, WhoRequest)
from test_cluster_nodes import presence_until
from test_durability import ServerProcess, wait_until
from logins import login_again
from wire import WireClient

import const

ROOT = Path(__file__).resolve().parents[2]
NOTICES = (UserJoined, UserLeft, Ping)


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis", appendfsync="always").start()
    yield server
    server.stop()


@pytest.fixture
def nodes(redis):
    started: list[ServerProcess] = []

    def start(count: int) -> list[ServerProcess]:
        made = [ServerProcess("--cluster", redis.url) for _ in range(count)]
        started.extend(made)
        for node in made:
            node.wait_listening()
        return made

    yield start
    for node in started:
        node.stop() if node.proc.poll() is None else None
        node.proc.stdin.close()


def login(node: ServerProcess, name: str, **kwargs) -> WireClient:
    return WireClient.login("127.0.0.1", node.port, name, **kwargs)


def who(client: WireClient) -> list[str]:
    """Who is online, as ``client`` is told (waiting out a rate limit: tests poll this)."""
    while True:
        client.send(WhoRequest("w"))
        answer = client.expect((UserList, ErrorReply), skip=NOTICES)
        if isinstance(answer, UserList):
            return [p.name for p in answer.users]
        assert answer.code == ErrorCode.RATE_LIMITED, answer
        time.sleep(answer.retry_after)


@pytest.mark.timeout_seconds(90)
def test_three_nodes_one_chat_direct_messages_and_receipts_cross_nodes(nodes):
    one, two, three = nodes(3)
    with login(one, "Ana") as ana, login(two, "Bia") as bia:
        wait_until(lambda: who(ana) == ["Ana", "Bia"], what="both in who")
        ana.send(LookupRequest("l", "Bia"))
        assert ana.expect(LookupResult, skip=NOTICES).node  # which node holds her
        ana.send(SendDirect("d1", "Bia", "olá"))
        accepted = ana.expect(Accepted, skip=NOTICES)
        message = bia.expect(DirectMessage, skip=NOTICES)
        assert (message.msg_id, message.text) == (accepted.msg_id, "olá")
        bia.send(Receipt(message.msg_id))
        assert ana.expect(Delivered, skip=NOTICES).msg_id == accepted.msg_id
    # Offline on node one, picked up on node three, the sender on node two.
    with login(one, "Caio") as caio:
        pass
    with login(two, "Dora") as dora:
        # Queued only once node two has heard that Caio left node one: until then it
        # routes the message to node one, truly, and answers accepted (failed so under load).
        wait_until(lambda: "Caio" not in who(dora), what="Caio's leave heard on node two")
        dora.send(SendDirect("q1", "Caio", "later"))
        queued = dora.expect(Queued, skip=NOTICES)
        with login(three, "Caio") as caio:
            message = caio.expect(DirectMessage, skip=NOTICES)
            assert message.msg_id == queued.msg_id
            caio.send(Receipt(message.msg_id))
            assert dora.expect(Delivered, skip=NOTICES).msg_id == queued.msg_id


@pytest.mark.timeout_seconds(120)
def test_kill_9_of_the_recipients_node_mid_delivery_the_message_arrives_once_elsewhere(nodes):
    one, two = nodes(2)
    with login(one, "Ana") as ana:
        bia = login(two, "Bia")
        wait_until(lambda: who(ana) == ["Ana", "Bia"], what="both in who")
        ana.send(SendDirect("d1", "Bia", "are you there?"))
        msg_id = ana.expect(Accepted, skip=NOTICES).msg_id
        assert bia.expect(DirectMessage, skip=NOTICES).msg_id == msg_id  # shown, not confirmed
        killed = time.monotonic()
        two.kill()
        assert two.proc.returncode == -9
        bia.close()
        # Her session leaves the registry, with a notice, within 15 s; and Ana hears that
        # her message waits ("queued"), as when a recipient disconnects on one server.
        seen = []
        while not ({"left Bia", "queued d1"} <= set(seen)):
            event = ana.expect((UserLeft, Queued), timeout=20, skip=(Ping, UserJoined))
            seen.append(f"left {event.name}" if isinstance(event, UserLeft) else f"queued {event.request_id}")
        assert time.monotonic() - killed <= 15
        assert sorted(seen) == ["left Bia", "queued d1"]
        # Her client logs in again on the node that is left: the message comes once.
        with login_again(one, "Bia", timeout=20) as again:
            message = again.expect(DirectMessage, skip=NOTICES)
            assert message.msg_id == msg_id
            again.send(Receipt(msg_id))
            delivered = ana.expect(Delivered, skip=NOTICES)
            assert delivered.msg_id == msg_id
            assert not [e for e in again.drain(0.5) if isinstance(e, DirectMessage)]


def start_workers(redis, log: Path, host: str = "127.0.0.1", own_group: bool = False) -> tuple[subprocess.Popen, int]:
    """``chatserver.py --workers 2`` on ``host`` and a free port, its log (and its console's
    answers) in ``log``, once both listen and the parent said so: (the parent process, the
    port). ``own_group``: in a process group of its own, the parent's PID (as a terminal's
    job is, for its Ctrl-C)."""
    port = free_port()
    with open(log, "w") as err:
        parent = subprocess.Popen([sys.executable, "chatserver.py", "--host", host, "--port", str(port),
                                   "--web-port", "0", "--cluster", redis.url, "--workers", "2"],
                                  cwd=ROOT, stdin=subprocess.PIPE, stdout=err, stderr=err,
                                  start_new_session=own_group)
    try:
        wait_until(lambda: log.read_text().count("listening on ") == 2
                   and "2 workers on" in log.read_text(), 20, "two workers listening")
    except BaseException:
        stop_process(parent)
        raise
    return parent, port


@pytest.mark.timeout_seconds(90)
def test_workers_2_serve_one_port_from_two_processes(redis, tmp_path):
    log = tmp_path / "workers.log"
    parent, port = start_workers(redis, log)
    try:
        assert set(re.findall(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())) == {str(port)}
        clients = [WireClient.login("127.0.0.1", port, f"User{i}") for i in range(12)]
        try:
            wait_until(lambda: len(who(clients[0])) == 12, what="all twelve in who")
            nodes_of = {}
            for client in clients:
                client.send(LookupRequest("l", client.welcome.name))
                nodes_of[client.welcome.name] = client.expect(LookupResult, skip=NOTICES).node
            assert len(set(nodes_of.values())) == 2, nodes_of  # the kernel spread them (12 tries)
            # A message between two users on different workers.
            first = clients[0]
            other = next(c for c in clients if nodes_of[c.welcome.name] != nodes_of[first.welcome.name])
            first.send(SendDirect("x", other.welcome.name, "hi"))
            accepted = first.expect(Accepted, skip=NOTICES)
            other.send(Receipt(other.expect(DirectMessage, skip=NOTICES).msg_id))
            assert first.expect(Delivered, skip=NOTICES).msg_id == accepted.msg_id
        finally:
            for client in clients:
                client.close()
        quit_workers(parent, log)
    finally:
        stop_process(parent)
        parent.stdin.close()
    assert "Traceback" not in log.read_text()


def quit_workers(parent: subprocess.Popen, log: Path) -> None:
    """/quit at the command's terminal stops every worker, each saying goodbye."""
    parent.stdin.write(b"/quit\n")
    parent.stdin.flush()
    assert parent.wait(20) == 0
    assert log.read_text().count("stopped") == 2


@pytest.mark.timeout_seconds(60)
def test_workers_say_that_only_quit_is_read_at_their_terminal(redis, tmp_path):
    """/who typed at ``--workers N``'s terminal went unanswered: its console reads /quit
    alone (each worker is a process of its own). It says so, and where the others go."""
    log = tmp_path / "workers.log"
    parent, _ = start_workers(redis, log)
    try:
        parent.stdin.write(b"/who\n")
        parent.stdin.flush()
        wait_until(lambda: "with --workers only /quit is read here, not '/who': type the other commands at the "
                           "terminal of one more node of the cluster, started without --workers (--cluster URL "
                           "--port OTHER)" in log.read_text(), 10, "the console's answer to /who")
        quit_workers(parent, log)
    finally:
        stop_process(parent)
        parent.stdin.close()
        stop_orphaned_workers(log)


@pytest.mark.timeout_seconds(60)
def test_a_sighup_to_the_supervisor_stops_every_worker_cleanly(redis, tmp_path):
    """A closed terminal, or 'kill -HUP' of the command: the supervisor died of it at once,
    its workers orphaned and still serving, nobody left to stop or supervise them. It
    passes SIGHUP on as it does SIGTERM, and each worker stops as for Ctrl-C."""
    log = tmp_path / "workers.log"
    parent, _ = start_workers(redis, log)
    try:
        os.kill(parent.pid, signal.SIGHUP)
        assert parent.wait(20) == 0, log.read_text()[-2000:]
        assert log.read_text().count("stopped") == 2, log.read_text()[-2000:]
    finally:
        stop_process(parent)
        parent.stdin.close()
        stop_orphaned_workers(log)


@pytest.mark.timeout_seconds(60)
def test_workers_stop_on_quit_however_the_signals_of_their_supervisor_fall(redis, tmp_path):
    """The supervisor's SIGCHLD handler set a threading.Event. Handlers run in the main
    thread between any two bytecodes, so a second SIGCHLD (the two workers end together)
    could run one inside the other's set(), which held the Event's lock: it waited for it
    for ever, and /quit left the command hanging over its ended workers (three times in
    149 tries here). Under a burst of SIGCHLD those handlers nested until a RecursionError ended the
    supervisor. A handler that only writes a byte down a pipe takes neither."""
    log = tmp_path / "workers.log"
    parent, _ = start_workers(redis, log)
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # (bounded: stops by itself)
            os.kill(parent.pid, signal.SIGCHLD)
        assert parent.poll() is None, log.read_text()[-2000:]  # the supervisor took the burst
        quit_workers(parent, log)
    finally:
        stop_process(parent)
        parent.stdin.close()
        stop_orphaned_workers(log)


@pytest.mark.timeout_seconds(60)
@pytest.mark.parametrize("to_group", [False, True], ids=["a burst at the supervisor", "Ctrl-C after Ctrl-C"])
def test_workers_stop_once_however_many_stop_signals_come(redis, tmp_path, to_group):
    """A stop signal's handler set a threading.Event too, and a second stop signal could
    run its handler inside the first's set(), for ever (under a burst: a RecursionError);
    each handler passed its signal on; and a worker or the supervisor that got one once its
    loop had ended met the default action (killed by SIGTERM; "Exception ignored when
    trying to write to the signal wakeup fd"). The supervisor passes the stop on once, and a
    process that stopped ignores any more. Either a tight burst at the supervisor alone, or
    the whole process group told to stop every 2 ms, as a terminal's Ctrl-C tells it, and
    SIGTERM between, until the command has ended."""
    log = tmp_path / "workers.log"
    parent, _ = start_workers(redis, log, own_group=to_group)
    try:
        deadline = time.monotonic() + 1.0
        signals = [signal.SIGTERM, signal.SIGINT]
        while time.monotonic() < deadline and parent.poll() is None:  # (bounded: stops by itself)
            if to_group:  # (the group lives while its leader, ours, is not reaped)
                os.killpg(parent.pid, signals[0])
                signals.reverse()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    parent.wait(0.002)
            else:
                os.kill(parent.pid, signal.SIGTERM)
        assert parent.wait(20) == 0, log.read_text()[-2000:]
        text = log.read_text()
        assert text.count("stopped") == 2, text[-2000:]
        assert "Exception ignored" not in text and "killed by signal" not in text, text[-2000:]
        assert "Traceback" not in text, text[-2000:]
    finally:
        stop_process(parent)
        parent.stdin.close()
        stop_orphaned_workers(log)


def stop_orphaned_workers(log: Path) -> None:
    """The workers the supervisor named in ``log`` that outlived it (it died: a failing
    test), each stopped by its PID, once checked to be an orphaned chatserver.py still."""
    for pid in map(int, re.findall(r"pid (\d+)", log.read_text().split(" workers on ", 1)[-1].split("\n", 1)[0])):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                orphaned = stat.read().rsplit(")", 1)[1].split()[1] == "1"
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                ours = b"chatserver.py" in cmdline.read()
        except OSError:
            continue  # ended
        if orphaned and ours:
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout_seconds(60)
def test_workers_on_an_ipv6_address_say_it_in_brackets(redis, tmp_path):
    """The parent's line said "2 workers on ::1 port 5000", where every other line of the
    log (and a client's command line) writes [::1]:5000."""
    log = tmp_path / "workers.log"
    parent, port = start_workers(redis, log, "::1")
    try:
        assert f"2 workers on [::1]:{port}:" in log.read_text(), log.read_text()
    finally:
        stop_process(parent)
        parent.stdin.close()


@pytest.mark.timeout_seconds(120)
def test_redis_killed_and_restarted_requests_answered_unavailable_meanwhile_then_service_again(nodes, redis):
    one, two = nodes(2)
    with login(one, "Ana") as ana:
        with login(two, "Bia"):
            pass
        # Node one knows Bia once the events stream brought her login (milliseconds).
        assert ana.expect(UserLeft, skip=(UserJoined, Ping)).name == "Bia"
        ana.send(SendDirect("before", "Bia", "kept"))
        kept = ana.expect(Queued, skip=NOTICES).msg_id
        redis.kill()
        ana.send(SendDirect("during", "Bia", "not kept"))
        assert ana.expect_error(ErrorCode.UNAVAILABLE, timeout=15, skip=NOTICES + (Queued,)).retry_after
        refused = WireClient("127.0.0.1", two.port)
        with refused:
            refused.send(Hello("h", "Cai", const.PROTOCOL_VERSION))
            assert refused.expect_error(ErrorCode.UNAVAILABLE, timeout=15, skip=NOTICES).retry_after
        redis.start()  # its append-only file brings everything acknowledged back
    # The nodes reconnect by themselves; a node whose heartbeat expired meanwhile closed
    # its sessions (they log in again), so log in afresh.
    ana = login_again(one, "Ana", timeout=30)
    with ana, login_again(two, "Bia", timeout=30) as bia:
        message = bia.expect(DirectMessage, skip=NOTICES)
        assert (message.msg_id, message.text) == (kept, "kept")
        bia.send(Receipt(kept))
        wait_until(lambda: who(bia) == ["Ana", "Bia"], what="both in who again")
        ana.send(SendDirect("after", "Bia", "again"))
        ana.expect((Accepted, Delivered), skip=NOTICES)
        assert bia.expect(DirectMessage, skip=NOTICES).text == "again"


@pytest.mark.timeout_seconds(90)
def test_redis_away_longer_than_the_ttl_tells_nobody_that_anyone_left(nodes, redis):
    """Redis killed for longer than the heartbeat's TTL, then started again with its
    file: no node could beat meanwhile, so none was gone (docs/cluster.md, "Identity and
    heartbeat"). Ana on one node and Bia on the other stay connected and hear nobody
    leave or join but a newcomer; no node logs a rejoin or a reap."""
    one, two = nodes(2)
    with login(one, "Ana") as ana, login(two, "Bia") as bia:
        # Every join told before Redis goes (Bia's, the last): one told late would pass for
        # a rejoin after it. (who() skips notices.)
        presence_until(ana, "Bia")
        presence_until(bia, "Bia")
        wait_until(lambda: who(ana) == who(bia) == ["Ana", "Bia"], what="both in who")
        redis.kill()
        killed = time.monotonic()
        # Away longer than the TTL plus a beat: before, every heartbeat had expired by then.
        wait_until(lambda: time.monotonic() - killed > TTL + BEAT, timeout=TTL + BEAT + 1, what="the outage")
        redis.start()
        with login_again(two, "Zed", timeout=30):
            assert presence_until(ana, "Zed") == [("joined", "Zed")]
            assert presence_until(bia, "Zed") == [("joined", "Zed")]
            assert who(ana) == ["Ana", "Bia", "Zed"]
    for node in (one, two):
        node.stop()  # its whole log
        log = node.output()
        assert "heartbeat expired" not in log and "stopped beating" not in log, log


@pytest.mark.timeout_seconds(90)
def test_a_browser_on_one_node_and_a_terminal_on_another_chat(redis):
    from chatpeer import TcpPeer, WebPeer
    web_port = free_port()
    with ServerProcess("--cluster", redis.url, "--web-port", str(web_port)) as one, \
            ServerProcess("--cluster", redis.url) as two:
        del one
        bob = WebPeer(f"ws://127.0.0.1:{web_port}/ws", origin=f"http://127.0.0.1:{web_port}")
        alice = TcpPeer("127.0.0.1", two.port)
        try:
            bob.login("Bob")
            alice.login("Alice")
            bob.expect(UserJoined, where=lambda e: e.name == "Alice")
            request_id = alice.send_dm("Bob", "hi Bob, from the terminal 🌍")
            accepted = alice.expect(Accepted)
            dm = bob.expect(DirectMessage)
            assert (dm.sender, dm.text, dm.msg_id) == ("Alice", "hi Bob, from the terminal 🌍", accepted.msg_id)
            bob.receipt(dm.msg_id)
            assert alice.expect(Delivered) == Delivered(request_id, accepted.msg_id)
            request_id = bob.send_dm("Alice", "hi Alice, from the browser")
            accepted = bob.expect(Accepted)
            dm = alice.expect(DirectMessage)
            assert (dm.sender, dm.text) == ("Bob", "hi Alice, from the browser")
            alice.receipt(dm.msg_id)
            assert bob.expect(Delivered) == Delivered(request_id, accepted.msg_id)
        finally:
            bob.close()
            alice.close()


@pytest.mark.timeout_seconds(120)
def test_kill_9_mid_stream_every_message_arrives_once_in_order_on_another_node(nodes):
    one, two = nodes(2)
    with login(one, "Ana") as ana:
        bia = login(two, "Bia")
        wait_until(lambda: who(ana) == ["Ana", "Bia"], what="both in who")
        for i in range(20):
            ana.send(SendDirect(f"d{i}", "Bia", f"#{i}"))
        ids = {}
        while len(ids) < 20:
            event = ana.expect((Accepted, Queued), skip=NOTICES)
            ids[event.request_id] = event.msg_id
        shown = []
        while len(shown) < 8:  # Bia's client shows eight and confirms five of them
            shown.append(bia.expect(DirectMessage, skip=NOTICES).msg_id)
        for msg_id in shown[:5]:
            bia.send(Receipt(msg_id))
        delivered = set()
        while len(delivered) < 5:
            event = ana.expect(Delivered, skip=NOTICES + (Queued,))
            delivered.add(event.msg_id)
        two.kill()
        bia.close()
        with login_again(one, "Bia", timeout=20) as again:
            texts = []
            while len(texts) < 15:
                message = again.expect(DirectMessage, skip=NOTICES)
                texts.append(message.text)
                again.send(Receipt(message.msg_id))
            assert texts == [f"#{i}" for i in range(5, 20)]  # once each, in order
            assert not [e for e in again.drain(0.5) if isinstance(e, DirectMessage)]
            while len(delivered) < 20:
                event = ana.expect(Delivered, skip=NOTICES + (Queued,))
                delivered.add(event.msg_id)
            assert delivered == set(ids.values())


@pytest.mark.timeout_seconds(120)
def test_a_new_member_whose_node_is_killed_gets_only_the_posts_since_the_join_on_another_node(nodes):
    # Bia joins a room with earlier posts on node one, which is killed before she logs out:
    # on node two she gets what was posted while she was away, not the room's older posts.
    one, two = nodes(2)
    with login(two, "Olga") as olga:
        olga.send(JoinRoom("j", "#redes", create=True))
        olga.expect(RoomInfo, skip=NOTICES)
        for number in range(5):
            olga.send(SendToRoom(f"p{number}", "#redes", f"before {number}"))
            olga.expect(Accepted, skip=NOTICES + (RoomPost,))
        bia = login(one, "Bia")
        bia.send(JoinRoom("j", "#redes"))
        assert bia.expect(RoomInfo, skip=NOTICES + (RoomNotice,)).room_name == "#redes"
        one.kill()
        assert one.proc.returncode == -9
        bia.close()
        olga.send(SendToRoom("a", "#redes", "after"))
        olga.expect(Accepted, skip=NOTICES + (RoomPost, RoomNotice))
        with login_again(two, "Bia", timeout=20) as again:
            # Missed posts come oldest first: an older one would come before this.
            assert again.expect(RoomPost, skip=NOTICES + (RoomNotice,)).text == "after"


@pytest.mark.timeout_seconds(90)
def test_workers_2_a_worker_killed_with_kill_9_is_logged_and_started_again(redis, tmp_path):
    # The parent notices the death of any worker (not only the first's), logs it once with
    # its signal, starts it again on the same port, and exits non-zero (128 + 9) at the
    # end, since a worker died abnormally.
    log = tmp_path / "workers.log"
    parent, port = start_workers(redis, log)
    try:
        listening = lambda: len(re.findall(r"listening on 127\.0\.0\.1:(\d+)", log.read_text()))  # noqa: E731
        pids = [int(p) for p in re.findall(r"pid (\d+)", re.search(r"2 workers on .*", log.read_text()).group())]
        assert len(pids) == 2
        os.kill(pids[1], signal.SIGKILL)  # the second: a parent waiting in order would not see it
        wait_until(lambda: f"worker pid {pids[1]} was killed by signal 9 (SIGKILL); started again as pid"
                   in log.read_text(), 10, "the death logged")
        wait_until(lambda: listening() == 3, 20, "the new worker listening")
        with WireClient.login("127.0.0.1", port, "Ana") as ana:
            assert who(ana) == ["Ana"]
        parent.stdin.write(b"/quit\n")
        parent.stdin.flush()
        assert parent.wait(20) == 128 + 9
        assert log.read_text().count(f"worker pid {pids[1]}") == 1
        assert log.read_text().count("stopped") == 2
    finally:
        stop_process(parent)
        parent.stdin.close()
    assert "Traceback" not in log.read_text()


@pytest.mark.timeout_seconds(60)
def test_workers_2_that_cannot_reach_redis_say_so_once_and_end_at_once(tmp_path):
    # A start-up failure every worker would meet again is said once (by the first
    # worker, started alone) and ends the command with its status: no worker is started
    # again, and the second is not started at all.
    log = tmp_path / "workers.log"
    nobody = free_port()  # no Redis there
    with open(log, "w") as err:
        parent = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", str(free_port()),
                                   "--web-port", "0", "--cluster", f"redis://127.0.0.1:{nobody}/0", "--workers", "2"],
                                  cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert parent.wait(30) == 1
    finally:
        stop_process(parent)
    text = log.read_text()
    assert text.count("cannot reach Redis") == 1, text
    assert re.search(r"worker pid \d+ exited with status 1 before it listened: the 2 workers are not started", text)
    assert "started again" not in text and "not restarted" not in text, text
    assert len(text.splitlines()) == 2 and "Traceback" not in text, text
