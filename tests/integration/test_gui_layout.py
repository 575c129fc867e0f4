"""The chat view at the sizes the window allows, under Xvfb (see test_gui.py for the
harness): the window resized through X (xdotool, as a window manager or a user does), its
parts measured as drawn (the test hook's ``layout``, client/gui/testhook.py).

A room beside its member column was cut to pieces at half a laptop screen (683 px: an input
box narrower than its Send button, the hint cut mid-word) and unusable at the minimum
size (560x380: a message column of 70 px, no input box at all)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from clientkit import start
from test_gui import TIMEOUT, Gui, _dora_logged_in, display, open_gui, server  # noqa: F401  (fixtures)
from tools import require_tool

# What a conversation needs to stay usable at any size the window allows: lines of a few
# words in the message column, and an input box wider than its Send button.
MESSAGES_MIN = 250
INPUT_MIN = 150
# Half a 1366-pixel laptop screen; the minimum size (client/gui/app.py, root.minsize); the
# test X server's whole screen.
SIZES = [(683, 700), (560, 380), (1280, 800)]


def _resize(gui: Gui, width: int, height: int, name: str = "Bob") -> dict[str, Any]:
    """Set the window of ``name`` to ``width`` x ``height`` through X and wait until it is
    laid out so. The window is found by the end of its title ("Chat — Bob"): with no window
    manager (Xvfb), the one ``wm frame`` names is not the one whose size Tk follows, and
    xdotool matches the title's ASCII part only."""
    require_tool("xdotool", why="to resize the window through X")
    env = dict(os.environ, DISPLAY=gui.display)
    found = subprocess.run(["xdotool", "search", "--name", f" {name}$"], env=env, check=True, timeout=TIMEOUT,
                           capture_output=True, text=True).stdout.split()
    assert len(found) == 1, f"windows whose title ends in {name!r}: {found}"
    subprocess.run(["xdotool", "windowsize", found[0], str(width), str(height)], env=env, check=True, timeout=TIMEOUT)
    return gui.wait(lambda s: s["layout"]["window"] == [width, height], f"the window at {width}x{height}",
                    panes=False, layout=True)["layout"]


def _usable(layout: dict[str, Any]) -> None:
    """The messages and the input box keep a usable width, the input box and the hint are
    on screen whole."""
    width, height = layout["window"]
    where = f"at {width}x{height}: {layout}"
    assert layout["messages"][0] >= MESSAGES_MIN, where
    assert layout["input"][0] >= INPUT_MIN and layout["input"][0] > layout["send"][0], where
    assert layout["input"][1] > 40 and layout["send"][1] > 20, where  # its three lines, the button whole
    assert layout["hint_fits"], where


