"""The RESP core without sockets: replies split anywhere, pipelines, bounds, bad bytes,
the encoder byte for byte, URLs and backoff."""

from __future__ import annotations

import enum
import itertools
import ssl

import pytest

from resp import (
    NEED_DATA, Connection, ProtocolError, RedisError, Script, backoff, encode_command, parse_url,
)
from resp.aio import RedisAddress, connection_advice

TEXT = "olá 🌍 ação"
UTF8 = TEXT.encode()

# (wire bytes, the reply they are) for every RESP2 type.
SAMPLES: list[tuple[bytes, object]] = [
    (b"+OK\r\n", "OK"),
    (b"+\r\n", ""),
    (b"-ERR unknown command 'FOO'\r\n", RedisError("ERR", "unknown command 'FOO'")),
    (b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
     RedisError("NOSCRIPT", "No matching script. Please use EVAL.")),
    (b"-LOADING\r\n", RedisError("LOADING", "")),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9223372036854775807\r\n", 2**63 - 1),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"$%d\r\n%b\r\n" % (len(UTF8), UTF8), UTF8),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),               # CRLF inside a bulk string is data
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"*3\r\n:1\r\n$-1\r\n+OK\r\n", [1, None, "OK"]),
    # An XREADGROUP reply: [[stream, [[id, [field, value]]]]], text split mid-character.
    (b"*1\r\n*2\r\n$6\r\nstream\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$4\r\ntext\r\n$%d\r\n%b\r\n"
     % (len(UTF8), UTF8), [[b"stream", [[b"1-0", [b"text", UTF8]]]]]),
    (b"*4\r\n*0\r\n-WRONGTYPE no\r\n*1\r\n*-1\r\n$1\r\nx\r\n",
     [[], RedisError("WRONGTYPE", "no"), [None], b"x"]),
]


def _id(sample):
    return repr(sample[0][:24])


def _receive_all(conn: Connection) -> list:
    replies = []
    while (item := conn.next_reply()) is not NEED_DATA:
        replies.append(item)
    return replies


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_reply_split_in_two_at_every_byte(sample):
    wire, reply = sample
    # (both parts non-empty: receive_data(b"") would mean end of stream)
    for at in range(1, len(wire)):
        conn = Connection()
        conn.send_command(("X",), "token")
        conn.receive_data(wire[:at])
        assert conn.next_reply() is NEED_DATA, at
        conn.receive_data(wire[at:])
        assert _receive_all(conn) == [("token", reply)], at
        assert not conn.pending


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_reply_fed_one_byte_at_a_time(sample):
    wire, reply = sample
    conn = Connection()
    conn.send_command(("X",), "token")
    seen = []
    for i in range(len(wire)):
        conn.receive_data(wire[i:i + 1])
        got = _receive_all(conn)
        assert got == ([("token", reply)] if i == len(wire) - 1 else []), i
        seen += got
    assert seen == [("token", reply)]


def test_split_positions_really_cut_through_multibyte_characters():
    wire = SAMPLES[10][0]
    cuts = []
    for at in range(len(wire)):
        try:
            wire[:at].decode("utf-8")
        except UnicodeDecodeError:
            cuts.append(at)
    # "🌍" is four bytes (three inner cuts), "á"/"ç"/"ã" two bytes (one inner cut each).
    assert len(cuts) == 3 + 3


def test_a_pipeline_split_anywhere_pairs_every_reply_with_its_command_in_order():
    # All the samples back to back, errors among them, as one pipeline's replies.
    wire = b"".join(w for w, _ in SAMPLES)
    expected = [(i, reply) for i, (_, reply) in enumerate(SAMPLES)]
    for at in range(1, len(wire)):
        conn = Connection()
        for i in range(len(SAMPLES)):
            conn.send_command(("GET", i), i)
        conn.receive_data(wire[:at])
        got = _receive_all(conn)
        conn.receive_data(wire[at:])
        got += _receive_all(conn)
        assert got == expected, at
        assert not conn.pending


def test_an_error_mid_pipeline_hides_nothing_around_it():
    conn = Connection()
    for token in "abc":
        conn.send_command(("INCR", token), token)
    conn.receive_data(b":1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:7\r\n")
    assert _receive_all(conn) == [
        ("a", 1),
        ("b", RedisError("WRONGTYPE", "Operation against a key holding the wrong kind of value")),
        ("c", 7),
    ]


