"""TLS: a self-signed certificate made at test time with the openssl command-line tool."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from chatpeer import WebPeer
from client.aio import AioChatClient
from client.errors import CertificateError, ServerUnreachable
from client.resume import ResumeTokens
from protocol import Accepted, Delivered, DirectMessage, Receipt, SendDirect, UserJoined, UserLeft, Welcome
from server import ServerConfig, ServerThread
from server.web import WEBCLIENT_ROOT
from servers import ServerProcess, assert_one_line_error, run_chatserver
from wire import WireClient
from tools import require_tool

NOTICES = (UserJoined, UserLeft)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """(certificate, key) in PEM: self-signed for localhost and 127.0.0.1, valid two days."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) made in ``folder``, as the fixture ``certificate``; without
    openssl it skips, or fails under CI."""
    require_tool("openssl", why="to make a test certificate")
    cert, key = folder / "c.pem", folder / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return cert, key


@pytest.fixture
def trusting(certificate) -> ssl.SSLContext:
    """A client context that trusts the test certificate (and checks host names)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def tls_server(certificate):
    cert, key = certificate
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)) as server:
        yield server


def test_clients_that_trust_the_certificate_log_in_and_chat(tls_server, trusting):
    with WireClient.login(tls_server.host, tls_server.port, "Alice", tls=trusting) as alice, \
            WireClient.login(tls_server.host, tls_server.port, "Bob", tls=trusting) as bob:
        assert alice.sock.version() in ("TLSv1.2", "TLSv1.3")
        alice.send(SendDirect("t1", "Bob", "over TLS 🔒"))
        accepted = alice.expect(Accepted, skip=NOTICES)
        dm = bob.expect(DirectMessage, skip=NOTICES)
        assert (dm.msg_id, dm.text) == (accepted.msg_id, "over TLS 🔒")
        bob.send(Receipt(dm.msg_id))
        assert alice.expect(Delivered, skip=NOTICES).request_id == "t1"


def test_the_asyncio_client_logs_in_over_tls_and_chats(tls_server, trusting):
    # client/aio.py had no TLS ("Plain TCP only"): the threaded client had it, the asyncio
    # one could not reach a TLS server at all.
    import asyncio

    async def chat() -> None:
        async with AioChatClient("Alice", tls_server.host, tls_server.port, ssl_context=trusting,
                                 resume_tokens=ResumeTokens(None)) as alice:
            with WireClient.login(tls_server.host, tls_server.port, "Bob", tls=trusting) as bob:
                _message, done = alice.send_direct("Bob", "olá, por TLS")
                dm = bob.expect(DirectMessage, skip=NOTICES)
                assert dm.text == "olá, por TLS"
                bob.send(Receipt(dm.msg_id))
                assert await asyncio.wait_for(done, 10) == "delivered"

    asyncio.run(asyncio.wait_for(chat(), 30))


async def aio_login_error(server, **options) -> Exception | None:
    """The error the asyncio client gets logging in to ``server`` with ``options``, or None
    once logged in."""
    aio = AioChatClient("Alice", server.host, server.port, resume_tokens=ResumeTokens(None), reconnect=False,
                        **options)
    try:
        await aio.connect(timeout=5)
    except ServerUnreachable as exc:
        return exc
    finally:
        await aio.close()
    return None


def test_the_asyncio_client_says_why_it_cannot_connect_over_tls(tls_server, certificate):
    import asyncio

    def connect(**options) -> Exception | None:
        return aio_login_error(tls_server, **options)

    untrusted = asyncio.run(asyncio.wait_for(connect(tls=True), 30))  # the system's CAs: not ours
    assert isinstance(untrusted, CertificateError)
    assert str(untrusted).startswith("cannot verify the server's certificate"), untrusted
    assert asyncio.run(asyncio.wait_for(connect(cafile=str(certificate[0])), 30)) is None
    plain = asyncio.run(asyncio.wait_for(connect(), 30))  # no TLS to a TLS server: no welcome
    assert isinstance(plain, ServerUnreachable) and not isinstance(plain, CertificateError)