@pytest.mark.timeout_seconds(180)
@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_a_room_stays_usable_at_every_size_the_window_allows(open_gui, server, clients, monkeypatch,
                                                             tmp_path: Path, language: str) -> None:
    monkeypatch.setenv("LANGUAGE", language)
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes")
    bob.wait(lambda s: s["active"] == "##redes" and len(s["members"]) == 2, "the room open with its members")
    for width, height in SIZES:
        layout = _resize(bob, width, height)
        shot = bob.cmd("screenshot", path=str(tmp_path / f"room-{language}-{width}x{height}.png"))
        print(f"\nscreenshot: {shot['path']}")
        _usable(layout)
    # Wide enough: the member column beside the messages, its list shown.
    assert layout["members"] == "grid" and layout["member_list"][0] >= 120, layout
    assert layout["members_button"] is True, layout
    # Its owner's buttons too (Topic…, Invite…, the switch), in its fixed width.
    bob.cmd("join", room="#bob")
    bob.wait(lambda s: s["active"] == "##bob" and s["room_controls"]["mode"], "Bob's own room open")
    layout = bob.wait(lambda s: s["layout"]["members"] == "grid", "its member column", panes=False, layout=True)["layout"]
    bob.cmd("screenshot", path=str(tmp_path / f"owner-{language}-1280x800.png"))
    assert layout["room_buttons_fit"] and layout["member_list"][0] >= 120, layout
    bob.cmd("join", room="#redes")  # opens it again (Bob is in it)
    bob.wait(lambda s: s["active"] == "##redes", "#redes again", panes=False)

    # Narrow: hidden, and the Members button shows it over the messages, the input box untouched.
    narrow = _resize(bob, 560, 380)
    assert narrow["members"] == "" and narrow["members_button"] is False, narrow
    bob.cmd("members")
    shown = bob.wait(lambda s: s["layout"]["members"] == "place", "the members over the messages",
                     panes=False, layout=True)["layout"]
    bob.cmd("screenshot", path=str(tmp_path / f"room-{language}-560x380-members.png"))
    assert shown["member_list"][0] >= 120 and shown["member_list"][1] >= 40, shown
    assert shown["members_button"] is True and shown["input"] == narrow["input"], shown
    bob.cmd("members")
    bob.wait(lambda s: s["layout"]["members"] == "" and s["layout"]["members_button"] is False,
             "the members hidden again", panes=False, layout=True)

    # A person's conversation: no member column, no button, as usable.
    # The keys to the window again: with no window manager they follow the X pointer, which
    # the window shrunk away from.
    bob.cmd("type", text="", enter=False)
    rows = [row["key"] for row in bob.cmd("dump", panes=False)["contacts"]]
    bob.cmd("key", sequence=f"<Control-Key-{rows.index('olga') + 1}>")
    bob.wait(lambda s: s["active"] == "olga", "Olga's conversation", panes=False)
    for width, height in SIZES[:2]:
        layout = _resize(bob, width, height)
        bob.cmd("screenshot", path=str(tmp_path / f"person-{language}-{width}x{height}.png"))
        _usable(layout)
        assert layout["members"] == "" and layout["members_button"] is None, layout



def _shown_as(subtitle: str, forms: list[str]) -> bool:
    """Whether ``subtitle`` is one of ``forms`` (whole first, then shorter), or the last cut
    short with "…"."""
    return subtitle in forms or (subtitle.endswith("…") and forms[-1].startswith(subtitle[:-1]))


@pytest.mark.timeout_seconds(120)
@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_a_persons_header_says_what_fits_at_every_size_the_window_allows(open_gui, server, clients, monkeypatch,
                                                                        language: str) -> None:
    """A person's header says where their connection comes from ("127.0.0.1:50412 · online
    since 09:02"), or that they are blocked and what that does: at the minimum size it ran
    past the window's right edge. It says as much as fits: the port left out first, then
    when they came; blocked, its explanation. Nothing is cut mid-word but the last form."""
    monkeypatch.setenv("LANGUAGE", language)
    start(clients, server.port, "Olga")
    bob = open_gui("Bob")
    bob.logged_in()
    rows = [row["key"] for row in bob.cmd("dump", panes=False)["contacts"]]
    bob.cmd("key", sequence=f"<Control-Key-{rows.index('olga') + 1}>")
    bob.wait(lambda s: s["active"] == "olga" and s["header"][1].startswith("127.0.0.1:"), "where Olga is",
             panes=False)
    _resize(bob, 1280, 800)
    whole = bob.wait(lambda s: s["header_fits"], "the header whole", panes=False)["header"][1]
    address, _, since = whole.partition(" · ")
    assert address.startswith("127.0.0.1:") and since.startswith("online "), whole
    forms = [whole, f"127.0.0.1 · {since}", "127.0.0.1"]
    for width, height in SIZES:
        _resize(bob, width, height)
        state = bob.wait(lambda s: s["header_fits"] and _shown_as(s["header"][1], forms),
                         f"the header at {width}x{height}: what fits of {forms}", panes=False)
        assert state["header"][1] == whole or width < 1280, state["header"]
    # Blocked: that it is, and what it does while there is room.
    blocked = {"en": ["online · blocked: their messages do not reach you", "online · blocked"],
               "pt_BR": ["online · bloqueado: as mensagens dessa pessoa não chegam até você", "online · bloqueado"]}
    assert bob.cmd("block")["ok"]
    bob.wait(lambda s: s["blocked"] == ["olga"], "Olga blocked", panes=False)
    for width, height in reversed(SIZES):
        _resize(bob, width, height)
        state = bob.wait(lambda s: s["header_fits"] and _shown_as(s["header"][1], blocked[language]),
                         f"the header at {width}x{height}: what fits of {blocked[language]}", panes=False)
        assert state["header"][1] == blocked[language][0] or width < 1280, state["header"]


