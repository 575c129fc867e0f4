"""The sessions PROTOCOL.md shows frame by frame (``C:`` the client, ``S:`` the server) are
what a real server sends: each ``S:`` frame has the fields the server's has, in its order,
with the same values but for times (``at``, ``sent_at``, ``now``: only their type).

- "A session, byte for byte" is replayed whole against a fresh server: Alice's frames are
  the document's ``C:`` lines, sent as written; Bob, whom the session only hears of, is a
  second connection that does what Alice's ``S:`` lines say he did (logs in, confirms her
  message, writes to her).
- Every other session that starts with a ``hello`` has its ``welcome`` checked the same way
  (the rest of it needs other people's messages the document does not show being sent).

A real server on 127.0.0.1 (port 0) in a thread, raw sockets: the bytes are the point.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from docfiles import FENCE
from servers import in_thread

PROTOCOL = Path(__file__).resolve().parents[2] / "PROTOCOL.md"
WAIT = 10.0
TIMES = ("at", "sent_at", "now")  # wall-clock values: a replay cannot give the same


class Frames:
    """One raw connection: frames written as given, frames read one per line."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.lines = self.sock.makefile("rb")

    def send(self, frame: str) -> None:
        self.sock.sendall(frame.encode("utf-8") + b"\n")

    def read(self) -> dict:
        line = self.lines.readline()
        assert line, "the server closed the connection"
        return json.loads(line)

    def read_until(self, kind: str) -> dict:
        for _ in range(20):
            frame = self.read()
            if frame["type"] == kind:
                return frame
        raise AssertionError(f"no {kind} frame")

    def close(self) -> None:
        self.lines.close()
        self.sock.close()


def sessions() -> dict[str, list[str]]:
    """Each section's fenced blocks of ``C:``/``S:`` lines, by the section's heading."""
    found: dict[str, list[str]] = {}
    # (A heading line starts with #s and a space; "#redes" at a line's start is no heading.)
    parts = re.split(r"^#+ (.*)$", PROTOCOL.read_text(encoding="utf-8"), flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2]):
        for block in FENCE.findall(body):
            lines = [line for line in block.splitlines() if line.startswith(("C: ", "S: "))]
            if lines:
                found.setdefault(heading, []).extend(lines)
    return found


def assert_as_shown(shown: str, sent: dict) -> None:
    """The server's frame ``sent`` is the document's ``S:`` line ``shown``."""
    expected = json.loads(shown)
    assert list(sent) == list(expected), f"the server sends {json.dumps(sent)}\nPROTOCOL.md shows {shown}"
    for field, value in expected.items():
        if field in TIMES:
            assert isinstance(sent[field], type(value)), f"{field}: {sent[field]!r} is not like {value!r}"
        else:
            assert sent[field] == value, f"{field}: the server sends {sent[field]!r}, PROTOCOL.md shows {value!r}"


def test_the_session_byte_for_byte_is_what_the_server_sends() -> None:
    lines = sessions()["A session, byte for byte"]
    with in_thread() as server:
        alice, bob = Frames(server.port), None
        try:
            for line in lines:
                who, frame = line[:2], line[3:]
                if who == "C:":
                    alice.send(frame)
                    continue
                expected = json.loads(frame)
                # Bob does what Alice is about to hear of.
                if expected["type"] == "joined" and expected["name"] == "Bob":
                    bob = Frames(server.port)
                    bob.send('{"type":"hello","id":"bob-1","name":"Bob","version":1}')
                    bob.read_until("welcome")
                elif expected["type"] == "delivered":
                    dm = bob.read_until("dm")
                    bob.send(json.dumps({"type": "receipt", "msg_id": dm["msg_id"]}))
                elif expected["type"] == "dm":
                    reply = {"type": "send", "id": "bob-2", "to": expected["to"], "text": expected["text"]}
                    bob.send(json.dumps(reply))
                assert_as_shown(frame, alice.read())
        finally:
            alice.close()
            if bob is not None:
                bob.close()


def test_every_other_sessions_welcome_is_what_the_server_sends() -> None:
    checked = 0
    for heading, lines in sessions().items():
        if heading == "A session, byte for byte" or not lines[0].startswith('C: {"type":"hello"'):
            continue
        welcome = next(line[3:] for line in lines if line.startswith('S: {"type":"welcome"'))
        with in_thread() as server:
            client = Frames(server.port)
            try:
                hello = json.loads(lines[0][3:])
                # The checklist's step 3, which the examples follow (and so the welcome's
                # token is the hello's, not one the server draws at random).
                assert "password" in hello or "resume" in hello, f"{heading}: a guest's hello without its token"
                client.send(lines[0][3:])
                assert_as_shown(welcome, client.read())
            finally:
                client.close()
        checked += 1
    assert checked, "PROTOCOL.md shows no other session that starts with a hello"
