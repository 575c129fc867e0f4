"""Names from every script against a real server (issue 11): João chats with Maria from
the terminal client and ``--send``; a classmate cannot pass for João with a Cyrillic о
(refused: two scripts) nor as J0ão (refused: it looks like João)."""

from __future__ import annotations

import unicodedata

import const
from protocol import DirectMessage, ErrorCode, Hello, SendDirect, UserJoined, UserLeft, Welcome
from server import ServerConfig, ServerThread
from test_end_to_end import DEADLINE, client, server  # noqa: F401 (server is a fixture)
from lineprocess import Process
from waits import wait_until
from wire import WireClient

IMPOSTORS = {"J\u043e\u00e3o": ErrorCode.INVALID_NAME,  # Latin with a Cyrillic о
             "J0ão": ErrorCode.CONFUSABLE_NAME,
             "Joao": ErrorCode.CONFUSABLE_NAME,  # without the accent, as many type it
             "JOAO": ErrorCode.CONFUSABLE_NAME}


def test_joao_chats_with_maria_and_look_alikes_of_joao_cannot_log_in(server):  # noqa: F811
    joao = client(server, "João")
    maria = client(server, "Maria")
    try:
        server.wait_for(r"login João from")
        server.wait_for(r"login Maria from")
        maria.type("@João olá, João!")
        joao.wait_for(r"Maria → you: olá, João!$")
        maria.wait_for(r"delivered to João")
        # Any case and a decomposed ã are the same João; /to takes a Unicode name too.
        maria.type("@" + unicodedata.normalize("NFD", "JOÃO") + " tudo bem?")
        joao.wait_for(r"Maria → you: tudo bem\?$")
        joao.type("/to maria")
        joao.type("tudo, e você?")
        maria.wait_for(r"João → you: tudo, e você\?$")
        # --send, with a name of its own and to a name in another case.
        send = client(server, "Conceição", "--send", "joão", "oi, João", stdin=False)
        assert send.proc.wait(DEADLINE) == 0
        send.wait_for(r"(?i)delivered to joão")
        joao.wait_for(r"Conceição → you: oi, João$")
        # The impostors: the client refuses the first before sending anything; the server
        # would too (see the wire test below). Exit 4: login refused.
        for name, code in IMPOSTORS.items():
            fake = client(server, name, "--send", "Maria", "sou eu, o João", stdin=False)
            assert fake.proc.wait(DEADLINE) == 4
            # The sentence only: a known code is not shown (client/display.py explain_error).
            line = fake.wait_for(r"error: login refused: ").string
            said = "Cyrillic" if code == ErrorCode.INVALID_NAME else "looks too much like João, a name already in use"
            assert said in line, line
        maria.type("/quit")
        assert maria.proc.wait(DEADLINE) == 0
        assert not any("sou eu" in line for line in joao.seen + maria.seen)
    finally:
        joao.stop()
        maria.stop()


def test_the_server_itself_refuses_both_impostors_and_names_the_look_alike():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv, \
            WireClient.login(srv.host, srv.port, "João") as joao, WireClient(srv.host, srv.port) as fake:
        for name, code in IMPOSTORS.items():
            fake.send(Hello("h", name, const.PROTOCOL_VERSION))
            error = fake.expect_error(code)
            assert ("'João'" in error.message) if code == ErrorCode.CONFUSABLE_NAME else "Cyrillic" in error.message
        fake.send(Hello("h2", "Maria", const.PROTOCOL_VERSION))
        fake.expect(Welcome)
        fake.send(SendDirect("m1", "JOA\u0303O", "oi"))
        dm = joao.expect(DirectMessage, skip=(UserJoined, UserLeft))
        assert (dm.sender, dm.to, dm.text) == ("Maria", "João", "oi")


def test_alice_aiice_a1ice_and_cyrillic_alice_cannot_coexist():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv, \
            WireClient.login(srv.host, srv.port, "AIice"), WireClient(srv.host, srv.port) as other:
        for name in ("Alice", "A1ice", "alice"):
            other.send(Hello("h", name, const.PROTOCOL_VERSION))
            assert "'AIice'" in other.expect_error(ErrorCode.CONFUSABLE_NAME).message
        other.send(Hello("h", "\u0410lice", const.PROTOCOL_VERSION))
        other.expect_error(ErrorCode.INVALID_NAME)
        other.send(Hello("h", "Alicia", const.PROTOCOL_VERSION))
        assert other.expect(Welcome).name == "Alicia"


