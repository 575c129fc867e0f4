"""The web page in Brazilian Portuguese, as a tester used it (headless Chromium; see
test_web_browser.py for the harness): refused logins, a message to a name nobody has, the
server stopping, the contact list for screen readers and the read-receipts switch are
said in the page's language; the header keeps the user's name, and a room's header its
member list, inside the window."""

from __future__ import annotations

import json
import re

import pytest

import const
from browserpage import TIMEOUT, Page, alice, page  # noqa: F401 (fixtures)
from chatpeer import TcpPeer
from client.library import ChatClient
from clientkit import WAIT
from protocol import Goodbye, Hello, JoinRoom, RoomInfo, Welcome
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)
PASSWORD = "correct horse"


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def speak_portuguese(page: Page) -> None:
    """The language switch, as a user would turn it."""
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.documentElement.lang === 'pt-BR' && document.getElementById('login-submit')"
                  ".textContent === 'Entrar'")


def try_to_log_in(page: Page, name: str) -> None:
    """Type ``name`` (replacing what the field holds), no password, and press Enter."""
    page.focus("#login-name")
    page.js("document.getElementById('login-name').select()")
    page.type(name)
    page.enter()


def register(page: Page, name: str) -> None:
    """An account for ``name`` (registered from a terminal connection, then gone)."""
    owner = TcpPeer("127.0.0.1", page.srv.port)
    try:
        owner.send(Hello("r", name, const.PROTOCOL_VERSION, PASSWORD, True))
        owner.expect(Welcome, TIMEOUT)
    finally:
        owner.close()


def test_a_refused_login_is_explained_in_portuguese_with_the_name_typed(page: Page, alice: TcpPeer) -> None:
    # Conceição has an account; João is online as a guest.
    register(page, "Conceição")
    alice.login("João")
    speak_portuguese(page)

    try_to_log_in(page, "Conceição")
    page.wait_for("document.getElementById('login-error').textContent !== ''")
    assert page.js("document.getElementById('login-error').textContent") == \
        "O nome Conceição está registrado: ele precisa da senha"
    assert page.js("document.activeElement.id") == "login-password"

    try_to_log_in(page, "JOÃO")
    page.wait_for("document.getElementById('login-error').textContent.includes('JOÃO')")
    assert page.js("document.getElementById('login-error').textContent") == \
        ("O nome JOÃO está em uso, ou reservado por um tempo para o convidado que o usou por último:"
         " escolha outro nome")
    assert page.problems() == []


def test_after_a_refused_login_the_header_says_not_connected_and_a_new_name_clears_the_error(
        page: Page, alice: TcpPeer) -> None:
    alice.login("João")
    speak_portuguese(page)
    try_to_log_in(page, "JOÃO")
    page.wait_for("document.getElementById('login-error').textContent !== ''")
    # The form waits for the user: the header says so, not "Conectando…".
    assert page.js("document.getElementById('connection').dataset.status") == "offline"
    assert page.js("document.getElementById('connection').textContent") == "Sem conexão"
    # Another name: the refusal of the last one goes.
    page.focus("#login-name")
    page.type("x")
    assert page.js("document.getElementById('login-error').textContent") == ""
    assert page.problems() == []


def test_a_message_to_a_name_nobody_has_fails_once_in_portuguese(page: Page) -> None:
    speak_portuguese(page)
    page.log_in("Bob")
    page.focus("#new-chat-name")
    page.type("Fulano_Inexistente")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === 'Fulano_Inexistente'"
                  " && document.activeElement.id === 'composer-input'")
    page.type("Olá")
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
    assert page.js("document.querySelector('#messages .msg-out .msg-status').textContent") == \
        "Não enviada: ninguém chamado Fulano_Inexistente jamais entrou aqui: confira o nome"
    # The server answers in order; a second message's answer comes after anything the
    # first one (or typing it) caused: by then every error is on screen.
    page.type("Alguém aí?")
    page.enter()
    page.wait_for("[...document.querySelectorAll('#messages .msg-out')].filter(m => m.dataset.state === 'failed')"
                  ".length === 2")
    assert page.js("[...document.querySelectorAll('#messages .notice')].map(n => n.textContent)") == []
    assert "nobody" not in page.js("document.getElementById('announcer').textContent")
    assert page.problems() == []


