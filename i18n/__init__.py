"""The language the program speaks: ``_()``, ``ngettext()`` and choosing a catalogue.

Every user-facing text is written in English in the source and goes through ``_()``
(or ``ngettext()`` when a count decides between singular and plural), with ``{name}``
placeholders filled in afterwards by ``str.format``, so a translation may reorder them::

    from i18n import _, ngettext
    print(_("delivered to {name}").format(name=name))
    print(ngettext("{n} message", "{n} messages", n).format(n=n))

Texts defined at import time (tables of labels) are marked with ``N_()``, which only marks
them for the catalogue check, and are passed through ``_()`` where they are shown.

Translations live in ``locale/<lang>/LC_MESSAGES/chat.po`` and are compiled in memory at
the first :func:`use` (:mod:`i18n.catalog`). Until :func:`use` is called the program
speaks English, the source language, so a library imported by another program does not
depend on its environment; the entry points call ``use(early_choice(argv))`` before they
parse their command line (its help is said in the language too), then
``use(choose(args.lang))``.

Which language (:func:`choose`): the ``--lang`` flag if given, else the first of
``LANGUAGE`` (a colon-separated list), ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set
(the order of Python's :mod:`gettext`), else ``const.LANGUAGE_DEFAULT``. A value names a
language as locales do (``pt_BR.UTF-8``, ``pt-BR``, ``pt_BR@x``); ``C`` and ``POSIX`` mean
English. A language with no catalogue of its own takes one for the same language in
another country (``pt``, ``pt_PT`` get ``pt_BR``; ``en_GB`` gets English); one that has
none is skipped in favour of the next in the list.
"""

from __future__ import annotations

import gettext
import io
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import const

from .catalog import compile_mo, parse_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "chat"
SOURCE_LANGUAGE = "en"
# The environment variables that name the language, in the order gettext reads them.
ENVIRONMENT_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def po_path(language: str) -> Path:
    """Where the catalogue of ``language`` lives."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def available() -> tuple[str, ...]:
    """The languages the program speaks: English, then every catalogue, sorted."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *[name for name in found if name != SOURCE_LANGUAGE])


def match(name: str, languages: Iterable[str] | None = None) -> str | None:
    """The available language that locale name ``name`` asks for, or None (see above)."""
    offered = tuple(available() if languages is None else languages)
    base = name.strip().split(".")[0].split("@")[0].replace("-", "_")
    if base in ("C", "POSIX"):
        return SOURCE_LANGUAGE
    language, _sep, region = base.partition("_")
    language = language.lower()
    if not language.isalpha():
        return None
    wanted = f"{language}_{region.upper()}" if region else language
    if wanted in offered:
        return wanted
    return next((lang for lang in offered if lang.split("_")[0] == language), None)


def requested(environ: Mapping[str, str] | None = None) -> list[str]:
    """The language names the environment asks for, most wanted first (gettext's order)."""
    env = os.environ if environ is None else environ
    for variable in ENVIRONMENT_VARIABLES:
        value = env.get(variable)
        if value:
            return [part for part in value.split(":") if part]
    return []


def _unknown(name: str) -> str:
    """Why ``name`` is no language to speak, in the language spoken so far: a usage error's
    sentence, after the parser's "error:" in that language."""
    return _("unknown language {name}; available: {names}").format(name=repr(name), names=", ".join(available()))


def choose(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language to speak: ``flag`` (``--lang``), the environment, or the default.

    A ``flag`` that names no available language raises ValueError (a usage error);
    unknown names in the environment are skipped.
    """
    if flag:
        chosen = match(flag)
        if chosen is None:
            raise ValueError(_unknown(flag))
        return chosen
    for name in requested(environ):
        chosen = match(name)
        if chosen is not None:
            return chosen
    return match(const.LANGUAGE_DEFAULT) or SOURCE_LANGUAGE


def early_choice(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language a command line asks for, found before argparse parses it, so that its
    ``--help`` and argparse's own errors (said while parsing) are in that language.

    It is the value of the last ``--lang LANG`` or ``--lang=LANG`` in ``argv``
    (``sys.argv[1:]`` when None), else the environment's (``environ``, default
    ``os.environ``), else the default: :func:`choose`'s rule. An unknown ``--lang`` is no
    error here: the environment's language is returned instead, and the parser, which
    sees the same flag, refuses it in that language. Never raises.

    Every entry point does the same, in this order: ``use(early_choice(argv))``,
    :func:`speak_argparse`, build the parser (its texts through ``_()``), parse, then
    ``use(choose(args.lang))``, a ValueError being its usage error.
    """
    args = sys.argv[1:] if argv is None else argv
    flag = None
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            flag = args[i + 1]
        elif arg.startswith("--lang="):
            flag = arg[len("--lang="):]
    try:
        return choose(flag, environ)
    except ValueError:
        return choose(None, environ)


def load(language: str) -> gettext.NullTranslations:
    """The translations of ``language`` compiled from its ``.po`` (English: none)."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    entries = parse_po(po_path(language).read_text(encoding="utf-8"))
    return gettext.GNUTranslations(io.BytesIO(compile_mo(entries)))


_lock = threading.Lock()
_cache: dict[str, gettext.NullTranslations] = {}
_current: gettext.NullTranslations = gettext.NullTranslations()
_language = SOURCE_LANGUAGE


def use(language: str) -> str:
    """Speak ``language`` (an available one, e.g. from :func:`choose`) from now on, in
    every thread; returns it. ValueError if it is not available."""
    global _current, _language
    chosen = match(language)
    if chosen is None:
        raise ValueError(_unknown(language))
    with _lock:
        if chosen not in _cache:
            _cache[chosen] = load(chosen)
        _current, _language = _cache[chosen], chosen
    return chosen


def current() -> str:
    """The language in use."""
    return _language


def _(message: str) -> str:
    """``message`` (English) in the language in use."""
    return _current.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` (English) for count ``n``, in the language in use."""
    return _current.ngettext(singular, plural, n)


def decimal(value: float, places: int = 1) -> str:
    """``value`` with ``places`` decimals, for a sentence in the language in use: its
    decimal mark is the language's ("2,5" in Portuguese, where "2.5" reads as thousands).
    The one place a number with decimals is written for people; not the process-wide
    :mod:`locale`, which the language chosen here does not set."""
    whole, _mark, fraction = f"{value:.{places}f}".partition(".")
    # The decimal mark: a template, so that the catalogue says it with the other texts.
    return _("{whole}.{fraction}").format(whole=whole, fraction=fraction) if fraction else whole


def speak_argparse() -> None:
    """Have argparse say its own words (``usage:``, ``options``, ``error:``, "the following
    arguments are required") in the language in use too. argparse asks gettext's global
    domain, which reads ``.mo`` files from disk; ours are compiled in memory, so its two
    module-level names are pointed at ours (it looks them up at each call)."""
    import argparse

    argparse._ = _
    argparse.ngettext = ngettext


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (see above)."""
    return message


__all__ = ["N_", "_", "available", "choose", "current", "decimal", "early_choice", "load", "match", "ngettext",
           "requested", "speak_argparse", "use"]
