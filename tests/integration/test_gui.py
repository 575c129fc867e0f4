"""The tkinter chat window, for real: an X server (Xvfb), a real chat server, and the GUI
as a subprocess (``python3 chatclient.py Bob --gui``), driven through its loopback test
hook (``CHAT_GUI_TEST_CONTROL``, see client/gui/testhook.py) and, where xdotool is
installed, through the X keyboard itself.

Alice is a protocol client (tests/support/wire.py) on the other side.

Skipped, saying why, when tkinter, Xvfb, xwd or xdotool is missing; in CI they fail
instead (tests/support/tools.py). ``SAVE_SCREENSHOTS=1`` also copies the screenshot to
docs/gui-client.png. CI installs: python3-tk xvfb xauth x11-apps (xwd) xdotool.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client.resume import ResumeTokens
from protocol import (Accepted, Delivered, DirectMessage, Hello, Receipt, RoomMessage, SendDirect, SendRoom, UserJoined,
                      UserLeft, Welcome)
from faultproxy import UP, Fault, FaultProxy
from server import ServerConfig, ServerThread
from clientkit import start
from tools import require_module, require_tool
from waits import wait_until
from wire import WireClient
from processes import stop_process

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 15.0
# The longest the Tk event loop may go without a turn while 1,000 messages arrive. The
# bridge hands the window at most 20 ms of events per turn (client/gui/bridge.py) and then
# lets Tk redraw and read input; measured gaps are 15-25 ms on a developer machine. CI
# machines are shared and slower, so the bound leaves ten times that: 250 ms is still at
# the edge of what people notice as lag, while a window that handled events on the wrong
# thread, waited on the network, or redrew everything per message stalls for seconds.
MAX_GAP_MS = 250.0
BURST = 1000
# What Alice may hear about in between the answers a test waits for.
NOTICES = (UserJoined, UserLeft, RoomMessage)
# A real X server, a window process per test, waits of 15 s: each test takes 1-5 s alone,
# up to 20 s on a loaded machine; twice the default per-test limit leaves room for that.
pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture(scope="module")
def display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private X server on a free display number, stopped by PID at the end."""
    require_module("tkinter", "python3-tk")
    require_tool("Xvfb", "xvfb xauth", why="to give the window an X display")
    log = (tmp_path_factory.mktemp("xvfb") / "xvfb.log").open("wb")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp", "-noreset"],
                            pass_fds=(write_end,), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    os.close(write_end)
    try:
        number = b""
        deadline = time.monotonic() + TIMEOUT
        while not number.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_end], [], [], remaining)[0]:
                raise AssertionError("Xvfb did not report its display number within 15 s")
            chunk = os.read(read_end, 16)
            if not chunk:
                raise AssertionError(f"Xvfb exited (status {proc.wait(5)}); see {log.name}")
            number += chunk
        yield f":{int(number)}"
    finally:
        os.close(read_end)
        stop_process(proc)
        log.close()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    # No rate limits: the burst test sends 1,000 messages as fast as it can.
    config = ServerConfig(host="127.0.0.1", port=0, rate_per_connection=1e9, burst_per_connection=1e9,
                          rate_per_address=1e9, burst_per_address=1e9, login_failure_delay=0.05)
    with ServerThread(config) as srv:
        yield srv


class Gui:
    """``python3 chatclient.py NAME --gui`` on ``display``, with its control channel (no
    NAME when ``name`` is empty: the window opens its login form)."""

    def __init__(self, display: str, srv_port: int, name: str, log_dir: Path) -> None:
        self.display = display
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(TIMEOUT)
        env = dict(os.environ, DISPLAY=display, CHAT_GUI_TEST_CONTROL=str(listener.getsockname()[1]),
                   PYTHONUNBUFFERED="1")
        self.log_path = log_dir / f"gui-{name or 'noname'}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, str(REPO / "chatclient.py"), *([name] if name else []), "--gui",
                                      "--host", "127.0.0.1", "--port", str(srv_port)],
                                     cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        try:
            self.sock, _ = listener.accept()
        except TimeoutError:
            self.close()
            raise AssertionError(f"the GUI did not open its control channel: {self.output()}") from None
        finally:
            listener.close()
        self.reader = self.sock.makefile("r", encoding="utf-8")

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def cmd(self, cmd: str, timeout: float = 40.0, **args: Any) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        self.sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        line = self.reader.readline()
        assert line, f"the GUI closed its control channel; its output:\n{self.output()}"
        reply = json.loads(line)
        assert "error" not in reply, f"{cmd}: {reply['error']}\nGUI output:\n{self.output()}"
        return reply

    def wait(self, predicate: Callable[[dict[str, Any]], Any], what: str, timeout: float = TIMEOUT,
             **dump_args: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.cmd("dump", **dump_args)
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                shown = {k: v for k, v in state.items() if k != "panes"}
                raise AssertionError(f"timed out waiting for {what}; window: {shown}\n"
                                     f"panes: {str(state.get('panes'))[-1500:]}\nGUI output:\n{self.output()}")
            time.sleep(0.05)

    def logged_in(self) -> dict[str, Any]:
        return self.wait(lambda s: s["view"] == "chat" and s["viewable"] and s["state"] == "connected",
                         "the chat view")

    def close(self) -> None:
        try:
            if self.proc.poll() is None and getattr(self, "sock", None) is not None:
                self.cmd("quit", timeout=5)
        except (OSError, AssertionError, ValueError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its PID
            self.proc.wait(10)
        if getattr(self, "sock", None) is not None:
            self.sock.close()
        self._log.close()


@pytest.fixture
def open_gui(display: str, server: ServerThread, tmp_path: Path) -> Iterator[Callable[[str], Gui]]:
    started: list[Gui] = []

    def start(name: str, port: int | None = None) -> Gui:
        gui = Gui(display, server.port if port is None else port, name, tmp_path)
        started.append(gui)
        return gui
    yield start
    for gui in started:
        gui.close()


def alice_login(srv: ServerThread) -> WireClient:
    return WireClient.login(srv.host, srv.port, "Alice")


def contact(state: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((row for row in state.get("contacts", []) if row["key"] == key), None)


def test_direct_messages_both_ways_with_delivery_states(open_gui, server, tmp_path: Path) -> None:
    with alice_login(server) as alice:
        bob = open_gui("Bob")
        state = bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and s["focus"] == "input",
                         "the chat view, the focus in the input box")
        assert contact(state, "alice") is not None and "online" in contact(state, "alice")["tags"]
        assert state["title"] == "Chat — Bob"

        # Alice -> Bob: appears in Bob's conversation with Alice, unread until opened.
        alice.send(SendDirect("a1", "Bob", "Hello Bob! How is the new window coming along?"))
        accepted = alice.expect(Accepted, skip=NOTICES)
        state = bob.wait(lambda s: contact(s, "alice") and contact(s, "alice")["unread"] == "1", "an unread count")
        assert "unread" in contact(state, "alice")["tags"]
        # The GUI confirmed it (the receipt is sent once the window has the event).
        delivered = alice.expect(Delivered, skip=NOTICES)
        assert delivered.msg_id == accepted.msg_id

        # Keyboard: Ctrl+2 opens the second row (Alice; the room is the first).
        bob.cmd("key", sequence="<Control-Key-2>")
        state = bob.wait(lambda s: s["active"] == "alice" and "Hello Bob!" in s["panes"].get("alice", ""),
                         "Alice's message in her pane")
        assert state["focus"] == "input" and state["header"][0] == "Alice"
        assert contact(state, "alice")["unread"] == ""
        assert "Alice: Hello Bob! How is the new window coming along?" in state["panes"]["alice"]

        # Bob types a reply and presses Enter (a real <Return> key event).
        bob.cmd("type", text="Hi Alice, this is the GUI")
        dm = alice.expect(DirectMessage, skip=(Accepted, Delivered, *NOTICES))
        assert (dm.sender, dm.to, dm.text) == ("Bob", "Alice", "Hi Alice, this is the GUI")
        state = bob.wait(lambda s: any(m["state"] == "sent" for m in s["outgoing"]), "the reply as sent")
        assert state["input"] == "" and "✓ sent" in state["panes"]["alice"]
        alice.send(Receipt(dm.msg_id))
        state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["delivered"], "the reply as delivered")
        assert "Hi Alice, this is the GUI   ✓✓ delivered" in state["panes"]["alice"]

        # A few more lines: the states of two replies, and the room.
        alice.send(SendDirect("a2", "Bob", "Got it, thanks. Are you coming to the demo at 3?"))
        # Shown before Bob answers it, so the pane reads in order.
        bob.wait(lambda s: "demo at 3?" in s["panes"].get("alice", ""), "Alice's question")
        bob.cmd("type", text="Yes, see you there!\nI'll bring the slides.")
        dm2 = alice.expect(DirectMessage, skip=(Accepted, Delivered, *NOTICES))
        assert dm2.text == "Yes, see you there!\nI'll bring the slides."
        alice.send(Receipt(dm2.msg_id))
        alice.send(SendRoom("r1", "Good morning, everyone"))
        with WireClient.login(server.host, server.port, "Carol"):
            state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["delivered", "delivered"]
                             and contact(s, "carol") and contact(s, "#room")["unread"] == "1",
                             "the second reply as delivered, Carol online, the room unread")
            shot = tmp_path / "gui-client.png"
            require_tool("xwd", "x11-apps", why="to take the window's screenshot")
            bob.cmd("screenshot", path=str(shot))
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        print(f"\nscreenshot: {shot}")  # the README's is test_the_readme_picture_of_the_window's