@pytest.mark.parametrize("host", ["", "::"])
def test_both_clients_given_every_address_verify_the_address_they_reached(tls_server, certificate, host):
    """SERVER_HOST = "" (or "::") shared by a TLS server on this machine and its clients: a
    client connects to this machine's 127.0.0.1 (for "::", after ::1), and checks the
    certificate against that address, the one it reached, as it would had it been given it."""
    import asyncio

    from client import ChatClient
    cafile = str(certificate[0])
    threaded = ChatClient("Alice", host, tls_server.port, cafile=cafile, resume_tokens=ResumeTokens(None))
    try:
        threaded.connect(timeout=10)
        assert threaded.connected and threaded.address == f"127.0.0.1:{tls_server.port}"
    finally:
        threaded.close()

    async def aio_login() -> Exception | None:
        aio = AioChatClient("Bob", host, tls_server.port, cafile=cafile, resume_tokens=ResumeTokens(None),
                            reconnect=False)
        try:
            await aio.connect(timeout=10)
            assert aio.address == f"127.0.0.1:{tls_server.port}"
        except ServerUnreachable as exc:
            return exc
        finally:
            await aio.close()
        return None

    assert asyncio.run(asyncio.wait_for(aio_login(), 30)) is None


def test_a_client_without_the_certificate_fails_verification(tls_server):
    with pytest.raises(ssl.SSLCertVerificationError):
        WireClient(tls_server.host, tls_server.port, tls=ssl.create_default_context())


def test_a_client_expecting_another_host_name_fails_verification(tls_server, trusting):
    sock = socket.create_connection((tls_server.host, tls_server.port), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        trusting.wrap_socket(sock, server_hostname="chat.example.org")
    sock.close()


def test_a_plain_text_client_gets_no_welcome_and_the_server_keeps_serving(tls_server, trusting):
    with WireClient(tls_server.host, tls_server.port) as plain:
        plain.send_raw(b'{"type":"hello","id":"h","name":"Plain","version":1}\n')
        events = plain.drain(quiet=1.0, timeout=5)  # the handshake fails; no chat frame comes back
        assert not [e for e in events if isinstance(e, Welcome)], events
    with WireClient.login(tls_server.host, tls_server.port, "Alice", tls=trusting):
        pass


def test_a_plain_text_client_is_told_the_server_may_want_tls(tls_server):
    # The tester's "erro: 127.0.0.1:21020 fechou a conexão durante o login" gave no hint,
    # where the other way round says "(is it a TLS server?)".
    import asyncio
    import io

    from client.exitcodes import ExitCode
    from client.oneshot import send_once

    err = io.StringIO()
    code = send_once("Alice", "Bob", "oi", host=tls_server.host, port=tls_server.port, timeout=10,
                     stdout=io.StringIO(), stderr=err)
    assert code != ExitCode.OK
    assert f"{tls_server.host}:{tls_server.port} closed the connection during the login, before answering " \
           "(if it is a TLS server, connect with --tls)" in err.getvalue(), err.getvalue()

    assert "connect with --tls" in str(asyncio.run(asyncio.wait_for(aio_login_error(tls_server), 30)))


def test_the_server_logs_a_plain_text_client_once_per_address_with_a_hint(tls_server, caplog):
    # It logged nothing for either direction of a TLS mismatch.
    import logging

    from waits import wait_until
    caplog.set_level(logging.INFO, logger="chat")
    for _ in range(3):
        with WireClient(tls_server.host, tls_server.port) as plain:
            plain.send_raw(b'{"type":"hello","id":"h","name":"Plain","version":1}\n')
            plain.drain(quiet=0.3, timeout=5)
    handshakes = lambda: [r.getMessage() for r in caplog.records if "TLS handshake" in r.getMessage()]  # noqa: E731
    wait_until(lambda: handshakes(), 5, "the failed handshake logged")
    [line] = handshakes()
    assert line.startswith("TLS handshake with 127.0.0.1:") and line.endswith("(a client without TLS?)"), line
    assert "WRONG_VERSION_NUMBER" in line, line


def test_chatserver_serves_tls_from_the_command_line(certificate, trusting, tmp_path):
    cert, key = certificate
    with ServerProcess("--memory", "--tls-cert", str(cert), "--tls-key", str(key)) as proc:
        with WireClient.login("127.0.0.1", proc.port, "Alice", tls=trusting) as alice:
            assert alice.welcome.name == "Alice"
        assert proc.stop() == 0
    assert "(TLS)" in proc.output()


def test_chatserver_with_a_missing_certificate_file_exits_with_one_line(certificate, tmp_path):
    cert, key = certificate
    missing = tmp_path / "missing.pem"
    assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(missing), "--tls-key", str(key)))
    assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(cert), "--tls-key", str(missing)))


