"""PROTOCOL.md says what the protocol core does, and its examples follow its own advice.

A student writes a client from PROTOCOL.md alone, so:

- the title names every version the document defines (protocol.connection.LATEST_VERSION);
- the state table's open row lists every frame a version 1 client may send, and the
  server's feature frames;
- every request id of an example is one a real client would send (128 random bits for
  the run, then a counter), never ``"1"`` or ``"m1"``, which a second run of a copied
  script would send again and have taken for a resend; the wire field is ``id``;
- "A session, byte for byte" decodes frame by frame, and its hello carries the guest's own
  resume token, as "Guest names" tells a client to;
- the checklist for a new client comes first, and every ``(#anchor)`` link names a heading;
- limits and reasons a client meets are written down (the ping token, ``protocol error``);
- every frame the document shows decodes with the codec, and none carries a key the codec
  would drop (a field renamed in the code and not in the example);
- "Metrics" lists every figure server/metrics.py exposes, and no other; "Error codes"
  every code of protocol/errors.py that can reach a client, and no other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import const
from docfiles import slug
from protocol import codec
from protocol.connection import _OPEN_SENDABLE, LATEST_VERSION, Connection, Role
from protocol.errors import ErrorCode
from protocol.events import FrameRejected

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "PROTOCOL.md").read_text(encoding="utf-8")
LINES = TEXT.splitlines()

# The shape the "Request ids" advice gives: 22 base64url characters (128 random bits,
# drawn when the program starts), a hyphen, a counter.
RUN_ID = re.compile(r"[A-Za-z0-9_-]{22}-[0-9]+")
# The guest's own token, as "Guest names" says to make it.
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}")
# The feature frames a server sends only to sessions that asked (PROTOCOL.md "Features").
SERVER_FEATURE_FRAMES = {"sent", "read", "settings", "typing", "edited", "deleted", "since_page",
                         "blocked", "unblocked"}


def section(title: str) -> str:
    """The text under the heading ``title`` (any level) up to the next heading."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", TEXT, re.DOTALL | re.MULTILINE)
    assert match, f"PROTOCOL.md has no section {title!r}"
    return match.group(1)


def test_the_title_names_every_version_the_document_defines() -> None:
    versions = {int(n) for n in re.findall(r"\d+", LINES[0])}
    assert versions == set(range(1, LATEST_VERSION + 1)), LINES[0]


def test_the_open_row_lists_every_client_frame_and_the_servers_feature_frames() -> None:
    row = next(line for line in LINES if line.startswith("| open "))
    _, _, client, server, _ = row.split("|")
    expected = {cls.TYPE for cls in _OPEN_SENDABLE[(Role.CLIENT, 1)]}
    assert set(re.findall(r"`(\w+)`", client)) == expected
    assert SERVER_FEATURE_FRAMES <= set(re.findall(r"`(\w+)`", server))


def test_the_wire_field_of_a_request_id_is_id() -> None:
    assert "request_id" not in TEXT


def test_every_example_id_is_a_runs_id_and_a_counter() -> None:
    ids = re.findall(r'"id":"([^"]*)"', TEXT)
    assert ids
    fixed = sorted({i for i in ids if not RUN_ID.fullmatch(i)})
    assert not fixed, f"examples with ids a re-run would send again: {fixed}"


def test_a_session_byte_for_byte_decodes_and_its_hello_carries_a_token() -> None:
    frames = re.findall(r"^([CS]): (\{.*\})$", section("A session, byte for byte"), re.MULTILINE)
    assert frames
    server, client = Connection(Role.SERVER), Connection(Role.CLIENT)
    for side, frame in frames:
        # The receiver decodes the frame; the sender's core sends the event it read, so
        # that both move from handshake to open at the welcome (each side checks its state).
        sender, receiver = (client, server) if side == "C" else (server, client)
        receiver.receive_data(frame.encode("utf-8") + b"\n")
        events = list(receiver.events())
        assert events and not any(isinstance(e, FrameRejected) for e in events), (frame, events)
        for event in events:
            sender.send(event)
    hello = json.loads(frames[0][1])
    assert hello["type"] == "hello" and TOKEN.fullmatch(hello.get("resume", "")), hello


