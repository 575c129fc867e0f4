"""Names from every script, with no look-alikes (issue 11): the rules of registry/names.py,
the look-alike index, the server's refusals, the generated tables and the store migration."""

from __future__ import annotations

import bisect
import sqlite3
import unicodedata
from types import SimpleNamespace

import pytest

import const
import i18n
from protocol import ErrorCode, Hello
from protocol.codec import encode
from registry import InvalidName, Lookalikes, Registry, canonical, display_form, lookalike_key, validate_name
from registry import names
from registry import unicode_tables as tables
from registry.names import (UNICODE_VERSION, explain, lookalike_among, looks_like_reserved, not_a_name, script_problem,
                            skeleton)


# --- Which names are valid --------------------------------------------------------------

ACCEPTED = ["João", "José_123", "Conceição", "Zé", "Müller", "Мария", "李雷", "Ana_Maria",
            "nguyễn", "Ελένη", "नमस्ते", "ประเสริฐ", "東京タワー", "Tokyo東京", "서울Seoul", "שלום", "محمد1",
            "Alice", "a.b-c", "123"]


@pytest.mark.parametrize("name", ACCEPTED)
def test_letters_and_digits_of_any_script_are_names(name):
    assert validate_name(name) == name
    assert Registry().register(name, "192.0.2.1", 4000, 1.0, object()).name == name