@pytest.mark.timeout_seconds(120)
@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_a_long_name_and_the_block_button_fit_the_header_at_the_minimum_size(open_gui, server, clients, monkeypatch,
                                                                             tmp_path: Path, language: str) -> None:
    """A name of the longest a name may be (32 characters) in the header's large font, and
    the Block button, were wider than the window at its minimum width (560 px): the button
    was pushed past the right edge, out of sight. The name is cut short with "…" (its
    beginning whole, the Block button on screen), and shown whole when there is room."""
    monkeypatch.setenv("LANGUAGE", language)
    name = "MariaDaConceiçãoAlbuquerqueSouza"
    assert len(name) == 32  # const.MAX_NAME_LENGTH
    start(clients, server.port, name)
    bob = open_gui("Bob")
    bob.logged_in()
    rows = [row["key"] for row in bob.cmd("dump", panes=False)["contacts"]]
    bob.cmd("key", sequence=f"<Control-Key-{rows.index(name.lower()) + 1}>")
    bob.wait(lambda s: s["active"] == name.lower() and s["header"][1].startswith("127.0.0.1"), "her conversation",
             panes=False)
    for width, height in [(560, 380), (683, 700), (1280, 800)]:
        _resize(bob, width, height)
        state = bob.wait(lambda s: s["header_fits"], f"the header within {width} px", panes=False, timeout=5)
        bob.cmd("screenshot", path=str(tmp_path / f"long-name-{language}-{width}x{height}.png"))
        title = state["header"][0]
        assert title == name or (width < 1280 and title.endswith("…") and name.startswith(title[:-1])
                                 and len(title) > 8), state["header"]
        layout = bob.cmd("dump", panes=False, layout=True)["layout"]
        assert layout["header_whole"], layout  # the Block button on screen, none of it past the edge


@pytest.mark.timeout_seconds(120)
def test_someone_typing_in_a_room_leaves_its_header_whole_at_every_size(open_gui, server, clients,
                                                                        tmp_path: Path) -> None:
    """While Olga typed in #redes, at the minimum width the header's "Olga is typing…" ran
    past the window's edge, and the room's name was cut to "#…" to make room for it. The
    typing line has what the name, the member count and the Members button leave (cut
    short, or not shown at all); the room's name is cut only if it alone does not fit."""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes")
    bob.wait(lambda s: s["active"] == "##redes" and len(s["members"]) == 2, "the room open with its members",
             panes=False)
    typing = threading.Event()

    def type_on() -> None:  # as her client does while she types (the server passes one per 3 s)
        while not typing.wait(1.0):
            olga.typing_in_room("#redes")
    threading.Thread(target=type_on, daemon=True).start()
    try:
        for width, height in [(1280, 800), (683, 700), (560, 380)]:
            _resize(bob, width, height)
            state = bob.wait(lambda s: s["header_fits"] and s["header"] == ["#redes", "2 members"]
                             and (s["typing"] == "Olga is typing…" or width < 1280), f"the header at {width}x{height}",
                             panes=False)
            bob.cmd("screenshot", path=str(tmp_path / f"typing-{width}x{height}.png"))
            assert state["typing"] in ("", "Olga is typing…") or (
                state["typing"].endswith("…") and "Olga is typing".startswith(state["typing"][:-1])), state["typing"]
            layout = bob.cmd("dump", panes=False, layout=True)["layout"]
            assert layout["header_whole"], layout
    finally:
        typing.set()


