"""One account on the page and on a terminal at once (headless Chromium; see
test_web_browser.py for the harness), as a tester used it: what João does on his terminal
shows true on his page. Messages and room posts read on the terminal are no longer unread
on the page; a
room left on the terminal leaves the page's list, and writing there is refused in the
page's language; one joined there joins the list; his own room posts from the terminal
show as his; what the terminal got and sent while the page was reconnecting shows on the
page once it is back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from browserpage import Page, page  # noqa: F401 (fixtures)
from client.library import ChatClient
from clientkit import WAIT, posted
from server.outbox import WriteBatcher
from server.web import start_web_server, stop_web_server
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)
PASSWORD = "correct horse"
CALCULO = '##calculo'  # the page's key of #calculo


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


@pytest.fixture
def terminal(page: Page) -> Iterator[ChatClient]:  # noqa: F811 (the fixture)
    """João's registered account, online on a terminal (a library client); the page then
    logs in as João with the password."""
    joao = ChatClient("João", "127.0.0.1", page.srv.port, password=PASSWORD, register=True)
    try:
        joao.connect(timeout=WAIT)
        yield joao
    finally:
        joao.close()


@pytest.fixture
def ana(page: Page) -> Iterator[ChatClient]:  # noqa: F811
    other = ChatClient("Ana", "127.0.0.1", page.srv.port)
    try:
        other.connect(timeout=WAIT)
        yield other
    finally:
        other.close()


def speak_portuguese(page: Page) -> None:  # noqa: F811
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.documentElement.lang === 'pt-BR' && document.getElementById('login-submit')"
                  ".textContent === 'Entrar'")


def log_in_as_joao(page: Page) -> None:  # noqa: F811
    page.js("document.getElementById('login-name').value = 'João';"
            f"document.getElementById('login-password').value = {json.dumps(PASSWORD)};")
    page.focus("#login-password")
    page.enter()
    page.wait_for("document.body.dataset.view === 'chat' && document.getElementById('me').textContent === 'João'"
                  " && document.getElementById('connection').dataset.status === 'online'")


def badge(key: str) -> str:
    """The expression for the unread badge of contact row ``key`` ('' when there is none)."""
    return f"(document.querySelector('button.contact[data-key={json.dumps(key)}] .badge')?.textContent || '')"


def join_calculo_on_the_page(page: Page) -> None:  # noqa: F811
    page.focus("#join-room-name")
    page.type("calculo")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === '#calculo'")


def test_direct_messages_read_on_the_terminal_are_no_longer_unread_on_the_page(
        page: Page, terminal: ChatClient, ana: ChatClient, tmp_path: Path) -> None:  # noqa: F811
    log_in_as_joao(page)
    first = ana.send_direct("João", "a prova mudou")
    second = ana.send_direct("João", "é na sala 205")
    assert first.wait_done(WAIT) and second.wait_done(WAIT)
    page.wait_for(f"{badge('@ana')} === '2'")

    terminal.mark_read("Ana", first.msg_id)  # the terminal printed the first one
    page.wait_for(f"{badge('@ana')} === '1'")
    terminal.mark_read("Ana", second.msg_id)
    page.wait_for(f"{badge('@ana')} === ''")
    assert page.js("document.title") == "Chat"  # no "(2) Chat" left either
    page.screenshot(tmp_path / "read-elsewhere.png")
    assert page.problems() == []


def test_room_posts_read_on_the_terminal_are_no_longer_unread_on_the_page(
        page: Page, terminal: ChatClient, ana: ChatClient, tmp_path: Path) -> None:  # noqa: F811
    """The page showed "#calculo 3" after João read the room on the terminal: the server
    now forwards his own room mark to his other sessions, and the page clears the room's
    unread count up to it (the posts after it stay unread)."""
    log_in_as_joao(page)
    join_calculo_on_the_page(page)
    ana.join("#calculo")
    page.js("selectConversation(ROOM)")  # #calculo not on screen: its posts count as unread
    ids = [posted(ana, "#calculo", text).msg_id for text in ("lista 3", "lista 4", "lista 5")]
    page.wait_for(f"{badge(CALCULO)} === '3'")

    terminal.mark_read_in_room("#calculo", ids[1])  # the terminal printed the first two
    page.wait_for(f"{badge(CALCULO)} === '1'")
    terminal.mark_read_in_room("#calculo", ids[2])
    page.wait_for(f"{badge(CALCULO)} === ''")
    assert page.js("document.title") == "Chat"
    # Not to be said again by the page: it has been said.
    assert page.js(f"shell.chat.conversations.get({json.dumps(CALCULO)}).readSent") == ids[2]
    page.screenshot(tmp_path / "room-read-elsewhere.png")
    assert page.problems() == []


def test_a_room_left_on_the_terminal_leaves_the_page_and_writing_there_is_refused_in_portuguese(
        page: Page, terminal: ChatClient, ana: ChatClient, tmp_path: Path) -> None:  # noqa: F811
    speak_portuguese(page)
    log_in_as_joao(page)
    join_calculo_on_the_page(page)
    ana.join("#calculo")
    page.wait_for(f"!!document.querySelector('button.contact[data-key={json.dumps(CALCULO)}]')")

    terminal.leave("#calculo")  # /deixar #calculo on the terminal
    page.wait_for(f"!document.querySelector('button.contact[data-key={json.dumps(CALCULO)}]')")
    # The room still on screen says so, and that João left it.
    page.wait_for("document.getElementById('conversation-presence').textContent === 'Você não está nesta sala'")
    notices = "[...document.querySelectorAll('#messages .notice .notice-text')].map(n => n.textContent)"
    assert "Você saiu de #calculo" in page.js(notices)

    page.focus("#composer-input")
    page.type("ainda estou aqui?")
    page.enter()
    # Refused on the page, as the terminal and the window refuse it: nothing sent, the text
    # kept in the box, and what to do said (test_web_out_of_room.py, in English).
    # The page's join control is named, not the window's button (Entrar na sala).
    refused = ("Não enviado, o texto fica na caixa: você não está mais em #calculo: entre de novo (Entrar numa sala "
               "ou criá-la) para escrever aqui, ou abra Todos")
    page.wait_for(f"{notices}.includes({json.dumps(refused)})")
    assert page.js("document.querySelectorAll('#messages .msg-out').length") == 0
    assert page.js("document.getElementById('composer-input').value") == "ainda estou aqui?"
    page.screenshot(tmp_path / "left-elsewhere.png")
    # Nothing in English, no refusal said apart from the message (a read or typing sent
    # for a room no longer ours).
    assert "you are not in" not in page.js("document.getElementById('messages').textContent")
    assert [n for n in page.js(notices) if n.startswith("Servidor")] == []
    assert page.problems() == []


def test_a_room_left_elsewhere_while_the_page_was_away_is_refused_in_portuguese_when_opened(
        page: Page, terminal: ChatClient, ana: ChatClient) -> None:  # noqa: F811
    """The page's list is out of date (it has not yet heard of the leave): the room's
    history is refused with the room named, in Portuguese, and the room goes."""
    speak_portuguese(page)
    log_in_as_joao(page)
    join_calculo_on_the_page(page)
    ana.join("#calculo")  # the room stays when João leaves it
    page.wait_for("document.getElementById('messages').textContent.includes('Ana entrou em #calculo')"
                  " && shell.chat.requests.size === 0")
    # As if the page had missed the leave (its notices are not handled for a while), with
    # the room's history to be asked again.
    page.js("(() => { const notices = HANDLERS.room_notice; HANDLERS.room_notice = () => {};"
            " window.restoreNotices = () => { HANDLERS.room_notice = notices; }; })()")
    page.js("shell.chat.conversations.get('##calculo').historyAsked = false")
    terminal.leave("#calculo")
    page.js("selectConversation(ROOM)")
    page.js(f"selectConversation({json.dumps(CALCULO)})")
    errors = "[...document.querySelectorAll('#messages .notice-error .notice-text')].map(n => n.textContent)"
    page.wait_for(f"{errors}.length === 1")
    assert page.js(errors) == [
        "Não foi possível carregar as mensagens anteriores: você não está em #calculo: entre nela primeiro"]
    page.wait_for(f"!document.querySelector('button.contact[data-key={json.dumps(CALCULO)}]')")
    page.js("restoreNotices()")
    assert page.problems() == []


def test_a_room_post_sent_from_the_terminal_shows_on_the_page_as_joaos_own(
        page: Page, terminal: ChatClient, ana: ChatClient, tmp_path: Path) -> None:  # noqa: F811
    speak_portuguese(page)
    log_in_as_joao(page)
    join_calculo_on_the_page(page)
    ana.join("#calculo")
    mine = posted(terminal, "#calculo", "do terminal para #calculo")
    selector = f"#messages li.msg[data-msg-id=\"{mine.msg_id}\"]"
    page.wait_for(f"!!document.querySelector({json.dumps(selector)})")
    shown = page.js(f"(() => {{ const m = document.querySelector({json.dumps(selector)});"
                    " return {out: m.classList.contains('msg-out'), sender: m.querySelector('.msg-sender').textContent,"
                    " edit: !!m.querySelector('.msg-edit') && !m.querySelector('.msg-actions').hidden}; })()")
    assert shown == {"out": True, "sender": "Você", "edit": True}
    # Ana's post shows as hers; João's own, sent while the page shows Everyone, is not unread.
    posted(ana, "#calculo", "oi")
    page.wait_for("[...document.querySelectorAll('#messages .msg-in')].length === 1")
    page.screenshot(tmp_path / "own-post-elsewhere.png")
    page.js("selectConversation(ROOM)")
    again = posted(terminal, "#calculo", "mais uma do terminal")
    page.wait_for(f"shell.chat.conversations.get({json.dumps(CALCULO)}).items"
                  f".some(i => i.msgId === {again.msg_id})")
    assert page.js(badge(CALCULO)) == ""
    # Edited from the terminal: the page's line changes (it is found as ours).
    terminal.edit(again.msg_id, "mais uma, editada")
    page.js(f"selectConversation({json.dumps(CALCULO)})")
    page.wait_for(f"document.querySelector('#messages li.msg[data-msg-id=\"{again.msg_id}\"] .msg-text')"
                  "?.textContent === 'mais uma, editada'")
    assert page.problems() == []


def test_a_room_joined_on_the_terminal_is_listed_on_the_page(
        page: Page, terminal: ChatClient, ana: ChatClient) -> None:  # noqa: F811
    speak_portuguese(page)
    log_in_as_joao(page)
    ana.join("#calculo")
    ana.set_topic("#calculo", "prova na sexta")
    terminal.join("#calculo")  # /entrar #calculo on the terminal
    row = f"button.contact[data-key={json.dumps(CALCULO)}] .contact-presence"
    page.wait_for(f"document.querySelector({json.dumps(row)})?.textContent === 'prova na sexta'")
    page.js(f"selectConversation({json.dumps(CALCULO)})")
    page.wait_for("document.getElementById('conversation-presence').textContent === 'prova na sexta · 2 membros'")
    assert page.problems() == []


def messages_with(key: str) -> str:
    """The expression for the messages of conversation ``key`` the page keeps: [dir, text, state]."""
    return (f"shell.chat.conversations.get({json.dumps(key)}).items.filter(i => i.kind === 'message')"
            ".map(i => [i.dir, i.text, i.dir === 'out' ? i.state : ''])")


def cut_the_page_off(page: Page) -> int:  # noqa: F811
    """The gateway stops listening and the page's session is cut: the page keeps trying to
    reconnect. Returns the gateway's port, to listen on again."""
    port = page.web.sockets[0].getsockname()[1]

    def cut_the_pages() -> None:
        for session in list(page.srv.server.relay.sessions):
            if type(session).__name__ == "WebSession":
                session.abort("the test cuts the page's connection")

    page.srv.run(stop_web_server(page.web))
    page.srv.call(cut_the_pages)
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'"
                  " && shell.attempts >= 1")
    return port


