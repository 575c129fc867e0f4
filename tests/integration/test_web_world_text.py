"""The world's text in the page (headless Chromium): what students write, in every script
and with emoji, is shown as it was written, edited as it was written, and laid out without
widening the page or turning the page's own words around.

The dangers stay escaped (test_web_browser.py: a U+202E, a terminal's ESC); these tests are
about everything else: a flag emoji (regional indicators, or a subdivision's tag
sequence), a family (ZWJ), a skin tone, ❤️ (U+FE0F), Japanese, Arabic and Hebrew, Hindi,
"Conceição" typed decomposed (NFD), a soft hyphen and a no-break space pasted from Word,
a word of 300 letters, a tab, CRLF.
"""

from __future__ import annotations

import json

import pytest

from browserpage import PHONE, TIMEOUT, Page, alice, page  # noqa: F401 (fixtures)
from chatpeer import TcpPeer
from protocol import Delivered, DirectMessage, Done, JoinRoom, RoomInfo, SetTopic

from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)

TEXTS = [
    "🇧🇷 Brasil",
    "família 👨\u200d👩\u200d👧\u200d👦 👍🏽",
    "\u2764\ufe0f obrigado",
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f England",
    "日本語のテキスト 中文",
    "مرحبا بالعالم 123",
    "שלום עולם!",
    "नमस्ते दुनिया",
    "Conceic\u0327a\u0303o",
    "anti\u00adconstitucional\u00a0demais",
    "a" * 300,
    "col1\tcol2",
    "line1\r\nline2",
]


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def shown_texts(page: Page, selector: str) -> list[str]:
    return page.js(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)")


def test_every_script_and_emoji_is_shown_as_written_and_copied_back(page: Page, alice: TcpPeer) -> None:
    """A soft hyphen ("anti\\xadconstitucional") and England's flag (U+1F3F4 and its tag
    characters, "\\U000e0067...") were shown as escapes: neither can reorder or overprint."""
    page.log_in("Bob")
    alice.login("Alice")
    page.open_conversation("Alice")
    for text in TEXTS:
        alice.send_dm("Bob", text)
        alice.expect(Delivered, TIMEOUT)
    page.wait_for(f"document.querySelectorAll('#messages .msg-in').length === {len(TEXTS)}")
    assert shown_texts(page, "#messages .msg-in .msg-text") == TEXTS
    # What a copy gives back: the selection of each message's text, as written.
    copied = page.js("""[...document.querySelectorAll('#messages .msg-in .msg-text')].map(e => {
        const range = document.createRange(); range.selectNodeContents(e);
        const selection = getSelection(); selection.removeAllRanges(); selection.addRange(range);
        return selection.toString(); })""")
    assert copied == TEXTS
    # The word of 300 letters wraps: the page is no wider than the window.
    assert page.js("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert page.problems() == []


def test_our_message_with_a_soft_hyphen_is_edited_as_written_after_a_reload(page: Page, alice: TcpPeer) -> None:
    """After a reload the page has our message from the server; Edit put the escaped text
    ("anti\\xadconstitucional") in the composer, and saving it changed the message."""
    page.log_in("Bob")
    alice.login("Alice")
    page.open_conversation("Alice")
    written = "anti\u00adconstitucional 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    page.type(written)
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    assert dm.text == written
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
    page.cdp.send("Page.reload")
    page.wait_for("document.getElementById('connection')?.dataset.status === 'online'")
    page.open_conversation("Alice")
    page.wait_for("!!document.querySelector('#messages .msg-out .msg-edit')")
    assert shown_texts(page, "#messages .msg-out .msg-text") == [written]
    page.js("document.querySelector('#messages .msg-out .msg-edit').click()")
    page.wait_for("document.getElementById('composer').dataset.editing === 'true'")
    assert page.js("document.getElementById('composer-input').value") == written
    assert page.problems() == []


def isolated(page: Page, selector: str) -> list[str]:
    """The computed unicode-bidi of each element ``selector`` finds."""
    return page.js(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => getComputedStyle(e).unicodeBidi)")


def test_right_to_left_names_and_texts_keep_their_order_and_never_turn_the_page_around(page: Page, alice: TcpPeer) -> None:
    """A Hebrew message "שלום עולם!" was laid out left to right (its "!" on the wrong end),
    and a Hebrew topic took the page's " · 3 members" after it into its own direction: each
    name, text and topic is now laid out in its own direction (dir="auto"), isolated from
    the page's words around it."""
    page.log_in("محمد")
    alice.login("דוד")
    page.open_conversation("דוד")
    for text in ["שלום עולם!", "hello, world!"]:
        alice.send_dm("محمد", text)
        alice.expect(Delivered, TIMEOUT)
    page.wait_for("document.querySelectorAll('#messages .msg-in').length === 2")
    assert page.js("[...document.querySelectorAll('#messages .msg-in .msg-text')]"
                   ".map(e => getComputedStyle(e).direction)") == ["rtl", "ltr"]
    for selector in ["#me", "#conversation-title", "#messages .msg-in .msg-sender", "button.contact .contact-name"]:
        assert set(isolated(page, selector)) <= {"isolate", "plaintext"} and isolated(page, selector), selector
    # What we type in Hebrew is laid out right to left as we type it.
    page.type("שלום")
    assert page.js("getComputedStyle(document.getElementById('composer-input')).direction") == "rtl"
    page.js("document.getElementById('composer-input').value = ''")

    # A room with a Hebrew name and topic: the topic stays apart from the page's count.
    alice.send(JoinRoom("j1", "#שיעור"))
    alice.expect(RoomInfo, TIMEOUT)
    topic = "נושא: מבחן 1-2!"
    alice.send(SetTopic("t1", "#שיעור", topic))
    alice.expect(Done, TIMEOUT)
    page.focus("#join-room-name")
    page.type("#שיעור")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === '#שיעור'"
                  " && document.getElementById('conversation-presence').textContent.startsWith('נושא')")
    # The member list comes after the join's answer (its own request): both of us in it.
    page.wait_for("document.querySelectorAll('#member-list li').length === 2")
    assert page.js("document.getElementById('conversation-presence').textContent") == f"{topic} · 2 members"
    holders = page.js("[...document.querySelectorAll('#conversation-presence *')]"
                      f".filter(e => e.textContent === {json.dumps(topic)}).map(e => getComputedStyle(e).unicodeBidi)")
    assert holders and set(holders) <= {"isolate", "plaintext"}, holders
    assert set(isolated(page, "#member-list .member-name bdi")) == {"isolate"}
    assert page.problems() == []