@pytest.mark.parametrize("name, says", [
    ("Ana Maria", "try 'Ana_Maria'"),
    ("Ana  Maria Silva", "try 'Ana_Maria_Silva'"),
    ("Ana\u3000Maria", "try 'Ana_Maria'"),              # ideographic space, width-mapped to a space
    ("Al\u200dice", "U+200D ZERO WIDTH JOINER"),
    ("Al\u200bice", "U+200B ZERO WIDTH SPACE"),
    ("\u202eecilA", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("Ali\u2066ce", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ("Al!ce", "'!' (U+0021 EXCLAMATION MARK)"),
    ("Alice😀", "symbols or emoji"),
    ("Alice\u2665", "symbols or emoji"),
    ("a\ufe0f", "U+FE0F VARIATION SELECTOR-16"),
    ("a\u034fb", "U+034F COMBINING GRAPHEME JOINER"),
    ("al\x07ice", "control"),
    ("\ufb01sh", "type 'fi' instead"),                   # the fi ligature
    ("x\u00b2", "only decimal digits"),                 # superscript two
    ("Ⅻ", "only decimal digits"),
    ("\u0301a", "must start with a letter or a digit"),  # a lone combining accent first
    ("_ana", "must start with a letter or a digit"),
    ("a\U000e0001", "invisible"),                        # language tag
    ("a\U0003fffe", "Unicode 14.0.0 does not define"),  # a noncharacter, unassigned
])
def test_spaces_controls_format_and_symbols_are_refused_with_a_clear_message(name, says):
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    assert says in str(info.value)


@pytest.mark.parametrize("name, english, portuguese", [
    ("Al!ce", "(U+0021 EXCLAMATION MARK)", "'!' (U+0021); "),
    ("Al\u200dice", "(U+200D ZERO WIDTH JOINER)", "(U+200D)"),
    ("\ufb01sh", "'ﬁ' (U+FB01 LATIN SMALL LIGATURE FI)", "'ﬁ' (U+FB01), "),
])
def test_the_english_name_of_a_character_is_said_in_english_only(name, english, portuguese):
    """Unicode's names are English, and Python has them in no other language: in
    Portuguese, "'!' (U+0021 EXCLAMATION MARK)" stood in the middle of the sentence; the
    character and its code point say it there. The server's words (English) keep it, as
    do the client's in English."""
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    assert english in str(info.value)
    assert english in explain(info.value, i18n._)
    assert english in not_a_name(name, info.value, i18n._)
    i18n.use("pt_BR")
    try:
        said = not_a_name(name, info.value, i18n._)
        assert portuguese in said and english not in said, said
        assert english.rstrip(")").split(" ", 1 if english.startswith("(") else 2)[-1] not in said, said
        assert english in str(info.value)  # (what the server sends)
    finally:
        i18n.use("en")


# Letters, digits and marks that Unicode 15.0 and 15.1 added (Kawi, Nag Mundari, CJK
# extensions H and I, a Latin small letter): Python 3.11 has none of them, 3.12 and 3.13
# have them all. The rules follow the tables' Unicode (14.0.0) on every Python, so that
# servers on different Pythons, or the nodes of one cluster, accept the same names.
@pytest.mark.parametrize("name, char", [
    ("\U00011f04\U00011f05", "U+11F04"),   # KAWI LETTER A (15.0, Lo)
    ("\U0001e4d0", "U+1E4D0"),              # NAG MUNDARI LETTER O (15.0, Lo)
    ("\U00031350", "U+31350"),              # CJK extension H (15.0, Lo)
    ("李\U00031350", "U+31350"),            # with Han: not "mixes the scripts Han and Unknown"
    ("Ana\U0001df25", "U+1DF25"),           # LATIN SMALL LETTER TALING (15.0, Ll)
    ("\U0002ebf0", "U+2EBF0"),              # CJK extension I (15.1, Lo)
    ("a\U00011f50", "U+11F50"),             # KAWI DIGIT ZERO (15.0, Nd)
])
def test_characters_newer_than_the_tables_are_unassigned_on_every_python(name, char):
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    assert str(info.value) == f"the name contains {char}, which Unicode 14.0.0 does not define"


@pytest.mark.parametrize("name, scripts", [
    ("\u0410lice", "Cyrillic and Latin"),        # Cyrillic А + Latin
    ("J\u043e\u00e3o", "Latin and Cyrillic"),      # Latin with a Cyrillic о
    ("Αlice", "Greek and Latin"),
    ("Mapия", "Latin and Cyrillic"),
    ("abc\u0967", "Latin and "),                   # Latin letters with a Devanagari digit
    ("한국Ελ", "Hangul and Greek"),
])
def test_mixed_scripts_are_refused_naming_them(name, scripts):
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    assert "mixes the scripts" in str(info.value) and scripts in str(info.value)


def test_latin_with_arabic_indic_digits_is_refused_by_the_bidi_rule_first():
    with pytest.raises(InvalidName, match="RFC 5893"):
        validate_name("abc\u0663")


@pytest.mark.parametrize("name", ["Tokyo東京", "とうきょう東京", "カタカナ漢字ひらがなABC", "台北ㄅㄆ", "Seoul서울", "李雷",
                                  "José123", "Μαρία_2", "Анна-Мария"])
def test_the_mixtures_ts39_allows_and_common_characters_go_with_any_script(name):
    assert script_problem(name) is None
    validate_name(name)


def test_han_with_hangul_and_bopomofo_together_is_refused():
    assert script_problem("서울ㄅ") is not None  # Korean with Bopomofo: no TS #39 mixture


def test_right_to_left_names_obey_the_bidi_rule():
    validate_name("שלום")
    validate_name("שלום2")
    for name in ("abcשלום", "1שלום", "שלום\u0661\u0031"):
        with pytest.raises(InvalidName, match="RFC 5893"):
            validate_name(name)


def test_length_is_counted_in_characters_after_nfc_and_bounded_in_bytes():
    composed = "ã" * const.MAX_NAME_LENGTH
    decomposed = unicodedata.normalize("NFD", composed)  # 64 code points, 32 after NFC
    assert validate_name(decomposed) == decomposed
    with pytest.raises(InvalidName, match=f"{const.MAX_NAME_LENGTH} characters"):
        validate_name("ã" * (const.MAX_NAME_LENGTH + 1))
    with pytest.raises(InvalidName, match=f"{const.MAX_NAME_BYTES} bytes"):
        validate_name("a" + "\u0301" * const.MAX_NAME_BYTES)
    assert len(display_form("李" * const.MAX_NAME_LENGTH).encode()) <= 4 * const.MAX_NAME_LENGTH


# --- One user, one comparison form ------------------------------------------------------


@pytest.mark.parametrize("a, b", [
    ("JOÃO", "joão"),
    ("João", "Jo\u0061\u0303o"),             # precomposed ã = a + combining tilde
    ("Conceição", unicodedata.normalize("NFD", "CONCEIÇÃO")),
    ("МАРИЯ", "мария"),
    ("ｊｏａｏ", "JOAO"),                        # fullwidth letters are width-mapped
    ("\u212aate", "kate"),                     # the Kelvin sign is K after NFC
])
def test_names_are_one_user_in_their_comparison_form(a, b):
    assert canonical(a) == canonical(b)
    assert canonical(canonical(a)) == canonical(a)  # stable: applying it twice changes nothing
    reg = Registry()
    reg.register(a, "192.0.2.1", 4000, 1.0, object())
    assert reg.lookup(b).name == a and b in reg


def test_case_mapping_is_to_lower_case_not_case_folding():
    assert canonical("Straße") == "straße" != canonical("Strasse")
    assert canonical("ΟΔΟΣ") == "οδος"  # toLowerCase's final sigma, as JavaScript's


def test_the_display_form_is_nfc_as_typed():
    assert display_form("Joa\u0303o") == "João"
    assert display_form("ＪＯＡＯ") == "JOAO"
    assert display_form("Müller") == "Müller"


# --- Look-alikes ------------------------------------------------------------------------


@pytest.mark.parametrize("group", [
    ["Alice", "AIice", "A1ice", "\u0410lice", "alice"],
    ["OOOO", "O0O0", "0000", "oooo"],
    ["João", "J0ão", "J\u043e\u00e3o", "Joa\u0303o", "Joao", "JOAO", "jõão"],
    # Accents are dropped: a class types names without them (a guest "Conceicao" passed for
    # the registered Conceição, online).
    ["Conceição", "Conceicao", "conceiçao", "Concéição"],
    ["Estêvão", "Estevao", "estevão"],
    ["Bill", "Bi11", "BiIl", "bi1l"],
    # Case and accents together (reported: "CONCEICAO" took a name beside the online Conceição):
    # a capital I must not keep apart what a lower-case i would join.
    ["Conceição", "CONCEICAO", "conceicao", "CONCEIÇÃO", "Conceicao"],
    ["Inês", "INES", "ines", "Ines", "lnes", "INÊS"],
    ["Ícaro", "Icaro", "icaro", "ICARO"],
    # So i and l are one letter in the key: a user may write their name in any case, and
    # "aiice" written "AIice" looks like "Alice" (rule 8).
    ["Alice", "ALICE", "AIice", "aiice", "alice"],
    ["Il", "ll", "il", "II", "1l"],
    ["Ana", "Aña", "ANA"],  # ñ is n with a combining tilde, an accent like ã's
])
def test_look_alikes_share_one_key_case_insensitively(group):
    assert len({lookalike_key(name) for name in group}) == 1, {n: lookalike_key(n) for n in group}


def test_the_look_alike_key_of_a_latin_name_does_not_depend_on_its_case():
    # Every Latin letter a name may hold: its capital and its small letter have one key, so
    # that two names differing in case and accents (different users) are look-alikes.
    letters = [chr(c) for c in range(0x41, 0x250) if chr(c).isalpha() and chr(c).lower() != chr(c)]
    checked = [c for c in letters if _valid(c) and _valid(c.lower())]
    assert len(checked) > 100
    apart = {c: (lookalike_key(c), lookalike_key(c.lower())) for c in checked
             if lookalike_key(c) != lookalike_key(c.lower())}
    assert set(apart) <= _LATIN_HOOKS, apart


def test_a_look_alike_key_holds_no_i():
    # What makes keys stored in Redis before i became l (alook, glook, rlook: docs/cluster.md)
    # harmless: a key that holds an i is an old one, and no name's key today is equal to it.
    names = ["Conceição", "INÊS", "ı", "İ", "Ï", "\u0456", "\u03b9", "ⅰ", "ｉ", "Ǐ", "ɨ", "i\u0307"]
    names += [chr(c) + "a" for c in range(0x20, 0x3000) if _valid(chr(c) + "a")]
    keyed = {name: lookalike_key(name) for name in names}
    assert len(keyed) > 1000 and not {n: k for n, k in keyed.items() if "i" in k}


# Capitals of rare hooked letters (Ɓ, Ƈ...) whose confusables.txt prototypes lose the hook
# only for the capital: no Portuguese or Spanish name holds one.
_LATIN_HOOKS = set("ÐƁƄƇƊƓƘƝƤƦƧƬƮƳƷƼǮȜȾɁɄ")


def _valid(name: str) -> bool:
    try:
        validate_name(name)
    except InvalidName:
        return False
    return True


@pytest.mark.parametrize("a, b", [("Alice", "Alicia"), ("João", "Joana"), ("Мария", "Maria"), ("李雷", "李電"),
                                  ("कि", "क"),  # a Devanagari vowel sign is no accent
                                  ("Luiz", "Luis"), ("Ivo", "Ava"), ("Ana", "Anna"), ("Lia", "Lua")])
def test_different_names_have_different_keys(a, b):
    assert lookalike_key(a) != lookalike_key(b)


def test_skeleton_is_ts39s_nfd_map_nfd():
    assert skeleton("A1ice") == "Alice"
    assert skeleton("\u0410") == "A"
    assert skeleton("ã") == "a\u0303"


@pytest.mark.parametrize("typed", ["conceicao", "CONCEICAO", "Conceicao", "CONCEIÇAO"])  # CONCEIÇÃO is she
def test_did_you_mean_offers_conceicao_for_her_name_typed_without_accents_in_any_case(typed):
    assert lookalike_among(typed, ["Conceição", "Bob", "Maria"], ("Maria",)) == "Conceição"


def test_the_index_finds_look_alikes_of_other_users_only():
    index = Lookalikes(["Alice", "Bob"])
    assert index.rivals("AIice") == ["Alice"] and index.rivals("A1ice") == ["Alice"]
    assert index.rivals("ALICE") == [] and index.rivals("alice") == []  # the same user, not a rival
    assert index.rivals("B0b") == ["Bob"] and index.rivals("Carol") == []
    index.add("ALICE")  # the same user under another spelling: replaced, not added
    # AIice (user aiice) looks like ALICE as much as like Alice: keyed alike (rule 8, i is l).
    assert len(index) == 2 and index.rivals("ALlCE") == ["ALICE"] and index.rivals("AIice") == ["ALICE"]
    index.discard("alice")
    assert index.rivals("ALlCE") == [] and len(index) == 1


def test_a_group_of_look_alikes_keeps_the_others_when_one_goes_and_a_name_added_twice_counts_once():
    index = Lookalikes(["Alice", "AIice", "A1ice"])  # three users whose names look alike
    index.discard("AIice")
    assert index.rivals("alice") == ["A1ice"] and index.rivals("a1ice") == ["Alice"] and len(index) == 2
    index.discard("A1ice")
    assert index.rivals("AIice") == ["Alice"] and len(index) == 1  # one left: alone in its group
    again = Lookalikes(["Bob"])
    again.add("Bob")
    assert len(again) == 1 and again.rivals("B0b") == ["Bob"] and again.rivals("bob") == []
    again.discard("Bob")
    assert len(again) == 0 and again.rivals("B0b") == []


def test_the_registry_indexes_who_is_online_by_look_alike_key():
    reg = Registry()
    session = object()
    reg.register("Alice", "192.0.2.1", 4000, 1.0, session)
    assert reg.lookalikes("A1ice") == ["Alice"]
    reg.unregister("Alice", session)
    assert reg.lookalikes("A1ice") == []


PASSWORD, KDF = "correct horse", "scrypt:n=16,r=1,p=1"  # cheap: the tests are about the policy


class Desk:
    """A LoginDesk with an in-memory store, the accounts given and an online set."""

    def __init__(self, accounts=(), online=()) -> None:
        from server.accounts import Account, _scrypt
        from server.config import ServerConfig
        from server.login import LoginDesk
        from server.stores import MemoryStore

        store = MemoryStore()
        store.open()
        self.online = Registry()
        for i, name in enumerate(online):
            self.online.register(name, "192.0.2.1", 4000 + i, 1.0, object())
        self.desk = LoginDesk(ServerConfig(), store,
                              {canonical(n): Account(n, _scrypt(PASSWORD, b"s" * 16, KDF), b"s" * 16, KDF)
                               for n in accounts},
                              lambda func, args, callback, on_error: callback(func(*args)),
                              lambda name: name in self.online, online_lookalikes=self.online.lookalikes)

    def hello(self, name: str, **fields):
        results = []
        self.desk.login(Hello("h", name, const.PROTOCOL_VERSION, **fields), "192.0.2.9", results.append)
        [result] = results
        return result


def test_a_name_in_use_or_like_one_online_may_be_registered_only_by_its_holder():
    desk = Desk(online=["Zé", "Alice"])
    answers = []
    desk.desk.claim("Zé", PASSWORD, answers.append, address="192.0.2.9")
    desk.desk.claim("AIice", PASSWORD, answers.append, address="192.0.2.9")
    assert [a.code for a in answers] == [ErrorCode.NAME_TAKEN, ErrorCode.CONFUSABLE_NAME]
    assert "zé" not in desk.desk.accounts and "aiice" not in desk.desk.accounts
    desk.desk.store.start(SimpleNamespace(call_soon=lambda func, *args: func(*args)))  # the store answers at once
    desk.desk.claim("Zé", PASSWORD, answers.append, by_holder=True, address="192.0.2.9")  # Zé, online, claims it
    assert answers[2:] == [None] and desk.desk.accounts["zé"].name == "Zé"


@pytest.mark.parametrize("name", ["AIice", "A1ice", "aIice"])
def test_a_guest_cannot_take_a_look_alike_of_someone_online(name):
    result = Desk(online=["Alice"]).hello(name)
    assert result.error.code == ErrorCode.CONFUSABLE_NAME
    assert "'Alice'" in result.error.message and repr(name) in result.error.message


def test_a_guest_cannot_take_a_look_alike_of_an_account_or_a_held_guest_name_or_a_reserved_name():
    desk = Desk(accounts=["OOOO"])
    assert desk.hello("O0O0").error.code == ErrorCode.CONFUSABLE_NAME
    first = desk.hello("João")
    assert first.error is None and first.name == "João"
    desk.desk.guests.take(canonical(first.name), first.name, 0)  # what the relay does at login
    refused = desk.hello("J0ão")
    assert refused.error.code == ErrorCode.CONFUSABLE_NAME and "'João'" in refused.error.message
    assert desk.hello("aII").error.code == ErrorCode.CONFUSABLE_NAME  # looks like the reserved "all"


@pytest.mark.parametrize("name, word", [("ALI", "all"), ("ADMlN", "admin"), ("Y0U", "you")])
def test_a_look_alike_of_a_reserved_word_is_told_it_is_reserved_not_someones(name, word):
    # Reported: "'ALI' looks too much like 'all', a name already in use here: if 'all' is
    # yours, type it exactly so": nobody holds a reserved word, and typed exactly it is
    # invalid_name. The answer says it is reserved, and says so to clients (reserved).
    refused = Desk().hello(name).error
    assert (refused.code, refused.like, refused.reserved) == (ErrorCode.CONFUSABLE_NAME, word, True), refused
    assert refused.message == f"the name {name!r} looks too much like {word!r}, a word reserved for the server: " \
                              "choose another name"
    someones = Desk(online=["Alice"]).hello("AIice").error  # a name someone holds: as before, no reserved
    assert someones.reserved is None and "if 'Alice' is yours, type it exactly so" in someones.message
    assert b'"reserved":true' in encode(refused) and b"reserved" not in encode(someones)


def test_an_operators_reserved_word_in_capitals_reserves_it_in_every_case(monkeypatch):
    # Reported: an operator's RESERVED_NAMES | {"Prof"} reserved nothing: rule 6 compared
    # the comparison form of a name (prof) with the word as written (Prof). The words are
    # put in their comparison form once, where the settings are read (names.RESERVED).
    words = const.RESERVED_NAMES | {"Prof", "ＰROFESSORA"}  # the second fullwidth at first
    monkeypatch.setattr(names, "RESERVED", names.reserved_forms(words))
    assert {"prof", "professora", "all"} <= names.RESERVED and "Prof" not in names.RESERVED
    for name in ("prof", "PROF", "Prof", "Professora", "professora"):
        with pytest.raises(InvalidName) as refused:
            validate_name(name)
        assert refused.value.args[0].key == "reserved", name
    assert Desk().hello("PROF").error.code == ErrorCode.INVALID_NAME
    refused = Desk().hello("Pr0f").error
    assert refused.code == ErrorCode.CONFUSABLE_NAME and refused.like == "prof", refused


def _older_key(name: str) -> str:
    """Rule 8's key before i became l: what it refused is the record these tests keep."""
    return skeleton(skeleton(display_form(name)).lower()).translate(dict.fromkeys(range(0x0300, 0x0370)))


@pytest.mark.parametrize("name", ["Ali", "ali", "Ail", "AIi", "aIi"])
def test_ali_is_a_name_not_a_look_alike_of_the_reserved_all(name):
    # Reported: the common name Ali was refused as a look-alike of "all" once i became l in
    # the key. Its i is no l in any case, and "all" has no i in any case: they do not look
    # alike (the older rule let them in too). AIi is Ali with a capital I.
    assert _older_key(name) != "all"
    result = Desk().hello(name)
    assert result.error is None and result.name == name, result.error


@pytest.mark.parametrize("name", ["ALI", "aII", "A11", "AII", "Al1"])
def test_what_looks_like_the_reserved_all_in_some_case_is_still_refused(name):
    assert _older_key(name) == "all"  # refused before i became l too
    refused = Desk().hello(name).error
    assert refused is not None and refused.code == ErrorCode.CONFUSABLE_NAME and refused.like == "all", refused


@pytest.mark.parametrize("name", ["ADMlN", "ADM1N", "Admln", "Adm1n", "AdrnIn", "Adrnin"])
def test_what_looks_like_admin_in_some_case_is_refused(name):
    # ADMlN (small L) looks like ADMIN, the reserved admin in capitals; the older rule let
    # it in (its key adrnln was not admin's adrnin), i is l closed that, and it stays closed.
    refused = Desk().hello(name).error
    assert refused is not None and refused.code == ErrorCode.CONFUSABLE_NAME and refused.like == "admin", refused


def test_the_key_as_written_is_the_older_key_and_the_key_is_it_with_i_as_l():
    # One place for the steps: the key as written (for reserved words) is rule 8's key
    # before i became l, and the key is the key as written with every i an l.
    names = ["Ali", "ALI", "AIice", "Conceição", "CONCEICAO", "Мира", "мира", "İ", "ı", "Ícaro", "ｉｎｅｓ", "admin"]
    names += [chr(c) + "i" for c in range(0x20, 0x800) if _valid(chr(c) + "i")]
    assert len(names) > 500
    assert {n: lookalike_key(n, False) for n in names} == {n: _older_key(n) for n in names}
    assert {n: lookalike_key(n) for n in names} == {n: _older_key(n).replace("i", "l") for n in names}
    assert not looks_like_reserved("Ali", "all") and looks_like_reserved("ALI", "all")
    assert looks_like_reserved("ADMlN", "admin") and not looks_like_reserved("Alice", "all")


def test_a_guest_resuming_ali_cannot_write_it_ali_in_capitals():
    # A guest may write their own name in any case when they resume it (rule 8); ALI would
    # pass for "all" (ALL) as much as when taken anew, so that spelling is refused, and the
    # guest's own spelling still resumes.
    desk = Desk()
    token, _ = desk.desk.guests.take("ali", "Ali", 0)  # what the relay does at Ali's welcome
    refused = desk.hello("ALI", resume=token).error
    assert refused is not None and refused.code == ErrorCode.CONFUSABLE_NAME and refused.like == "all", refused
    again = desk.hello("ali", resume=token)
    assert again.error is None and again.name == "ali"


@pytest.mark.parametrize("where", ["online", "account", "kept"])
@pytest.mark.parametrize("name", ["CONCEICAO", "conceicao", "CONCEIÇAO"])
def test_conceicao_without_accents_in_any_case_is_refused_beside_conceicao(where, name):
    desk = Desk(online=["Conceição"] if where == "online" else [], accounts=["Conceição"] if where == "account" else [])
    if where == "kept":
        desk.desk.guests.take("conceição", "Conceição", 0)  # a guest name kept for its holder
    refused = desk.hello(name).error
    assert refused is not None and refused.code == ErrorCode.CONFUSABLE_NAME, refused
    assert refused.like == "Conceição" and repr(name) in refused.message


def test_a_guest_name_whose_hold_ran_out_no_longer_blocks_its_look_alikes():
    desk = Desk()
    desk.desk.guests.take("alice", "Alice", 0)
    desk.desk.guests.left("alice", 0.0)  # left at the epoch: the hold is long over
    assert desk.hello("AIice").error is None


def test_registering_a_look_alike_is_refused_and_the_owner_still_logs_in():
    desk = Desk(accounts=["Alice", "A1ice"])  # stored before the rule: both keep working
    # Logging in to one's own account is not taking a name: no look-alike check.
    assert desk.hello("A1ice", password=PASSWORD).name == "A1ice"
    assert desk.hello("Alice", password=PASSWORD).name == "Alice"
    refused = desk.hello("AIice", password=PASSWORD, register=True)
    assert refused.error.code == ErrorCode.CONFUSABLE_NAME


def test_a_decomposed_hello_is_shown_in_nfc():
    assert Desk().hello("Joa\u0303o").name == "João"


# --- The generated tables ---------------------------------------------------------------


def test_the_tables_are_well_formed_and_say_their_unicode_versions():
    # The rules' Unicode is the tables' on every supported Python: 3.11's unicodedata is
    # 14.0.0 too, 3.12's and 3.13's are newer (15.0.0, 15.1.0).
    assert tables.UNICODE_VERSION == UNICODE_VERSION == "14.0.0"
    assert tables.CONFUSABLES_VERSION == "13.0.0"
    starts = tables.SCRIPT_STARTS
    assert starts[0] == 0 and list(starts) == sorted(set(starts)) and starts[-1] <= 0x10FFFF
    assert len(tables.SCRIPT_VALUES) == len(starts)
    assert all(0 <= v < len(tables.SCRIPT_SETS) for v in tables.SCRIPT_VALUES)
    assert all(0 <= s < len(tables.SCRIPT_NAMES) for st in tables.SCRIPT_SETS for s in st)
    ignorable = tables.DEFAULT_IGNORABLE
    assert list(ignorable) == sorted(ignorable) and all(a <= b for a, b in ignorable)
    sources = [item.partition(":")[0] for item in tables.CONFUSABLES.split()]
    assert [int(s, 16) for s in sources] == sorted({int(s, 16) for s in sources})


@pytest.mark.parametrize("char, script", [("a", "Latin"), ("ã", "Latin"), ("Я", "Cyrillic"), ("李", "Han"),
                                          ("ア", "Katakana"), ("한", "Hangul"), ("ש", "Hebrew"), ("न", "Devanagari"),
                                          ("Ω", "Greek"), ("\U0001e900", "Adlam")])
def test_known_characters_have_their_script(char, script):
    i = bisect.bisect_right(tables.SCRIPT_STARTS, ord(char)) - 1
    names = {tables.SCRIPT_NAMES[s] for s in tables.SCRIPT_SETS[tables.SCRIPT_VALUES[i]]}
    assert names == {script}


def test_known_confusables_are_in_the_table():
    pairs = dict(item.split(":") for item in tables.CONFUSABLES.split())
    assert pairs["31"] == "6C" and pairs["49"] == "6C" and pairs["30"] == "4F"  # 1 -> l, I -> l, 0 -> O
    assert pairs["410"] == "41" and pairs["43E"] == "6F"                          # Cyrillic А -> A, о -> o
    assert "21" not in pairs  # "!" can never be in a name: left out


# --- Existing databases -----------------------------------------------------------------


def _old_canonical(name: str) -> str:
    """The comparison form before issue 11 (schema version 2)."""
    return name.lower() if name.isascii() else name


def test_migration_rewrites_stored_keys_to_the_new_comparison_form(tmp_path):
    from server import store as store_module

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for version in (1, 2):  # the schema as the previous release made it
        for statement in store_module.MIGRATIONS[version].split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("PRAGMA user_version = 2")
    names = ["Alice", "JOÃO", "Conceic\u0327a\u0303o", "ＭＡＲＩＡ"]
    for i, name in enumerate(names):
        key = _old_canonical(name)
        db.execute("INSERT INTO accounts VALUES (?, ?, x'00', x'00', 'kdf', 0)", (key, name))
        db.execute("INSERT INTO users VALUES (?, ?, 0)", (key, name))
        db.execute("INSERT INTO guests VALUES (?, ?, x'00', 0, NULL)", (key, name))
        db.execute("INSERT INTO messages (msg_id, sender, sender_key, recipient, recipient_key, text, sent_at,"
                   " client_id, state) VALUES (?, ?, ?, ?, ?, 'hi', 0, ?, 'queued')",
                   (i + 1, name, key, "Alice", "alice", f"c{i}"))
        db.execute("INSERT INTO blocks VALUES ('alice', ?)", (key,))
    db.execute("INSERT INTO messages (msg_id, sender, sender_key, recipient, recipient_key, text, sent_at,"
               " client_id, state) VALUES (9, 'JOÃO', 'JOÃO', NULL, NULL, 'room', 0, 'r', 'room')")
    # Two spellings the old rule kept apart and the new one makes one user: the second
    # keeps its old key rather than the migration failing or losing it.
    db.execute("INSERT INTO users VALUES ('joão', 'joão', 0)")
    db.close()

    migrated = store_module.open_database(path)
    try:
        assert migrated.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION
        for table in ("accounts", "guests"):
            keys = dict(migrated.execute(f"SELECT name, name_key FROM {table}").fetchall())
            assert keys == {name: canonical(name) for name in names}, table
        assert set(migrated.execute("SELECT name_key FROM users").fetchall()) == {
            ("alice",), ("joão",), ("conceição",), ("maria",), ("JOÃO",)}
        senders = migrated.execute("SELECT sender_key, recipient_key FROM messages ORDER BY msg_id").fetchall()
        assert senders == [(canonical(n), "alice") for n in names] + [("joão", None)]
        assert {k for (k,) in migrated.execute("SELECT blocked_key FROM blocks")} == {canonical(n) for n in names}
    finally:
        migrated.close()


# --- The clients ------------------------------------------------------------------------


def test_the_terminal_commands_take_names_of_any_script():
    from client.commands import Mistake, SendText, SetTarget, parse_command

    assert parse_command("@João olá") == SendText("João", "olá")
    assert parse_command("@João: olá") == SendText("João", "olá")
    assert parse_command("/to Conceição") == SetTarget("Conceição")
    assert parse_command("/to 李雷") == SetTarget("李雷")
    decomposed = unicodedata.normalize("NFD", "@Zé oi")
    assert parse_command(decomposed) == SendText(unicodedata.normalize("NFD", "Zé"), "oi")
    mistake = parse_command("/to J\u043e\u00e3o")
    assert isinstance(mistake, Mistake) and "Cyrillic" in mistake.message


def test_the_window_and_the_resume_tokens_fold_names_as_the_registry_does():
    from client.gui.model import key_of
    from client.resume import ResumeTokens

    assert key_of("JOÃO") == key_of("joa\u0303o") == canonical("João")
    tokens = ResumeTokens(None)
    tokens.put("127.0.0.1:5000", "JOÃO", "t" * 43)
    assert tokens.get("127.0.0.1:5000", "joa\u0303o") == "t" * 43


def test_names_with_combining_marks_display_in_the_terminal():
    from client.display import sanitize

    for name in ("Joa\u0303o", "नमस्ते", "ประเสริฐ"):
        assert sanitize(name) == name


def test_a_name_with_spaces_is_suggested_only_a_valid_name() -> None:
    """"sala inválida!" was told "try 'sala_inválida!'", itself refused for its "!": the
    suggestion is made only when it is a valid name; else the other problem is said."""
    with pytest.raises(InvalidName) as raised:
        validate_name("sala inválida!")
    assert "try" not in str(raised.value) and "'!'" in str(raised.value), raised.value
    with pytest.raises(InvalidName) as raised:
        validate_name("Todos ")  # (trailing space): the suggestion would be a reserved name
    assert "reserved" in str(raised.value), raised.value


def test_a_room_name_with_spaces_is_suggested_with_its_hash() -> None:
    """A room's name is checked as a user name after its "#": the suggestion dropped the
    "#" ("#sala inválida: ... try 'sala_inválida'"), which named no room."""
    from server.rooms import check_room_name
    refused = check_room_name("#sala inválida")
    assert "try '#sala_inválida'" in refused.message, refused
    from client.commands import Mistake, check_room
    mistake = check_room("#sala inválida", "/join #ROOM")
    assert isinstance(mistake, Mistake) and "'#sala_inválida'" in mistake.message, mistake
