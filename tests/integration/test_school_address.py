"""A whole school behind one address (NAT): one student's script must not lock the others
out (server/admission.py, server/login.py).

Every test is the school: its students connect from 127.0.0.1, and the address's allowance
is made small (``max_connections_per_address``) so that a few sockets fill it as a script
fills the real thousand. The script is the student who opens sockets and sits on them,
or guesses passwords; the classmate is anyone else there, logging in as usual.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

import const
from protocol import (
    Accepted, Delivered, ErrorCode, ErrorReply, Hello, Ping, Pong, SendDirect, UserJoined, UserLeft, Welcome,
)
from servers import in_thread
from test_limits_connections import read_to_end
from test_tls import make_certificate
from waits import wait_until
from wire import WireClient

PLACES = 12  # the address's allowance here
LIMIT = 5.0  # seconds any answer may take
NOTICES = (UserJoined, UserLeft)
PASSWORD = "correct horse battery staple"


def log_in(server, name: str, password: str | None = None, register: bool = False,
           source: str = "127.0.0.1") -> tuple[WireClient, object]:
    """A classmate's new connection (at school, unless ``source`` says) and the answer to its hello."""
    client = WireClient(server.host, server.port, source=source)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register))
    while True:
        answer = client.next(LIMIT)
        if not isinstance(answer, NOTICES):
            return client, answer


def admitted(server) -> int:
    return server.call(lambda: server.server.relay.admission.count("127.0.0.1"))


def waiting(server) -> int:
    """The school's connections that have not logged in (the server has made their protocols)."""
    return server.call(lambda: server.server.relay.admission.waiting_count("127.0.0.1"))


def test_idle_sockets_of_one_student_give_way_to_a_classmate_oldest_first():
    # Before: the classmate was refused too_many_connections for as long as the script
    # reopened its sockets (each lasted the login timeout, 10 s, then came back).
    with in_thread(max_connections_per_address=PLACES) as server:
        script = [socket.create_connection((server.host, server.port), timeout=LIMIT) for _ in range(PLACES)]
        try:
            wait_until(lambda: waiting(server) == PLACES, what="the address's places taken")
            joao, answer = log_in(server, "João")
            with joao:
                assert isinstance(answer, Welcome), answer
                # The script's oldest socket gave way, told why; the others are still open.
                told = read_to_end(script[0])
                assert b'"too_many_connections"' in told and b"gave way" in told, told
                for sock in script[1:]:
                    sock.setblocking(False)
                    try:
                        assert sock.recv(1) == b"", "a younger socket was closed"
                    except BlockingIOError:
                        pass  # open, nothing said
                # Another classmate: the next oldest gives way.
                ana, answer = log_in(server, "Ana")
                with ana:
                    assert isinstance(answer, Welcome), answer
                    assert b"gave way" in read_to_end(script[1])
                    wait_until(lambda: admitted(server) == PLACES, what="the places given back")
        finally:
            for sock in script:
                sock.close()


def test_half_open_websocket_upgrades_give_way_to_a_classmate():
    # Before: twelve "GET /ws HTTP/1.1" left unfinished kept every classmate out, on the
    # page and on the chat port alike, for the HTTP idle timeout, and then came back.
    with in_thread(max_connections_per_address=PLACES, web_port=0) as server:
        web = server.server.web_address[1]
        script = []
        try:
            for _ in range(PLACES):
                sock = socket.create_connection(("127.0.0.1", web), timeout=LIMIT)
                sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                script.append(sock)
            wait_until(lambda: waiting(server) == PLACES, what="the address's places taken")
            joao, answer = log_in(server, "João")
            with joao:
                assert isinstance(answer, Welcome), answer
                told = read_to_end(script[0])
                assert told.startswith(b"HTTP/1.1 429 Too Many Requests\r\n") and b"gave way" in told, told
        finally:
            for sock in script:
                sock.close()


def test_stalled_tls_handshakes_give_way_to_a_classmate(tmp_path):
    # Before: sockets that never sent their ClientHello held the address's places for the
    # handshake timeout (the login timeout), and came back.
    cert, key = make_certificate(tmp_path)
    with in_thread(max_connections_per_address=PLACES, tls_cert=cert, tls_key=key) as server:
        script = [socket.create_connection((server.host, server.port), timeout=LIMIT) for _ in range(PLACES)]
        try:
            wait_until(lambda: waiting(server) == PLACES, what="the address's places taken")
            trusting = ssl.create_default_context(cafile=str(cert))
            with WireClient.login(server.host, server.port, "João", tls=trusting) as joao:
                assert joao.welcome.name == "João"
                assert read_to_end(script[0]) == b""  # closed: nothing can be said before a handshake
        finally:
            for sock in script:
                sock.close()