@pytest.mark.timeout_seconds(120)
@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_an_accounts_status_bar_shows_its_buttons_whole_at_every_size(open_gui, server, monkeypatch,
                                                                      tmp_path: Path, language: str) -> None:
    """An account's status bar holds "Delete account…", "Change password…" and the read
    receipts switch beside the status. In Portuguese at the minimum width (560 px) they
    did not fit beside it: "Excluir conta…" was squeezed to "Excluir" (delete what?). Where
    they do not fit beside the status, they go below it, each whole."""
    monkeypatch.setenv("LANGUAGE", language)
    dora, _state = _dora_logged_in(open_gui, server, "correct horse")
    for width, height in SIZES:
        layout = _resize(dora, width, height, name="Dora")
        dora.cmd("screenshot", path=str(tmp_path / f"status-{language}-{width}x{height}.png"))
        assert layout["status_whole"], layout
        state = dora.wait(lambda s: s["status_fits"], f"the status whole at {width}x{height}", panes=False)
        assert state["status"].startswith(("Connected", "Conectado")), state["status"]


@pytest.mark.timeout_seconds(120)
@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_the_broadcast_rooms_header_fits_at_the_minimum_size(open_gui, server, monkeypatch, tmp_path: Path,
                                                             language: str) -> None:
    """At the minimum width the broadcast room's header read "Everyone  broadcast room · 1 or":
    its subtitle, unlike a person's and a named room's, was never cut to the header's width.
    Where it does not fit whole, the count alone is said ("1 online")."""
    monkeypatch.setenv("LANGUAGE", language)
    bob = open_gui("Bob")
    bob.logged_in()
    whole = bob.wait(lambda s: s["active"] == "#room" and s["header"][1], "Everyone open", panes=False)["header"][1]
    for width, height in [(560, 380), (1280, 800)]:
        _resize(bob, width, height)
        state = bob.wait(lambda s: s["header_fits"], f"the header at {width}x{height}", panes=False)
        bob.cmd("screenshot", path=str(tmp_path / f"everyone-{language}-{width}x{height}.png"))
        shown = state["header"][1]
        alone = {"en": "1 online", "pt_BR": "1 pessoa online"}[language]
        assert shown == whole or (width < 1280 and shown == alone), shown