def test_a_message_that_expired_says_it_waited_and_was_not_delivered(open_gui, tmp_path: Path) -> None:
    """Not "not delivered" alone, which a refused message said too: the window says the
    message was taken and expired, how long it waited, and what to do (a server whose
    messages live 1.5 s; Olga is online and never confirms)."""
    config = ServerConfig(host="127.0.0.1", port=0, queue_ttl=1.5, expiry_interval=0.1)
    with ServerThread(config) as short, WireClient.login(short.host, short.port, "Olga"):
        bob = open_gui("Bob", short.port)
        bob.wait(lambda s: s["view"] == "chat" and contact(s, "olga") is not None, "Olga in the list")
        bob.cmd("key", sequence="<Control-Key-2>")
        bob.wait(lambda s: s["active"] == "olga" and s["focus"] == "input", "Olga's conversation")
        bob.cmd("type", text="bom dia")
        state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["failed"], "the message expired")
        pane = state["panes"]["olga"]
        assert re.search(r"bom dia   ✗ not delivered: it waited \d\.\d s for Olga and expired: their client never "
                         r"took it; tell them some other way, or send it again when they are online", pane), pane
        require_tool("xwd", "x11-apps", why="to take the window's screenshot")
        bob.cmd("screenshot", path=str(tmp_path / "gui-not-delivered.png"))


def test_the_readme_picture_of_the_window(open_gui, server, tmp_path: Path) -> None:
    """A conversation as the window's users have them (a teacher, Conceição, and her
    student João, in João's window), with its delivery states, people online and the room
    unread: docs/gui-client.png with ``SAVE_SCREENSHOTS=1``."""
    with WireClient.login(server.host, server.port, "Conceição") as teacher:
        joao = open_gui("João")
        joao.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and s["focus"] == "input",
                  "the chat view, the focus in the input box")
        teacher.send(SendDirect("c1", "João", "Good morning, João! How is the network lab report going?"))
        joao.wait(lambda s: contact(s, "conceição") and contact(s, "conceição")["unread"] == "1", "her message, unread")
        joao.cmd("key", sequence="<Control-Key-2>")
        joao.wait(lambda s: s["active"] == "conceição" and "network lab report" in s["panes"].get("conceição", ""),
                  "her message in her pane")
        replies = ["Almost done: I'm writing the part about TCP retransmission.",
                   "Can I add the Wireshark captures?\nThey show the lost segments."]
        answers = ["Good. Remember it is due on Friday at 18:00.", "Yes, as an appendix. Well done!"]
        for n, (reply, answer) in enumerate(zip(replies, answers), start=1):
            joao.cmd("type", text=reply)
            dm = teacher.expect(DirectMessage, skip=(Accepted, Delivered, *NOTICES))
            assert (dm.sender, dm.text) == ("João", reply)
            teacher.send(Receipt(dm.msg_id))
            joao.wait(lambda s, n=n: [m["state"] for m in s["outgoing"]] == ["delivered"] * n, "delivered")
            teacher.send(SendDirect(f"c{n + 1}", "João", answer))
            joao.wait(lambda s, answer=answer: answer in s["panes"].get("conceição", ""), "her answer")
        teacher.send(SendRoom("r1", "The lab opens at 14:00 today."))
        with WireClient.login(server.host, server.port, "Pedro"):
            state = joao.wait(lambda s: contact(s, "pedro") and contact(s, "#room")["unread"] == "1",
                              "Pedro online, the room unread")
            assert state["header"][0] == "Conceição" and state["title"] == "Chat — João (1 unread)"
            shot = tmp_path / "gui-client.png"
            require_tool("xwd", "x11-apps", why="to take the window's screenshot")
            joao.cmd("screenshot", path=str(shot))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    print(f"\nscreenshot: {shot}")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "gui-client.png")


def test_presence_and_room_notices(open_gui, server) -> None:
    bob = open_gui("Bob")
    bob.logged_in()
    with alice_login(server) as alice:
        state = bob.wait(lambda s: contact(s, "alice") and "online" in contact(s, "alice")["tags"], "Alice online")
        assert "Alice joined" in state["panes"]["#room"]
        # Text is shown as text: no markup, no Tcl substitution, control characters escaped.
        alice.send(SendDirect("x", "Bob", "<b>not bold</b> [exit] $x {a} \\ \x1b[31mred\u202e"))
        alice.expect(Accepted, skip=NOTICES)
        alice.expect(Delivered, skip=NOTICES)
        state = bob.wait(lambda s: "alice" in s["panes"] and "red" in s["panes"]["alice"], "Alice's message")
        assert "Alice: <b>not bold</b> [exit] $x {a} \\ \\x1b[31mred\\u202e\n" in state["panes"]["alice"]
    # Alice left: she stays in the list (they talked), as offline; the room says so.
    state = bob.wait(lambda s: contact(s, "alice") and "offline" in contact(s, "alice")["tags"], "Alice offline")
    assert "Alice left" in state["panes"]["#room"]
    assert contact(state, "alice")["text"].strip() == "Alice  (offline)"
    # Someone who only passed by is dropped from the list when they leave.
    with WireClient.login(server.host, server.port, "Carol"):
        bob.wait(lambda s: contact(s, "carol") is not None, "Carol in the list")
    bob.wait(lambda s: contact(s, "carol") is None, "Carol gone from the list")
    # A message to an offline contact is queued by the server, and shown so.
    bob.cmd("key", sequence="<Control-Key-2>")
    bob.wait(lambda s: s["active"] == "alice", "Alice's conversation")
    bob.cmd("type", text="see you later")
    state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["queued"], "the message as queued")
    assert "◷ queued" in state["panes"]["alice"]