def test_the_server_stopping_is_said_in_portuguese_and_the_name_stays_whole(page: Page) -> None:
    speak_portuguese(page)
    page.log_in("Conceição")

    async def quit_like_the_console() -> None:
        page.web.close()  # no more connections (the console's /quit closes the listener first)
        page.srv.server.relay.shut_down("server shutting down")  # every session gets its bye

    page.srv.run(quit_like_the_console())
    page.wait_for("shell.attempts >= 3 && document.getElementById('connection').dataset.status === 'reconnecting'",
                  TIMEOUT + 10)
    pill = page.js("document.getElementById('connection').textContent")
    assert pill == "Reconectando… — O servidor parou ou está reiniciando", pill
    # The attempt number beside it (outside the live region: not said again at every try).
    assert re.fullmatch(r"tentativa \d+", page.js("document.getElementById('connection-detail').textContent"))
    assert page.js("document.getElementById('connection').title") == pill  # all of it, where the pill is cut
    # The user's name is not cut short by the pill.
    assert page.js("document.getElementById('me').textContent") == "Conceição"
    assert page.js("(() => { const me = document.querySelector('.me-box');"
                   " return me.scrollWidth <= me.clientWidth; })()") is True
    assert page.js("document.documentElement.scrollWidth <= window.innerWidth") is True


def test_the_contact_list_speaks_to_screen_readers_in_the_pages_language(page: Page, alice: TcpPeer) -> None:
    speak_portuguese(page)
    page.log_in("Bob")
    alice.login("João")
    page.wait_for("!!document.querySelector('button.contact[data-key=\"@joão\"]')")
    page.focus("#join-room-name")
    page.type("redes-ção")
    page.enter()
    page.wait_for("!!document.querySelector('button.contact[data-key=\"##redes-ção\"]')")
    labels = "[...document.querySelectorAll('#contact-list button.contact')].map(b => b.getAttribute('aria-label'))"
    page.wait_for("document.querySelector('button.contact[data-key=\"##redes-ção\"] .contact-presence')"
                  "?.textContent === '1 membro'")
    assert page.js(labels) == ["Todos, Sala geral", "#redes-ção, 1 membro", "João, online"]
    assert page.problems() == []


def test_the_read_receipts_switch_says_whether_they_are_on(page: Page) -> None:
    switch_title = "document.querySelector('label.receipts-switch').title"
    speak_portuguese(page)
    page.log_in("Bob")
    assert page.js("document.getElementById('read-receipts').checked") is True
    assert page.js(switch_title) == "Confirmações de leitura e digitação: ligadas, você as envia e vê"
    page.js("document.getElementById('read-receipts').click()")
    page.wait_for("shell.chat.readReceipts === false && !document.getElementById('read-receipts').checked")
    assert page.js(switch_title) == \
        "Confirmações de leitura e digitação: desligadas, você não envia nem vê nenhuma"
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.documentElement.lang === 'en'")
    assert page.js(switch_title) == "Read receipts and typing: off, you neither send nor see them"
    page.js("document.getElementById('read-receipts').click()")
    page.wait_for("shell.chat.readReceipts === true")
    assert page.js(switch_title) == "Read receipts and typing: on, you send and see them"
    assert page.problems() == []


TOPIC = "prova na sexta: capítulos 3 e 4 (roteamento estático e OSPF), tragam a calculadora"


def test_a_rooms_topic_and_open_member_list_fit_the_window(page: Page) -> None:
    """Bob owns #redes, with a topic; open, its member list (with Ban for Olga) stays in
    the 1100 px window, and the topic is not squeezed into a narrow column."""
    speak_portuguese(page)  # the longer words ("Pôr para fora", "Silenciar 10 min")
    page.log_in("Bob")
    page.focus("#join-room-name")
    page.type("redes")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === '#redes'")
    olga = ChatClient("Olga", "127.0.0.1", page.srv.port)
    try:
        olga.connect(timeout=WAIT)
        olga.join("#redes")
        page.js(f"sendFrame(topicFrame(shell.chat, '##redes', {json.dumps(TOPIC)}))")
        page.wait_for(f"document.getElementById('conversation-presence').textContent.startsWith({json.dumps(TOPIC)})")
        page.wait_for("!!document.querySelector('#member-list li[data-name=\"Olga\"] button[data-act=\"ban\"]')")
        page.js("document.querySelector('details.members').open = true")
        fits = page.js("""(() => {
          const right = document.querySelector('.conversation').getBoundingClientRect().right;
          const buttons = [...document.querySelectorAll('#member-list button, #room-tools > button')];
          const range = document.createRange();
          range.selectNodeContents(document.getElementById('conversation-presence'));
          return {page: document.documentElement.scrollWidth <= window.innerWidth,
                  header: document.querySelector('.conversation-header').scrollWidth
                          <= document.querySelector('.conversation-header').clientWidth,
                  buttons: buttons.every((b) => b.getBoundingClientRect().right <= right + 0.5),
                  // Lines, not boxes: the topic's own <bdi> (isolated from " · 3 members") is a box too.
                  topicLines: new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size};
        })()""")
        assert fits == {"page": True, "header": True, "buttons": True, "topicLines": fits["topicLines"]}, fits
        assert fits["topicLines"] <= 2, fits
        assert page.problems() == []
    finally:
        olga.close()