FAMILY = "👨\u200d👩\u200d👧\u200d👦"


def test_texts_shortened_for_a_screen_reader_keep_whole_characters(page: Page, alice: TcpPeer) -> None:
    """Edit's label and what the page announces are cut short: the cut fell inside an emoji
    (a lone surrogate) or a family (a ZWJ sequence cut in two), and a name of a character
    outside the BMP ("𠮷田", a Japanese family name) had half of it as its avatar."""
    page.log_in("Bob")
    alice.login("𠮷田")
    page.open_conversation("𠮷田")
    # "𠮷田 to you: " and the a's bring a family across the announcement's cut.
    alice.send_dm("Bob", "a" * 141 + FAMILY * 10)
    alice.expect(Delivered, TIMEOUT)
    page.wait_for("document.getElementById('announcer').textContent.includes('aaa')")
    said = page.js("document.getElementById('announcer').textContent")
    start = "𠮷田 to you: " + "a" * 141
    assert said.startswith(start) and said.endswith("…"), said
    assert said[len(start):-1].replace(FAMILY, "") == "", said
    # Our message: Edit's label holds its first 39 characters.
    page.type("a" * 37 + FAMILY * 2 + "b" * 5)
    page.enter()
    page.wait_for("!!document.querySelector('#messages .msg-out .msg-edit')?.getAttribute('aria-label')")
    label = page.js("document.querySelector('#messages .msg-out .msg-edit').getAttribute('aria-label')")
    assert label == f"Edit the message “{'a' * 37}{FAMILY * 2}…”", label
    assert page.js("document.querySelector('button.contact[data-key=\"@𠮷田\"] .avatar').textContent") == "𠮷"
    assert page.problems() == []