def test_a_contact_whose_name_nobody_has_any_more_is_said_so_in_the_list(display: str, tmp_path: Path) -> None:
    """Bob opened a conversation with Zeferino, a guest, who left; his name was forgotten
    (its hold and memory over). Bob's window, back from a lost connection, watches its conversations
    again: the server's answer says nobody has that name (``unknown``), and the row and
    the header say so, not "offline" as if his messages would wait for him."""
    config = ServerConfig(host="127.0.0.1", port=0, guest_hold=0.3, guest_remembered=0.3, expiry_interval=0.1)
    with ServerThread(config) as server:
        relay = server.server.relay
        bob = Gui(display, server.port, "Bob", tmp_path)
        try:
            bob.logged_in()
            with WireClient.login(server.host, server.port, "Zeferino"):
                bob.cmd("new_chat", name="zeferino")
                bob.wait(lambda s: s["active"] == "zeferino", "Zeferino's conversation")
            bob.cmd("key", sequence="<Control-Key-1>")
            bob.wait(lambda s: contact(s, "zeferino") and "offline" in contact(s, "zeferino")["tags"],
                     "Zeferino offline")
            wait_until(lambda: server.call(lambda: "zeferino" not in relay.known), what="Zeferino's name forgotten")

            def drop() -> None:
                for session in list(relay.sessions):
                    if session.name == "Bob":
                        session.abort("dropped by the test")
            server.call(drop)
            state = bob.wait(lambda s: contact(s, "zeferino") and "nobody" in contact(s, "zeferino")["tags"],
                             "Zeferino said to be nobody's")
            assert contact(state, "zeferino")["text"].strip() == "Zeferino  (unknown)"
            bob.cmd("key", sequence="<Control-Key-2>")
            state = bob.wait(lambda s: s["active"] == "zeferino", "Zeferino's conversation")
            assert state["header"][1] == "nobody by that name has logged in here", state["header"]
        finally:
            bob.close()


@pytest.mark.timeout_seconds(180)  # its own waits add up to 90 s before it reports what failed
def test_burst_of_1000_messages_keeps_the_window_responsive(open_gui, server) -> None:
    with alice_login(server) as alice:
        bob = open_gui("Bob")
        bob.logged_in()
        # Watch the burst in the open conversation (the costliest case: visible, scrolling).
        alice.send(SendDirect("warm", "Bob", "warm-up"))
        alice.expect(Accepted, skip=NOTICES)
        alice.expect(Delivered, skip=NOTICES)
        bob.cmd("key", sequence="<Control-Key-2>")
        bob.wait(lambda s: s["active"] == "alice", "Alice's conversation open")
        bob.cmd("max_gap", reset=True)
        started = time.monotonic()
        frames = b"".join(alice.conn.send(SendDirect(f"b{i}", "Bob", f"burst message {i:04d}"))
                          for i in range(BURST))
        alice.send_raw(frames)
        accepted = delivered = 0
        while delivered < BURST:
            event = alice.next(timeout=30)
            if isinstance(event, NOTICES):
                continue
            if isinstance(event, Accepted):
                accepted += 1
            elif isinstance(event, Delivered):
                delivered += 1
            else:
                raise AssertionError(f"unexpected {event!r}")
        state = bob.wait(lambda s: s["lines"].get("alice", 0) >= BURST + 1, "all 1,000 messages", timeout=60,
                         panes=["alice"])
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # include the redrawing and line layout Tk does after the last insert
        gap = bob.cmd("max_gap")
        pane = state["panes"]["alice"]
        shown = sum(1 for i in range(BURST) if f"burst message {i:04d}" in pane)
        print(f"\nGUI burst: {BURST} messages shown in {elapsed:.2f} s; longest gap between Tk event-loop "
              f"turns {gap['max_gap_ms']:.1f} ms ({gap['ticks']} ticks of 10 ms)")
        assert accepted == BURST and shown == BURST
        assert pane.index("burst message 0000") < pane.index("burst message 0999")
        assert gap["max_gap_ms"] < MAX_GAP_MS, gap


def test_login_errors_keep_the_form_open(open_gui, server, display, tmp_path) -> None:
    # A port nobody listens on: "server unreachable", and the form stays.
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    gui = open_gui("Bob", port=closed_port)
    state = gui.wait(lambda s: s["alerts"] and s["alert_open"], "the unreachable-server dialog")
    assert state["view"] == "login" and not state["login_busy"]
    assert state["alerts"][0][0] == "Server unreachable"
    assert f"127.0.0.1:{closed_port}" in state["alerts"][0][1]
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    gui.cmd("screenshot", path=str(tmp_path / "gui-login-error.png"))
    gui.cmd("dismiss")
    gui.wait(lambda s: not s["alert_open"], "the dialog closed")
    gui.cmd("screenshot", path=str(tmp_path / "gui-login.png"))

    with alice_login(server):
        # The right server now, but a name that is taken.
        gui.cmd("login", name="Alice", port=str(server.port))
        state = gui.wait(lambda s: len(s["alerts"]) == 2 and s["alert_open"], "the name-taken dialog")
        assert state["alerts"][1][0] == "Name taken" and "Alice" in state["alerts"][1][1]
        assert state["view"] == "login"
        gui.cmd("dismiss")
        state = gui.wait(lambda s: not s["alert_open"], "the dialog closed")
        assert state["focus"] == "login-name"

        # A registered name: without its password, then with a wrong one, then the right one.
        with WireClient(server.host, server.port) as dora:
            dora.send(Hello("h", "Dora", 1, password="correct horse", register=True))
            dora.expect(Welcome)
        gui.cmd("login", name="Dora")
        # The form asks for the password itself: no dialog.
        state = gui.wait(lambda s: s["login_prompt"] and not s["login_busy"], "the password asked in the form")
        assert "Dora is registered" in state["login_prompt"] and len(state["alerts"]) == 2
        assert state["focus"] == "login-password"
        assert state["passwords"], "this window says it cannot send passwords, but the library can"
        gui.cmd("login", password="wrong horse")
        state = gui.wait(lambda s: len(s["alerts"]) == 3 and s["alert_open"], "the wrong-password dialog")
        assert state["alerts"][2][0] == "Wrong password"
        gui.cmd("dismiss")
        gui.wait(lambda s: not s["alert_open"] and s["focus"] == "login-password", "the dialog closed")
        gui.cmd("login", password="correct horse")
        state = gui.logged_in()
        assert state["me"] == "Dora" and contact(state, "alice") is not None
        # The focus moves to the input box (X focus events may take a moment to settle).
        gui.wait(lambda s: s["focus"] == "input", "the focus in the input box")


def test_history_shows_when_a_conversation_opens(open_gui, server) -> None:
    with alice_login(server) as alice:
        # Bob talked with Alice earlier, from another client on this machine: the window
        # finds that client's resume token for the guest name in the user's file.
        with WireClient.login(server.host, server.port, "Bob") as old_bob:
            ResumeTokens.default().put(f"127.0.0.1:{server.port}", "Bob", old_bob.welcome.resume)
            alice.send(SendDirect("a", "Bob", "an earlier question"))
            old_bob.send(Receipt(old_bob.expect(DirectMessage, skip=NOTICES).msg_id))
            old_bob.send(SendDirect("b", "Alice", "an earlier answer"))
            alice.send(Receipt(alice.expect(DirectMessage, skip=(Accepted, Delivered, *NOTICES)).msg_id))
            old_bob.expect(Accepted, skip=NOTICES)
            old_bob.expect(Delivered, skip=NOTICES)
        bob = open_gui("Bob")
        bob.logged_in()
        bob.cmd("key", sequence="<Control-Key-2>")
        state = bob.wait(lambda s: "an earlier answer" in s["panes"].get("alice", ""), "the history")
        pane = state["panes"]["alice"]
        assert pane.index("Alice: an earlier question") < pane.index("You: an earlier answer   ✓✓ delivered")