def test_the_clients_sentences_with_the_protocols_limits_are_filled_in(page: Page) -> None:
    """The sentences of client/display.py's table that name a limit get the protocol's
    figures in the page too, not a literal "{limit}"."""
    speak_portuguese(page)
    assert page.js("explainError('message_too_large', 'x', null)") == \
        "o texto tem mais de 4000 caracteres: encurte-o, ou envie-o em partes"
    assert page.js("explainError('too_late', 'x', null)") == \
        "uma mensagem só pode ser editada ou apagada até 15 min depois de enviada"
    assert page.js("explainError('not_member', 'you are not in #redes: join it first', '#redes')") == \
        "você não está em #redes: entre nela primeiro"
    # The code only where no sentence explains it: then it is the one clue.
    # (The server's words marked as English, for showText's lang="en" span.)
    assert page.js("explainError('something_new', 'the server words', null)") == \
        "\ue000the server words\ue001 (something_new)"
    # A message to Joao while João is online: the error's "like" names João.
    assert page.js("explainError('unknown_recipient', 'x', 'Joao', null, 'João')") == \
        "ninguém chamado Joao jamais entrou aqui; você quis dizer João?"
    assert page.js("explainError('unknown_recipient', 'x', 'Joao', null, null)") == \
        "ninguém chamado Joao jamais entrou aqui: confira o nome"


def test_a_name_kept_for_its_last_guest_is_refused_saying_until_when(page: Page) -> None:
    """A student moving to the page from another device (no token here) is told until when
    and for how long the name stays kept (the error's ``until``), not only "for a while";
    the guest's own earlier session (``retry_after``) keeps its own sentence. The time is
    read once: read twice, a minute could turn between the readings."""
    speak_portuguese(page)
    said, clock = page.js("(() => { const until = nowSeconds() + 570; return [explainError('name_taken', 'x',"
                          " 'Otávio', null, null, null, null, false, null, null, until), formatTime(until)]; })()")
    assert said.startswith("o nome Otávio está reservado para o convidado que o usou por último até ") \
        and clock in said and "escolha outro nome" in said and "9 min" in said, said
    mine = page.js("explainError('name_taken', 'x', 'Otávio', 0.2)")
    assert mine.startswith("o nome Otávio é seu"), mine


def test_a_moderators_delete_of_our_post_reads_well(page: Page) -> None:
    """"Conceição deleted a message of you in #redes" (the template filled with "you")."""
    notice = "describeRoomNotice({me: 'Bob'}, {act: 'delete', name: 'Bob', by: 'Olga', room: '#redes'})"
    assert page.js(notice) == "Olga deleted a message of yours in #redes"
    speak_portuguese(page)
    assert page.js(notice) == "Olga apagou uma mensagem sua em #redes"


def test_the_moderator_who_bans_a_guest_is_told_that_its_address_is_banned_too(page: Page) -> None:
    """Conceição saw only "você baniu Troll de #redes (spam)"; an innocent guest of the same
    address could not join afterwards."""
    frame = "{act: 'ban', name: 'Troll', by: 'Conceição', room: '#redes', reason: 'spam', address_banned: true}"
    speak_portuguese(page)
    assert page.js(f"describeRoomNotice({{me: 'Conceição'}}, {frame})") == (
        "Você baniu Troll de #redes (spam); como Troll entrou sem conta, quem entrar sem conta pelo mesmo endereço "
        "também fica de fora até o banimento ser retirado")
    assert page.js(f"describeRoomNotice({{me: 'Pedro'}}, {frame})") == "Conceição baniu Troll de #redes (spam)"


def test_the_words_for_a_room_we_are_out_of_name_the_pages_own_join_control(page: Page) -> None:
    """The words said "join it again (Join room)", the window's button; the page's control is
    its join box, "Join or create a room" ("Entrar numa sala ou criá-la")."""
    words = "[outOfRoomWords('#redes', 'kick'), outOfRoomAway('#redes')]"
    speak_portuguese(page)
    assert page.js(words) == [
        "você não está mais em #redes: entre de novo (Entrar numa sala ou criá-la) para escrever aqui, ou abra Todos",
        "você não está mais em #redes: a sala saiu da sua lista enquanto você estava sem conexão (alguém pôs você para"
        " fora, ou você saiu dela em outro dispositivo); entre de novo (Entrar numa sala ou criá-la) para voltar"]


