"""The catalogue compiler (.po to GNU .mo and to the page's JSON), and the committed page
catalogues kept equal to the .po files: pure file work, here so that the quick suite run
before every stop catches a catalogue left stale by a changed text.

(Languages in use, and the clients speaking Portuguese: tests/integration/test_i18n.py.)
"""

from __future__ import annotations

import gettext
import io
import struct

import pytest

import i18n
from i18n import __main__ as tool
from i18n.catalog import Entry, PoError, compile_mo, parse_po, plural_expression, to_json


# --- The catalogue compiler ---------------------------------------------------------------

PO = r'''
# a comment
msgid ""
msgstr ""
"Language: pt_BR\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\n"

#: somewhere.py:1
msgid "hello {name}"
msgstr "olá {name}"

msgid "{n} message"
msgid_plural "{n} messages"
msgstr[0] "{n} mensagem"
msgstr[1] "{n} mensagens"

msgid "a \"quoted\"\n"
"two-line text"
msgstr "um texto \"entre aspas\"\n"
"em duas linhas"

#, fuzzy
msgid "not sure"
msgstr "incerto"

msgid "not yet"
msgstr ""
'''


def translations(text: str) -> gettext.GNUTranslations:
    return gettext.GNUTranslations(io.BytesIO(compile_mo(parse_po(text))))


def test_a_po_file_compiles_to_a_mo_that_gettext_reads() -> None:
    t = translations(PO)
    assert t.gettext("hello {name}") == "olá {name}"
    assert t.gettext('a "quoted"\ntwo-line text') == 'um texto "entre aspas"\nem duas linhas'
    # Brazilian plural: 0 and 1 take the singular.
    assert [t.ngettext("{n} message", "{n} messages", n) for n in (0, 1, 2, 12)] == \
        ["{n} mensagem", "{n} mensagem", "{n} mensagens", "{n} mensagens"]
    # Fuzzy and empty translations are left out, as msgfmt leaves them out: English shows.
    assert t.gettext("not sure") == "not sure" and t.gettext("not yet") == "not yet"
    assert t.info()["language"] == "pt_BR"


def test_the_mo_layout_is_the_gnu_one() -> None:
    data = compile_mo([Entry("", ("Language: x\n",)), Entry("b", ("B",)), Entry("a", ("A",))])
    magic, revision, count, originals, translated, hash_size, _hash_at = \
        struct.unpack("<7I", data[:28])
    assert (magic, revision, count, originals, translated, hash_size) == (0x950412DE, 0, 3, 28, 28 + 24, 0)
    # Originals sorted by their bytes: "", "a", "b".
    offsets = [struct.unpack("<2I", data[originals + 8 * i:originals + 8 * i + 8]) for i in range(3)]
    assert [data[o:o + n] for n, o in offsets] == [b"", b"a", b"b"]


@pytest.mark.parametrize("bad", ['msgid "x"\nmsgstr "y"\nmsgstr "z"\n', 'msgid "x\n', 'msgid "x"\nbogus "y"\n',
                                 '"orphan"\n'])
def test_a_malformed_po_file_is_refused_with_its_line(bad: str) -> None:
    with pytest.raises(PoError, match="line"):
        parse_po(bad)


def test_the_page_catalogue_is_the_po_file_as_json() -> None:
    entries = parse_po(PO)
    assert plural_expression(entries) == "n > 1"
    assert to_json(entries, "pt_BR")["messages"] == {
        'a "quoted"\ntwo-line text': 'um texto "entre aspas"\nem duas linhas',
        "hello {name}": "olá {name}",
        "{n} message\0{n} messages": ["{n} mensagem", "{n} mensagens"],
    }


def test_the_committed_page_catalogues_match_the_po_files() -> None:
    for language in i18n.available():
        for path, text in ((tool.web_json_path(language), tool.web_json_text(language)),
                           (tool.web_script_path(language), tool.web_script_text(language))):
            assert path.read_text(encoding="utf-8") == text, f"{path} is out of date: run python3 -m i18n web"


def test_an_unknown_language_flag_is_said_in_the_language_the_usage_error_is_in() -> None:
    """LANG=pt_BR.UTF-8 python3 chatclient.py Ana --lang xx said "chatclient.py: erro:
    unknown language 'xx'; available: en, pt_BR": the usage error in Portuguese, its
    sentence in English."""
    try:
        i18n.use("pt_BR")
        with pytest.raises(ValueError) as refused:
            i18n.choose("xx")
        assert str(refused.value) == "idioma desconhecido 'xx'; disponíveis: en, pt_BR"
    finally:
        i18n.use("en")
    with pytest.raises(ValueError, match="^unknown language 'xx'; available: en, pt_BR$"):
        i18n.choose("xx")
    # The check asks for its translation: literals given to _() in i18n/ are found too.
    from i18n.extract import python_messages
    assert "unknown language {name}; available: {names}" in {message.msgid for message in python_messages()}
