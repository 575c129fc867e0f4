"""client/tlsbio.py: the threaded client's TLS in memory, against a real server-side
``ssl.SSLObject``, the two joined by bytes passed by hand (no socket).

The certificate below is a test one (EC P-256, CN and subjectAltName localhost, valid until
2126), made with ``openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
-nodes -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 36500``;
its key is public here and trusted by nothing but these tests.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import pytest

from client.tlsbio import MemoryTLS

CERT = """-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUSinMpv/oCTkquqtmZf5mnULCCrQwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNzE3MzU0N1oYDzIxMjYxMTEz
MTczNTQ3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT+yWMQTEZrZ4yE4CNmR4LHv4afCbBI+HajYm1no6j24rvz3FI+TROC
GH2s0V82dAT2/4fUkVQxoLA7+Bg30LSXo28wbTAdBgNVHQ4EFgQUqRLCX19o0/P/
mFOMlw0TnyNvKbYwHwYDVR0jBBgwFoAUqRLCX19o0/P/mFOMlw0TnyNvKbYwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSQAwRgIhAPrVUB/Mqpc1twjUcQUM5ddJl6ggLyeYb8JdH8YC6olRAiEA
oWKuG+A5FmQJyPGIWJhe7NpXnTTIrHVkKSDmafuPOEc=
-----END CERTIFICATE-----
"""
KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPSCewBVlp/yTIR/J
bEkDFxE1Nv6FaJu9N1TK7Neh1lahRANCAAT+yWMQTEZrZ4yE4CNmR4LHv4afCbBI
+HajYm1no6j24rvz3FI+TROCGH2s0V82dAT2/4fUkVQxoLA7+Bg30LSX
-----END PRIVATE KEY-----
"""