def test_a_room_notice_about_oneself_begins_with_a_capital(page: Page) -> None:
    """Walking through the page in Portuguese, lines read "você entrou em #redes", "você
    silenciou Vic em #redes": a sentence that began in lower case (the terminal's "* " mark,
    which the page leaves off, was all that came before it). "Você" begins them, wherever the
    language puts it first; "você" inside a sentence stays; so does a name as its owner
    spells it ("ana"), which is no sentence's first word to change."""
    speak_portuguese(page)

    def said(frame: str, me: str = "João") -> str:
        return page.js(f"describeRoomNotice({{me: {json.dumps(me)}}}, {frame})")

    assert said("{act: 'joined', name: 'João', room: '#redes'}") == "Você entrou em #redes"
    assert said("{act: 'kick', name: 'Vic', by: 'joão', room: '#redes'}") == "Você pôs Vic para fora de #redes"
    assert said("{act: 'appoint', name: 'João', by: 'Olga', role: 'moderator', room: '#redes'}") == \
        "Olga deu a você o papel de moderação em #redes"
    assert said("{act: 'owner', name: 'João', room: '#redes'}") == "A sala #redes agora é sua"
    assert said("{act: 'owner', name: 'ana', room: '#redes'}") == "A sala #redes agora é de ana"
    assert said("{act: 'joined', name: 'ana', room: '#redes'}") == "ana entrou em #redes"
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("i18n.language === 'en'")
    assert said("{act: 'owner', name: 'João', room: '#redes'}") == "You own #redes now"
    assert said("{act: 'left', name: 'João', room: '#redes'}") == "You left #redes"
    assert said("{act: 'delete', name: 'João', by: 'Olga', room: '#redes'}") == \
        "Olga deleted a message of yours in #redes"


def test_a_mute_that_ran_out_is_said_in_portuguese_and_a_moderators_reason_as_typed(page: Page) -> None:
    """A class in Portuguese read "Otávio pode escrever em #redes de novo (the mute ended)":
    the server's own reason (``by`` absent), in its English."""
    speak_portuguese(page)
    ended = "{act: 'unmute', name: 'Otávio', room: '#redes', reason: 'the mute ended'}"
    assert page.js(f"describeRoomNotice({{me: 'João'}}, {ended})") == \
        "Otávio pode escrever em #redes de novo (o tempo de silêncio acabou)"
    typed = "{act: 'ban', name: 'Otávio', by: 'Professora', room: '#redes', reason: 'the mute ended'}"
    assert page.js(f"describeRoomNotice({{me: 'João'}}, {typed})").endswith("(the mute ended)")


NOTICES = "[...document.querySelectorAll('#messages .notice-text')].map(e => e.textContent)"


def test_a_muted_and_then_banned_student_is_told_in_portuguese(page: Page) -> None:
    """They were the server's English: "Não enviada: you are muted in #redes for 290 s
    more (muted)", "Servidor: you are banned from #redes: spam (banned)"."""
    speak_portuguese(page)
    page.log_in("Conceição")
    olga = ChatClient("Olga", "127.0.0.1", page.srv.port)
    try:
        olga.connect(timeout=WAIT)
        olga.join("#redes")
        page.focus("#join-room-name")
        page.type("redes")
        page.enter()
        page.wait_for("document.getElementById('conversation-title').textContent === '#redes'"
                      " && document.activeElement.id === 'composer-input'")
        olga.mute("#redes", "Conceição", 300, "flood")
        page.wait_for(f"{NOTICES}.some(t => t.startsWith('Olga silenciou você em #redes'))")
        page.type("posso falar?")
        page.enter()
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
        status = page.js("document.querySelector('#messages .msg-out .msg-status').textContent")
        # The time left of the 300 s ("5 min" while less than half a second went by).
        assert re.fullmatch(r"Não enviada: você está sem voz em #redes: tente de novo em "
                            r"(5 min|4 min [1-5]?\d s)", status), status

        olga.ban("#redes", "Conceição", "spam")
        page.wait_for(f"{NOTICES}.some(t => t.startsWith('Olga baniu você de #redes'))")
        page.focus("#join-room-name")
        page.type("redes")
        page.enter()
        page.wait_for(f"{NOTICES}.includes('Servidor: há um banimento contra você em #redes: spam')")
        assert not any("you are" in text for text in page.js(NOTICES))
        # A mute with no end, and the other use of banned (the invite of a banned person,
        # which names no room): the first in the page's words, the second in the server's.
        assert page.js("explainError('muted', 'x', null, null, null, '#redes')") == \
            "você está sem voz em #redes: espere alguém da moderação devolver sua voz"
        assert page.js("explainError('banned', 'Mia is banned from #redes: unban first', '#redes')") == \
            "\ue000Mia is banned from #redes: unban first\ue001"  # marked as English (showText)
        assert page.problems() == []
    finally:
        olga.close()


