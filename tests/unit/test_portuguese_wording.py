"""Wording rules of the Portuguese catalogue that the page, the window and the terminal
share (locale/pt_BR/LC_MESSAGES/chat.po; the page reads it as webclient/i18n/pt_BR.json).

- A person's presence is "online"/"offline" everywhere, as Brazilian chat apps say it,
  for anyone (no "conectado"/"conectada" to guess a gender for); "Conectado" and
  "Desconectado" are the client's own connection to the server only (the English
  "Online"/"Offline" of the page's status, "Connected"...).
- A role is one word without parentheses: a member list puts it in parentheses already
  ("Ñandú (dono(a))" read badly).
- No "(a)" to cover both genders ("silenciado(a)", "Tornar moderador(a)"): the sentence is
  turned to need no gender ("sem voz", "Dar moderação", "há um banimento contra você"), as
  a teacher would write it.
- A room's owner is "responsável" (a word for anyone), never the masculine "dono", in the
  clients and in LEIAME.md: a teacher who made a room is as often a "dona" as a "dono".
- A room's moderator is "moderação" (the role: "Ana (moderação)"), "quem modera", "alguém
  da moderação", never the masculine "moderador(es)", in the clients and in LEIAME.md.
- A server's administrator is named for any gender too: "a administração do servidor",
  "quem administra", "as contas que administram o servidor", never the masculine
  "administrador(es)", in the clients and in LEIAME.md.
- Error sentences carry no protocol code (client/display.py adds one only for a code it
  has no sentence for).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from client.display import describe_role
from i18n import po_path, use
from i18n.catalog import parse_po

REPO = Path(__file__).resolve().parents[2]
ENTRIES = [e for e in parse_po(po_path("pt_BR").read_text(encoding="utf-8")) if e.msgid]
# The client's own connection, not a person: the page's status pill. And the server's
# console, which speaks to its operator, not to chat users (the server is not the clients').
OWN_CONNECTION = {"Online", "Offline", "online: {users}", "  /who (or /quem)     who is online"}


def presence_entries() -> list:
    return [e for e in ENTRIES if re.search(r"\b(online|offline)\b", e.msgid + (e.msgid_plural or ""))
            and e.msgid not in OWN_CONNECTION]


def test_there_are_presence_texts_to_check() -> None:
    assert len(presence_entries()) > 10


@pytest.mark.parametrize("entry", presence_entries(), ids=lambda e: e.msgid[:40])
def test_a_persons_presence_is_online_or_offline_in_portuguese(entry) -> None:
    for form in entry.msgstr:
        assert not re.search(r"conectad", form, re.IGNORECASE), (entry.msgid, form)


@pytest.mark.parametrize("role", ["owner", "moderator", "member"])
def test_a_role_is_a_word_without_parentheses(role: str) -> None:
    try:
        use("pt_BR")
        assert "(" not in describe_role(role) and ")" not in describe_role(role), describe_role(role)
    finally:
        use("en")


def test_a_rooms_owner_is_one_word_for_any_gender_everywhere() -> None:
    """A teacher who created #redes read "Professora (dono)" in the member lists, while
    joining said "responsável: Professora": the role is "responsável", a word for anyone,
    in the lists as in the room's header."""
    try:
        use("pt_BR")
        assert describe_role("owner") == "responsável"
    finally:
        use("en")
    [header] = [e for e in ENTRIES if e.msgid == "owner {name}"]
    assert tuple(header.msgstr) == ("responsável: {name}",)
    assert [text for where, text in portuguese_texts() if re.search(r"\bdono\b", text)] == []


def test_a_rooms_moderators_are_named_for_any_gender_everywhere() -> None:
    """A class read "Conceição (moderador)" in #redes's member list, and "espere um
    moderador devolver sua voz": the role is "moderação", and a sentence names "quem
    modera" or "a moderação", in the catalogue, the page's and LEIAME.md."""
    try:
        use("pt_BR")
        assert describe_role("moderator") == "moderação"
    finally:
        use("en")
    masculine = re.compile(r"\bmoderador(es)?\b", re.IGNORECASE)
    assert [(where, text) for where, text in portuguese_texts() if masculine.search(text)] == []
    leiame = (REPO / "LEIAME.md").read_text(encoding="utf-8").splitlines()
    assert [line for line in leiame if masculine.search(line)] == []
    # The role is a noun of the act, not of the person: not "Olga tornou Ana moderação".
    [appointed] = [e for e in ENTRIES if e.msgid == "* {by} made {name} {role} of {room}"]
    assert "tornou {name} {role}" not in appointed.msgstr[0], appointed.msgstr