def test_conceicao_in_capitals_without_accents_cannot_log_in_beside_the_online_conceicao():
    # Reported: "CONCEICAO" (capital I, which looks like l) took a name while Conceição was online.
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv, \
            WireClient.login(srv.host, srv.port, "Conceição"), WireClient(srv.host, srv.port) as other:
        for name in ("CONCEICAO", "Conceicao", "CONCEIÇAO"):
            other.send(Hello("h", name, const.PROTOCOL_VERSION))
            error = other.expect_error(ErrorCode.CONFUSABLE_NAME)
            assert "'Conceição'" in error.message and error.like == "Conceição", error
        other.send(Hello("h", "Constança", const.PROTOCOL_VERSION))
        assert other.expect(Welcome).name == "Constança"


def test_ali_logs_in_and_all_in_capitals_does_not():
    # Reported: the common name Ali (a Portuguese word too) was refused as a look-alike of
    # the reserved "all" once i became l in look-alike keys (rule 8). ALI and A11 look like
    # ALL; Ali looks like no spelling of all.
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv, WireClient(srv.host, srv.port) as other:
        for name in ("ALI", "A11"):
            other.send(Hello("h", name, const.PROTOCOL_VERSION))
            error = other.expect_error(ErrorCode.CONFUSABLE_NAME)
            assert error.like == "all" and repr(name) in error.message, error
        other.send(Hello("h", "Ali", const.PROTOCOL_VERSION))
        assert other.expect(Welcome).name == "Ali"


def test_a_guest_named_ali_cannot_come_back_as_ali_in_capitals():
    # A guest may resume its name in another case (rule 8); ALI would pass for ALL. The
    # name is Ali's to come back to as Ali.
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        with WireClient.login(srv.host, srv.port, "Ali") as ali:
            token = ali.welcome.resume
            assert ali.welcome.name == "Ali" and token
        wait_until(lambda: not srv.call(lambda: [s.name for s in srv.server.relay.sessions]), timeout=DEADLINE)
        with WireClient(srv.host, srv.port) as again:
            again.send(Hello("h", "ALI", const.PROTOCOL_VERSION, resume=token))
            error = again.expect_error(ErrorCode.CONFUSABLE_NAME)
            assert error.like == "all" and "'ALI'" in error.message, error
            again.send(Hello("h2", "Ali", const.PROTOCOL_VERSION, resume=token))
            assert again.expect(Welcome).name == "Ali"


def test_an_operators_reserved_word_written_with_capitals_is_reserved_in_every_case(tmp_path):
    """An operator who adds "Prof" (as a teacher would write it) to RESERVED_NAMES in the
    settings file reserves prof, PROF and Prof: rule 6 compared names with the words as
    written, so a capital in the file reserved nothing. A look-alike is told it is a
    reserved word, not a name someone holds."""
    settings = tmp_path / "const_local.py"
    settings.write_text('RESERVED_NAMES = RESERVED_NAMES | {"Prof"}\n', encoding="utf-8")
    process = Process("chatserver.py", "--host", "127.0.0.1", "--port", "0", "--web-port", "0",
                      "--data", str(tmp_path / "data"), env={"CHAT_CONST_LOCAL": str(settings)})
    try:
        port = int(process.wait_for(r"listening on \S+:(\d+)").group(1))
        with WireClient("127.0.0.1", port) as fake:
            for i, name in enumerate(("prof", "PROF", "Prof")):
                fake.send(Hello(f"h{i}", name, const.PROTOCOL_VERSION))
                assert "reserved" in fake.expect_error(ErrorCode.INVALID_NAME).message, name
            fake.send(Hello("h3", "Pr0f", const.PROTOCOL_VERSION))
            error = fake.expect_error(ErrorCode.CONFUSABLE_NAME)
            assert error.like == "prof" and error.reserved is True, error
            fake.send(Hello("h4", "Ana", const.PROTOCOL_VERSION))
            fake.expect(Welcome)
    finally:
        process.stop()