def test_a_refused_password_is_said_from_the_catalogue_and_again_after_a_language_switch(page: Page) -> None:
    """weak_password is worded by client/display.py's table (with the protocol's minimum),
    and the refusal on the form follows the language switch both ways."""
    page.js("document.getElementById('login-name').value = 'João';"
            "document.getElementById('login-password').value = 'curta';"
            "document.getElementById('login-register').checked = true")
    page.focus("#login-password")
    page.enter()
    error = "document.getElementById('login-error').textContent"
    page.wait_for(f"{error} !== ''")
    assert page.js(error) == "A password needs at least 8 characters"
    speak_portuguese(page)
    assert page.js(error) == "A senha precisa ter pelo menos 8 caracteres"
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.documentElement.lang === 'en'")
    assert page.js(error) == "A password needs at least 8 characters"
    # The page's own refusals follow the switch too; a new name clears them.
    page.js("document.getElementById('login-name').value = ''")
    page.focus("#login-name")
    page.enter()
    assert page.js(error) == "Please enter a name."
    speak_portuguese(page)
    assert page.js(error) == "Digite um nome."
    page.type("x")
    assert page.js(error) == ""
    speak_portuguese(page)
    assert page.js(error) == ""
    assert page.problems() == []


def test_times_are_told_the_way_the_pages_language_tells_them(page: Page, alice: TcpPeer) -> None:
    """Portuguese tells 13:21, not the browser's 01:21 PM; switching back to English goes
    back to its way, on the lines already shown too."""
    speak_portuguese(page)
    page.log_in("Bob")
    alice.login("João")
    alice.send_dm("Bob", "que horas são?")
    page.open_conversation("João")
    page.wait_for("!!document.querySelector('#messages .msg-in time.msg-time')")
    shown = "document.querySelector('#messages .msg-in time.msg-time').textContent"
    expected = ("(() => { const at = new Date(document.querySelector('#messages .msg-in time.msg-time').dateTime);"
                " return String(at.getHours()).padStart(2, '0') + ':' + String(at.getMinutes()).padStart(2, '0'); })()")
    assert page.js(shown) == page.js(expected)
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for(f"/^\\d\\d:\\d\\d [AP]M$/.test({shown})")
    assert page.problems() == []


def test_registering_a_name_someone_registered_says_it_is_taken_not_wrong_password(page: Page) -> None:
    """The page's register for a registered name, with another password, said "wrong
    password": the user meant a new account. It says the name is taken, and what to do."""
    register(page, "Conceição")
    speak_portuguese(page)
    page.js("document.getElementById('login-name').value = 'Conceição';"
            "document.getElementById('login-password').value = 'outra senha qualquer';"
            "document.getElementById('login-register').checked = true")
    page.focus("#login-password")
    page.enter()
    error = "document.getElementById('login-error').textContent"
    page.wait_for(f"{error} !== ''")
    assert page.js(error) == \
        "Este nome já está registrado: entre com a senha dele ou escolha outro nome"
    assert page.js("document.activeElement.id") == "login-name"
    assert page.problems() == []


def test_refusals_of_many_causes_are_said_in_portuguese_not_in_the_servers_english(page: Page) -> None:
    speak_portuguese(page)
    for code, english, portuguese in (
            ("forbidden", "you cannot kick yourself", "você não pode fazer isso"),
            ("too_many_rooms", "you are in 100 rooms: leave one first", "saia de uma sala de que não precisa mais"),
            ("invalid_name", "#a b: a name cannot contain spaces", "esse nome não pode ser usado")):
        said = page.js(f"explainError({json.dumps(code)}, {json.dumps(english)}, '#redes')")
        assert portuguese in said and english not in said and f"({code})" not in said, said
    # Rooms made from one's address: the cause a wait ends, with the wait (retry_after).
    said = page.js("explainError('too_many_rooms', 'the next one can be made in 50 min', '#redes', 3000)")
    assert "a partir do seu endereço" in said and "tente de novo em 50 min" in said, said
    assert "no máximo de salas" not in said, said