def test_typing_with_the_real_keyboard(open_gui, server) -> None:
    """xdotool types through the X server (XTEST), as a person would."""
    require_tool("xdotool", why="to type through the X keyboard")
    with alice_login(server) as alice:
        bob = open_gui("Bob")
        bob.logged_in()
        window = bob.cmd("window")
        env = dict(os.environ, DISPLAY=bob.display)

        def xdotool(*args: str) -> None:
            subprocess.run(["xdotool", *args], env=env, check=True, timeout=TIMEOUT)
        xdotool("windowfocus", "--sync", str(window["id"]))
        xdotool("key", "--clearmodifiers", "ctrl+2")
        bob.wait(lambda s: s["active"] == "alice" and s["focus"] == "input", "Alice's conversation by Ctrl+2")
        xdotool("type", "--delay", "5", "first line")
        xdotool("key", "shift+Return")
        xdotool("type", "--delay", "5", "second line")
        state = bob.wait(lambda s: s["input"] == "first line\nsecond line", "two lines in the input box")
        xdotool("key", "Return")
        dm = alice.expect(DirectMessage, skip=NOTICES)
        assert dm.text == "first line\nsecond line"
        state = bob.wait(lambda s: s["input"] == "" and s["outgoing"], "the input box cleared")
        # Escape goes to the list; Down moves to the next row; Escape comes back.
        xdotool("key", "Escape")
        bob.wait(lambda s: s["focus"] == "contacts", "focus in the list")
        xdotool("key", "Up")
        bob.wait(lambda s: s["active"] == "#room", "the room selected with the arrow key")
        xdotool("key", "Return")
        bob.wait(lambda s: s["focus"] == "input", "focus back in the input box")
        # Tab goes round: input box -> Send button -> Read receipts -> list -> the boxes
        # under it -> the open conversation's messages (never a hidden one's) -> input box.
        for expected in ("send", "receipts", "contacts", "new-chat", "new-chat-button", "join", "join-button",
                         "messages", "input"):
            xdotool("key", "Tab")
            bob.wait(lambda s: s["focus"] == expected, f"Tab to {expected}")
        xdotool("key", "shift+Tab")
        bob.wait(lambda s: s["focus"] == "messages", "Shift+Tab back to the messages")
        xdotool("key", "shift+Tab")
        bob.wait(lambda s: s["focus"] == "join-button", "Shift+Tab back to the room box's button")


def test_status_bar_shows_reconnections(open_gui, server) -> None:
    """The library reconnects by itself after a cut; the window says so in one line."""
    with FaultProxy(server.host, server.port) as proxy:
        bob = open_gui("Bob", port=proxy.port)
        state = bob.logged_in()
        assert proxy.cut("Bob") == 1
        state = bob.wait(lambda s: "reconnected" in s["panes"]["#room"] and s["state"] == "connected",
                         "the reconnection said in the conversation")
        # Words, not figures: the status bar is what it was before the cut.
        assert state["status"] == f"Connected to 127.0.0.1:{proxy.port} as Bob", state["status"]
        # And the chat goes on over the new connection.
        with alice_login(server) as alice:
            alice.send(SendDirect("a", "Bob", "still there?"))
            alice.expect(Accepted, skip=NOTICES)
            alice.expect(Delivered, skip=NOTICES)
            # Her pane may also get a presence line ("Alice is online"), before or after.
            state = bob.wait(lambda s: "Alice: still there?" in s["panes"].get("alice", ""),
                             "the message after the reconnection")
            assert state["panes"]["alice"].count("still there?") == 1


def test_a_password_typed_into_the_window_logs_in(open_gui, server, tmp_path) -> None:
    """Dora's password, typed on the X keyboard into the login form, logs her in to her account."""
    require_tool("xdotool", why="to type through the X keyboard")
    with WireClient(server.host, server.port) as dora:
        dora.send(Hello("h", "Dora", 1, password="correct horse", register=True))
        assert dora.expect(Welcome).registered
    with alice_login(server) as alice:
        gui = open_gui("Dora")  # logs in at once, without a password: the form asks for it
        state = gui.wait(lambda s: s["login_prompt"] and not s["login_busy"], "the password asked in the form")
        assert state["view"] == "login" and not state["alerts"] and not state["alert_open"], state["alerts"]
        assert state["login_prompt"].startswith("The name Dora is registered: it needs its password")
        require_tool("xwd", "x11-apps", why="to take the window's screenshot")
        gui.cmd("screenshot", path=str(tmp_path / "gui-password-asked.png"))
        print(f"\nscreenshot: {tmp_path / 'gui-password-asked.png'}")
        # The keyboard focus in the password field, as a click would put it (without a
        # window manager, X gives the focus to no window by itself); then real key events.
        gui.cmd("focus", field="password")
        gui.wait(lambda s: s["focus"] == "login-password", "the focus in the password field")
        env = dict(os.environ, DISPLAY=gui.display)
        for keys in (["type", "--delay", "5", "correct horse"], ["key", "Return"]):
            subprocess.run(["xdotool", *keys], env=env, check=True, timeout=TIMEOUT)
        state = gui.logged_in()
        assert state["me"] == "Dora" and not state["alerts"]  # no dialog at any point
        # The server has her session as the account's: a message to Dora reaches this window.
        alice.send(SendDirect("d1", "Dora", "your password worked"))
        alice.expect(Accepted, skip=NOTICES)
        alice.expect(Delivered, skip=NOTICES)
        state = gui.wait(lambda s: contact(s, "alice") and contact(s, "alice")["unread"] == "1", "Alice's message")