def test_what_the_terminal_got_and_sent_while_the_page_was_reconnecting_shows_on_the_page(
        page: Page, terminal: ChatClient, ana: ChatClient, tmp_path: Path) -> None:  # noqa: F811
    """The server gives a direct message to the sessions online when it comes, and copies
    of what another session sent only to those online then: the page, reconnecting while
    the terminal took Ana's messages (delivered by its receipt) and answered her, never got
    them. It now asks its conversations' newest pages after the reconnection."""
    log_in_as_joao(page)
    before = ana.send_direct("João", "antes")
    assert before.wait_done(WAIT) and before.state == "delivered"
    page.wait_for(f"{badge('@ana')} === '1'")
    page.js("selectConversation('@ana')")  # read on the page, then back to Everyone
    page.wait_for(f"{badge('@ana')} === ''")
    page.js("selectConversation(ROOM)")
    port = cut_the_page_off(page)
    later = None
    try:
        first = ana.send_direct("João", "a prova mudou")
        second = ana.send_direct("João", "é na sala 205")
        # The terminal took them (its receipt made them delivered) and answered.
        assert first.wait_done(WAIT) and first.state == "delivered"
        assert second.wait_done(WAIT) and second.state == "delivered"
        answer = terminal.send_direct("Ana", "vou levar o livro")
        assert answer.wait_done(WAIT) and answer.state == "delivered"
        terminal.edit(answer.msg_id, "vou levar o livro amanhã")  # shown edited
        # Typed on the page meanwhile, in Ana's conversation: it waits, goes after the
        # welcome, and its line is not shown twice when the catch-up's page lists it.
        page.js("selectConversation('@ana')")
        page.focus("#composer-input")
        page.type("estou voltando")
        page.enter()
        page.wait_for("document.querySelector('#messages li.msg-out')?.dataset.state === 'waiting'")
        page.js("selectConversation(ROOM)")

        async def listen_again():
            batcher = WriteBatcher(asyncio.get_running_loop())
            return await start_web_server(page.srv.server.relay, "127.0.0.1", port, batcher=batcher)
        later = page.srv.run(listen_again())
        page.wait_for("document.getElementById('connection').dataset.status === 'online'", 40)
        # Once each, in order, as if the page had been there; Ana's two unread.
        page.wait_for(f"{messages_with('@ana')}.length >= 5 && shell.chat.requests.size === 0")
        assert page.js(messages_with("@ana")) == [
            ["in", "antes", ""], ["in", "a prova mudou", ""], ["in", "é na sala 205", ""],
            ["out", "vou levar o livro amanhã", "delivered"], ["out", "estou voltando", "delivered"]]
        page.wait_for(f"{badge('@ana')} === '2'")
        assert page.js("document.title").startswith("(2)")
        page.screenshot(tmp_path / "caught-up-unread.png")
        page.js("selectConversation('@ana')")
        page.wait_for("document.getElementById('conversation-title').textContent === 'Ana'"
                      f" && {badge('@ana')} === ''")
        shown = page.js("[...document.querySelectorAll('#messages li.msg')].map(m =>"
                        " [m.classList.contains('msg-out') ? 'out' : 'in', m.querySelector('.msg-text').textContent,"
                        " m.dataset.state || ''])")
        assert shown == [["in", "antes", ""], ["in", "a prova mudou", ""], ["in", "é na sala 205", ""],
                         ["out", "vou levar o livro amanhã", "delivered"], ["out", "estou voltando", "delivered"]]
        assert page.js("!document.querySelector('#messages li.msg-out .msg-edited').hidden") is True
        page.screenshot(tmp_path / "caught-up.png")
        assert page.problems() == []
    finally:
        if later is not None:
            page.srv.run(stop_web_server(later))


