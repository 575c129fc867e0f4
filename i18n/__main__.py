"""``python3 -m i18n``: keep the catalogues in step with the sources.

- ``python3 -m i18n check``: list texts of the sources (Python and web page) missing from
  each catalogue, or whose translation changes a placeholder; exit status 1 if any.
- ``python3 -m i18n missing LANG``: print ``.po`` entries for the missing texts, to append
  to ``locale/LANG/LC_MESSAGES/chat.po`` and translate.
- ``python3 -m i18n web``: write ``webclient/i18n/LANG.json`` for every language, English
  included (the page reads them; a test checks they match the ``.po`` files and the error
  sentences of ``client/display.py``), and ``webclient/i18n/LANG.js``, the same catalogue
  as a script, for a page opened as a file (``file://``), which may run a script beside it
  but cannot fetch a JSON file.
"""

from __future__ import annotations

import json
import sys

from . import SOURCE_LANGUAGE, available, load, po_path
from .catalog import parse_po, to_json
from .extract import WEB_ROOT, placeholders, python_messages, web_messages


def web_json_path(language: str):
    return WEB_ROOT / "i18n" / f"{language}.json"


def web_script_path(language: str):
    return WEB_ROOT / "i18n" / f"{language}.js"


def web_script_text(language: str) -> str:
    """The exact text of ``webclient/i18n/LANG.js``: :func:`web_json_text`'s catalogue,
    handed to the page's ``chatCatalogueLoaded`` (webclient/lang.js) when it runs."""
    return ("// Written by python3 -m i18n web from the catalogue of " + language + ".json: do not edit.\n"
            "// A page opened as a file (file://) cannot fetch that file; it runs this one.\n"
            f"chatCatalogueLoaded({json.dumps(language)}, {web_json_text(language).rstrip()});\n")