def test_a_password_typed_for_a_name_with_no_account_is_said_unused(open_gui, server, monkeypatch) -> None:
    """A newcomer types a name and a password, leaving "Claim this name with the password"
    unticked, as if the password guarded the name: the server logs a guest in and ignores
    the password (PROTOCOL.md, "hello"), and the window said nothing of it, so the newcomer
    believed the name was theirs. Said once in Everyone, in the user's language, with what
    to do; nothing said when the box was ticked (an account) or left empty."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    bia = open_gui("")
    bia.wait(lambda s: s["view"] == "login" and not s["login_busy"], "the login form")
    bia.cmd("login", name="Bia", host="127.0.0.1", port=server.port, password="segredo123", register=False)
    state = bia.logged_in()
    said = state["panes"]["#room"]
    assert said.count("O nome Bia não está registrado: você entrou como convidado e a senha não foi usada") == 1, said
    assert "marque “Registrar este nome com a senha”" in said, said
    cleo = open_gui("")
    cleo.wait(lambda s: s["view"] == "login" and not s["login_busy"], "the login form")
    cleo.cmd("login", name="Cleo", host="127.0.0.1", port=server.port, password="segredo123", register=True)
    state = cleo.logged_in()
    assert "não está registrado" not in state["panes"]["#room"], state["panes"]["#room"]


def test_the_login_form_spells_the_name_as_the_server_does_once_it_said_it(open_gui, server) -> None:
    """The account "João", typed "joão": the welcome says the account's spelling, and the
    window goes by it. When the server then signs the session out (here the operator's
    /password), the form back on screen had the name as typed, not as the account is."""
    with WireClient(server.host, server.port) as joao:
        joao.send(Hello("h", "João", 1, password="correct horse", register=True))
        assert joao.expect(Welcome).registered
    gui = open_gui("joão")
    gui.wait(lambda s: s["login_prompt"] and not s["login_busy"], "the password asked in the form")
    gui.cmd("login", password="correct horse")
    state = gui.logged_in()
    assert (state["me"], state["title"]) == ("João", "Chat — João")
    reset: list[str | None] = []
    server.call(lambda: server.server.relay.account_desk.reset_password(
        "joão", lambda new, failure: reset.append(new)))
    state = gui.wait(lambda s: s["view"] == "login" and s["login_prompt"] and not s["login_busy"],
                     "the login form, asking for the new password")
    assert reset and reset[0] is not None
    assert state["login_fields"]["name"] == "João", state["login_fields"]
    assert state["login_prompt"].startswith("Your password was reset"), state["login_prompt"]


def test_the_window_speaks_portuguese_when_the_environment_asks(open_gui, server, monkeypatch) -> None:
    # LANGUAGE is the first place gettext looks: the window inherits it from the test's environment.
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    with alice_login(server) as alice:
        bob = open_gui("Bob")
        state = bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected", "the chat view")
        # The login form was built in Portuguese (it stays in the window, hidden).
        texts = state["login_texts"]
        for words in ("Entrar no chat", "Nome:", "Servidor:", "Porta:", "Senha:", "Entrar"):
            assert words in texts, texts
        assert "Name:" not in texts and "Log in" not in texts
        assert state["status"].startswith("Conectado a ") and " como Bob" in state["status"]
        assert contact(state, "#room")["text"].strip() == "Todos"
        alice.send(SendDirect("pt1", "Bob", "Oi, Bob!"))
        alice.expect(Accepted, skip=NOTICES)
        bob.cmd("key", sequence="<Control-Key-2>")
        bob.cmd("type", text="Olá, Alice")
        dm = alice.expect(DirectMessage, skip=(Accepted, Delivered, *NOTICES))
        alice.send(Receipt(dm.msg_id))
        state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["delivered"], "the reply as delivered")
        assert "Olá, Alice   ✓✓ entregue" in state["panes"]["alice"]
        assert "Você" in state["panes"]["alice"]


def test_without_a_name_the_window_opens_its_login_form(open_gui, server, tmp_path) -> None:
    """``chatclient.py --gui`` with no NAME: the form, empty, and a name typed on the X keyboard logs in."""
    require_tool("xdotool", why="to type through the X keyboard")
    gui = open_gui("")
    state = gui.wait(lambda s: s["view"] == "login" and s["viewable"], "the login form")
    assert not state["alerts"] and not state["login_busy"]
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    gui.cmd("screenshot", path=str(tmp_path / "gui-login-empty.png"))
    print(f"\nscreenshot: {tmp_path / 'gui-login-empty.png'}")
    gui.cmd("login", port=str(server.port), enter=False)  # the test server's port; the name stays empty
    gui.cmd("focus", field="name")
    gui.wait(lambda s: s["focus"] == "login-name", "the focus in the name field")
    env = dict(os.environ, DISPLAY=gui.display)
    for keys in (["type", "--delay", "5", "Erin"], ["key", "Return"]):
        subprocess.run(["xdotool", *keys], env=env, check=True, timeout=TIMEOUT)
    state = gui.logged_in()
    assert state["me"] == "Erin" and not state["alerts"]


@pytest.mark.timeout_seconds(180)
def test_a_planned_restart_costs_the_window_one_reconnected_line(display, tmp_path) -> None:
    """The server stops (saying bye) and starts again on the same port: the window says it
    went away in words, greys the dots, keeps what is typed meanwhile, and comes back with
    one "reconnected" line and no repeated "joined"."""
    # A durable server, as one that restarts would be (Alice is still known after it);
    # guest_hold=0: Alice's guest name is hers again at once, without a resume token.
    data = tmp_path / "data"
    config = ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
    first = ServerThread(config).__enter__()
    port = first.port
    bob = None
    try:
        with WireClient.login("127.0.0.1", port, "Alice"):
            bob = Gui(display, port, "Bob", tmp_path)
            bob.wait(lambda s: s.get("state") == "connected" and contact(s, "alice")
                     and "online" in contact(s, "alice")["tags"], "Alice online")
            bob.cmd("key", sequence="<Control-Key-2>")
            before = bob.wait(lambda s: s["active"] == "alice" and s["recipient"] == "To Alice",
                              "Alice's conversation, the input box saying where it sends")
            joined_before = before["panes"]["#room"].count("Alice joined")
            first.stop()  # a planned stop: the server says bye to everyone
        state = bob.wait(lambda s: s["state"] == "reconnecting" and "Reconnecting" in s["status"],
                         "the window reconnecting")
        assert {row["dot"] for row in state["contacts"]} == {"unknown"}, state["contacts"]  # all grey
        # Words and a countdown, no attempt numbers or socket errors.
        assert re.fullmatch(r"Reconnecting( in \d+ s)?… · the server stopped or is restarting",
                            state["status"]), state["status"]
        shot = tmp_path / "gui-reconnecting.png"
        bob.cmd("screenshot", path=str(shot))
        print(f"\nscreenshot: {shot}")
        # Typed while away: shown at once as sending, and nothing is lost.
        bob.cmd("type", text="typed while the server was away")
        state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sending"], "the message waiting")
        assert state["input"] == "" and "typed while the server was away   … sending" in state["panes"]["alice"]

        config = ServerConfig(host="127.0.0.1", port=port, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
        with ServerThread(config) as second:
            state = bob.wait(lambda s: s["state"] == "connected", "the window back", timeout=40)
            assert state["status"] == f"Connected to 127.0.0.1:{port} as Bob", state["status"]
            assert state["panes"]["alice"].count("reconnected") == 1
            # The waiting message went out once back (Alice is offline now: queued for her).
            bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["queued"], "the waiting message queued")
            with WireClient.login("127.0.0.1", second.port, "Alice") as alice:
                dm = alice.expect(DirectMessage, skip=NOTICES)
                assert (dm.to, dm.text) == ("Alice", "typed while the server was away")
                alice.send(Receipt(dm.msg_id))
                state = bob.wait(lambda s: contact(s, "alice") and contact(s, "alice")["dot"] == "online",
                                 "Alice back, her dot green")
                # Her return after the restart is not news: no second "Alice joined", no "left".
                assert state["panes"]["#room"].count("Alice joined") == joined_before, state["panes"]["#room"]
                assert "Alice left" not in state["panes"]["#room"]
                assert "Alice is online" not in state["panes"]["alice"].split("reconnected")[-1]
                state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["delivered"],
                                 "the waiting message delivered")
                assert state["panes"]["alice"].count("typed while the server was away") == 1
                # And a reply goes to the conversation on screen, as the input box says.
                bob.cmd("type", text="welcome back")
                dm = alice.expect(DirectMessage, skip=(Delivered, *NOTICES))
                assert (dm.to, dm.text) == ("Alice", "welcome back")
                shot = tmp_path / "gui-reconnected.png"
                bob.cmd("screenshot", path=str(shot))
                print(f"screenshot: {shot}")
    finally:
        if bob is not None:
            bob.close()
        first.stop()


def test_the_header_shows_where_the_person_is_again_when_they_come_back(display, tmp_path) -> None:
    """A tester had Conceição's conversation open, her address and "online since" in the
    header; after a server restart it read just "Conceição  online", and the address came
    back only when another conversation was opened and hers again. The window looks the
    person of the open conversation up again when they come back (a "joined") and when it
    comes back itself: their new connection's address shows."""
    data = tmp_path / "data"
    config = ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
    first = ServerThread(config).__enter__()
    port = first.port
    bob = None

    def shows_where(alice: WireClient) -> Callable[[dict[str, Any]], bool]:
        where = f"127.0.0.1:{alice.sock.getsockname()[1]} · online since "
        return lambda s: s["active"] == "alice" and s["header"][1].startswith(where)
    try:
        with WireClient.login("127.0.0.1", port, "Alice") as alice:
            bob = Gui(display, port, "Bob", tmp_path)
            bob.wait(lambda s: s.get("state") == "connected" and contact(s, "alice")
                     and "online" in contact(s, "alice")["tags"], "Alice online")
            bob.cmd("key", sequence="<Control-Key-2>")
            bob.wait(shows_where(alice), "Alice's address in the header")
        bob.wait(lambda s: s["header"] == ["Alice", "offline"], "Alice offline")
        with WireClient.login("127.0.0.1", port, "Alice") as alice:  # her client started again
            bob.wait(shows_where(alice), "Alice's new address in the header")
            first.stop()  # the server restarts; she comes back before or after the window
        config = ServerConfig(host="127.0.0.1", port=port, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
        with ServerThread(config):
            with WireClient.login("127.0.0.1", port, "Alice") as alice:
                bob.wait(lambda s: s["state"] == "connected" and shows_where(alice)(s),
                         "Alice's address after the restart", timeout=40)
    finally:
        if bob is not None:
            bob.close()
        first.stop()


def test_a_conversation_opened_while_the_server_is_away_shows_its_history_once_back(display, tmp_path, clients,
                                                                                   monkeypatch) -> None:
    """A student opened Conceição's conversation while the server was restarting: it said
    "Could not load earlier messages: not connected to the server (reconnecting: server
    shutting down)", in English in the Portuguese window, and once the window was back
    their earlier messages never came. The history is asked for again once connected."""
    data = tmp_path / "data"
    config = ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
    first = ServerThread(config).__enter__()
    port = first.port
    bob = None
    try:
        start(clients, port, "Bob", password="bobs secret 1", register=True)  # Bob's other device
        alice = start(clients, port, "Alice")
        assert alice.send_direct("Bob", "an earlier question").wait_done(TIMEOUT)
        clients.pop(0).close()
        monkeypatch.setenv("CHAT_PASSWORD", "bobs secret 1")
        bob = Gui(display, port, "Bob", tmp_path)
        bob.wait(lambda s: s.get("state") == "connected" and contact(s, "alice")
                 and "online" in contact(s, "alice")["tags"], "Alice online")
        first.stop()
        bob.wait(lambda s: s["state"] == "reconnecting", "the window reconnecting")
        bob.cmd("key", sequence="<Control-Key-2>")
        state = bob.wait(lambda s: s["active"] == "alice", "Alice's conversation, opened while away")
        config = ServerConfig(host="127.0.0.1", port=port, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
        with ServerThread(config):
            state = bob.wait(lambda s: s["state"] == "connected" and "an earlier question" in s["panes"]["alice"],
                             "the history after the reconnection", timeout=40)
            assert "not connected" not in state["panes"]["alice"], state["panes"]["alice"]
            assert state["panes"]["alice"].count("Alice: an earlier question") == 1, state["panes"]["alice"]
    finally:
        if bob is not None:
            bob.close()
        first.stop()


def test_a_message_too_long_to_send_stays_in_the_input_box(open_gui, server, monkeypatch) -> None:
    """A student pasted a long text (over the 4000 characters a message may have): the window
    said "not sent: the text is longer than 4000 characters: shorten it, or send it in parts",
    and had emptied the input box, so that there was nothing left to shorten. What the
    client refuses before sending stays in the box; the line says why."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    with alice_login(server):
        bob = open_gui("Bob")
        bob.logged_in()
        bob.cmd("key", sequence="<Control-Key-2>")
        bob.wait(lambda s: s["active"] == "alice", "Alice's conversation")
        text = "Resumo do capítulo 3. " * 200  # 4400 characters
        bob.cmd("type", text=text)
        state = bob.wait(lambda s: "não enviada" in s["panes"]["alice"], "the refusal said")
        assert "4000" in state["panes"]["alice"], state["panes"]["alice"][-300:]
        assert state["input"] == text, len(state["input"])
        # Shortened, it goes.
        bob.cmd("type", text=text[:3000], clear=True)
        state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]][-1:] == ["sent"], "the shorter one sent")
        assert state["input"] == "", len(state["input"])


def test_what_fails_for_want_of_a_connection_is_said_in_the_windows_language(display, tmp_path,
                                                                             monkeypatch) -> None:
    """With the server stopped, joining a room and editing a message in the Portuguese
    window said "Entrar em #turma falhou: not connected to the server (reconnecting: server
    shutting down)" and "Não alterada: not connected to the server (...)": the library's
    English. They say "sem conexão"."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    first = ServerThread(ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05)).__enter__()
    bob = None
    try:
        bob = Gui(display, first.port, "Bob", tmp_path)
        bob.logged_in()
        bob.cmd("type", text="oi")
        bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "the message sent")
        first.stop()
        bob.wait(lambda s: s["state"] == "reconnecting", "the window reconnecting")
        bob.cmd("join", room="#turma")
        bob.cmd("key", sequence="<Control-e>")
        bob.cmd("type", text="oi editado", clear=True)
        state = bob.wait(lambda s: "Não alterada" in s["panes"]["#room"] and "#turma falhou" in s["panes"]["#room"],
                         "both failures said")
        pane = state["panes"]["#room"]
        assert "Entrar em #turma falhou: sem conexão" in pane and "Não alterada: sem conexão" in pane, pane
        assert "not connected" not in pane, pane
        # The read receipts switch too: it goes back, and says why in the same words.
        bob.cmd("receipts")
        state = bob.wait(lambda s: s["panes"]["#room"].count("Não alterada") == 2, "the switch's failure said")
        assert state["panes"]["#room"].count("Não alterada: sem conexão") == 2, state["panes"]["#room"]
    finally:
        if bob is not None:
            bob.close()
        first.stop()