def test_the_documents_language_is_the_language_of_its_words_from_the_first_paint(page: Page) -> None:
    """index.html says lang="en" because its own words are English; the page turns them
    and the lang together (translatePage), so a screen reader never reads Portuguese words
    with an English voice or the other way round: from the load of a browser that prefers
    Brazilian Portuguese, through a switch to English and back."""
    agent = page.js("navigator.userAgent")
    page.cdp.send("Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": "pt-BR,pt;q=0.9"})
    page.cdp.send("Page.addScriptToEvaluateOnNewDocument", {"source": """
      window.pairs = [];
      new MutationObserver(() => {
        const heading = document.querySelector('#login-form h2');
        if (heading) window.pairs.push(document.documentElement.lang + '|' + heading.textContent);
      }).observe(document, {attributes: true, childList: true, characterData: true, subtree: true});
    """})
    page.cdp.send("Page.reload")
    page.wait_for("document.readyState === 'complete' && document.documentElement?.lang === 'pt-BR'"
                  " && document.getElementById('lang-switch')?.value === 'pt_BR'")
    for language in ("en", "pt_BR"):
        page.js(f"(() => {{ const s = document.getElementById('lang-switch'); s.value = '{language}';"
                " s.dispatchEvent(new Event('change')); })()")
        page.wait_for(f"document.documentElement.lang === '{language.replace('_', '-')}'")
    pairs = page.js("window.pairs")
    assert set(pairs) == {"en|Log in", "pt-BR|Entrar"}, pairs
    assert pairs[-1] == "pt-BR|Entrar"
    assert page.problems() == []


def test_the_servers_english_words_in_a_portuguese_page_are_marked_english(page: Page) -> None:
    """Where the page has no sentence of its own for an error (a code it does not know, or
    one whose sentence needs a name the error lacks), it shows the server's words, which are
    English, inside a lang="pt-BR" page: a screen reader said them with Portuguese sounds.
    Now they are in a lang="en" span (the notice, a failed message's status, the announcer,
    the login form's refusal); the page's own sentences, by code, are not."""
    speak_portuguese(page)
    page.log_in("Conceição")
    result = page.js("""(() => {
      const english = (node) => [...node.querySelectorAll('[lang="en"]')].map((e) => e.textContent);
      const r = {};
      const chat = shell.chat;
      const key = startConversation(chat, "Olga");
      openConversation(chat, key);
      const frame = composeMessage(chat, key, "bom dia");
      onFrame({type: "error", code: "maintenance", message: "the server goes down at noon"});
      const announcer = document.getElementById("announcer");
      r.announced = [announcer.textContent, english(announcer)];
      onFrame({type: "error", code: "unknown_message", message: "message 999 was not sent to you"});
      onFrame({type: "error", id: frame.id, code: "banned", message: "you may not write to Olga"});
      const notices = [...document.querySelectorAll('#messages .notice-text')];
      r.notices = notices.map((n) => [n.textContent, english(n)]);
      const status = document.querySelector('#messages .msg-out .msg-status');
      r.status = [status.textContent, english(status)];
      showLoginError(() => explainError("new_refusal", "closed for the holidays"));
      const login = document.getElementById("login-error");
      r.login = [login.textContent, english(login)];
      showLoginError(null);
      r.hidden = [...document.body.innerHTML].filter((c) => c === "\\ue000" || c === "\\ue001").length;
      return r;
    })()""")
    assert result["notices"] == [
        ["Servidor: the server goes down at noon (maintenance)", ["the server goes down at noon"]],
        ["Servidor: o servidor não tem essa mensagem para você (ela foi apagada, ou não foi enviada para você nem "
         "por você)", []]], result
    assert result["announced"] == ["Servidor: the server goes down at noon (maintenance)",
                                   ["the server goes down at noon"]], result
    assert result["status"] == ["Não enviada: you may not write to Olga", ["you may not write to Olga"]], result
    assert result["login"] == ["Closed for the holidays (new_refusal)", ["Closed for the holidays"]], result
    assert result["hidden"] == 0, result
    assert page.problems() == []


def test_a_persons_conversation_shows_their_registry_entry(page: Page, alice: TcpPeer) -> None:
    """The class's assignment is the registry (address, port, online since): the terminal's
    /whois showed it, the page only "Online", so the students on the page could not do it.
    The page lives where it is about noon: a midnight between her login and the drawing
    rightly added the date to "online desde"."""
    page.live_at_noon()
    speak_portuguese(page)
    alice.login("Alice")
    page.log_in("Conceição")
    page.open_conversation("Alice")
    port = alice.sock.getsockname()[1]
    page.wait_for("document.getElementById('conversation-where').textContent.startsWith("
                  f"'127.0.0.1:{port} · online desde ')")
    assert re.fullmatch(rf"127\.0\.0\.1:{port} · online desde \d\d:\d\d",
                        page.js("document.getElementById('conversation-where').textContent"))
    assert page.js("document.getElementById('conversation-presence').textContent") == "Online"
    alice.close()  # gone: the entry goes with her
    page.wait_for("document.getElementById('conversation-presence').textContent === 'Offline'"
                  " && document.getElementById('conversation-where').hidden")
    assert page.problems() == []