def test_commands_queue_in_one_outbox_and_fail_pending_hands_back_their_tokens():
    conn = Connection()
    conn.send_command(("SET", "k", "v"), 1)
    conn.send_command(("GET", "k"), 2)
    assert conn.data_to_send() == encode_command(("SET", "k", "v")) + encode_command(("GET", "k"))
    assert conn.data_to_send() == b""
    conn.receive_data(b"+OK\r\n")
    assert _receive_all(conn) == [(1, "OK")]
    assert conn.fail_pending() == [2]
    assert not conn.pending


def test_a_long_array_arriving_in_pieces_is_built_as_it_comes():
    n = 20_000
    wire = b"*%d\r\n" % n + b"".join(b":%d\r\n" % i for i in range(n))
    conn = Connection()
    conn.send_command(("LRANGE", "l", 0, -1), "t")
    for i in range(0, len(wire), 7):
        conn.receive_data(wire[i:i + 7])
        if i + 7 < len(wire):
            assert conn.next_reply() is NEED_DATA
    assert _receive_all(conn) == [("t", list(range(n)))]


# --- End of stream -------------------------------------------------------------------------


def test_end_of_stream_between_replies_is_not_an_error():
    conn = Connection()
    conn.send_command(("GET", "a"), "a")
    conn.send_command(("GET", "b"), "b")
    conn.receive_data(b"$1\r\nx\r\n")
    conn.receive_data(b"")
    assert _receive_all(conn) == [("a", b"x")]
    assert conn.fail_pending() == ["b"]


@pytest.mark.parametrize("partial", [b"$5\r\nab", b"+O", b"*2\r\n:1\r\n", b"*1\r\n"])
def test_end_of_stream_inside_a_reply_is_a_protocol_error(partial):
    conn = Connection()
    conn.send_command(("GET", "a"), "a")
    conn.receive_data(partial)
    assert conn.next_reply() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(ProtocolError, match="middle of a reply"):
        conn.next_reply()


# --- Bad bytes and bounds ------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "message"), [
    (b"?what\r\n", "unknown reply type"),
    (b"$abc\r\n", "bulk string length"),
    (b"$-2\r\n", "bulk string length -2"),
    (b"$\r\n", "bulk string length"),
    (b"$3\r\nabcd\r\n", "not followed by CRLF"),
    (b":1_000\r\n", "not an integer"),
    (b": 5\r\n", "not an integer"),
    (b":+5\r\n", "not an integer"),
    (b":\r\n", "not an integer"),
    (b"*x\r\n", "array length"),
    (b"*-3\r\n", "array length -3"),
    (b"%1\r\n+a\r\n+b\r\n", "RESP3"),
    (b"_\r\n", "RESP3"),
    (b">2\r\n", "RESP3"),
])
def test_bytes_that_are_not_resp2_are_a_protocol_error(wire, message):
    conn = Connection()
    conn.send_command(("X",), "t")
    conn.receive_data(wire)
    with pytest.raises(ProtocolError, match=message):
        conn.next_reply()
    # The stream cannot be resynchronised: the error stays.
    with pytest.raises(ProtocolError, match=message):
        conn.next_reply()


def test_a_reply_to_no_command_is_a_protocol_error():
    conn = Connection()
    conn.receive_data(b"+OK\r\n")
    with pytest.raises(ProtocolError, match="no command"):
        conn.next_reply()


def test_an_oversize_bulk_string_is_refused_at_its_header_before_its_body():
    conn = Connection(max_bulk_bytes=10)
    conn.send_command(("GET", "big"), "t")
    conn.receive_data(b"$11\r\n")
    with pytest.raises(ProtocolError, match="11 bytes is over the limit of 10"):
        conn.next_reply()


def test_a_bulk_string_at_the_limit_passes():
    conn = Connection(max_bulk_bytes=10)
    conn.send_command(("GET", "k"), "t")
    conn.receive_data(b"$10\r\n0123456789\r\n")
    assert _receive_all(conn) == [("t", b"0123456789")]


def test_nesting_deeper_than_the_limit_is_refused():
    ok = Connection(max_depth=3)
    ok.send_command(("X",), "t")
    ok.receive_data(b"*1\r\n*1\r\n*1\r\n:5\r\n")
    assert _receive_all(ok) == [("t", [[[5]]])]
    deep = Connection(max_depth=3)
    deep.send_command(("X",), "t")
    deep.receive_data(b"*1\r\n*1\r\n*1\r\n*1\r\n:5\r\n")
    with pytest.raises(ProtocolError, match="nested deeper than 3"):
        deep.next_reply()


def test_an_array_longer_than_the_limit_is_refused_at_its_header():
    conn = Connection(max_array_length=4)
    conn.send_command(("X",), "t")
    conn.receive_data(b"*5\r\n")
    with pytest.raises(ProtocolError, match="5 elements is over the limit of 4"):
        conn.next_reply()