def test_chatserver_with_a_bad_certificate_or_key_exits_with_one_line(certificate, tmp_path):
    cert, key = certificate
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(garbage), "--tls-key", str(key)), "TLS")
    # A key that does not belong to the certificate.
    other_key = tmp_path / "other.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other_key), "2048"], check=True, capture_output=True,
                   timeout=60, stdin=subprocess.DEVNULL)
    assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(cert), "--tls-key", str(other_key)), "TLS")


def test_tls_files_given_the_other_way_round_or_not_matching_are_said_in_words(certificate, tmp_path):
    """The README's openssl command makes cert.pem and key.pem; given the other way round,
    or the certificate twice, OpenSSL said "[SSL] PEM lib (_ssl.c:3905)", a key of another
    certificate "KEY_VALUES_MISMATCH", a folder "TLS file not found"."""
    cert, key = certificate
    line = assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(key), "--tls-key", str(cert)))
    assert line.endswith(f"cannot start: --tls-cert {key} holds no certificate (no BEGIN CERTIFICATE in it): "
                         "--tls-cert takes the certificate (openssl's -out, cert.pem), --tls-key its private key "
                         "(-keyout, key.pem)"), line
    line = assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(cert), "--tls-key", str(cert)))
    assert f"cannot start: --tls-key {cert} holds no private key (no PRIVATE KEY in it): " in line, line
    line = assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(tmp_path), "--tls-key", str(key)))
    assert line.endswith(f"cannot start: --tls-cert {tmp_path} is not a file"), line
    other_key = tmp_path / "other.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other_key), "2048"], check=True, capture_output=True,
                   timeout=60, stdin=subprocess.DEVNULL)
    line = assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(cert), "--tls-key", str(other_key)))
    assert line.endswith(f"cannot start: the TLS key {other_key} is not the key of the certificate {cert}: give "
                         "the key made with it (the -keyout of the same openssl command)"), line


def test_chatserver_with_a_key_under_a_passphrase_exits_with_one_line_and_asks_nothing(tmp_path):
    """OpenSSL would ask for the passphrase on the terminal: a server started by a service
    manager would wait there for ever, or (no terminal) fail with an unrelated error."""
    require_tool("openssl", why="to make a test certificate")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-passout", "pass:segredo",
                    "-subj", "/CN=localhost", "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    line = assert_one_line_error(run_chatserver("--memory", "--tls-cert", str(cert), "--tls-key", str(key)),
                                 str(key), "passphrase", "openssl pkey")
    assert "Enter PEM pass phrase" not in line


def test_chatserver_needs_both_the_certificate_and_the_key(certificate):
    result = run_chatserver("--memory", "--tls-cert", str(certificate[0]))
    assert result.returncode == 2 and "--tls-key" in result.stderr and "Traceback" not in result.stderr


# --- The web client over TLS: HTTPS and WSS with the chat port's certificate ------------------


@pytest.fixture
def tls_web_server(certificate):
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key, web_port=0)
    with ServerThread(config) as server:
        yield server


def test_the_web_client_is_served_over_https(tls_web_server, trusting):
    port = tls_web_server.server.web_address[1]
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=trusting)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200
        assert response.read() == (WEBCLIENT_ROOT / "index.html").read_bytes()
        assert connection.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        connection.close()


def test_a_browser_user_logs_in_over_wss_and_chats_with_a_tls_user(tls_web_server, trusting):
    port = tls_web_server.server.web_address[1]
    bob = WebPeer(f"wss://127.0.0.1:{port}/ws", origin=f"https://127.0.0.1:{port}", tls=trusting)
    try:
        assert bob.ws.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert bob.login("Bob").name == "Bob"  # the password would travel encrypted
        with WireClient.login(tls_web_server.host, tls_web_server.port, "Alice", tls=trusting) as alice:
            alice.send(SendDirect("t1", "Bob", "to the browser, encrypted"))
            accepted = alice.expect(Accepted, skip=NOTICES)
            dm = bob.expect(DirectMessage)
            assert (dm.msg_id, dm.text) == (accepted.msg_id, "to the browser, encrypted")
    finally:
        bob.close()


def test_plain_http_on_the_https_port_gets_no_page_and_the_server_goes_on(tls_web_server, trusting):
    port = tls_web_server.server.web_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        try:
            while chunk := plain.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        assert b"<html" not in answer.lower() and not answer.startswith(b"HTTP/1.1 200")
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=trusting)
    try:
        connection.request("GET", "/app.js")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