def test_the_checklist_comes_first_and_every_anchor_names_a_heading() -> None:
    headings = [line.lstrip("#").strip() for line in LINES if re.match(r"#+ ", line)]
    assert headings[1] == "Writing your own client: the checklist", headings[:3]
    anchors = {slug(h) for h in headings}
    links = re.findall(r"\]\(#([^)]+)\)", TEXT)
    assert len(re.findall(r"\]\(#", section("Writing your own client: the checklist"))) >= 8
    missing = sorted(set(links) - anchors)
    assert not missing, f"links to no heading: {missing}"


def test_the_ping_token_limit_and_the_binary_message_reason_are_written_down() -> None:
    limits = section("Limits")
    row = next((line for line in limits.splitlines() if line.startswith("| `ping` token")), "")
    assert f"{codec._MAX_ID_CHARS} characters" in row, row
    assert "`protocol error`" in section("`joined`, `left`: system notices")


def frames_shown() -> list[tuple[int, str]]:
    """Every JSON object of the document that has a ``type``, with its line number: the
    object from its ``{"type"`` to its closing brace (strings skipped)."""
    found = []
    for match in re.finditer(r'\{"type"', TEXT):
        depth, in_string, escaped = 0, False, False
        for end in range(match.start(), len(TEXT)):
            char = TEXT[end]
            if escaped:
                escaped = False
            elif in_string:
                escaped, in_string = char == "\\", char != '"'
            elif char == '"':
                in_string = True
            elif char in "{}":
                depth += 1 if char == "{" else -1
                if depth == 0:
                    found.append((TEXT.count("\n", 0, match.start()) + 1, TEXT[match.start():end + 1]))
                    break
    return found


def test_every_frame_shown_decodes_and_keeps_every_key() -> None:
    frames = frames_shown()
    assert len(frames) > 100
    wrong = []
    for line, frame in frames:
        event = codec.decode(frame.encode("utf-8"), codec.TYPES, const.MAX_TEXT_CHARS)
        if isinstance(event, FrameRejected):
            wrong.append(f"line {line}: {event.code} {event.message}: {frame}")
            continue
        shown, kept = json.loads(frame), codec.to_dict(event)
        dropped = set(shown) - set(kept)
        for key, items in shown.items():  # a page's entries: users, messages, rooms, members
            if isinstance(items, list) and items and all(isinstance(item, dict) for item in items):
                dropped |= {f"{key}[].{name}" for item in items for name in item} - {
                    f"{key}[].{name}" for item in kept[key] for name in item}
        if dropped:
            wrong.append(f"line {line}: keys the codec does not know {sorted(dropped)}: {frame}")
    assert not wrong, "frames of PROTOCOL.md that a server would not read as shown:\n" + "\n".join(wrong)


def test_the_metrics_table_lists_what_the_server_exposes() -> None:
    exposed = set(re.findall(r'"(chat_\w+)"', (ROOT / "server" / "metrics.py").read_text(encoding="utf-8")))
    listed = set(re.findall(r"`(chat_\w+)", section("Metrics")))
    assert exposed and exposed == listed, f"not listed: {sorted(exposed - listed)}; gone: {sorted(listed - exposed)}"


def test_the_error_codes_table_lists_every_code_a_client_can_get() -> None:
    # truncated_frame is what a core says of a stream that ended inside a frame: nobody is
    # left to send it to (server/relay.py, _rejected).
    sent = {code.value for code in ErrorCode} - {ErrorCode.TRUNCATED_FRAME}
    listed = set(re.findall(r"^\| `(\w+)`", section("Error codes"), re.MULTILINE))
    assert sent == listed, f"not listed: {sorted(sent - listed)}; no such code: {sorted(listed - sent)}"