@pytest.mark.timeout_seconds(90)
def test_a_switch_answered_after_the_window_gave_up_waiting_is_said_and_followed(display, tmp_path,
                                                                                 monkeypatch) -> None:
    """The read receipts switch whose answer did not come in time (the server stopped
    reading: FaultProxy.stall) goes back, and the window says it may or may not have been
    changed; the server's answer, once it comes, was applied by the library without a word
    while the switch still showed the old state. Now the window says it (AnsweredLate) in
    its words, and the switch follows."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    bob = None
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            bob = Gui(display, proxy.port, "Bob", tmp_path)
            assert bob.logged_in()["read_receipts"] == [True, True]
            assert proxy.stall("Bob") == 1
            bob.cmd("receipts")  # off: its answer does not come within the library's SEND_TIMEOUT
            bob.wait(lambda s: s["read_receipts"] == [True, True] and "talvez tenha sido alterada"
                     in "".join(s["panes"].values()), "the switch back, said maybe changed", timeout=30, panes=True)
            assert proxy.unstall("Bob") == 1
            state = bob.wait(lambda s: "chegou atrasada" in "".join(s["panes"].values()), "the late answer said",
                             panes=True)
            assert "sua escolha de confirmações de leitura foi aplicada" in "".join(state["panes"].values())
            bob.wait(lambda s: s["read_receipts"] == [False, False], "the switch off, as the server has it")
        finally:
            if bob is not None:
                bob.close()


def test_an_edit_whose_answer_was_lost_is_not_said_unchanged(display, tmp_path, monkeypatch) -> None:
    """The connection ended after the window's edit reached the server and before its
    answer came: the window said "Não alterada: sem conexão", though the server may have
    changed the message (the frame reached it: whether it read it before the cut, only
    the server knows). So says the window."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    bob = None
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            bob = Gui(display, proxy.port, "Bob", tmp_path)
            bob.logged_in()
            bob.cmd("type", text="oi")
            bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "the message sent")
            proxy.add(Fault(UP, frame_type="edit", when="after", name="Bob"))
            bob.cmd("key", sequence="<Control-e>")
            bob.cmd("type", text="oi editado", clear=True)
            state = bob.wait(lambda s: "alterada" in s["panes"]["#room"], "the edit's outcome said")
            assert proxy.cuts, "the test did not cut the edit's answer"
            pane = state["panes"]["#room"]
            assert "Não alterada" not in pane and "talvez" in pane, pane
        finally:
            if bob is not None:
                bob.close()