def test_logged_in_classmates_never_give_way_and_a_full_address_then_refuses():
    with in_thread(max_connections_per_address=4) as server:
        ana, answer = log_in(server, "Ana")
        bia, answer2 = log_in(server, "Bia")
        script = [socket.create_connection((server.host, server.port), timeout=LIMIT) for _ in range(2)]
        try:
            assert isinstance(answer, Welcome) and isinstance(answer2, Welcome)
            wait_until(lambda: waiting(server) == 2, what="the address's places taken")
            for name in ("Caio", "Davi"):  # each takes the place of one of the script's sockets
                client, welcome = log_in(server, name)
                assert isinstance(welcome, Welcome), welcome
                script.append(client)
            # Only logged-in users now: nobody gives way, and the newcomer is told why.
            with WireClient(server.host, server.port) as late:
                assert [e.code for e in late.wait_closed(LIMIT) if isinstance(e, ErrorReply)] == [
                    ErrorCode.TOO_MANY_CONNECTIONS]
            for classmate in (ana, bia):  # still connected, still answered
                classmate.send(Ping("here?"))
                pong = classmate.expect(Pong, skip=NOTICES)
                assert pong == Pong("here?", pong.now) and type(pong.now) is int  # now: the server's clock
        finally:
            ana.close()
            bia.close()
            for sock in script:
                sock.close()


def test_a_script_guessing_passwords_at_school_keeps_no_classmate_from_registering_and_logging_in():
    # Before: after one wrong password from the school's address, every registration there
    # was refused rate_limited until the address's wait was over (up to a minute, renewed
    # by each guess of a script trying names), and the account just registered was no
    # known address of its own: its next logins there waited as well.
    with in_thread(login_failure_delay=5.0) as server:
        for name in ("Conceição", "Bia"):  # registered at home
            client, answer = log_in(server, name, PASSWORD, register=True, source="127.0.0.9")
            client.close()
            assert isinstance(answer, Welcome), answer
        client, answer = log_in(server, "Bia", "a guess")  # the script, at school
        client.close()
        assert answer.code == ErrorCode.BAD_PASSWORD, answer
        # A password from the school for an account never used there waits now (that is
        # the address's throttle: the script could be trying every name in the class).
        client, answer = log_in(server, "Conceição", PASSWORD)
        client.close()
        assert answer.code == ErrorCode.RATE_LIMITED and answer.retry_after > 4.0, answer
        edu, answer = log_in(server, "Edu", PASSWORD, register=True)  # a classmate registers
        edu.close()
        assert isinstance(answer, Welcome) and answer.registered, answer
        again, answer = log_in(server, "Edu", PASSWORD)  # ... and logs in again there, at once
        again.close()
        assert isinstance(answer, Welcome), answer


def test_one_account_holding_the_address_gives_up_its_oldest_sessions_to_classmates():
    # Before: one account's script logged in again and again (an account may have many
    # sessions) until the address was full, and every classmate was refused.
    with in_thread(max_connections_per_address=6) as server:
        ana, answer = log_in(server, "Ana")
        assert isinstance(answer, Welcome), answer
        script = []
        try:
            for i in range(5):
                client, answer = log_in(server, "Mallory", PASSWORD, register=i == 0)
                assert isinstance(answer, Welcome), answer
                script.append(client)
            wait_until(lambda: admitted(server) == 6, what="the address's places taken")
            joao, answer = log_in(server, "João")
            with joao:
                assert isinstance(answer, Welcome), answer
                # Mallory's oldest session made way, told why; Ana's, her only one, did not.
                gone = [e for e in script[0].wait_closed(LIMIT) if isinstance(e, ErrorReply)]
                assert [e.code for e in gone] == [ErrorCode.TOO_MANY_CONNECTIONS] and "most sessions" in gone[0].message
                for classmate in (ana, *script[1:]):
                    classmate.send(Ping("here?"))
                    pong = classmate.expect(Pong, skip=NOTICES)
                    assert pong == Pong("here?", pong.now) and type(pong.now) is int  # now: the server's clock
        finally:
            ana.close()
            for client in script:
                client.close()


