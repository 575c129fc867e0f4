"""Languages: the choice of language, the checks that every text is translated with its
placeholders, the Portuguese command names, and the terminal client, ``--send`` and the
server console speaking Brazilian Portuguese for real.

(The catalogue compiler and the committed page catalogues: tests/unit/test_i18n_catalogues.py.
The window and the page in pt_BR: tests/integration/test_gui.py and
tests/integration/test_web_browser.py.)
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

import const
import i18n
from client.commands import (COMMAND_WORDS, ClaimName, Mistake, Quit, SetBlocked, SetTarget, ShowHelp, ShowHistory,
                             ShowWho, ShowWhois, help_lines, parse_command)
from client.display import describe_skipped, explain_error
from i18n import __main__ as tool
from i18n.catalog import Entry
from i18n.extract import Message, page_scripts, placeholders, python_messages, web_messages
from protocol import Accepted, DirectMessage, Receipt
from server import ServerThread
from tools import require_tool
from wire import WireClient

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15.0


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    """Every test leaves the process speaking English, the default for other tests."""
    yield
    i18n.use("en")


def test_the_page_explains_errors_with_the_clients_table_translated() -> None:
    from client.display import ERROR_TEXTS
    english = json.loads(tool.web_json_path("en").read_text(encoding="utf-8"))
    portuguese = json.loads(tool.web_json_path("pt_BR").read_text(encoding="utf-8"))
    assert english["errors"] == ERROR_TEXTS and english["messages"] == {}
    assert portuguese["errors"]["unknown_recipient"] == "ninguém chamado {name} jamais entrou aqui: confira o nome"
    assert portuguese["needs_name"] == ["auth_required", "confusable_name", "invite_only", "name_taken", "no_such_room",
                                        "not_member", "room_exists", "unknown_recipient"]
    assert portuguese["needs_like"] == ["confusable_name"]
    # A muted or banned refusal is the page's own only with the error's room (PROTOCOL.md,
    # "error"); a mute with no end is not "try again later".
    assert portuguese["needs_room"] == ["banned", "muted"]
    assert portuguese["errors"]["muted"] == "você está sem voz em {name}: {when}"
    assert portuguese["when_untimed"] == {"muted": "espere alguém da moderação devolver sua voz"}


def test_the_page_takes_the_login_field_of_each_refusal_from_the_clients_one_table() -> None:
    from client.core import LOGIN_OUTCOMES
    english = json.loads(tool.web_json_path("en").read_text(encoding="utf-8"))
    assert english["login_fields"] == {code: o.field for code, o in LOGIN_OUTCOMES.items() if o.field}
    assert english["login_fields"]["bad_password"] == "password"
    from client.core import PASSWORD_CHANGE_FIELDS
    assert english["password_fields"] == dict(PASSWORD_CHANGE_FIELDS) == {"bad_password": "old", "weak_password": "new"}
    # No second copy of the table in the page: it names no password refusal itself.
    script = "\n".join(path.read_text(encoding="utf-8") for path in page_scripts())
    for code in ("bad_password", "weak_password"):
        assert f'"{code}"' not in script


def test_the_page_knows_the_plural_rule_of_every_catalogue() -> None:
    script = "\n".join(path.read_text(encoding="utf-8") for path in page_scripts())
    for language in i18n.available():
        rule = json.loads(tool.web_json_path(language).read_text(encoding="utf-8"))["plural"]
        assert f'"{rule}": (n) =>' in script, f"the page has no PLURAL_RULES entry for {rule!r} ({language})"
        assert f'{language}: "' in script, f"the page does not offer {language} in LANGUAGES"


# --- Every text translated, with its placeholders --------------------------------------------

def test_every_text_of_the_clients_the_page_and_the_console_has_a_pt_br_translation() -> None:
    messages = python_messages() + web_messages()
    # The extraction sees every front end (a broken extractor would find nothing to check).
    places = {m.where.split(":")[0] for m in messages}
    for source in ("client/terminal.py", "client/terminal_input.py", "client/terminal_lines.py", "client/display.py",
                   "client/commands.py", "client/oneshot.py", "client/auth.py", "client/gui/login.py",
                   "client/gui/model.py", "chatserver.py", "server/console.py", "lang.js", "protocol.js",
                   "afterdelivered.js", "blocks.js", "rooms.js", "view.js", "app.js", "index.html"):
        assert source in places, source
    assert tool.problems("pt_BR") == []


def test_the_check_reports_a_missing_translation_and_a_lost_placeholder(tmp_path: Path) -> None:
    entries = {"hello {name}": Entry("hello {name}", ("olá",)),
               "fine {n}": Entry("fine {n}", ("ok {n}",))}
    found = tool.problems_in([Message("hello {name}", None, "a.py:1"), Message("new text", None, "a.py:2"),
                              Message("fine {n}", None, "a.py:3"), Message("<not a literal>", None, "a.py:4")],
                             entries, "pt_BR")
    assert len(found) == 3
    assert "a.py:1" in found[0] and "placeholders" in found[0]
    assert "a.py:2: no pt_BR translation of 'new text'" == found[1]
    assert "a.py:4" in found[2] and "not a literal" in found[2]


def test_placeholders_are_the_format_fields_and_percent_conversions() -> None:
    assert placeholders("{name} sent {n:d} %s and %(count)d, 100%%") == ["%(count)d", "%s", "{n:d}", "{name}"]
    assert placeholders("a { b") == ["{?"]
    assert placeholders("{{literal}}") == []


def test_an_f_string_given_to_underscore_is_caught(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text('from i18n import _\nx = 1\nprint(_(f"hi {x}"))\nprint(_("ok"))\n')
    found = python_messages(tmp_path)
    assert [m.msgid for m in found] == ["<not a literal>", "ok"]


# --- Choosing the language ----------------------------------------------------------------

@pytest.mark.parametrize("environ, expected", [
    ({}, const.LANGUAGE_DEFAULT),
    ({"LANG": "pt_BR.UTF-8"}, "pt_BR"),
    ({"LANG": "pt_PT.UTF-8"}, "pt_BR"),               # another Portuguese: the one we have
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "de_DE.UTF-8"}, const.LANGUAGE_DEFAULT),   # no German: the default
    ({"LC_ALL": "pt_BR.UTF-8", "LANG": "en_US.UTF-8"}, "pt_BR"),
    ({"LC_MESSAGES": "en_GB", "LANG": "pt_BR"}, "en"),
    ({"LANGUAGE": "de:pt_BR:en", "LANG": "en_US.UTF-8"}, "pt_BR"),   # LANGUAGE first, skipping de
    ({"LANGUAGE": "", "LC_ALL": "", "LANG": "pt_BR@whatever"}, "pt_BR"),
])
def test_the_language_comes_from_the_environment_in_gettexts_order(environ: dict, expected: str) -> None:
    assert i18n.choose(None, environ) == expected


def test_the_flag_wins_and_an_unknown_one_is_a_usage_error() -> None:
    assert i18n.choose("pt-BR", {"LANG": "en_US.UTF-8"}) == "pt_BR"
    assert i18n.choose("en", {"LANGUAGE": "pt_BR"}) == "en"
    with pytest.raises(ValueError, match="unknown language 'klingon'; available: en, pt_BR"):
        i18n.choose("klingon")


@pytest.mark.parametrize("argv, environ, expected", [
    (["--lang", "pt_BR"], {}, "pt_BR"),
    (["--help", "--lang=pt-BR"], {"LANG": "en_US.UTF-8"}, "pt_BR"),   # the flag wins
    (["--lang", "pt_BR", "--lang", "en"], {}, "en"),                   # the last one, as argparse
    (["--help"], {"LANG": "pt_BR.UTF-8"}, "pt_BR"),                    # no flag: the environment
    (["--lang", "klingon"], {"LANG": "pt_BR.UTF-8"}, "pt_BR"),         # unknown: for the parser to refuse
    (["--lang"], {"LANG": "pt_BR.UTF-8"}, "pt_BR"),                    # no value: idem
    ([], {}, const.LANGUAGE_DEFAULT),
])
def test_the_early_choice_reads_lang_before_the_parser(argv: list, environ: dict, expected: str) -> None:
    """The one rule chatclient.py and chatserver.py use to say --help in the language."""
    assert i18n.early_choice(argv, environ) == expected


def test_the_default_language_is_english_and_is_in_const() -> None:
    assert const.LANGUAGE_DEFAULT == "en"
    assert i18n.current() == "en"  # nothing chose another


def test_use_switches_every_text_and_plural() -> None:
    assert describe_skipped(1) == "1 room message or update was skipped because your connection is slow"
    i18n.use("pt_BR")
    assert describe_skipped(1) == "1 mensagem ou aviso da sala foi pulado porque a sua conexão está lenta"
    assert describe_skipped(12) == "12 mensagens ou avisos da sala foram pulados porque a sua conexão está lenta"
    # The code on the wire stays English; the explanation is translated.
    assert explain_error("unknown_recipient", "no such user", "Bob") == \
        "ninguém chamado Bob jamais entrou aqui: confira o nome"
    assert explain_error("something_new", "the server's words") == "the server's words (something_new)"
    # True of both stores: a disk, and the Redis of a cluster.
    assert explain_error("unavailable", "server text", retry_after=5.0) == (
        "o servidor não consegue usar o armazenamento dele agora (o disco está cheio ou com defeito, ou ele "
        "não consegue falar com o Redis), então nada foi feito; tente de novo em 5,0 s")


# --- Portuguese command names -------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ("/ajuda", ShowHelp()),
    ("/quem", ShowWho()),
    ("/para Maria", SetTarget("Maria")),
    ("/todos", SetTarget(None)),
    ("/sala", SetTarget(None)),
    ("/onde Maria", ShowWhois("Maria")),
    ("/historico Maria", ShowHistory("Maria", 20)),
    ("/histórico Maria 5", ShowHistory("Maria", 5)),
    (unicodedata.normalize("NFD", "/HISTÓRICO Maria"), ShowHistory("Maria", 20)),   # o + combining acute
    ("/bloquear Maria", SetBlocked("Maria", True)),
    ("/desbloquear Maria", SetBlocked("Maria", False)),
    ("/registrar", ClaimName()),
    ("/sair", Quit()),
])
def test_portuguese_command_names(line: str, expected: object) -> None:
    assert parse_command(line) == expected


def test_every_command_name_means_one_command() -> None:
    names = [name for forms in COMMAND_WORDS.values() for group in forms.values() for name in group]
    assert len(names) == len(set(names))
    assert all(name == unicodedata.normalize("NFC", name.lower()) for name in names)


def test_help_lists_the_names_of_the_language_in_use_first() -> None:
    english = help_lines()
    assert any(line.startswith("/help ") and "/ajuda" in line for line in english)
    assert any(line.startswith("/to NAME ") and "(/para)" in line for line in english)
    i18n.use("pt_BR")
    portuguese = help_lines()
    for head in ("/ajuda ", "/quem ", "/para NOME ", "/todos ", "/historico NOME [N]", "/bloquear NOME ",
                 "/desbloquear NOME ", "/registrar ", "/sair "):
        assert any(line.startswith(head) for line in portuguese), head
    assert any(line.startswith("/ajuda ") and "(/help, /?)" in line for line in portuguese)


def test_mistakes_name_the_command_as_typed_and_in_the_language_in_use() -> None:
    i18n.use("pt_BR")
    assert parse_command("/para") == Mistake("uso: /para NOME (o que você digitar passa a ir para NOME; "
                                             "/todos volta para a sala)")
    assert parse_command("/xyz") == Mistake("comando desconhecido '/xyz': digite /ajuda para ver a lista "
                                            "(comece a linha com // para enviar um texto que começa com /)")


# --- The programs, for real ---------------------------------------------------------------

def client_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in i18n.ENVIRONMENT_VARIABLES}
    env.update(variables, PYTHONIOENCODING="utf-8")
    return env


@pytest.mark.parametrize("how", ["LANG", "--lang"])
def test_the_terminal_client_speaks_portuguese(server: ServerThread, how: str) -> None:
    with WireClient.login(server.host, server.port, "Maria") as maria:
        args = ["--lang", "pt_BR"] if how == "--lang" else []
        env = client_env(LANG="pt_BR.UTF-8") if how == "LANG" else client_env(LANG="C.UTF-8")
        code, out, err, _ = run_joao_to_maria(maria, server, ["--timeout", "10", *args], env,
                                              "/ajuda\n/ajuda pessoas\n/ajuda conta\n@Maria oi, tudo bem?\n"
                                              "/historico Maria\n")  # (/ajuda: the most used; the others by topic)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("* conectado a 127.0.0.1:") and lines[0].endswith(" como Joao")
    for head in ("/ajuda ", "/quem ", "/para NOME ", "/todos ", "/historico NOME", "/bloquear NOME ",
                 "/desbloquear NOME ", "/registrar ", "/sair "):
        assert any(line.startswith(head) for line in lines), (head, lines)
    assert "✓✓ entregue a Maria: oi, tudo bem?" in lines
    assert "✓ enviada para Maria: oi, tudo bem?" in lines


def run_joao_to_maria(maria: WireClient, server: ServerThread, args: list[str], env: dict,
                      script: str | None = None) -> tuple[int, str, str, DirectMessage]:
    """Run chatclient.py as Joao with ``args`` (and ``script`` on its standard input), let
    Maria confirm the direct message it sends her, and return (status, out, err, the dm)."""
    proc = subprocess.Popen([sys.executable, "chatclient.py", "Joao", "--port", str(server.port), *args],
                            cwd=ROOT, env=env, text=True, encoding="utf-8",
                            stdin=subprocess.PIPE if script is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if script is not None:
            proc.stdin.write(script)
            proc.stdin.flush()
        dm = maria.expect(DirectMessage, skip=object_notices())
        maria.send(Receipt(dm.msg_id))
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return proc.returncode, out, err, dm


def object_notices() -> tuple[type, ...]:
    from protocol import RoomMessage, UserJoined, UserLeft
    return (UserJoined, UserLeft, RoomMessage, Accepted)


def test_send_speaks_portuguese(server: ServerThread) -> None:
    with WireClient.login(server.host, server.port, "Maria") as maria:
        code, out, err, dm = run_joao_to_maria(maria, server, ["--send", "Maria", "oi", "--timeout", "10"],
                                               client_env(LANGUAGE="pt_BR", LANG="C.UTF-8"))
    assert (code, out) == (0, f"entregue a Maria (msg {dm.msg_id})\n"), err
    refused = subprocess.run([sys.executable, "chatclient.py", "Joao", "--port", str(server.port), "--send",
                              "Ninguem", "oi", "--lang", "pt_BR"], cwd=ROOT, env=client_env(), text=True,
                             encoding="utf-8", capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert refused.stderr == "erro: não enviada a Ninguem — ninguém chamado Ninguem jamais entrou aqui: confira o nome\n"


def test_a_server_that_is_not_there_is_said_in_portuguese() -> None:
    """The commonest first error of a class: the client started before the server. Its
    words come from the client's connection code, and speak the user's language too."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connecting is refused
        done = subprocess.run([sys.executable, "chatclient.py", "Joao", f"127.0.0.1:{port}", "--no-reconnect",
                               "--lang", "pt_BR"], cwd=ROOT, env=client_env(), text=True, encoding="utf-8",
                              capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.stderr == f"erro: conexão com 127.0.0.1:{port} recusada: o servidor de chat está rodando?\n"
    bad = subprocess.run([sys.executable, "chatclient.py", "Joao", "127.0.0.1:99999", "--lang", "pt_BR"], cwd=ROOT,
                         env=client_env(), text=True, encoding="utf-8", capture_output=True, timeout=TIMEOUT,
                         stdin=subprocess.DEVNULL)
    assert "não é um endereço de servidor: '127.0.0.1:99999' (uma porta é um número de 1 a 65535)" in bad.stderr


def test_an_unknown_language_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, "chatclient.py", "Joao", "--lang", "xx"], cwd=ROOT, env=client_env(),
                          text=True, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "unknown language 'xx'; available: en, pt_BR" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_server_console_speaks_portuguese() -> None:
    proc = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0", "--memory",
                             "--web-port", "0", "--lang", "pt_BR"], cwd=ROOT, env=client_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        said = b""  # the log and the console's answers (on standard output)

        def wait_for(text: bytes) -> None:
            nonlocal said
            deadline = time.monotonic() + TIMEOUT
            while text not in said:
                left = deadline - time.monotonic()
                assert left > 0 and select.select([proc.stdout], [], [], left)[0], f"no {text!r} in {said!r}"
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, f"the server ended; it said {said!r}"
                said += chunk

        wait_for(b"listening on")  # the log stays English, for operators
        proc.stdin.write(b"/quem\n")
        proc.stdin.flush()
        wait_for("online: ninguém\n".encode())
        proc.stdin.write(b"/what\n")
        proc.stdin.flush()
        wait_for("comando desconhecido '/what'\ncomandos no terminal do servidor:\n".encode())
        wait_for("  /ajuda (ou /help, /?)".encode())  # the client's names of it too, the one table
        wait_for("esta lista\n".encode())
        proc.stdin.write(b"/admin\n")
        proc.stdin.flush()
        wait_for("quem administra o servidor: ninguém\n".encode())
        # What is wrong with a name, in the console's language: the clients' one wording.
        proc.stdin.write("/admin Ana Maria\n/admin #redes\n/admin Ninguém\n".encode())
        proc.stdin.flush()
        wait_for("'Ana Maria' não é um nome válido: um nome não pode ter espaços: tente 'Ana_Maria'\n".encode())
        wait_for("'#redes' não é um nome válido: ".encode())
        wait_for("Ninguém não tem conta: só uma conta registrada pode ter a administração do servidor. Peça que "
                 "registre o nome antes (/registrar no cliente) e digite /admin Ninguém de novo\n".encode())
        proc.stdin.write(b"/sair\n")
        proc.stdin.flush()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_refused_name_is_explained_in_the_users_language():
    """The rules of names speak English on the server; the client says why in its user's
    language, with the same details (the suggestion, the scripts)."""
    from registry import InvalidName, validate_name
    from registry.names import explain
    from client.commands import parse_command

    i18n.use("pt_BR")
    with pytest.raises(InvalidName) as spaced:
        validate_name("Ana Maria")
    assert str(spaced.value) == "a name cannot contain spaces: try 'Ana_Maria'"  # the server's words
    assert explain(spaced.value, i18n._) == "um nome não pode ter espaços: tente 'Ana_Maria'"
    with pytest.raises(InvalidName) as mixed:
        validate_name("Jоão")  # a Cyrillic о
    assert explain(mixed.value, i18n._).startswith("o nome mistura as escritas Latin e Cyrillic:")
    mistake = parse_command("/para Ana!")
    assert mistake.message.startswith("'Ana!' não é um nome válido: um nome não pode ter '!'"), mistake