def test_a_reply_goes_where_the_window_says(open_gui, server, tmp_path) -> None:
    """A direct message arriving moves nothing: a line typed in the room still goes to the
    room, as the input box says; Ctrl+R (a real key event) opens the sender's conversation,
    and the reply goes to her."""
    require_tool("xdotool", why="to type through the X keyboard")
    with alice_login(server) as alice:
        bob = open_gui("Bob")
        bob.logged_in()
        window = bob.cmd("window")
        env = dict(os.environ, DISPLAY=bob.display)

        def xdotool(*args: str) -> None:
            subprocess.run(["xdotool", *args], env=env, check=True, timeout=TIMEOUT)
        xdotool("windowfocus", "--sync", str(window["id"]))
        bob.wait(lambda s: s["focus"] == "input" and s["recipient"] == "To everyone in the room", "the room")
        xdotool("type", "--delay", "5", "morning all")
        alice.send(SendDirect("q", "Bob", "can I ask you something?"))
        alice.expect(Accepted, skip=NOTICES)
        alice.expect(Delivered, skip=NOTICES)
        state = bob.wait(lambda s: contact(s, "alice") and contact(s, "alice")["unread"] == "1", "Alice's message")
        assert state["active"] == "#room" and state["recipient"] == "To everyone in the room"
        xdotool("key", "Return")
        room = alice.expect(RoomMessage, skip=(UserJoined, UserLeft))
        assert (room.sender, room.text) == ("Bob", "morning all")
        xdotool("key", "--clearmodifiers", "ctrl+r")
        state = bob.wait(lambda s: s["active"] == "alice" and s["focus"] == "input", "Alice's conversation by Ctrl+R")
        assert state["recipient"] == "To Alice" and contact(state, "alice")["unread"] == ""
        xdotool("type", "--delay", "5", "sure, go ahead")
        xdotool("key", "Return")
        dm = alice.expect(DirectMessage, skip=NOTICES)
        assert (dm.to, dm.text) == ("Alice", "sure, go ahead")
        shot = tmp_path / "gui-reply.png"
        require_tool("xwd", "x11-apps", why="to take the window's screenshot")
        bob.wait(lambda s: s["outgoing"] and s["outgoing"][-1]["state"] == "sent", "the reply sent")
        bob.cmd("screenshot", path=str(shot))
        print(f"\nscreenshot: {shot}")


def _dora_logged_in(open_gui, server, password: str):
    """The account Dora (registered with ``password``) logged in in the window through its
    login form: (the window, its state)."""
    with WireClient(server.host, server.port) as dora:
        dora.send(Hello("h", "Dora", 1, password=password, register=True))
        dora.expect(Welcome)
    gui = open_gui("Dora")
    gui.wait(lambda s: s["login_prompt"] and not s["login_busy"], "the password asked in the form")
    gui.cmd("login", password=password)
    return gui, gui.logged_in()


def test_an_account_changes_its_password_in_the_windows_dialog(open_gui, server) -> None:
    """"Change password…" in the status bar (an account's only) opens a dialog: two
    different new passwords are said there, the server's refusal in the user's words, and
    once the server said ok the dialog closes; the new password logs in."""
    old, new = "correct horse", "a brand new secret"
    gui, state = _dora_logged_in(open_gui, server, old)
    assert state["password"]["button"]
    gui.cmd("password", old=old, new=new, again=new + "!")
    gui.wait(lambda s: s["password"]["error"] == "The two new passwords differ.", "the mismatch said")
    gui.cmd("password", old=old, new="short", again="short")
    # A sentence, as the mismatch above is.
    gui.wait(lambda s: s["password"]["error"] == "A password needs at least 8 characters.", "the server's refusal said")
    gui.cmd("password", old=old, new=new, again=new)
    gui.wait(lambda s: not s["password"]["dialog"], "the dialog closed after ok")
    with WireClient(server.host, server.port) as dora:
        dora.send(Hello("h", "Dora", 1, password=new))
        assert dora.expect(Welcome, skip=NOTICES).registered


@pytest.mark.parametrize("request_type", ["password", "unregister"])
def test_an_account_change_whose_answer_was_lost_says_it_may_have_been_done(display, tmp_path, monkeypatch,
                                                                             request_type) -> None:
    """The connection ended after "Change password…" or "Delete account…" reached the
    server and before its answer: the dialog said the library's English ("the connection
    was lost before the answer came (...)"), in the Portuguese window too, which did not
    say whether the change was made. It says that it may or may not have been, in the
    window's language."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    monkeypatch.setenv("CHAT_PASSWORD", "correct horse")
    bob = None
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            with WireClient(server.host, server.port) as dora:
                dora.send(Hello("h", "Dora", 1, password="correct horse", register=True))
                dora.expect(Welcome)
            bob = Gui(display, proxy.port, "Dora", tmp_path)
            bob.logged_in()
            proxy.add(Fault(UP, frame_type=request_type, when="after", name="Dora"))
            if request_type == "password":
                bob.cmd("password", old="correct horse", new="a brand new secret", again="a brand new secret")
                state = bob.wait(lambda s: s["password"]["error"], "the dialog's answer")
                error = state["password"]["error"]
            else:
                bob.cmd("unregister", password="correct horse")
                state = bob.wait(lambda s: s["unregister"]["error"], "the dialog's answer")
                error = state["unregister"]["error"]
            assert proxy.cuts, "the test did not cut the request's answer"
            assert ("talvez" in error or "pode ou não" in error) and "connection" not in error, error
            if request_type == "password":
                # The library settles it at its next login with a password (the new one
                # first, then the old): "log in again to find out" sent the user to do by
                # hand what this window does, and said nothing of which to try elsewhere.
                assert "Entre de novo para saber" not in error, error
                assert "primeiro a senha nova" in error and "depois a antiga" in error, error
        finally:
            if bob is not None:
                bob.close()


@pytest.mark.parametrize("request_type", ["password", "unregister"])
def test_an_account_change_without_a_connection_says_so_in_the_windows_language(display, tmp_path, monkeypatch,
                                                                                request_type) -> None:
    """With the server away (the window reconnecting), "Change password…" and "Delete
    account…" sent nothing, and their dialogs said the library's English, "Not connected to
    the server (reconnecting: ...)", in the Portuguese window too. They say "Sem conexão."
    (session.failure_words, as every other request of the window), and the form stays."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    monkeypatch.setenv("CHAT_PASSWORD", "correct horse")
    first = ServerThread(ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05)).__enter__()
    dora = None
    try:
        with WireClient(first.host, first.port) as other:
            other.send(Hello("h", "Dora", 1, password="correct horse", register=True))
            other.expect(Welcome)
        dora = Gui(display, first.port, "Dora", tmp_path)
        dora.logged_in()
        first.stop()
        dora.wait(lambda s: s["state"] == "reconnecting", "the window reconnecting")
        if request_type == "password":
            dora.cmd("password", old="correct horse", new="a brand new secret", again="a brand new secret")
        else:
            dora.cmd("unregister", password="correct horse")
        state = dora.wait(lambda s: s[request_type]["error"], "the dialog's answer")
        assert state[request_type]["error"] == "Sem conexão.", state[request_type]
        assert state[request_type]["dialog"]
    finally:
        if dora is not None:
            dora.close()
        first.stop()


def _xdotool(gui: Gui) -> Callable[..., None]:
    """xdotool on ``gui``'s display, the window given the X focus first (no window manager
    does it under Xvfb)."""
    require_tool("xdotool", why="to type through the X keyboard")
    env = dict(os.environ, DISPLAY=gui.display)

    def xdotool(*args: str) -> None:
        subprocess.run(["xdotool", *args], env=env, check=True, timeout=TIMEOUT)
    xdotool("windowfocus", "--sync", str(gui.cmd("window")["id"]))
    return xdotool


