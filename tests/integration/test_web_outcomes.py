"""The page says what became of a message as the other clients do (client/display.py's
failed_outcome): one the server refused at once was "not sent" (nothing reached anyone:
fix the name or the text), one it took that expired unconfirmed was "not delivered", and
how long it waited; in English and in Portuguese. A real server whose messages live 1.5 s,
in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browserpage import Page, open_page
from chatpeer import TcpPeer
from server import ServerConfig
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def write(page: Page, name: str, text: str) -> None:
    """A new conversation with ``name``, as a user starts one, and ``text`` sent in it."""
    page.focus("#new-chat-name")
    page.type(name)
    page.enter()
    page.wait_for(f"document.getElementById('conversation-title').textContent === '{name}'"
                  " && document.activeElement.id === 'composer-input'")
    page.type(text)
    page.enter()


def status(page: Page) -> str:
    return page.js("document.querySelector('#messages .msg-out .msg-status').textContent")


def test_the_page_tells_a_refused_message_from_an_expired_one(tmp_path: Path) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, queue_ttl=1.5, expiry_interval=0.1)
    with open_page(tmp_path, config) as page:
        olga = TcpPeer("127.0.0.1", page.srv.port)
        try:
            olga.login("Olga")  # online, and her client never confirms: the message expires
            page.log_in("Conceição")
            write(page, "Ninguem", "oi?")
            page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
            assert status(page) == "Not sent: nobody called Ninguem has ever logged in here: check the name"
            write(page, "Olga", "bom dia")
            page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'", timeout=10)
            expired = status(page)
            assert re.fullmatch(r"Not delivered: it waited \d\.\d s for Olga and expired: their client never took "
                                r"it; tell them some other way, or send it again when they are online", expired), \
                expired
            page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
                    " s.dispatchEvent(new Event('change')); })()")
            page.wait_for("document.documentElement.lang === 'pt-BR'")
            assert re.fullmatch(r"Não entregue: ela esperou \d,\d s por Olga e expirou: o cliente dessa pessoa nunca "
                                r"a recebeu; avise de outro jeito, ou envie de novo quando a pessoa estiver online",
                                status(page)), status(page)
            write(page, "Fulano", "alguém?")  # (a mistyped name leaves the contact list: a new one)
            page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
            assert status(page) == "Não enviada: ninguém chamado Fulano jamais entrou aqui: confira o nome"
            assert page.problems() == []
            page.screenshot(tmp_path / "web-not-sent.png")  # to look at: pytest --basetemp=DIR
            page.open_conversation("Olga")
            page.wait_for("document.getElementById('conversation-title').textContent === 'Olga'")
            assert status(page).startswith("Não entregue: ela esperou ")
            page.screenshot(tmp_path / "web-not-delivered.png")
        finally:
            olga.close()