def test_notices_after_a_language_switch_are_in_the_new_language(page: Page, alice: TcpPeer) -> None:
    """A teacher who switched the page to Portuguese once the class was in still read
    "João joined" over the Portuguese lines: the join and leave lines are said again in the
    language chosen, those shown before the switch too, and those after it."""
    page.log_in("Bob")
    alice.login("João")
    notices = "[...document.querySelectorAll('#messages li.notice .notice-text')].map((n) => n.textContent)"
    page.wait_for(f"{notices}.includes('João joined')")
    speak_portuguese(page)
    page.wait_for(f"{notices}.includes('João entrou')")
    alice.send(Goodbye())  # (a goodbye: "quit", said plainly; a bare close may be a reset, said with its cause)
    page.wait_for(f"{notices}.some((text) => text.startsWith('João saiu'))")
    said = [text for text in page.js(notices) if "João" in text]
    assert said == ["João entrou", "João saiu"], said
    assert page.problems() == []


def test_messages_on_screen_follow_a_language_switch(page: Page, alice: TcpPeer) -> None:
    """Switched to Portuguese with a conversation open, the page still said "You", "Edit"
    and "Delete" (and "edited") on the messages drawn before the switch, in English among
    the Portuguese: every word of a message on screen follows the switch, both ways."""
    page.log_in("Bob")
    alice.login("João")
    alice.send_dm("Bob", "oi")
    page.open_conversation("João")
    page.focus("#composer-input")
    page.type("tudo bem?")
    page.enter()
    words = ("(() => { const out = document.querySelector('#messages .msg-out');"
             " return out && [out.querySelector('.msg-sender').textContent, out.querySelector('.msg-edit').textContent,"
             " out.querySelector('.msg-delete').textContent, out.querySelector('.msg-edited').textContent]; })()")
    page.wait_for(f"JSON.stringify({words}) === JSON.stringify(['You', 'Edit', 'Delete', 'edited'])")
    speak_portuguese(page)
    page.wait_for(f"JSON.stringify({words}) === JSON.stringify(['Você', 'Editar', 'Apagar', 'editada'])")
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for(f"JSON.stringify({words}) === JSON.stringify(['You', 'Edit', 'Delete', 'edited'])")
    assert page.problems() == []


def test_a_join_refused_for_an_invite_only_room_is_said_in_portuguese(page: Page, alice: TcpPeer) -> None:
    # Found walking through the page in Portuguese: "Servidor: #redes is invite-only: ask its
    # moderators to invite you", the server's English, since the join's refusal did not name
    # the room that the sentence of the catalogue needs. (Said under the join box, where the
    # join was asked: test_web_rooms.py, test_a_refused_join_is_said_where_the_join_was_asked.)
    alice.login("Olga")
    alice.send(JoinRoom("j", "#redes", False, True))  # created invite-only
    alice.expect(RoomInfo, TIMEOUT)
    speak_portuguese(page)
    page.log_in("João")
    page.focus("#join-room-name")
    page.type("#redes")
    page.enter()
    page.wait_for("document.getElementById('join-room-error').textContent !== ''")
    said = page.js("document.getElementById('join-room-error').textContent")
    assert said == "#redes é só para convidados: peça um convite a quem modera a sala", said
    assert page.problems() == []


def test_a_rooms_refusals_the_server_said_in_english_are_in_the_pages_words(page: Page) -> None:
    """An invitation of someone banned from the room, a kick by someone not in it, and a
    topic over its limit were shown in the server's English in a Portuguese page. The
    errors say their facts now (the topic's "field" and "max_chars"; one's own not_member's
    "room"), and the invitation has a sentence of its own (client/display.py's ACT_TEXTS);
    an older server's errors, without those fields, keep its words."""
    speak_portuguese(page)
    said = page.js("""(() => {
      const chat = createChat();
      chat.version = 2;
      const key = roomKey('#turma');
      conversation(chat, key, '#turma');
      chat.active = key;
      const refuse = (request, fields) => receiveFrame(chat, { type: 'error', id: request.id, ...fields });
      refuse(roomActFrame(chat, key, 'invite', 'Vic'),
             { code: 'banned', message: 'Vic is banned from #turma: unban first' });
      refuse(roomActFrame(chat, key, 'kick', 'Olga'),
             { code: 'not_member', message: 'you are not in #turma: join it first', room: '#turma' });
      refuse(topicFrame(chat, key, 'x'),
             { code: 'bad_field', message: "'topic' is 300 characters long; the limit is 256", field: 'topic',
               max_chars: 256 });
      refuse(roomActFrame(chat, key, 'kick', 'Olga'),
             { code: 'not_member', message: 'you are not in #turma: join it first' });
      refuse(topicFrame(chat, key, 'x'),
             { code: 'bad_field', message: "'topic' is 300 characters long; the limit is 256" });
      return chat.conversations.get(key).items.filter((item) => item.kind === 'notice').map((item) => item.text);
    })()""")
    assert said == [
        "Servidor: há um banimento contra Vic nesta sala: retire o banimento primeiro, depois convide",
        "Servidor: você não está em #turma: entre nela primeiro",
        "Servidor: o tema é longo demais: no máximo 256 caracteres; encurte-o",
        "Servidor: \ue000you are not in #turma: join it first\ue001",
        "Servidor: \ue000'topic' is 300 characters long; the limit is 256\ue001 (bad_field)",
    ], said
    assert page.problems() == []