def test_read_receipts_turned_off_on_the_terminal_turn_off_on_the_page_in_portuguese_and_no_read_goes(
        page: Page, terminal: ChatClient, ana: ChatClient) -> None:  # noqa: F811
    """João turned receipts off on his terminal; his page went on sending reads and typing
    and showed the server's English "forbidden" until he logged in again. Now the page's
    switch follows at once, said in his language, and it sends nothing the server refuses."""
    page.cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
    speak_portuguese(page)
    log_in_as_joao(page)
    assert page.js("shell.chat.readReceipts") is True
    terminal.set_read_receipts(False, WAIT)
    page.wait_for("shell.chat.readReceipts === false && !document.getElementById('read-receipts').checked")
    page.wait_for("[...document.querySelectorAll('#messages .notice')].some((n) => n.textContent.includes("
                  "'As confirmações de leitura foram desligadas em outro dispositivo seu'))")
    sent = page.js("(() => { window.__sent = []; const ws = shell.socket; const send = ws.send.bind(ws);"
                   " ws.send = (data) => { window.__sent.push(String(data)); return send(data); }; return true; })()")
    assert sent
    message = ana.send_direct("João", "leu?")
    assert message.wait_done(WAIT)
    page.open_conversation("Ana")
    page.wait_for("[...document.querySelectorAll('#messages .msg-in')].some((m) => m.textContent.includes('leu?'))")
    page.focus("#composer-input")
    page.type("digitando")
    page.cdp.pump(1.0)
    frames = [json.loads(line) for data in page.js("window.__sent") for line in data.splitlines() if line]
    assert not [f for f in frames if f.get("type") in ("read", "typing")], frames
    # A read refused before the news came (the server's forbidden, without id): no English.
    page.js("onFrame({type: 'error', code: 'forbidden', message: \"your read receipts are off, so 'read' is too\"})")
    page.cdp.pump(0.3)
    assert "your read receipts are off" not in page.js("document.body.textContent")
    assert page.problems() == []