def test_a_long_status_wraps_in_a_narrow_window(open_gui, server, monkeypatch, tmp_path) -> None:
    """ "Conectado a … · o servidor está indisponível…" was cut off at the window's right
    edge (and the read receipts switch squeezed): the status bar wraps it instead."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("unavailable", retry_in=30.0)  # its words are wider than the chat's column
    bob.wait(lambda s: "indisponível" in s["status"], "the outage in the status bar")
    bob.wait(lambda s: s["status_fits"], "the status wrapped within the window")
    shot = bob.cmd("screenshot", path=str(tmp_path / "gui-status-wrapped.png"))
    print(f"\nscreenshot: {shot}")


def test_tab_reaches_every_control_of_the_window(open_gui, server) -> None:
    """A keyboard-only user reaches Block, Change password… and Read receipts with Tab, in
    the order they are seen (the header above the input box, the status bar below it, left
    to right), and the boxes under the list (write to someone by name, join a room), which
    Tab skipped; what Tab does not reach (the list's menu) the hint lists."""
    old = "correct horse"
    with WireClient(server.host, server.port) as dora:
        dora.send(Hello("h", "Dora", 1, password=old, register=True))
        dora.expect(Welcome)
    with alice_login(server) as alice:
        gui = open_gui("Dora")
        gui.wait(lambda s: s["login_prompt"] and not s["login_busy"], "the password asked in the form")
        gui.cmd("login", password=old)
        gui.logged_in()
        xdotool = _xdotool(gui)
        xdotool("key", "--clearmodifiers", "ctrl+2")
        state = gui.wait(lambda s: s["active"] == "alice" and s["focus"] == "input" and s["block_button"]
                         and s["block_button"]["state"] != "disabled", "Alice's conversation, its Block button")
        assert "Ctrl+J" in state["hint"] and "Shift+F10" in state["hint"], state["hint"]
        walk = []
        for _step in range(13):
            xdotool("key", "Tab")
            before = walk[-1] if walk else "input"
            state = gui.wait(lambda s: s["focus"] not in ("", before), "the focus moved on by Tab")
            walk.append(state["focus"])
            if state["focus"] == "input":
                break
        assert walk == ["send", "unregister-button", "password-button", "receipts", "contacts", "new-chat",
                        "new-chat-button", "join", "join-button", "block", "messages", "input"], walk
        # And back: Shift+Tab from the input box to the messages, then to Block, whose Space blocks Alice.
        xdotool("key", "shift+Tab")
        gui.wait(lambda s: s["focus"] == "messages", "Shift+Tab back to the messages")
        xdotool("key", "shift+Tab")
        gui.wait(lambda s: s["focus"] == "block", "Shift+Tab back to Block")
        xdotool("key", "space")
        gui.wait(lambda s: s["blocked"] == ["alice"], "Alice blocked from the keyboard")


def _tab_walk(gui: Gui, sequence: str, start: str = "input") -> list[str]:
    """Press ``sequence`` (Tab or Shift+Tab, through the test hook: a key event on the
    focused widget) until the focus is back at ``start``; where it went, in order."""
    walk: list[str] = []
    for _step in range(20):
        walk.append(gui.cmd("key", sequence=sequence)["focus"])
        if walk[-1] == start:
            break
    return walk


def test_tab_goes_from_the_list_through_the_conversation_to_the_input_box(open_gui, server, clients) -> None:
    """Tab went input box → Send → the status bar → the list → Block → input box: the
    messages were never reached (no scrolling, selecting or copying them by keyboard), and
    with several conversations open Tk's own order would have visited each hidden one. The
    order is the web page's (webclient/index.html): the list, the open conversation's
    header and a room's own buttons and members, its messages, the input box, Send; then
    the account's controls, which the page has at its top and the window in its bar at
    the bottom; Shift+Tab the same backwards. In the messages the arrows and PgUp/PgDn
    scroll, and Escape goes back to typing."""
    olga = start(clients, server.port, "Olga")
    gui, _state = _dora_logged_in(open_gui, server, "correct horse")
    olga.send_direct("Dora", "oi, Dora").wait_done(TIMEOUT)
    gui.wait(lambda s: contact(s, "olga") and s["focus"] == "input", "Olga in the list")
    gui.cmd("key", sequence="<Control-Key-2>")
    gui.wait(lambda s: s["active"] == "olga" and s["block_button"] and s["block_button"]["state"] == "normal"
             and "oi, Dora" in s["panes"]["olga"], "Olga's conversation, its Block button")
    status = ["unregister-button", "password-button", "receipts"]
    # The boxes under the list (Ctrl+N, Ctrl+J) were out of the ring: Tab never reached them.
    side = ["new-chat", "new-chat-button", "join", "join-button"]
    person = ["contacts", *side, "block", "messages", "input", "send", *status]
    assert _tab_walk(gui, "<Tab>") == [*person[8:], *person[:8]]
    assert _tab_walk(gui, "<Shift-Tab>") == [*reversed(person[:7]), *reversed(person[8:]), "input"]
    # In the messages: the keys of a page one reads, and Escape back to typing.
    _tab_walk(gui, "<Shift-Tab>", "messages")
    assert gui.cmd("key", sequence="<Escape>")["focus"] == "input"

    # A room (Dora its owner): its header's Members button, then its column, before the messages.
    gui.cmd("join", room="#turma")
    gui.wait(lambda s: s["active"] == "##turma" and s["members"] and s["focus"] == "input", "the room open")
    room = ["contacts", *side, "members-button", "room-topic", "room-invite", "room-unban", "room-leave",
            "room-mode", "member-list", "messages", "input", "send", *status]
    assert _tab_walk(gui, "<Tab>") == [*room[14:], *room[:14]]
    # Another conversation opened while the messages have the focus: theirs have it then
    # (not the hidden pane of the one left).
    _tab_walk(gui, "<Shift-Tab>", "messages")
    assert gui.cmd("key", sequence="<Alt-Down>")["focus"] == "messages"  # the list: everyone, #turma, Olga
    gui.wait(lambda s: s["active"] == "olga", "Olga's conversation again")
    # What one types there goes to the input box, and the keys with it.
    assert gui.cmd("key", sequence="<KeyPress-k>")["focus"] == "input"
    assert gui.wait(lambda s: s["input"] == "k", "the letter in the input box")


@pytest.mark.parametrize("how", ["escape", "cancel"])
def test_closing_the_password_dialog_gives_the_keys_back_to_the_input_box(open_gui, server, how) -> None:
    """Escape or Cancel in "Change password": the focus back in the input box, so that
    typing goes on (without a window manager nobody else hands it back)."""
    gui, _ = _dora_logged_in(open_gui, server, "correct horse")
    xdotool = _xdotool(gui)
    # The pointer off the window, as after a click elsewhere: when the dialog goes, X gives
    # the keys to the root window, and only the window itself can take them back.
    window = gui.cmd("window")
    xdotool("mousemove", str(window["x"] + window["width"] + 100), str(window["y"] + window["height"] + 100))
    gui.cmd("password_close", how=how)
    gui.wait(lambda s: not s["password"]["dialog"] and s["focus"] == "input",
             "the dialog closed, the focus in the input box")


def test_an_ipv6_server_copied_from_the_log_into_the_server_field_logs_in(display, tmp_path) -> None:
    """The log says "python3 chatclient.py NAME [2001:db8::20]:5000"; the same text typed in
    the form's Server field (brackets, port and all) was looked up as a host name, "[::1]:PORT",
    and refused ("cannot find the server host")."""
    with ServerThread(ServerConfig(host="::1", port=0)) as srv:
        gui = Gui(display, srv.port, "", tmp_path)
        try:
            gui.wait(lambda s: s["view"] == "login" and s["viewable"], "the login form")
            gui.cmd("login", name="Conceição", host=f"[::1]:{srv.port}", port="1")  # its port wins
            state = gui.logged_in()
            assert state["me"] == "Conceição" and not state["alerts"]
            gui.cmd("screenshot", path=str(tmp_path / "gui-ipv6.png"))
            print(f"\nscreenshot: {tmp_path / 'gui-ipv6.png'}")
        finally:
            gui.close()