def test_a_line_without_its_end_is_refused_once_over_the_limit():
    conn = Connection(max_line_bytes=16)
    conn.send_command(("X",), "t")
    conn.receive_data(b"+" + b"a" * 15)
    assert conn.next_reply() is NEED_DATA
    conn.receive_data(b"a" * 2)
    with pytest.raises(ProtocolError, match="longer than 16 bytes"):
        conn.next_reply()


def test_an_array_and_a_line_at_their_limits_pass():
    conn = Connection(max_array_length=4, max_line_bytes=16)
    conn.send_command(("X",), "t")
    conn.receive_data(b"*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n")
    assert _receive_all(conn) == [("t", [1, 2, 3, 4])]
    conn.send_command(("X",), "u")
    conn.receive_data(b"+" + b"a" * 15 + b"\r\n")  # a line of 16 bytes before its end
    assert _receive_all(conn) == [("u", "a" * 15)]


def test_a_complete_line_over_the_limit_is_refused():
    conn = Connection(max_line_bytes=16)
    conn.send_command(("X",), "t")
    conn.receive_data(b"+" + b"a" * 16 + b"\r\n")
    with pytest.raises(ProtocolError, match="longer than 16 bytes"):
        conn.next_reply()


def test_invalid_utf8_in_an_error_message_is_replaced_not_fatal():
    conn = Connection()
    conn.send_command(("X",), "t")
    conn.receive_data(b"-ERR unknown command '\xff\xfe'\r\n")
    assert _receive_all(conn) == [("t", RedisError("ERR", "unknown command '\ufffd\ufffd'"))]


def test_a_redis_error_is_a_frozen_value():
    error = RedisError("ERR", "wrong number of arguments")
    assert error == RedisError("ERR", "wrong number of arguments")
    assert str(error) == "ERR wrong number of arguments"
    assert str(RedisError("LOADING", "")) == "LOADING"
    with pytest.raises(AttributeError):
        error.code = "X"  # type: ignore[misc]