def test_a_student_with_a_few_devices_keeps_them_all_when_the_address_is_full():
    # A student's phone, laptop and the lab's machine are one user's three sessions, not a
    # script's: had the user with the most sessions given one up for every newcomer, the
    # one given up would reconnect (its client retries too_many_connections), take the
    # place of the next of its own, and so on: the student's devices dropped in turn, every
    # second or two, for as long as the address stayed full.
    with in_thread(max_connections_per_address=4) as server:
        devices = []
        try:
            for i in range(3):
                client, answer = log_in(server, "Conceição", PASSWORD, register=i == 0)
                assert isinstance(answer, Welcome), answer
                devices.append(client)
            bia, answer = log_in(server, "Bia")
            with bia:
                assert isinstance(answer, Welcome), answer
                wait_until(lambda: admitted(server) == 4, what="the address's places taken")
                with WireClient(server.host, server.port) as late:  # nobody here holds more than a few
                    assert [e.code for e in late.wait_closed(LIMIT) if isinstance(e, ErrorReply)] == [
                        ErrorCode.TOO_MANY_CONNECTIONS]
                for device in (*devices, bia):  # every one still connected, and answered
                    device.send(Ping("here?"))
                    pong = device.expect(Pong, skip=NOTICES)
                    assert pong == Pong("here?", pong.now) and type(pong.now) is int  # now: the server's clock
        finally:
            for client in devices:
                client.close()


def test_one_students_flood_from_several_connections_leaves_each_classmate_a_floor():
    # Before: the address's request rate (RATE_PER_ADDRESS) went to whoever asked first:
    # one student flooding from a few connections took it all, and 4 of a classmate's 10
    # messages came back rate_limited (here: nearly all).
    with in_thread(rate_per_address=20.0, burst_per_address=20.0) as server:
        prof, answer = log_in(server, "Prof", source="127.0.0.2")  # at home
        joao, answer2 = log_in(server, "João")
        assert isinstance(answer, Welcome) and isinstance(answer2, Welcome), (answer, answer2)
        stop = threading.Event()
        refused = []

        def flood(flooder: WireClient) -> None:
            with flooder:
                sent = 0
                while not stop.is_set():
                    sent += 1
                    flooder.send(SendDirect(f"f{sent}", "Prof", "spam"))
                    if sent % 10 == 0:  # reads its answers now and then (not a slow consumer)
                        refused.extend(e for e in flooder.drain(0.001, 0.01) if isinstance(e, ErrorReply))

        # All logged in before any floods: a login after the address's rate is spent is
        # (rightly) told rate_limited, and its thread would die with the test none the wiser.
        flooders = [threading.Thread(target=flood, args=(WireClient.login(server.host, server.port, f"Flood{n}"),),
                                     daemon=True) for n in range(3)]
        try:
            for thread in flooders:
                thread.start()
            wait_until(lambda: len(refused) > 20, what="the address's rate spent")  # and kept spent
            answers = []
            for i in range(5):  # a classmate, meanwhile
                joao.send(SendDirect(f"j{i}", "Prof", f"pergunta {i}"))
                answers.append(joao.expect((Accepted, ErrorReply), skip=NOTICES + (Delivered,)))
            assert all(isinstance(a, Accepted) for a in answers), answers
        finally:
            stop.set()
            for thread in flooders:
                thread.join(LIMIT)
            joao.close()
            prof.close()


def test_a_script_repeating_hellos_on_its_connection_does_not_spend_the_schools_login_rate():
    # Before: a guessing script that sent its next hello at once, whatever retry_after it
    # was told, spent the address's request rate (hellos count against it), and every
    # classmate's login there, guests' too, was answered "too many requests".
    with in_thread(rate_per_address=20.0, burst_per_address=20.0) as server:
        client, answer = log_in(server, "Bia", PASSWORD, register=True, source="127.0.0.9")
        client.close()
        script = WireClient(server.host, server.port)
        stop = threading.Event()
        answers = []

        def guess() -> None:
            number = 0
            while not stop.is_set():
                number += 1
                script.send(Hello("h", "Bia", const.PROTOCOL_VERSION, f"guess {number}"))
                answers.append(script.expect(ErrorReply, skip=NOTICES))

        guesser = threading.Thread(target=guess, daemon=True)
        try:
            guesser.start()
            wait_until(lambda: len(answers) > 100, what="a hundred hellos answered")
            for name in ("Fabi", "Gil", "Hugo"):  # guests, at the school, meanwhile
                classmate, answer = log_in(server, name)
                classmate.close()
                assert isinstance(answer, Welcome), answer
        finally:
            stop.set()
            guesser.join(LIMIT)
            script.close()