def web_json_text(language: str) -> str:
    """The exact text of ``webclient/i18n/LANG.json``: the catalogue (none for English),
    the sentences for error codes, translated, from :mod:`client.display` (with the codes
    that need the error's name, ``like`` or ``room``, the words of a wait with no end, and
    the sentence a code takes with ``retry_after``, with ``like``, with ``name`` or with
    ``until``), the words for the reasons the server gives (a ``left``'s, a ``bye``'s),
    the words for a room we were put out of (``OUT_OF_ROOM_TEXTS``), and the login field each refusal is about, from
    :data:`client.core.LOGIN_OUTCOMES`."""
    from client.display import (
        ACT_TEXTS, ERROR_TEXTS, LEFT_REASONS, LIKE_TEXTS, NAMED_TEXTS, NEEDS_LIKE, NEEDS_NAME, NEEDS_ROOM,
        OUT_OF_ROOM_TEXTS, RESERVED_TEXTS, SELF_ROOM, TIMED_TEXTS, TOO_LONG_TEXTS, TOO_MANY_BYTES_TEXTS,
        UNTIL_CLOCKLESS, UNTIL_TEXTS, ROOM_LIKE_TEXTS, WHEN_UNTIMED,
    )

    entries = [] if language == SOURCE_LANGUAGE else parse_po(po_path(language).read_text(encoding="utf-8"))
    catalogue = to_json(entries, language)
    translations = load(language)
    catalogue["errors"] = {code: translations.gettext(text) for code, text in sorted(ERROR_TEXTS.items())}
    catalogue["needs_name"] = sorted(NEEDS_NAME)
    catalogue["needs_like"] = sorted(NEEDS_LIKE)
    catalogue["needs_room"] = sorted(NEEDS_ROOM)
    # A reason the server gives (a left notice's, a bye's), keyed as it words it (LEFT_REASONS).
    catalogue["left_reasons"] = {reason: translations.gettext(words) for reason, words in sorted(LEFT_REASONS.items())}
    # A room a kick or ban of us put us out of: what to do, a refused line, where Enter sends, and
    # one off the list of our rooms after a reconnection ("away"); "{join}" the page fills itself.
    catalogue["out_of_room"] = {key: translations.gettext(text) for key, text in OUT_OF_ROOM_TEXTS.items()}
    catalogue["when_untimed"] = {code: translations.gettext(text) for code, text in sorted(WHEN_UNTIMED.items())}
    catalogue["timed"] = dict(sorted(TIMED_TEXTS.items()))
    catalogue["liked"] = dict(sorted(LIKE_TEXTS.items()))
    catalogue["room_liked"] = dict(sorted(ROOM_LIKE_TEXTS.items()))
    catalogue["reserved"] = dict(sorted(RESERVED_TEXTS.items()))
    catalogue["named"] = dict(sorted(NAMED_TEXTS.items()))
    catalogue["self_room"] = sorted(SELF_ROOM)
    catalogue["too_long"] = dict(sorted(TOO_LONG_TEXTS.items()))
    catalogue["too_many_bytes"] = dict(sorted(TOO_MANY_BYTES_TEXTS.items()))
    # An act's own sentence for a code (ACT_TEXTS), keyed "act/code" (JSON keys are strings).
    catalogue["acts"] = {f"{act}/{code}": key for (act, code), key in sorted(ACT_TEXTS.items())}
    catalogue["until_texts"] = dict(sorted(UNTIL_TEXTS.items()))
    catalogue["until_clockless"] = {code: list(entry) for code, entry in sorted(UNTIL_CLOCKLESS.items())}
    # Which login field a refusal is about (client.core.LOGIN_OUTCOMES, the one table):
    # the page puts the cursor there, as the window does.
    from client.core import LOGIN_OUTCOMES
    catalogue["login_fields"] = {code: outcome.field for code, outcome in sorted(LOGIN_OUTCOMES.items())
                                 if outcome.field}
    # And which refusals of a reconnection are tried again (the same table's ``retry``).
    catalogue["login_retry"] = sorted(code for code, outcome in LOGIN_OUTCOMES.items() if outcome.retry)
    # And the longest rate_limited a first login waits out (client.auth.MAX_LOGIN_WAIT).
    from client.auth import MAX_LOGIN_WAIT
    catalogue["login_wait"] = MAX_LOGIN_WAIT
    # And which field of the password dialog a refused change is about (PASSWORD_CHANGE_FIELDS).
    from client.core import PASSWORD_CHANGE_FIELDS
    catalogue["password_fields"] = {str(code): field for code, field in sorted(PASSWORD_CHANGE_FIELDS.items())}
    return json.dumps(catalogue, ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def problems(language: str) -> list[str]:
    """What is wrong with ``language``'s catalogue for the texts of the sources, one line
    each (empty: nothing)."""
    entries = {e.msgid if e.msgid_plural is None else f"{e.msgid}\0{e.msgid_plural}": e
               for e in parse_po(po_path(language).read_text(encoding="utf-8"))}
    return problems_in([*python_messages(), *web_messages()], entries, language)


def problems_in(messages: list, entries: dict, language: str) -> list[str]:
    """What is wrong with ``entries`` (catalogue key -> Entry) for ``messages``: a text
    that is not a literal, one with no translation, a translation whose placeholders
    differ from the English ones (a plural form may leave out some of the plural's, as
    "one message" does "{n}")."""
    found = []
    for message in messages:
        if message.msgid.startswith("<not a literal>"):
            found.append(f"{message.where}: the text to translate is not a literal")
            continue
        entry = entries.get(message.key)
        if entry is None or not entry.translated:
            found.append(f"{message.where}: no {language} translation of {message.msgid!r}")
            continue
        sources = [message.msgid] if message.plural is None else [message.msgid, message.plural]
        want = placeholders(sources[-1]) if message.plural else placeholders(message.msgid)
        for form in entry.msgstr:
            if placeholders(form) != want and not (message.plural and set(placeholders(form)) <= set(want)):
                found.append(f"{message.where}: the {language} translation {form!r} has placeholders "
                             f"{placeholders(form)}, the English {want}")
    return found


def _po_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    languages = [lang for lang in available() if lang != SOURCE_LANGUAGE]
    if command == "check":
        lines = [line for lang in languages for line in problems(lang)]
        print("\n".join(lines) or "every text is translated", file=sys.stderr if lines else sys.stdout)
        return 1 if lines else 0
    if command == "missing" and len(argv) == 2:
        have = {e.msgid for e in parse_po(po_path(argv[1]).read_text(encoding="utf-8"))}
        seen = set()
        for message in [*python_messages(), *web_messages()]:
            if message.msgid in have or message.key in seen or message.msgid.startswith("<not"):
                continue
            seen.add(message.key)
            print(f"#: {message.where}")
            print(f"msgid {_po_string(message.msgid)}")
            if message.plural is None:
                print('msgstr ""\n')
            else:
                print(f"msgid_plural {_po_string(message.plural)}")
                print('msgstr[0] ""\nmsgstr[1] ""\n')
        return 0
    if command == "web":
        for lang in available():
            path = web_json_path(lang)
            path.parent.mkdir(exist_ok=True)
            path.write_text(web_json_text(lang), encoding="utf-8")
            print(f"wrote {path}")
            script = web_script_path(lang)
            script.write_text(web_script_text(lang), encoding="utf-8")
            print(f"wrote {script}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