# --- The encoder ---------------------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(("args", "wire"), [
    (("PING",), b"*1\r\n$4\r\nPING\r\n"),
    (("SET", "k", "v"), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"),
    (("SET", "olá", ""), b"*3\r\n$3\r\nSET\r\n$4\r\nol\xc3\xa1\r\n$0\r\n\r\n"),
    (("SET", b"k\r\n", b"\x00\xff"), b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n\x00\xff\r\n"),
    (("INCRBY", "n", -5), b"*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\n-5\r\n"),
    (("X", 0.1, 1e20, 2**64), b"*4\r\n$1\r\nX\r\n$3\r\n0.1\r\n$5\r\n1e+20\r\n$20\r\n18446744073709551616\r\n"),
    (("X", Color.RED), b"*2\r\n$1\r\nX\r\n$1\r\n1\r\n"),
    (("X", bytearray(b"ab"), memoryview(b"cd")), b"*3\r\n$1\r\nX\r\n$2\r\nab\r\n$2\r\ncd\r\n"),
    (["GET", "k"], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
])
def test_commands_are_encoded_byte_for_byte(args, wire):
    assert encode_command(args) == wire


@pytest.mark.parametrize("bad", [None, True, ["a"], {"a": 1}, object()])
def test_an_argument_of_another_type_is_a_type_error_and_nothing_is_queued(bad):
    conn = Connection()
    with pytest.raises(TypeError):
        conn.send_command(("SET", "k", bad), "t")
    assert not conn.pending and conn.data_to_send() == b""


def test_an_empty_command_is_refused():
    with pytest.raises(ValueError):
        encode_command(())


# --- URLs, backoff, scripts ----------------------------------------------------------------


@pytest.mark.parametrize(("url", "address"), [
    ("redis://localhost", RedisAddress("localhost", 6379, 0)),
    ("redis://127.0.0.1:7000/3", RedisAddress("127.0.0.1", 7000, 3)),
    ("redis://:s%40cret@h:1/", RedisAddress("h", 1, 0, None, "s@cret")),
    ("redis://node:pw@h/2", RedisAddress("h", 6379, 2, "node", "pw")),
    ("redis://[::1]:6380", RedisAddress("::1", 6380, 0)),
    ("rediss://h", RedisAddress("h", 6379, 0, tls=True)),
    ("rediss://:pw@h:6380/1?ssl_ca_certs=/etc/chat/ca.pem",
     RedisAddress("h", 6380, 1, None, "pw", tls=True, ca_file="/etc/chat/ca.pem")),
    ("rediss://h/0?ssl_certfile=c%20d.pem&ssl_keyfile=k.pem",
     RedisAddress("h", 6379, 0, tls=True, cert_file="c d.pem", key_file="k.pem")),
])
def test_redis_urls(url, address):
    assert parse_url(url) == address


@pytest.mark.parametrize("url", ["unix:///tmp/redis.sock", "http://h", "redis://h/db1", "redis://h:x/",
                                 "redis://h/0?timeout=1", "redis://h/0?ssl_ca_certs=ca.pem",
                                 "rediss://h/0?timeout=1", "rediss://h/0?ssl_ca_certs=", "rediss://h/0?ssl_certfile=c.pem",
                                 "rediss://h/0?ssl_keyfile=k.pem", "rediss://h/0#x"])
def test_bad_redis_urls_are_refused(url):
    with pytest.raises(ValueError):
        parse_url(url)


def test_the_password_is_never_printed():
    assert "pw" not in str(parse_url("redis://node:pw@h/2"))


def test_a_tls_address_says_its_scheme_and_not_its_files():
    assert str(parse_url("rediss://:pw@h:6380/1?ssl_ca_certs=/etc/chat/ca.pem")) == "rediss://h:6380/1"


def test_a_tls_file_that_cannot_be_read_is_named_in_the_refusal(tmp_path):
    from resp.aio import tls_context
    assert tls_context(parse_url("redis://h")) is None
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ValueError, match="ssl_ca_certs .*nowhere.pem"):
        tls_context(parse_url(f"rediss://h/0?ssl_ca_certs={missing}"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="ssl_certfile .*garbage.pem"):
        tls_context(parse_url(f"rediss://h/0?ssl_certfile={garbage}&ssl_keyfile={garbage}"))


def _alert(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] ...")
    exc.reason = reason
    return exc


@pytest.mark.parametrize("url, exc, handshake, advice", [
    ("rediss://h", ssl.SSLCertVerificationError(1, "certificate verify failed"), True, "?ssl_ca_certs=FILE"),
    ("rediss://h", _alert("TLSV13_ALERT_CERTIFICATE_REQUIRED"), False, "wants this client's certificate"),
    ("rediss://h?ssl_certfile=c&ssl_keyfile=k", _alert("TLSV1_ALERT_UNKNOWN_CA"), False,
     "does not accept this client's certificate"),
    ("rediss://h?ssl_certfile=c&ssl_keyfile=k", _alert("SSLV3_ALERT_BAD_CERTIFICATE"), True,
     "does not accept this client's certificate"),
    ("rediss://h", _alert("WRONG_VERSION_NUMBER"), True, "the URL is redis://"),
    ("rediss://h", TimeoutError("timed out"), True, "the URL is redis://"),
    ("rediss://h", TimeoutError("timed out"), False, ""),  # TLS is up: Redis is slow, not plain
    ("rediss://h", ConnectionResetError(104, "reset"), False, "if Redis wants clients' certificates"),
    ("rediss://h", ssl.SSLEOFError(8, "EOF"), False, "if Redis wants clients' certificates"),
    ("rediss://h?ssl_certfile=c&ssl_keyfile=k", ConnectionResetError(104, "reset"), False, ""),
    ("redis://h", ConnectionResetError(104, "reset"), False, "if that port takes TLS, the URL is rediss://"),
    ("redis://h", ConnectionError("Redis closed the connection"), False, "the URL is rediss://"),
    ("redis://h", ConnectionRefusedError(111, "refused"), False, ""),  # nobody there: no scheme helps
    ("redis://h", TimeoutError("timed out"), False, ""),
    ("rediss://h", ConnectionRefusedError(111, "refused"), False, ""),
])
def test_connection_advice_says_what_to_change(url, exc, handshake, advice):
    said = connection_advice(parse_url(url), exc, handshake=handshake)
    assert advice in said if advice else said == ""


def test_backoff_grows_to_its_maximum_with_jitter_in_the_upper_half():
    low = list(itertools.islice(backoff(0.1, 1.0, 2.0, rng=lambda: 0.0), 6))
    high = list(itertools.islice(backoff(0.1, 1.0, 2.0, rng=lambda: 0.999999), 6))
    assert low == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5, 0.5])
    assert high == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0], rel=1e-5)


