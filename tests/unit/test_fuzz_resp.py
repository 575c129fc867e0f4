"""The RESP core (resp/protocol.py) against a hostile or broken Redis: a seeded fuzzer.

Mutated replies to a pipeline of commands: ``next_reply`` returns replies paired with
their commands, or raises ``ProtocolError`` (and the same one ever after), never another
exception; the same bytes in any reads give the same replies and the same verdict; what
it buffers stays within one bulk string plus one line beyond the complete replies. A
failure names its seed.
"""

from __future__ import annotations

import random

import pytest

from mutations import HOSTILE_BYTES, chunks, mutate_bytes
from resp import NEED_DATA, Connection, ProtocolError

SEEDS = range(4)
MAX_BULK = 1024
MAX_LINE = 256

REPLIES = (
    b"+OK\r\n", b"-ERR unknown command 'FOO'\r\n", b"-LOADING\r\n", b":0\r\n", b":-42\r\n",
    b":9223372036854775807\r\n", b"$0\r\n\r\n", b"$-1\r\n", b"$12\r\nol\xc3\xa1 Jo\xc3\xa3o!\r\n", b"*-1\r\n", b"*0\r\n",
    b"*3\r\n:1\r\n$-1\r\n+OK\r\n",
    b"*1\r\n*2\r\n$6\r\nstream\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$4\r\ntext\r\n$5\r\na\xc3\xa7\xc3\xa3\r\n",
)


def _replies(pieces, commands: int, seed: int) -> tuple[list, str | None]:
    """The replies the pieces give to ``commands`` commands, and the ProtocolError's text
    if one came (asked twice: the same error again)."""
    conn = Connection(max_bulk_bytes=MAX_BULK, max_line_bytes=MAX_LINE, max_depth=8, max_array_length=64)
    for token in range(commands):
        conn.send_command(("GET", f"k{token}"), token)
    replies: list = []
    try:
        for piece in pieces:
            conn.receive_data(piece)
            while (item := conn.next_reply()) is not NEED_DATA:
                replies.append(item)
            unparsed = len(conn._buffer) - conn._pos + conn._later_bytes
            assert unparsed <= MAX_BULK + 2 * MAX_LINE + len(piece), f"seed {seed}: the buffer passed its bound"
        conn.receive_data(b"")
        while (item := conn.next_reply()) is not NEED_DATA:
            replies.append(item)
    except ProtocolError as error:
        with pytest.raises(ProtocolError) as again:
            conn.next_reply()
        assert again.value is error
        return replies, str(error)
    except Exception as exc:
        raise AssertionError(f"seed {seed}: next_reply raised {exc!r} for {b''.join(pieces)[:300]!r}") from exc
    assert [token for token, _reply in replies] == list(range(len(replies))), seed
    return replies, None


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_replies_are_replies_or_a_protocol_error_in_any_reads(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        valid = [rng.choice(REPLIES) for _ in range(rng.randint(1, 6))]
        data = mutate_bytes(b"".join(valid), rng, rng.randint(1, 4))
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data) + 1)] + rng.choice(HOSTILE_BYTES)
        whole = _replies([data], len(valid), seed)
        split = _replies(list(chunks(data, rng)), len(valid), seed)
        # (A reply past the bounds may be refused before or after the replies in its reads:
        # the replies given before the error are a prefix of the others.)
        shorter, longer = sorted((whole[0], split[0]), key=len)
        assert longer[:len(shorter)] == shorter, f"seed {seed}: the reads changed the replies"
        assert (whole[1] is None) == (split[1] is None), f"seed {seed}: the reads changed the verdict"


# --- Findings, each seen failing before its fix ---------------------------------------------


@pytest.mark.parametrize("wire", [b":" + b"9" * 5000 + b"\r\n", b"$" + b"9" * 5000 + b"\r\n",
                                  b"*" + b"9" * 5000 + b"\r\n", b":-" + b"9" * 5000 + b"\r\n"])
def test_a_number_of_thousands_of_digits_is_a_protocol_error(wire: bytes) -> None:
    # Found by the fuzzer: int() of more than 4,300 digits raises ValueError (CPython's
    # limit on integer strings), which the asyncio shell does not catch.
    conn = Connection()
    conn.send_command(("GET", "k"), "t")
    conn.receive_data(wire)
    with pytest.raises(ProtocolError):
        conn.next_reply()