def test_a_new_contacts_message_the_terminal_took_while_the_page_was_reconnecting_shows_on_the_page_once(
        page: Page, terminal: ChatClient, ana: ChatClient) -> None:  # noqa: F811
    """Feature since: Bia, whom the page never talked with, writes to João while the page
    reconnects; the terminal takes it (delivered: no queue keeps it for the page), and the
    page had no conversation with her to ask for. It asks every conversation's messages
    after the newest it showed, and Bia's shows once, unread, in a conversation of its own."""
    log_in_as_joao(page)
    before = ana.send_direct("João", "antes")
    assert before.wait_done(WAIT) and before.state == "delivered"
    page.wait_for(f"{badge('@ana')} === '1'")
    port = cut_the_page_off(page)
    bia = ChatClient("Bia", "127.0.0.1", page.srv.port)
    later = None
    try:
        bia.connect(timeout=WAIT)
        first = bia.send_direct("João", "oi, sou a Bia")
        assert first.wait_done(WAIT) and first.state == "delivered"  # the terminal took it
        answer = terminal.send_direct("Bia", "oi, Bia")
        assert answer.wait_done(WAIT) and answer.state == "delivered"

        async def listen_again():
            batcher = WriteBatcher(asyncio.get_running_loop())
            return await start_web_server(page.srv.server.relay, "127.0.0.1", port, batcher=batcher)
        later = page.srv.run(listen_again())
        page.wait_for("document.getElementById('connection').dataset.status === 'online'", 40)
        page.wait_for("shell.chat.conversations.has('@bia') && shell.chat.requests.size === 0")
        assert page.js(messages_with("@bia")) == [["in", "oi, sou a Bia", ""], ["out", "oi, Bia", "delivered"]]
        page.wait_for(f"{badge('@bia')} === '1'")
        assert page.js(messages_with("@ana")) == [["in", "antes", ""]]
        assert page.problems() == []
    finally:
        bia.close()
        if later is not None:
            page.srv.run(stop_web_server(later))