def test_a_script_is_known_by_the_sha1_of_its_source():
    # The hash Redis's documentation gives for this script.
    assert Script("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    assert Script(b"return 1").sha1 == Script("return 1").sha1


def test_a_read_that_starts_at_a_reply_is_parsed_from_its_own_bytes_without_a_copy():
    # An inbox read of a thousand entries is some hundreds of KB: the buffer was a
    # bytearray that copied each read, and each bulk string was copied out of it twice.
    import tracemalloc

    entry = b"*2\r\n$12\r\n1700000000-0\r\n*2\r\n$1\r\ne\r\n$200\r\n" + b"x" * 200 + b"\r\n"
    data = b"*1000\r\n" + entry * 1000
    conn = Connection()
    conn.send_command(("XREADGROUP",), "read")
    tracemalloc.start()
    try:
        conn.receive_data(data)
        fed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fed < len(data) // 10
    token, reply = conn.next_reply()
    assert token == "read" and len(reply) == 1000
    assert reply[999] == [b"1700000000-0", [b"e", b"x" * 200]] and type(reply[0][1][1]) is bytes


def test_a_long_bulk_strings_reads_are_joined_once_when_it_is_whole():
    # Joined to the rest at every read, a bulk string of n reads was copied n times over.
    body = bytes(range(256)) * 4096  # 1 MiB
    data = b"$%d\r\n%b\r\n" % (len(body), body)
    conn = Connection()
    conn.send_command(("GET", "big"), "get")
    conn.send_command(("PING",), "ping")
    conn.receive_data(data[:1000])
    assert conn.next_reply() is NEED_DATA
    first = conn._buffer
    for start in range(1000, len(data) - 10, 1000):
        conn.receive_data(data[start:min(start + 1000, len(data) - 10)])
        assert conn.next_reply() is NEED_DATA
        assert conn._buffer is first  # the reads wait apart, not joined yet
    conn.receive_data(data[len(data) - 10:] + b"+PONG\r\n")
    assert conn.next_reply() == ("get", body)
    # A read that came while the caller had stopped asking is still read in full.
    conn.receive_data(b"")
    assert conn.next_reply() == ("ping", "PONG")


def test_a_client_whose_tls_file_cannot_be_read_fails_its_commands_at_once_saying_why(tmp_path):
    """Not at their timeout, nor by a connector task dying unseen: the file's words."""
    import asyncio

    from resp import RedisClient, RedisConnectionError

    async def run() -> str:
        async with RedisClient(f"rediss://127.0.0.1:1/0?ssl_ca_certs={tmp_path / 'nowhere.pem'}", timeout=30) as client:
            try:
                await asyncio.wait_for(client.execute("PING"), 5)
            except RedisConnectionError as exc:
                return str(exc)
        return "answered"
    assert "ssl_ca_certs" in asyncio.run(run())


def test_a_command_s_constant_head_encoded_once_makes_the_same_bytes():
    from resp.protocol import CommandHead

    head = CommandHead(("EVAL", b"return ARGV[1]", 0, "{chat}:"))
    for rest in ((), ("ana",), ("joão", b"\x00\r\n", 7, 2.5)):
        assert head.encode(rest) == encode_command(("EVAL", b"return ARGV[1]", 0, "{chat}:", *rest))
    with pytest.raises(TypeError):
        head.encode((True,))


@pytest.mark.parametrize("noscript_after", [0.6, 1.0])
def test_a_script_sent_again_after_noscript_is_answered_within_the_calls_one_timeout(noscript_after):
    """Redis says NOSCRIPT ``noscript_after`` of the timeout after the EVALSHA (slow, on a
    fake clock): the EVAL that follows gets what is left, or is not sent when nothing is.
    Before, it had a whole timeout of its own: a call could take two."""
    import asyncio

    from resp import RedisTimeout

    class ClockLoop(asyncio.SelectorEventLoop):
        now = 1000.0

        def time(self) -> float:
            return self.now

    class SlowRedis:
        """A client whose EVALSHA is answered NOSCRIPT late; notes each command's timeout."""
        timeout = 5.0

        def __init__(self) -> None:
            self.calls: list[tuple[str, float]] = []

        async def execute(self, *args, timeout=None):
            self.calls.append((args[0], timeout))
            if args[0] == "EVALSHA":
                loop.now += noscript_after * self.timeout
                return RedisError("NOSCRIPT", "No matching script. Please use EVAL.")
            return 1

    loop = ClockLoop()
    redis = SlowRedis()
    try:
        if noscript_after < 1:
            assert loop.run_until_complete(Script("return 1")(redis)) == 1
            # (None: the client's whole timeout, again.)
            (_, _first), (command, left) = redis.calls
            assert command == "EVAL" and left == pytest.approx((1 - noscript_after) * redis.timeout), redis.calls
        else:
            with pytest.raises(RedisTimeout) as raised:
                loop.run_until_complete(Script("return 1")(redis))
            assert not raised.value.sent and [c for c, _ in redis.calls] == ["EVALSHA"]
    finally:
        loop.close()