def test_a_name_too_long_is_said_in_the_pages_words_with_the_servers_limit(page: Page) -> None:
    """A name of 40 characters was refused invalid_name, and the page said its sentence about
    letters, digits and symbols, none of which was wrong with it. The error names its field
    and the limit (32) now: the page says the name is too long, in its language."""
    speak_portuguese(page)
    said = page.js("""[
      explainFrame({ code: 'invalid_name', message: 'the name is longer than 32 characters', field: 'name',
                     max_chars: 32 }, 'the name is longer than 32 characters', null),
      explainFrame({ code: 'invalid_name', message: 'the name is longer than 32 characters', field: 'to',
                     max_chars: 32 }, 'the name is longer than 32 characters', 'bbbb'),
    ]""")
    assert said == ["o nome é longo demais: no máximo 32 caracteres; escolha um mais curto"] * 2, said
    assert page.problems() == []


def test_a_login_refused_for_a_password_too_long_is_said_in_the_pages_words(page: Page) -> None:
    """The hello's refusal dropped the error's field and max_chars: a password over the
    server's limit (from a page older than its own check) was said in the server's English."""
    speak_portuguese(page)
    said = page.js("""(() => {
      const chat = createChat();
      const hello = helloFrame(chat, 'Ana', 'x', false, null);
      return receiveFrame(chat, { type: 'error', id: hello.id, code: 'bad_field', field: 'password', max_chars: 1024,
                                  message: "'password' is 1025 characters long; the limit is 1024" }).login.message;
    })()""")
    assert said == "a senha é longa demais: no máximo 1024 caracteres", said
    assert page.problems() == []


def test_the_connection_pill_keeps_its_state_when_the_language_is_applied_again(page: Page) -> None:
    """Seen in a screenshot: the pill said "Not connected", its dot green, on a page online.
    Its element carried index.html's data-i18n, so applying a language (useLanguage: after
    a reload, its catalogue may come after the welcome) put back the words of the HTML, and
    renderTopbar, which writes the pill only when its state's words change, left them."""
    pill = "document.getElementById('connection').textContent"
    for language, online in (("en", "Online"), ("pt_BR", "Conectado")):
        if language == "pt_BR":
            page.js("document.getElementById('logout').click()")
            # A guest's Log out waits for its revoke's answer (at most LOGOUT_WAIT) before Log in works again.
            page.wait_for("!document.getElementById('login-submit').disabled")
            speak_portuguese(page)
            page.focus("#login-name")
            page.js("document.getElementById('login-name').value = ''")
            page.type("Bia")
            page.enter()
        else:
            page.log_in("Bob")
        page.wait_for(f"document.getElementById('connection').dataset.status === 'online' && {pill} === '{online}'")
        # As when its catalogue comes after the welcome (awaited: the catalogue applied).
        assert page.js(f"useLanguage('{language}').then(() => {pill})") == online
    assert page.problems() == []


def test_a_name_of_too_many_bytes_is_refused_saying_so(page: Page) -> None:
    """32 letters of decomposed Hangul (9 bytes of UTF-8 each) are refused with "max_bytes":
    the page dropped it and said the sentence about letters, digits and symbols, none of
    which was wrong with the name. A room's name refused so (an error frame) the same."""
    import unicodedata
    speak_portuguese(page)
    said = ("o nome é longo demais: no máximo 256 bytes em UTF-8 (uma letra ocupa de 1 a 4, e uma feita de várias "
            "partes, mais); escolha um mais curto")
    page.js(f"document.getElementById('login-name').value = {json.dumps(unicodedata.normalize('NFD', '한' * 32))}")
    page.focus("#login-name")
    page.enter()
    page.wait_for("document.getElementById('login-error').textContent !== ''")
    assert page.js("document.getElementById('login-error').textContent") == said[0].upper() + said[1:]
    assert page.js("explainFrame({code: 'invalid_name', field: 'room', max_bytes: 256}, "
                   "'the name is longer than 256 bytes', '#x')") == said
    assert page.problems() == []