def test_a_servers_administrators_are_named_for_any_gender_everywhere() -> None:
    """The forbidden sentence read "só ... um administrador podem administrá-la", and the
    console "faz da conta NOME um administrador": a teacher given /admin is as often an
    "administradora"; a sentence names "a administração" or "quem administra"."""
    masculine = re.compile(r"\badministrador(es)?\b", re.IGNORECASE)
    assert [(where, text) for where, text in portuguese_texts() if masculine.search(text)] == []
    leiame = (REPO / "LEIAME.md").read_text(encoding="utf-8").splitlines()
    assert [line for line in leiame if masculine.search(line)] == []


def test_a_registered_name_is_said_of_the_name_not_of_the_person() -> None:
    """The terminal greeted Conceição with "* conectado a ... como Conceição (registrado)" and
    told "* Conceição agora está registrado": the adjective agreed with nobody. It is said
    of the name ("o nome {name} está registrado", masculine as "nome" is) or as "com conta"."""
    of_a_person = re.compile(r"(?<!nome )\{name\}[^:;.]*\bregistrad[oa]\b|\(registrad[oa]\)")
    assert [(where, text) for where, text in portuguese_texts() if of_a_person.search(text)] == []


def test_the_name_rule_reads_naturally_and_quotes_its_punctuation() -> None:
    [rule] = [e for e in ENTRIES if e.msgid.startswith("A name has letters and digits of one script")]
    assert '"_", "-"' in rule.msgid
    assert "de um só alfabeto" in rule.msgstr[0] and '"_", "-" ou "."' in rule.msgstr[0], rule.msgstr[0]


def portuguese_texts() -> list[tuple[str, str]]:
    """(where, text) for every Portuguese text: the catalogue's translations, and the page's
    catalogue with the sentences it adds (webclient/i18n/pt_BR.json)."""
    texts = [(entry.msgid, form) for entry in ENTRIES for form in entry.msgstr]
    page = json.loads((REPO / "webclient" / "i18n" / "pt_BR.json").read_text(encoding="utf-8"))

    def walk(where: str, value) -> None:
        if isinstance(value, str):
            texts.append((where, value))
        elif isinstance(value, dict):
            for key, each in value.items():
                walk(f"{where}/{key}", each)
        elif isinstance(value, list):
            for n, each in enumerate(value):
                walk(f"{where}/{n}", each)

    walk("pt_BR.json", page)
    return texts


def test_no_portuguese_text_covers_both_genders_with_a_parenthesis() -> None:
    texts = portuguese_texts()
    assert len(texts) > 500
    assert [(where, text) for where, text in texts if "(a)" in text] == []


def test_a_number_in_a_sentence_has_the_language_s_decimal_mark() -> None:
    from i18n import decimal
    assert (decimal(2.5), decimal(0.04), decimal(1536 / 1024, 2), decimal(12, 0)) == ("2.5", "0.0", "1.50", "12")
    try:
        use("pt_BR")
        assert (decimal(2.5), decimal(0.04), decimal(1536 / 1024, 2), decimal(12, 0)) == ("2,5", "0,0", "1,50", "12")
    finally:
        use("en")


# "dono", "dona", "donos", "donas" as a word (not inside another one).
OWNER_WORD = re.compile(r"\bdon[oa]s?\b", re.IGNORECASE)


def test_a_rooms_owner_is_responsavel_in_every_client_and_in_leiame() -> None:
    try:
        use("pt_BR")
        assert describe_role("owner") == "responsável"
    finally:
        use("en")
    texts = portuguese_texts() + [("LEIAME.md", (REPO / "LEIAME.md").read_text(encoding="utf-8"))]
    assert [(where, OWNER_WORD.findall(text)) for where, text in texts if OWNER_WORD.search(text)] == []