@pytest.mark.timeout_seconds(120)
def test_the_line_above_the_input_box_is_shown_whole_at_the_minimum_size(open_gui, server, clients, monkeypatch,
                                                                         tmp_path: Path) -> None:
    """At the minimum width, editing a message (Ctrl+E) in the Portuguese window, the line
    above the input box read "Editando sua mensagem: Enter salva, Esc ca": how to cancel was
    cut off (and "Para MariaDaConceiçãoAlbuquerqueS" lost the end of a long name). It wraps."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    name = "MariaDaConceiçãoAlbuquerqueSouza"
    start(clients, server.port, name)
    bob = open_gui("Bob")
    bob.logged_in()
    rows = [row["key"] for row in bob.cmd("dump", panes=False)["contacts"]]
    bob.cmd("key", sequence=f"<Control-Key-{rows.index(name.lower()) + 1}>")
    bob.wait(lambda s: s["active"] == name.lower(), "her conversation", panes=False)
    bob.cmd("type", text="oi, Maria")
    bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["delivered"], "the message delivered", panes=False)
    layout = _resize(bob, 560, 380)
    bob.cmd("screenshot", path=str(tmp_path / "recipient-560x380.png"))
    assert layout["recipient_fits"], layout
    bob.cmd("type", text="", enter=False)
    state = bob.cmd("key", sequence="<Control-e>", dump=True)["state"]
    assert state["recipient"] == "Editando sua mensagem: Enter salva, Esc cancela", state["recipient"]
    layout = bob.wait(lambda s: s["layout"]["window"] == [560, 380], "laid out", panes=False, layout=True)["layout"]
    bob.cmd("screenshot", path=str(tmp_path / "editing-560x380.png"))
    assert layout["recipient_fits"], layout


@pytest.mark.timeout_seconds(120)
@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_a_long_name_in_the_list_leaves_its_blocked_mark_on_screen(open_gui, server, clients, monkeypatch,
                                                                   tmp_path: Path, language: str) -> None:
    """In the list of conversations "MariaDaConceiçãoAlbuquerqueSouza  (blocked)" ran past
    the column's edge: the name was cut off by the list, and with it "(blocked)", the one
    word that says so. The name is cut short with "…", what follows it stays whole."""
    monkeypatch.setenv("LANGUAGE", language)
    name = "MariaDaConceiçãoAlbuquerqueSouza"
    start(clients, server.port, name)
    bob = open_gui("Bob")
    bob.logged_in()
    rows = [row["key"] for row in bob.cmd("dump", panes=False)["contacts"]]
    bob.cmd("key", sequence=f"<Control-Key-{rows.index(name.lower()) + 1}>")
    bob.wait(lambda s: s["active"] == name.lower(), "her conversation", panes=False)
    assert bob.cmd("block")["ok"]
    mark = {"en": "  (blocked)", "pt_BR": "  (bloqueado)"}[language]
    state = bob.wait(lambda s: s["blocked"] == [name.lower()], "her blocked", panes=False, layout=True)
    bob.cmd("screenshot", path=str(tmp_path / f"list-blocked-{language}.png"))
    [row] = [row for row in state["contacts"] if row["key"] == name.lower()]
    assert row["text"].endswith(mark) and row["text"].startswith(" Maria"), row
    assert state["layout"]["contacts_fit"], state["contacts"]


@pytest.mark.timeout_seconds(120)
def test_a_long_room_name_in_the_list_is_cut_with_an_ellipsis(open_gui, server, tmp_path: Path) -> None:
    """"#TurmaDeRedesDeComputadores2026" (a room's name may be as long as a person's) ran
    past the list's edge, clipped in the middle of a letter, where a person's long name is
    cut short with "…" (by the same rule as the header's: whole characters, cut_to_fit).
    So is a room's, also at the window's minimum size."""
    room = "#TurmaDeRedesDeComputadores2026"
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room=room)
    state = bob.wait(lambda s: s["active"] == "##turmaderedesdecomputadores2026", "the room joined", panes=False,
                     layout=True)
    bob.cmd("screenshot", path=str(tmp_path / "list-long-room.png"))
    [row] = [row for row in state["contacts"] if row["key"] == "##turmaderedesdecomputadores2026"]
    shown = row["text"].strip()
    assert shown.endswith("…") and room.startswith(shown[:-1]) and len(shown) > 6, row
    assert state["layout"]["contacts_fit"], state["contacts"]
    _resize(bob, 560, 380)
    state = bob.wait(lambda s: s["layout"]["window"] == [560, 380], "the minimum size", panes=False, layout=True)
    assert state["layout"]["contacts_fit"], state["contacts"]


@pytest.mark.timeout_seconds(120)
def test_a_long_room_name_in_the_header_leaves_its_members_button_whole(open_gui, server, tmp_path: Path) -> None:
    """The header cut "#TurmaDeRedesDeComputadores2026" to what its Members button left,
    and then drew the member count ("1 member", which is never cut) after it: the button
    was squeezed to a sliver at the right edge (a screenshot under Xvfb). The name leaves
    the count its place."""
    room = "#TurmaDeRedesDeComputadores2026"
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room=room)
    for width, height in ((980, 640), (560, 380)):
        if width != 980:
            _resize(bob, width, height)
        state = bob.wait(lambda s: s["active"] == "##turmaderedesdecomputadores2026" and s["members"]
                         and s["layout"]["window"] == [width, height], "the room open", panes=False, layout=True)
        bob.cmd("screenshot", path=str(tmp_path / f"header-long-room-{width}x{height}.png"))
        title, subtitle = state["header"]
        assert title.endswith("…") and room.startswith(title[:-1]) and subtitle == "1 member", state["header"]
        assert state["layout"]["header_whole"] and state["header_fits"], (width, state["header"])


@pytest.mark.timeout_seconds(120)
def test_a_long_name_in_a_rooms_member_list_is_cut_with_an_ellipsis(open_gui, server, clients,
                                                                   tmp_path: Path) -> None:
    """In a room's member column "MariaDaConceiçãoAlbuquerqueSouza (moderator)" ran past
    its edge, clipped in the middle of a letter and with her role out of sight. The name
    is cut short with "…" (cut_to_fit, as in the list of conversations), the role whole:
    its mark, since its word would cut the name shorter still (the word in the tooltip)."""
    name = "MariaDaConceiçãoAlbuquerqueSouza"
    maria = start(clients, server.port, name)
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#turma")
    bob.wait(lambda s: s["active"] == "##turma" and s["members"], "#turma open, Bob its owner", panes=False)
    maria.join("#turma")
    bob.cmd("room_act", act="appoint", name=name)
    state = bob.wait(lambda s: len(s["members"]) == 2 and s["members"][-1].endswith(" ◆"), "Maria a moderator",
                     panes=False, layout=True)
    bob.cmd("screenshot", path=str(tmp_path / "members-long-name.png"))
    shown = state["members"][-1]
    assert shown.endswith("… ◆") and name.startswith(shown.removesuffix("… ◆")), shown
    assert state["members"][0] == "Bob ★", state["members"]  # every row alike
    assert state["layout"]["members_fit"], state["members"]
    assert bob.cmd("member_tip", name=name)["tip"] == f"{name} — moderator"


def test_a_members_role_gives_way_to_a_mark_rather_than_cut_their_name(open_gui, server, clients,
                                                                        monkeypatch) -> None:
    """At the default width in Portuguese the column showed "Concei… (responsável)": the
    role's word cut the name. Now every row of that list has the role's mark ("★" owner,
    "◆" moderation) and the name whole; the word is in the row's tooltip. Where the words
    fit (in English: "Olga (owner)", test_gui_rooms.py), they stay."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    conceicao = start(clients, server.port, "Conceição")
    conceicao.join("#turma")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#turma", click=True)
    state = bob.wait(lambda s: s["active"] == "##turma" and len(s["members"]) == 2, "#turma open", panes=False,
                     layout=True)
    assert state["members"] == ["Bob", "Conceição ★"], state["members"]
    assert state["layout"]["members_fit"], state["members"]
    assert bob.cmd("member_tip", name="Conceição")["tip"] == "Conceição — responsável"
    assert bob.cmd("member_tip", name="Bob")["tip"] is None  # a plain member: no role to say
    # By keyboard too (Tab to the list, then the arrows): the row the focus moved to.
    assert bob.cmd("member_tip", name="Conceição", key=True) == {"ok": True, "tip": "Conceição — responsável",
                                                                  "focus": "Conceição"}
    with start(clients, server.port, "Vic") as vic:
        vic.join("#turma")
        state = bob.wait(lambda s: len(s["members"]) == 3, "Vic in the list", panes=False)
        assert state["member_tip"] is None  # the list drawn again: no tip left over a row that moved


def test_a_messages_delivery_label_is_never_cut_in_two_by_the_wrap(open_gui, server, clients) -> None:  # noqa: F811
    """A message of Bob's whose line ended near the window's edge had its label wrapped
    inside it: "✓✓" at the end of one line and "delivered" under the time column of the
    next (in a room, in Portuguese, "lida por" and a lone "1"). Messages whose ends sweep
    across the edge: a label may go to the next line whole, never in two."""
    start(clients, server.port, "Olga")  # online, her client confirms: "✓✓ delivered"
    bob = open_gui("Bob")
    bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and any(
        row["key"] == "olga" for row in s["contacts"]), "Olga in Bob's list")
    bob.cmd("key", sequence="<Control-Key-2>")
    bob.wait(lambda s: s["active"] == "olga", "Olga's conversation")
    texts = ["a " * n + "fim" for n in range(30, 75)]  # the label two characters further each time
    for text in texts:
        bob.cmd("type", text=text)
    state = bob.wait(lambda s: len([m for m in s["outgoing"] if m["state"] in ("sent", "delivered")]) == len(texts),
                     "every post sent", panes=False)
    assert state["labels_cut"] == [], state["labels_cut"]