class Server:
    """The server's end: an SSLObject over two BIOs, fed and drained by the test."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def take(self, data: bytes) -> bytes:
        """Ciphertext from the client -> all the plaintext it completes."""
        self.incoming.write(data)
        plain = bytearray()
        while True:
            try:
                piece = self.tls.read(65536)
            except ssl.SSLWantReadError:
                return bytes(plain)
            if not piece:
                return bytes(plain)
            plain += piece

    def say(self, plain: bytes) -> bytes:
        """Plaintext -> the records to give the client."""
        self.tls.write(plain)
        return self.outgoing.read()


@pytest.fixture
def server_context(tmp_path: Path) -> ssl.SSLContext:
    (tmp_path / "c.pem").write_text(CERT)
    (tmp_path / "k.pem").write_text(KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return context


def trusting() -> ssl.SSLContext:
    """As client.transport.tls_context does it, trusting the test certificate."""
    return ssl.create_default_context(cadata=CERT)


def shake_hands(client: MemoryTLS, server: Server) -> None:
    out, done = client.shake()
    for _ in range(10):
        assert server.take(out) == b""
        back = server.outgoing.read()
        if not back:
            assert done
            return
        out, done = client.shake(back)  # (b"" would be the end of the stream)
    raise AssertionError("the handshake did not end")


def connected(server_context: ssl.SSLContext) -> tuple[MemoryTLS, Server]:
    client, server = MemoryTLS(trusting(), "localhost"), Server(server_context)
    shake_hands(client, server)
    return client, server


def test_the_handshake_checks_the_certificate_and_the_host_name(server_context) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="self.signed"):
        shake_hands(MemoryTLS(ssl.create_default_context(), "localhost"), Server(server_context))
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        shake_hands(MemoryTLS(trusting(), "chat.example.org"), Server(server_context))
    client, server = connected(server_context)
    assert server.take(client.seal("olá, João".encode())) == "olá, João".encode()


def test_a_server_that_ends_the_stream_during_the_handshake_is_an_ssl_error(server_context) -> None:
    client = MemoryTLS(trusting(), "localhost")
    client.shake()
    with pytest.raises(ssl.SSLError):
        client.shake(b"")


def test_a_record_split_at_every_byte_gives_its_plaintext_once_complete(server_context) -> None:
    client, server = connected(server_context)
    text = '{"type":"msg","from":"Conceição","text":"bom dia"}\n'.encode()
    record = server.say(text)
    assert client.receive(record) == text
    for cut in range(1, len(record)):
        record = server.say(text)  # each record is another: its own sequence number
        assert client.receive(record[:cut]) == b"", cut
        assert client.receive(record[cut:]) == text, cut
    assert not client.ended and not client.owed()


def test_two_threads_read_and_write_at_once_and_every_byte_arrives_in_order(server_context) -> None:
    client, server = connected(server_context)
    count = 2000
    down = [server.say(f"down {n}\n".encode()) for n in range(count)]
    up: list[bytes] = []
    got = bytearray()

    def receiver() -> None:
        for record in down:  # as the receiver thread: what recv() returned, in pieces
            half = len(record) // 2
            got.extend(client.receive(record[:half]))
            got.extend(client.receive(record[half:]))

    def writer() -> None:
        for n in range(count):  # as the writer thread: seal, then write outside the lock
            up.append(client.seal(f"up {n}\n".encode()))

    threads = [threading.Thread(target=receiver), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert bytes(got) == b"".join(f"down {n}\n".encode() for n in range(count))
    assert server.take(b"".join(up)) == b"".join(f"up {n}\n".encode() for n in range(count))


def test_records_a_read_makes_are_left_for_the_writer(server_context) -> None:
    client, server = connected(server_context)
    record = bytearray(server.say(b"hello\n"))
    record[-1] ^= 1  # a record that does not authenticate: the client answers with an alert
    with pytest.raises(ssl.SSLError):
        client.receive(bytes(record))
    assert client.owed()  # the receiver wrote nothing itself: the writer is to take them
    alert = client.seal(b"")
    assert alert and not client.owed()
    with pytest.raises(ssl.SSLError):
        server.take(alert)


def test_close_notify_either_way_ends_the_stream_cleanly(server_context) -> None:
    client, server = connected(server_context)
    assert server.take(client.seal(b"bye\n")) == b"bye\n"
    with pytest.raises(ssl.SSLWantReadError):  # no end said yet: the server waits for more
        server.tls.read(10)
    notify = client.close_notify()
    assert notify
    server.incoming.write(notify)
    assert server.tls.read(10) == b""  # now a clean end

    client, server = connected(server_context)
    last = server.say(b"last words\n")
    try:
        server.tls.unwrap()
    except ssl.SSLWantReadError:
        pass
    assert client.receive(last + server.outgoing.read()) == b"last words\n"
    assert client.ended
    assert client.receive(b"anything after it") == b"" and client.ended


def test_the_end_of_the_stream_without_close_notify_ends_it_too(server_context) -> None:
    client, server = connected(server_context)
    assert client.receive(server.say(b"partial\n")) == b"partial\n"
    assert client.receive(b"") == b"" and client.ended


def test_after_a_bad_record_the_end_of_the_stream_says_the_alert_openssl_made(server_context) -> None:
    """The receiver gives up a connection whose record does not authenticate; what it writes
    as it ends (close_notify, client/library.py's _detach) is then the alert OpenSSL made
    for that record, so the server learns why, not a bare end of the stream."""
    client, server = connected(server_context)
    record = bytearray(server.say(b"hello\n"))
    record[-1] ^= 1
    with pytest.raises(ssl.SSLError):
        client.receive(bytes(record))
    alert = client.close_notify()
    assert alert
    with pytest.raises(ssl.SSLError, match="(?i)alert"):
        server.take(alert)


class Wire:
    """Stands in for the blocking socket of the login (MemoryTLS.handshake and recv): what
    the client writes goes to ``server`` at once, a read gets what the server has to say.
    ``refused`` is the server's SSLError, once one came (an alert)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.refused: ssl.SSLError | None = None

    def sendall(self, data: bytes) -> None:
        self.server.incoming.write(data)
        try:
            self.server.tls.do_handshake()
            self.server.take(b"")
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            self.refused = exc

    def recv(self, size: int) -> bytes:
        return self.server.outgoing.read(size)

    def settimeout(self, timeout: float) -> None:
        pass


def test_a_handshake_or_login_read_that_fails_tells_the_server_why_with_openssls_alert(server_context) -> None:
    """As an SSLSocket would: a certificate this client cannot verify, or a bad record while
    logging in, is said to the server with the alert OpenSSL made (not a bare end)."""
    server = Server(server_context)
    wire = Wire(server)
    with pytest.raises(ssl.SSLCertVerificationError):
        MemoryTLS(ssl.create_default_context(), "localhost").handshake(wire, 5.0)  # type: ignore[arg-type]
    assert wire.refused is not None and "alert" in str(wire.refused).lower(), wire.refused

    client, server = connected(server_context)
    wire = Wire(server)
    record = bytearray(server.say(b"welcome\n"))
    record[-1] ^= 1
    server.outgoing.write(bytes(record))  # (what the wire's next read gets)
    with pytest.raises(ssl.SSLError):
        client.recv(wire, 65536)  # type: ignore[arg-type]
    assert wire.refused is not None and "alert" in str(wire.refused).lower(), wire.refused