def test_the_page_counts_a_messages_length_as_the_server_does_and_never_cuts_a_character(page: Page, alice: TcpPeer
                                                                                         ) -> None:
    """The limit is 4,000 characters (code points: PROTOCOL.md, "Limits"). The message box's
    maxlength counted UTF-16 units: 2,500 emoji were cut to 2,000, and 400 families were cut
    inside a ZWJ sequence (a family sent as "👨 ZWJ 👩 ZWJ"). A longer text is now not cut
    but refused where it was typed, and stays there to be shortened."""
    page.log_in("Bob")
    alice.login("Alice")
    page.open_conversation("Alice")
    for text in ["👍" * 2500, FAMILY * 400, "ç" * 4000]:
        page.type(text)
        assert page.js("document.getElementById('composer-input').value") == text
        page.enter()
        dm = alice.expect(DirectMessage, TIMEOUT)
        assert dm.text == text
        alice.receipt(dm.msg_id)
    too_long = "Conceic\u0327a\u0303o " * 334  # decomposed: 12 code points each, 4,007 sent (trimmed)
    page.type(too_long)
    page.enter()
    errors = "[...document.querySelectorAll('#messages .notice-error .notice-text')].map(n => n.textContent)"
    page.wait_for(f"{errors}.length === 1")
    assert page.js(errors) == ["Not sent: the text is longer than 4000 characters: shorten it, or send it in parts"]
    assert page.js("document.getElementById('composer-input').value") == too_long
    assert page.js("document.querySelectorAll('#messages .msg-out').length") == 3
    assert page.problems() == []


def test_enter_while_an_input_method_composes_does_not_send(page: Page, alice: TcpPeer) -> None:
    """Japanese, Chinese and Korean are typed through an input method: Enter picks the
    characters shown while composing (the browser says keyCode 229, isComposing); only the
    next Enter sends. (It held; this keeps it.)"""
    page.log_in("Bob")
    alice.login("Alice")
    page.open_conversation("Alice")
    page.cdp.send("Input.imeSetComposition", {"text": "にほん", "selectionStart": 3, "selectionEnd": 3})
    page.press("Enter", 229)
    page.cdp.send("Input.insertText", {"text": "日本"})  # the composition committed
    assert page.js("document.querySelectorAll('#messages .msg-out').length") == 0
    page.enter()
    assert alice.expect(DirectMessage, TIMEOUT).text == "日本"
    assert page.problems() == []


def test_a_room_topic_of_one_long_word_wraps_and_never_widens_the_page(page: Page, alice: TcpPeer) -> None:
    """A topic of 256 letters and no space (a link, a word pasted) made the page 2,486 px
    wide in a window of 1,100, and ran out of its row in the list of conversations and of
    its button in the list of public rooms."""
    alice.login("Alice")
    room, topic = "#" + "r" * 32, "T" * 256
    alice.send(JoinRoom("j1", room))
    alice.expect(RoomInfo, TIMEOUT)
    alice.send(SetTopic("t1", room, topic))
    alice.expect(Done, TIMEOUT)
    page.log_in("Bob")
    page.wait_for("document.querySelector('.room-entry')?.textContent.endsWith('TTT')")
    assert page.js("(() => { const b = document.querySelector('.room-entry');"
                   " return b.scrollWidth <= b.clientWidth && b.parentElement.parentElement.scrollWidth"
                   " <= b.parentElement.parentElement.clientWidth; })()") is True
    page.focus("#join-room-name")
    page.type(room)
    page.enter()
    page.wait_for("document.getElementById('conversation-presence').textContent.startsWith('TTT')")
    fits = """(() => {
      const row = document.querySelector('button.contact[data-key="##%s"]');
      return {page: document.documentElement.scrollWidth <= document.documentElement.clientWidth,
              row: row.scrollWidth <= row.clientWidth};
    })()""" % room[1:]
    assert page.js(fits) == {"page": True, "row": True}
    page.cdp.send("Emulation.setDeviceMetricsOverride", PHONE)
    page.wait_for("window.innerWidth === 390")
    assert page.js(fits)["page"] is True
    assert page.problems() == []