def test_why_a_connection_ended_is_said_in_portuguese() -> None:
    """The reconnect line was "! conexão perdida; reconectando em 0.6 s (tentativa 1): server
    shutting down", and "…: the server closed the connection" or "…: login refused: the
    name 'Lucia' is already in use (name_taken)" during a failover."""
    from client.core import ClientCore
    from client.display import login_refused_words
    from client.errors import LoginRefused
    from client.events import Reconnecting
    from client.terminal_lines import describe_reconnecting

    i18n.use("pt_BR")
    assert describe_reconnecting(Reconnecting(1, 0.6, "server shutting down")) == \
        "! conexão perdida; reconectando em 0,6 s (tentativa 1): o servidor está encerrando"
    core = ClientCore()
    core.receive_data(b"", 1.0)
    assert core.close_reason == "o servidor fechou a conexão"
    refused = LoginRefused("name_taken", "the name 'Lucia' is already in use")
    assert login_refused_words(refused, "Lucia") == \
        "login recusado: o nome Lucia está em uso, ou reservado por um tempo para o convidado que o usou por último: " \
        "escolha outro nome"



def test_a_look_alike_name_is_refused_in_portuguese(server: ServerThread) -> None:
    """"erro: login recusado: the name 'Joao' looks too much like 'João'…": the server says
    which name it looks like (the error's ``like``), so the client words it."""
    with WireClient.login(server.host, server.port, "João"):
        refused = subprocess.run([sys.executable, "chatclient.py", "Joao", "--port", str(server.port), "--send",
                                  "Maria", "sou eu", "--lang", "pt_BR"], cwd=ROOT, env=client_env(), text=True,
                                 encoding="utf-8", capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert refused.returncode == 4
    assert refused.stderr == "erro: login recusado: o nome Joao se parece demais com João, um nome já em uso " \
                             "aqui: se João é seu, digite-o exatamente assim; se não, escolha outro nome\n"


def test_the_clients_help_and_usage_errors_speak_portuguese() -> None:
    """`chatclient.py --help` was English whatever the language, as were argparse's own
    words ("usage:", "error: argument --port: …")."""
    shown = subprocess.run([sys.executable, "chatclient.py", "--help"], cwd=ROOT, env=client_env(LANG="pt_BR.UTF-8"),
                           text=True, encoding="utf-8", capture_output=True, timeout=TIMEOUT)
    assert shown.returncode == 0
    assert shown.stdout.startswith("uso: chatclient.py")
    for words in ("opções:", "mostra esta ajuda e sai", "códigos de saída:", "erro de uso (argumentos inválidos)",
                  "envia TEXTO ao usuário DESTINO"):
        assert words in shown.stdout, words
    bad = subprocess.run([sys.executable, "chatclient.py", "Ana", "--port", "abc", "--lang", "pt_BR"], cwd=ROOT,
                         env=client_env(), text=True, encoding="utf-8", capture_output=True, timeout=TIMEOUT)
    assert bad.returncode == 2
    assert bad.stderr.endswith("chatclient.py: erro: argumento --port: não é um número de porta: 'abc'\n")


def test_the_clients_help_names_its_placeholders_in_portuguese() -> None:
    """`--help` in Portuguese said NAME, HOST:PORT, TO TEXT and FILE (argparse's metavars,
    never translated), and its sentences mixed them with NOME ("envia TEXT ao usuário TO")."""
    shown = subprocess.run([sys.executable, "chatclient.py", "--help"], cwd=ROOT, env=client_env(LANG="pt_BR.UTF-8"),
                           text=True, encoding="utf-8", capture_output=True, timeout=TIMEOUT)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    for words in ("[NOME] [HOST:PORTA ...]", "[--port PORTA]", "[--send DESTINO TEXTO]", "[--timeout SEGUNDOS]",
                  "[--lang IDIOMA]", "[--password-file ARQUIVO]", "Converse como NOME no terminal",
                  "NOME seu nome de usuário", "HOST:PORTA os servidores a usar",
                  "--send DESTINO TEXTO envia TEXTO ao usuário DESTINO", "registra NOME com uma senha",
                  "lê a senha da primeira linha de ARQUIVO", "--cafile ARQUIVO confia"):
        assert words in text, words
    english = {"NAME", "PORT", "TO", "TEXT", "FILE", "TIMEOUT", "SECONDS"} & set(re.findall(r"[A-Z]+", shown.stdout))
    assert not english, english
    missing = subprocess.run([sys.executable, "chatclient.py"], cwd=ROOT, env=client_env(LANG="pt_BR.UTF-8"),
                             text=True, encoding="utf-8", capture_output=True, timeout=TIMEOUT,
                             stdin=subprocess.DEVNULL)
    assert missing.returncode == 2
    assert missing.stderr.startswith("uso: chatclient.py [-h] [--host HOST] [--port PORTA]"), missing.stderr
    assert missing.stderr.endswith("erro: estes argumentos são obrigatórios: NOME (só o --gui pode deixá-lo de "
                                   "fora)\n"), missing.stderr


def test_an_unreadable_password_file_is_an_error_in_portuguese(tmp_path) -> None:
    """The line began "error: " in a Portuguese session, its prefix written in English."""
    shown = subprocess.run([sys.executable, "chatclient.py", "Maria", "--password-file", str(tmp_path / "nada"),
                            "--send", "Ana", "oi"], cwd=ROOT, env=client_env(LANG="pt_BR.UTF-8"), text=True,
                           encoding="utf-8", capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert shown.returncode == 2
    assert shown.stderr.startswith("erro: não foi possível ler o arquivo de senha "), shown.stderr


@pytest.mark.parametrize("how", ["LANG", "--lang"])
def test_the_servers_help_and_usage_errors_speak_portuguese(how: str) -> None:
    """`chatserver.py --help` and its usage errors were English whatever the language,
    although its console spoke it; the log stays English."""
    env = client_env(LANG="pt_BR.UTF-8") if how == "LANG" else client_env()
    lang = ["--lang", "pt_BR"] if how == "--lang" else []
    shown = subprocess.run([sys.executable, "chatserver.py", "--help", *lang], cwd=ROOT, env=env, text=True,
                           encoding="utf-8", capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("uso: chatserver.py")
    for words in ("opções:", "mostra esta ajuda e sai", "Servidor de chat: cadastro de usuários",
                  "porta TCP (padrão 5000; 0 escolhe uma livre)", "idioma do console e desta ajuda: en, pt_BR",
                  "o log fica em inglês"):
        assert words in " ".join(shown.stdout.split()), words
    for args, error in ((["--port", "70000"], "argumento --port: uma porta vai de 0 a 65535, não 70000"),
                        (["--workers", "0"], "--workers é um número de nós, pelo menos 1, não 0"),
                        (["--memory", "--cluster", "redis://x"],
                         "--memory e --cluster se excluem: um cluster guarda tudo no Redis")):
        bad = subprocess.run([sys.executable, "chatserver.py", *args, *lang], cwd=ROOT, env=env, text=True,
                             encoding="utf-8", capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        assert bad.returncode == 2, bad.stderr
        assert bad.stderr.endswith(f"chatserver.py: erro: {error}\n"), bad.stderr
    english = subprocess.run([sys.executable, "chatserver.py", "--help", "--lang", "en"], cwd=ROOT, env=env,
                             text=True, encoding="utf-8", capture_output=True, timeout=TIMEOUT,
                             stdin=subprocess.DEVNULL)
    assert english.stdout.startswith("usage: chatserver.py") and "the log stays English" in english.stdout


def test_the_servers_help_names_its_placeholders_in_portuguese() -> None:
    """`chatserver.py --help` in Portuguese said [--port PORT] [--web-port WEB_PORT]
    [--data DIR] (argparse's metavars, never translated) in its Portuguese sentences (LANG
    stays: the help names the environment variable)."""
    shown = subprocess.run([sys.executable, "chatserver.py", "--help"], cwd=ROOT, env=client_env(LANG="pt_BR.UTF-8"),
                           text=True, encoding="utf-8", capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    for words in ("[--port PORTA]", "[--web-port PORTA]", "[--web-host-name NOME]", "[--metrics-allow LISTA]",
                  "[--data PASTA]", "[--lang IDIOMA]", "--data PASTA pasta do banco de dados"):
        assert words in text, words
    english = {"PORT", "WEB_PORT", "NAME", "LIST", "DIR"} & set(re.findall(r"[A-Z_]+", shown.stdout))
    assert not english, english


def test_the_pages_short_waits_are_tenths_rounded_up_too() -> None:
    """The page's formatDelay (webclient/lang.js) says waits as format_delay does: tenths,
    rounded up, never "0.0 s"."""
    from client.display import format_delay
    import re
    node = require_tool("node", "nodejs", why="to run the page's JavaScript")
    source = "\n".join(path.read_text(encoding="utf-8") for path in page_scripts())
    function = "".join(re.search(rf"^function {name}\(.*?\) \{{\n.*?^\}}\n", source, re.M | re.S).group(0)
                       for name in ("decimal", "formatDelay"))
    waits = [0.0, 0.04, 0.3, 0.31, 2.5, 9.99]
    script = "const t = (s, p = {}) => s.replace(/\\{(\\w+)\\}/g, (m, k) => (k in p ? String(p[k]) : m));\n" + f"{function}\nconsole.log(JSON.stringify({waits}.map(formatDelay)));"
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=20)
    assert json.loads(done.stdout) == [format_delay(s) for s in waits], done.stderr


def test_the_page_says_a_room_name_like_an_existing_room_in_its_words(tmp_path: Path) -> None:
    """Rita's page, in pt_BR, joined #fisica while #física existed and showed the server's
    English ("#fisica looks like #física: join that one or pick another name"). With the
    error's ``like``, a room's name, the page says the clients' sentence for a room
    (client/display.py ROOM_LIKE_TEXTS), as the terminal and the window do."""
    from client.display import explain_refusal
    from client.errors import RequestFailed
    from protocol import ErrorReply
    node = require_tool("node", "nodejs", why="to run the page's scripts")
    catalogue = tool.web_json_path("pt_BR").read_text(encoding="utf-8")
    message = "#fisica looks like #física: join that one or pick another name"
    script = (f"globalThis.location = {{ protocol: 'http:' }};\n"
              f"globalThis.fetch = async () => ({{ json: async () => ({catalogue}) }});\n"
              f"useLanguage('pt_BR').then(() => console.log(JSON.stringify([\n"
              f"  explainError('confusable_name', {json.dumps(message)}, '#fisica', undefined, '#física'),\n"
              f"  explainError('confusable_name', 'x', 'Joao', undefined, 'João')])));\n")
    test = tmp_path / "test.js"
    test.write_text(script, encoding="utf-8")
    done = subprocess.run([node, str(ROOT / "tests" / "support" / "pagerun.js"), str(tool.web_json_path("pt_BR")),
                           str(test), *map(str, page_scripts())], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    room, person = json.loads(done.stdout)
    i18n.use("pt_BR")
    assert room == explain_refusal(RequestFailed.of(ErrorReply("confusable_name", message, "j", like="#física")),
                                   "#fisica") == (
        "#fisica se parece demais com #física, uma sala que já existe: entre em #física, ou escolha outro nome")
    assert person == explain_refusal(RequestFailed.of(ErrorReply("confusable_name", "x", "h", like="João")), "Joao")