def test_a_password_changed_on_the_terminal_signs_the_page_out_asking_for_the_new_one(
        page: Page, terminal: ChatClient) -> None:  # noqa: F811
    """João changes his password on his terminal: the page (another device) shows the login
    form saying why, the cursor in the password field, and does not log in again with the
    old password; the terminal stays. Then the operator's reset: the page says that one."""
    log_in_as_joao(page)
    terminal.change_password(PASSWORD, "a new horse battery", timeout=WAIT)
    page.wait_for("document.body.dataset.view === 'login'")
    said = page.js("document.getElementById('login-error').textContent")
    assert said.startswith("Your password was changed on another device: log in again with the new password"), said
    assert page.js("document.activeElement.id") == "login-password"
    assert page.js("document.getElementById('login-password').value") == ""
    assert terminal.who(timeout=WAIT) is not None  # the device that changed it stays
    page.js("document.getElementById('login-name').value = 'João';"
            "document.getElementById('login-password').value = 'a new horse battery';")
    page.focus("#login-password")
    page.enter()
    page.wait_for("document.body.dataset.view === 'chat' && "
                  "document.getElementById('connection').dataset.status === 'online'")
    page.srv.call(lambda: page.srv.server.relay.account_desk.reset_password("João", lambda password, failure: None))
    page.wait_for("document.body.dataset.view === 'login'")
    said = page.js("document.getElementById('login-error').textContent")
    assert said.startswith("Your password was reset by the server operator"), said
    assert page.problems() == []


def test_an_account_deleted_on_the_terminal_takes_the_page_to_the_login_form_saying_so(
        page: Page, terminal: ChatClient) -> None:  # noqa: F811
    """João deletes his account on his terminal (/unregister): the page (another device)
    shows the login form saying the account was deleted, and does not reconnect."""
    log_in_as_joao(page)
    terminal.unregister(PASSWORD, timeout=WAIT)
    page.wait_for("document.body.dataset.view === 'login'")
    said = page.js("document.getElementById('login-error').textContent")
    assert said.startswith("This account was deleted"), said
    assert page.js("document.getElementById('login-password').value") == ""
