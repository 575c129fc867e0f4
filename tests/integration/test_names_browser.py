"""The web page with names of every script (issue 11), in headless Chromium: João chats
from the page; a look-alike of João and a name with a space are refused with a reason."""

from __future__ import annotations

from browserpage import TIMEOUT, Page, alice, page  # noqa: F401 (fixtures)
from chatpeer import TcpPeer
from protocol import Accepted, DirectMessage


def test_joao_chats_from_the_page_under_any_spelling_of_his_name(page: Page, alice: TcpPeer) -> None:  # noqa: F811
    page.log_in("João")
    alice.login("Maria")
    alice.send_dm("JOA\u0303O", "olá, João")  # another case, a decomposed Ã: the same user
    alice.expect(Accepted, TIMEOUT)
    page.wait_for("document.querySelector('button.contact[data-key=\"@maria\"] .badge')?.textContent === '1'")
    page.open_conversation("Maria")
    assert page.js("document.querySelector('#messages .msg-in .msg-text').textContent") == "olá, João"
    page.type("oi, Maria!")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    assert (dm.sender, dm.to, dm.text) == ("João", "Maria", "oi, Maria!")
    # A conversation started with the decomposed spelling is João's own key, not a new one.
    assert page.js("nameKey('Joa\\u0303o') === nameKey('JOÃO') && contactKey('JOÃO') === '@joão'")
    assert page.problems() == []


def test_the_page_refuses_a_look_alike_and_a_spaced_name_saying_why(page: Page, alice: TcpPeer) -> None:  # noqa: F811
    alice.login("João")
    page.focus("#login-name")
    page.type("J0ão")
    page.enter()
    page.wait_for("document.getElementById('login-error').textContent.includes('João')")
    assert "looks too much like" in page.js("document.getElementById('login-error').textContent")
    assert page.js("document.body.dataset.view") == "login"
    page.js("document.getElementById('login-name').value = ''")
    page.type("Ana Maria")
    page.enter()
    page.wait_for("document.getElementById('login-error').textContent.includes('Ana_Maria')")
    page.js("document.getElementById('login-name').value = ''")
    page.type("Conceição")
    page.enter()
    page.wait_for("document.body.dataset.view === 'chat'")
    assert page.problems() == []


def test_the_page_says_a_look_alike_of_a_reserved_word_is_reserved_not_someones(page: Page) -> None:  # noqa: F811
    """The page said "'ALI' ... a name already in use here: if all is yours, type it exactly
    so" of "all", which nobody holds (the hello's error has "reserved": true)."""
    page.focus("#login-name")
    page.type("ALI")
    page.enter()
    page.wait_for("document.getElementById('login-error').textContent.includes('all')")
    said = page.js("document.getElementById('login-error').textContent")
    assert "a word reserved for the server: choose another name" in said and "is yours" not in said, said
    assert page.js("document.body.dataset.view") == "login" and page.problems() == []
