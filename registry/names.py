"""What a valid username is, when two names are one user, and when they look alike.

A name may use the letters and digits of any script, so that João, Conceição, Мария and
李雷 are names, without letting anyone pass for someone else. The rules (PROTOCOL.md,
"Names", states them for other implementations; this is the one implementation):

1. **Forms.** The *display form* is the name as typed, with fullwidth and halfwidth
   characters mapped to their ordinary forms (``ｊｏａｏ`` -> ``joao``) and normalised to NFC
   (``a`` + combining tilde -> ``ã``): it is what everyone sees. The *comparison form*
   (:func:`canonical`) is RFC 8265's UsernameCaseMapped profile: width mapping, then
   Unicode's toLowerCase (``str.lower``; not case folding, so ``ß`` stays ``ß``), then
   NFC. Two names are one user when their comparison forms are equal: ``JOÃO``,
   ``joão`` and ``joa`` + combining tilde + ``o`` are one user.
2. **Characters** of the display form: letters (general categories Lu, Ll, Lt, Lm, Lo),
   decimal digits (Nd) and combining marks (Mn, Mc: Devanagari and Thai need them, and an
   accent that NFC cannot compose stays a mark), plus ``_``, ``-`` and ``.``; none with a
   compatibility decomposition (``ﬁ``, ``²``: PRECIS's IdentifierClass refuses them too),
   none Default_Ignorable (variation selectors, the combining grapheme joiner). So spaces,
   controls, format characters (zero-width joiners, bidi controls), symbols (emoji),
   other punctuation and characters unassigned in Unicode 14.0 (Python 3.11's
   ``unicodedata``; on Python 3.12 and 3.13 too, whose Unicode is newer: see
   :data:`UNICODE_VERSION`) are refused. The first character is a letter or a digit.
3. **Length:** 1 to ``const.MAX_NAME_LENGTH`` code points in the display form, and at most
   ``const.MAX_NAME_BYTES`` bytes of UTF-8 as sent (checked first, so the work is bounded).
4. **Direction:** a name with a right-to-left character (bidi class R, AL or AN) obeys the
   Bidi Rule of RFC 5893 (the PRECIS directionality rule).
5. **One script** (Unicode TS #39 5.2, "Highly Restrictive"): the Script_Extensions of
   the characters, Common and Inherited aside, have a script in common, where Han counts
   as a member of Japanese, Chinese (Han with Bopomofo) and Korean, and Hiragana,
   Katakana, Bopomofo and Hangul as members of the one they belong to; or else the name is
   covered by Latin + Han + Hiragana + Katakana, Latin + Han + Bopomofo, or Latin + Han +
   Hangul. Latin with Cyrillic, or Latin letters with Arabic-Indic digits, are refused.
6. **Reserved:** names whose comparison form is that of a word of ``const.RESERVED_NAMES``
   (:data:`RESERVED`: ``Prof`` there reserves ``prof`` and ``PROF``).
7. **Look-alikes:** :func:`lookalike_key` is the TS #39 skeleton of the display form,
   lower-cased and skeletonised again: ``Alice``, ``AIice`` (capital i), ``A1ice`` and
   ``Аlice`` (Cyrillic А) share one key, as do ``OOOO`` and ``O0O0``; accents
   (U+0300-U+036F) are then dropped, so ``Joao`` looks like ``João``, and ``i`` becomes
   ``l``, since capital I looks like l and a name may be written in any case
   (``CONCEICAO`` looks like ``Conceição``). So the key of a Portuguese or Spanish name
   does not depend on its case (that of Ð, some rare hooked Latin capitals and some Greek
   and Cyrillic ones does: ``М`` looks like ``rn``, ``м`` does not). Digits need no rule
   of their own: confusables.txt maps ``1`` to ``l`` and ``0`` to ``O``. A reserved word
   has no holder to write it in any case: a name looks like one when it looks like the
   word written in some case (:func:`looks_like_reserved`: ``ALI`` looks like ``all``,
   ``Ali`` does not). Who may not share a key with whom is the server's policy
   (server/login.py); :class:`~registry.lookalikes.Lookalikes` indexes names by key.

Scripts and confusables come from registry/unicode_tables.py, generated from Unicode's
data files (Scripts 14.0.0, the version of Python 3.11's ``unicodedata``; confusables 13.0.0) by
tools/gen_unicode_tables.py. Characters new in 14.0 have no confusables entry and are
their own prototype.

Every message a user may read is in :data:`MESSAGES`, so that it can be translated.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Iterable

import const
import i18n
from i18n import N_

from . import unicode_tables as _tables

# Distinct names whose canonical form is remembered. The server computes each name's form
# once per request and passes the key on; the cache spares even that for the names a
# server sees over and over (its users), and stays bounded against clients that send
# endless new ones (the Unicode rules cost microseconds per name).
CANONICAL_CACHE_SIZE = 1024

# What a refusal says, by reason; ``str.format`` fields are filled in by the checks.
MESSAGES = {
    "empty": N_("the name is empty"),
    "too_long": N_("the name is longer than {limit} characters"),
    "too_many_bytes": N_("the name is longer than {limit} bytes"),
    "space": N_("a name cannot contain spaces: try {suggestion!r}"),
    "control": N_("a name cannot contain control characters ({char})"),
    "invisible": N_("a name cannot contain invisible or formatting characters ({char})"),
    "unassigned": N_("the name contains {char}, which Unicode {version} does not define"),
    "symbol": N_("a name cannot contain symbols or emoji ({char}); it has letters, digits, '_', '-' and '.'"),
    "punctuation": N_("a name cannot contain {char}; the only punctuation allowed is '_', '-' and '.'"),
    "compatibility": N_("a name cannot contain {char}, a compatibility character: type {plain!r} instead"),
    "number": N_("a name cannot contain {char}: only decimal digits are allowed"),
    "other": N_("a name cannot contain {char}"),
    "first": N_("a name must start with a letter or a digit"),
    "bidi": N_("a name with right-to-left letters must start with one, end with one or a digit, "
            "and not mix European and Arabic-Indic digits (RFC 5893)"),
    "scripts": N_("the name mixes the scripts {scripts}: a name uses letters of one script "
               "(Latin may go with Chinese, Japanese or Korean)"),
    "reserved": N_("the name {name!r} is reserved"),
    # Not a rule of validate_name: the server's answer (confusable_name) when the name
    # looks like that of another user (rule 7).
    # The rival may be the user's own name typed without its accent: not "someone else's".
    "lookalike": N_("the name {name!r} looks too much like {rival!r}, a name already in use here: if {rival!r} is "
                 "yours, type it exactly so; otherwise choose another name"),
    # The same answer when the name it looks like is a reserved word (rule 6): nobody's, and
    # refused typed exactly, so the user can only choose another.
    "lookalike_reserved": N_("the name {name!r} looks too much like {rival!r}, a word reserved for the server: "
                          "choose another name"),
}

_EXTRA = frozenset("_-.")
_WORD = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
_MARKS = frozenset({"Mn", "Mc"})
_RTL = frozenset({"R", "AL", "AN"})
# The Unicode the rules follow: the older of Python's ``unicodedata`` and the tables'.
# Python 3.12 has 15.0.0 and 3.13 has 15.1.0, whose new letters are Unknown in the tables:
# they are unassigned here, so that every Python accepts the same names (a cluster's nodes
# may run different ones, and a name accepted on one must be one user on all).
UNICODE_VERSION = min(unicodedata.unidata_version, _tables.UNICODE_VERSION,
                      key=lambda version: tuple(map(int, version.split("."))))
# An ASCII name that matches this passes rules 2 to 5 (Latin letters, Common digits and
# punctuation, nothing right-to-left): logins of such names skip the Unicode work.
_PLAIN_ASCII = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class InvalidName(ValueError):
    """The name cannot be used; ``str(exc)`` says why, in English words for the user, and
    :func:`explain` says it in the language in use."""

    def limit(self) -> dict[str, int]:
        """The limit a name too long broke, as an error frame says it (PROTOCOL.md "error"):
        ``{"max_chars": 32}`` (characters after NFC) or ``{"max_bytes": 256}`` (bytes of
        UTF-8 as sent); empty for every other rule."""
        reason = self.args[0] if self.args else None
        key = getattr(reason, "key", None)
        if key == "too_long":
            return {"max_chars": reason.fields["limit"]}
        if key == "too_many_bytes":
            return {"max_bytes": reason.fields["limit"]}
        return {}


class Reason(str):
    """A refusal in English (the string itself), with what it takes to say it in another
    language: ``key`` into :data:`MESSAGES` and the ``fields`` that fill it."""

    key: str
    fields: dict


class _Char(str):
    """A character a refusal is about, as :func:`_describe` says it in English (the string
    itself: its code point and Unicode's name for it), with ``char`` to say it otherwise."""

    char: str


def _words(fields: dict, translate) -> dict:
    """The fields as words in the language of ``translate`` (``str``: English; else a
    client's ``i18n._``, the language in use): a tuple (a list of names) as "A, B and C";
    a character with Unicode's name for it in English only (Python has the names in no
    other language: in Portuguese, "(U+0021 EXCLAMATION MARK)" stood in the sentence)."""
    named = translate is str or i18n.current() == i18n.SOURCE_LANGUAGE

    def joined(items: tuple) -> str:
        if len(items) < 2:
            return "".join(items)
        return translate("{items} and {last}").format(items=", ".join(items[:-1]), last=items[-1])

    def word(value: object) -> object:
        if isinstance(value, tuple):
            return joined(value)
        if isinstance(value, _Char) and not named:
            return _describe(value.char, named=False)
        return value
    return {key: word(value) for key, value in fields.items()}


def _reason(key: str, **fields: object) -> Reason:
    reason = Reason(MESSAGES[key].format(**_words(fields, str)))
    reason.key, reason.fields = key, fields
    return reason


def explain(refusal: InvalidName | str, translate) -> str:
    """The words of ``refusal`` (an InvalidName, or a reason) through ``translate`` (a
    client's ``i18n._``): the server speaks English; each client speaks its user's language."""
    reason = refusal.args[0] if isinstance(refusal, InvalidName) and refusal.args else refusal
    if isinstance(reason, Reason):
        return translate(MESSAGES[reason.key]).format(**_words(reason.fields, translate))
    return str(reason)


# What a client or the server's console says of a name that cannot be one: the one wording.
NOT_A_NAME = N_("{name} is not a valid name: {why}")


def not_a_name(name: str, refusal: InvalidName, translate) -> str:
    """"'NAME' is not a valid name: WHY" in the language of ``translate`` (repr() shows a
    typo's control characters rather than executing them)."""
    return translate(NOT_A_NAME).format(name=repr(name), why=explain(refusal, translate))


def _width_map(name: str) -> str:
    """RFC 8264 width mapping: fullwidth and halfwidth characters to their decompositions."""
    if name.isascii():
        return name
    out = []
    for char in name:
        decomposition = unicodedata.decomposition(char)
        if decomposition.startswith(("<wide>", "<narrow>")):
            out.append("".join(chr(int(h, 16)) for h in decomposition.split()[1:]))
        else:
            out.append(char)
    return "".join(out)


def display_form(name: str) -> str:
    """The form everyone sees: ``name`` width-mapped and in NFC (RFC 8265's
    UsernameCasePreserved). Does not validate."""
    if name.isascii():
        return name
    return unicodedata.normalize("NFC", _width_map(name))


@functools.lru_cache(maxsize=CANONICAL_CACHE_SIZE)
def canonical(name: str) -> str:
    """The comparison form: "JOÃO", "joão" and "joa\\u0303o" are one user.

    RFC 8265 UsernameCaseMapped: width mapping, toLowerCase, NFC. The single entry point
    for comparing names; does not validate (an invalid name simply matches no valid one).
    """
    if name.isascii():
        form = name.lower()  # the same result, without the work
    else:
        form = unicodedata.normalize("NFC", _width_map(name).lower())
    # A name already in its comparison form is its own key: one string kept, not two
    # equal ones (every dict of users is keyed by it; 57 bytes per user online).
    return name if form == name else form


def _describe(char: str, named: bool = True) -> _Char:
    """``'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)``, or without the glyph if invisible;
    without Unicode's (English) name unless ``named``: ``'é' (U+00E9)``."""
    code = f"U+{ord(char):04X}"
    label = unicodedata.name(char, "") if named else ""
    label = f"{code} {label}" if label else code
    if unicodedata.category(char)[0] in "CZM":  # invisible, or drawn over its neighbour
        described = _Char(label)
    else:
        described = _Char(f"{char!r} ({label})")
    described.char = char
    return described


def _ranges_contain(ranges: tuple, code: int) -> bool:
    i = bisect.bisect_right(ranges, (code, 0x10FFFF))
    return i > 0 and ranges[i - 1][0] <= code <= ranges[i - 1][1]


def reserved_forms(words: Iterable[str]) -> frozenset[str]:
    """The comparison forms (:func:`canonical`) of reserved ``words`` (rule 6), as an
    operator may write them: ``Prof`` reserves prof, PROF and Prof."""
    return frozenset(canonical(word) for word in words)


# const.RESERVED_NAMES in comparison form, once, at load (the settings are read before this
# module is): each check is then one set lookup, on a login's path too (test_login_cost).
# Every reader of the reserved words reads this, not const's words as an operator wrote them.
RESERVED = reserved_forms(const.RESERVED_NAMES)


def _char_problem(char: str) -> str | None:
    """Why ``char`` may not be in a name (a message), or None if it may."""
    if char in _EXTRA:
        return None
    category = unicodedata.category(char)
    if category in ("Zs", "Zl", "Zp"):
        return "space"
    if category == "Cc":
        return _reason("control", char=_describe(char))
    # Cn in Python's Unicode, or new since the tables' (see UNICODE_VERSION).
    unassigned = category == "Cn" or (category not in ("Co", "Cs") and _scripts_of(char) == _UNKNOWN)
    if (category == "Cf" and not unassigned) or _ranges_contain(_tables.DEFAULT_IGNORABLE, ord(char)):
        return _reason("invisible", char=_describe(char))
    if unassigned:
        return _reason("unassigned", char=f"U+{ord(char):04X}", version=UNICODE_VERSION)
    if category[0] == "S":
        return _reason("symbol", char=_describe(char))
    if category[0] == "P":
        return _reason("punctuation", char=_describe(char))
    if category in _WORD or category in _MARKS:
        if unicodedata.decomposition(char).startswith("<"):
            return _reason("compatibility", char=_describe(char),
                                                    plain=unicodedata.normalize("NFKC", char))
        return None
    if category in ("Nl", "No"):
        return _reason("number", char=_describe(char))
    return _reason("other", char=_describe(char))


def _bidi_ok(name: str) -> bool:
    """RFC 5893 section 2, applied (as RFC 8264 says) only to a name with an RTL character."""
    classes = [unicodedata.bidirectional(c) for c in name]
    if not _RTL.intersection(classes):
        return True
    if classes[0] not in ("R", "AL"):
        return False  # rule 1 (and an LTR name may not hold R, AL, AN: rule 5)
    if not set(classes) <= {"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"}:
        return False  # rule 2
    last = next(c for c in reversed(classes) if c != "NSM")
    if last not in ("R", "AL", "EN", "AN"):
        return False  # rule 3
    return not ("EN" in classes and "AN" in classes)  # rule 4


def _scripts_of(char: str) -> frozenset[str] | None:
    """The Script_Extensions of ``char`` as names; None for Common and Inherited (any script)."""
    i = bisect.bisect_right(_tables.SCRIPT_STARTS, ord(char)) - 1
    names = frozenset(_tables.SCRIPT_NAMES[s] for s in _tables.SCRIPT_SETS[_tables.SCRIPT_VALUES[i]])
    return None if names <= {"Common", "Inherited"} else names


# The Script_Extensions of a code point the tables do not know: unassigned in their
# Unicode, private use, a surrogate.
_UNKNOWN = frozenset({"Unknown"})

# TS #39 5.1: the writing systems that combine several scripts.
_AUGMENT = {"Han": ("Han_with_Bopomofo", "Japanese", "Korean"), "Hiragana": ("Japanese",),
            "Katakana": ("Japanese",), "Hangul": ("Korean",), "Bopomofo": ("Han_with_Bopomofo",)}
# TS #39 5.2, Highly Restrictive: the mixtures allowed besides a single script.
_ALLOWED_MIXES = (frozenset({"Latin", "Han", "Hiragana", "Katakana"}), frozenset({"Latin", "Han", "Bopomofo"}),
                  frozenset({"Latin", "Han", "Hangul"}))


def script_problem(name: str) -> str | None:
    """The message if ``name`` mixes scripts in a way TS #39's Highly Restrictive level
    refuses, else None."""
    sets = [s for s in map(_scripts_of, name) if s is not None]
    if not sets:
        return None
    resolved: set[str] | None = None
    for scripts in sets:
        augmented = set(scripts).union(*(_AUGMENT.get(s, ()) for s in scripts))
        resolved = augmented if resolved is None else resolved & augmented
    if resolved:
        return None
    if any(all(s & mix for s in sets) for mix in _ALLOWED_MIXES):
        return None
    seen: list[str] = []
    for scripts in sets:
        first = min(scripts)
        if first not in seen:
            seen.append(first)
    return _reason("scripts", scripts=tuple(seen))


def validate_name(name: str, *, prefix: str = "") -> str:
    """Return ``name`` if it may be used as a username, else raise :class:`InvalidName`
    saying why. The name is returned as given; :func:`display_form` is what to show.
    A name with spaces is told what to type instead (``prefix`` before it: a room's
    ``#``), only if that is a valid name; else what else is wrong with it is said."""
    if not name:
        raise InvalidName(_reason("empty"))
    if len(name) <= const.MAX_NAME_LENGTH and _PLAIN_ASCII.fullmatch(name):
        if name.lower() in RESERVED:
            raise InvalidName(_reason("reserved", name=name))
        return name
    if len(name.encode("utf-8", "surrogatepass")) > const.MAX_NAME_BYTES:
        raise InvalidName(_reason("too_many_bytes", limit=const.MAX_NAME_BYTES))
    shown = display_form(name)
    if len(shown) > const.MAX_NAME_LENGTH:
        raise InvalidName(_reason("too_long", limit=const.MAX_NAME_LENGTH))
    for char in shown:
        problem = _char_problem(char)
        if problem == "space":
            suggestion = "_".join(shown.split()) or "Ana_Maria"
            validate_name(suggestion)  # ("sala inválida!": its "!" is what to say, not a name refused too)
            raise InvalidName(_reason("space", suggestion=prefix + suggestion))
        if problem:
            raise InvalidName(problem)
    if unicodedata.category(shown[0]) not in _WORD:
        raise InvalidName(_reason("first"))
    if not _bidi_ok(shown):
        raise InvalidName(_reason("bidi"))
    problem = script_problem(shown)
    if problem:
        raise InvalidName(problem)
    if canonical(shown) in RESERVED:
        raise InvalidName(_reason("reserved", name=name))
    return name


def _confusables() -> dict[str, str]:
    table = {}
    for item in _tables.CONFUSABLES.split():
        source, _, target = item.partition(":")
        table[chr(int(source, 16))] = "".join(chr(int(h, 16)) for h in target.split("."))
    return table


_PROTOTYPES = _confusables()
_PROTOTYPE_TABLE = {ord(c): target for c, target in _PROTOTYPES.items()}  # for str.translate
# True in the Unicode data this module carries (0 -> O, 1 -> l, I -> l, m -> rn): what
# lookalike_key's ASCII path relies on, so a table where it fails turns that path off.
_ASCII_STAYS_ASCII = all(target.isascii() for c, target in _PROTOTYPES.items() if c.isascii())
# The ASCII path's table names every ASCII character (most as themselves): str.translate
# raises and clears a KeyError inside for each character a table lacks, which was most of
# what a login's look-alike key cost (issue 9).
_ASCII_PROTOTYPE_TABLE = {code: _PROTOTYPE_TABLE.get(code, chr(code)) for code in range(128)}


# Beyond UTS #39, the last step of a look-alike key (rule 7), one table so that it costs one
# call. The accents of the Combining Diacritical Marks block, which skeleton() leaves apart
# (NFD), are dropped: many Brazilians type names without them, so in a class "Joao" or
# "Conceicao" passes for João or Conceição; the marks of other scripts (Devanagari's vowel
# signs, Thai's) tell names apart and stay. And i becomes l: confusables.txt maps capital I
# (Ì, Í, Ι, І...) to l but small i to itself, and a user may write their name in any case,
# so "Inês" would otherwise look like "lnes" but not like "ines" or "INES" ("CONCEICAO"
# took a name beside the online Conceição).
_ACCENTS = dict.fromkeys(range(0x0300, 0x0370))
_KEY_LAST_STEP = {**_ACCENTS, ord("i"): "l"}
# The ASCII path's second table: the prototypes, then i -> l (no ASCII name has accents).
_ASCII_KEY_TABLE = {code: target.translate(_KEY_LAST_STEP) for code, target in _ASCII_PROTOTYPE_TABLE.items()}
# lookalike_key's last tables (the ASCII path's, the other's): in any case, and as written
# (``any_case=False``: the same steps without i -> l).
_ANY_CASE_KEY_TABLES = (_ASCII_KEY_TABLE, _KEY_LAST_STEP)
_WRITTEN_KEY_TABLES = (_ASCII_PROTOTYPE_TABLE, _ACCENTS)


def skeleton(text: str) -> str:
    """UTS #39 section 4: NFD, each character replaced by its prototype, NFD again."""
    mapped = unicodedata.normalize("NFD", text).translate(_PROTOTYPE_TABLE)
    return unicodedata.normalize("NFD", mapped)


# A login asks for the key of one name about six times (each look-alike index it is
# checked against or added to); the cache makes that one computation, and the indexes
# then share one key string. Bounded, so its memory does not grow with the users online.
@functools.lru_cache(maxsize=1024)
def lookalike_key(name: str, any_case: bool = True) -> str:
    """The key under which names that look alike, in any case, are equal (rule 7).

    The skeleton comes first, so that capital ``I`` meets ``l`` before lower case turns it
    into ``i``; lower case then makes it case-insensitive, and the second skeleton maps
    the lower-case letters that are themselves confusables. Last (``_KEY_LAST_STEP``),
    accents go and ``i`` becomes ``l``: ``João``, ``Joao`` and ``JOAO`` have one key, and
    so do ``Conceição``, ``CONCEICAO`` and ``conceicao``. A key holds no ``i``.

    With ``any_case`` false, the key of the name *as written*: the same steps without i -> l,
    so an ``i`` stays where the name has a small i (``Ali``: ``ali``) and a capital ``I``
    is ``l`` (``ALI``: ``all``). Only :func:`looks_like_reserved` needs it.
    """
    ascii_last, last = _ANY_CASE_KEY_TABLES if any_case else _WRITTEN_KEY_TABLES
    if name.isascii() and _ASCII_STAYS_ASCII:
        # The same steps without their calls (issue 9: a login computes one key): an ASCII
        # name is its own display form and NFD form, and the prototypes of ASCII characters
        # are ASCII (_ASCII_STAYS_ASCII), so both NFDs are the identity.
        key = name.translate(_ASCII_PROTOTYPE_TABLE).lower().translate(ascii_last)
    else:
        key = skeleton(skeleton(display_form(name)).lower()).translate(last)
    # A name that is already its own key keeps one string, not two equal ones: each look-alike
    # index keeps its key for every name online (56 bytes of an idle connection; issue 9).
    return name if key == name else key


def looks_like_reserved(name: str, word: str) -> bool:
    """Whether ``name`` looks like the reserved ``word`` (rule 6) written in some case.

    A reserved word is reserved in every case (``ADMIN`` is admin), but nobody holds it, so
    nobody writes it in a case of their own: its ``i`` may be written ``I`` (which looks
    like l), its ``l`` is l in every case. So ``name`` looks like it when their keys as
    written (:func:`lookalike_key` with ``any_case`` false) are equal, except that where
    the word's has an ``i`` the name's may have an ``l``: ``ALI``, ``aII`` and ``A11`` look like ``all``
    and ``Ali`` does not; ``ADMlN`` looks like ``admin`` (as ``ADMIN``). Implies equal
    :func:`lookalike_key`, so it only confirms what an index by that key found.
    """
    mine, its = lookalike_key(name, False), lookalike_key(canonical(word), False)
    return len(mine) == len(its) and all(a == b or (a, b) == ("l", "i") for a, b in zip(mine, its))


def lookalike_among(name: str, names: Iterable[str], besides: Iterable[str] = ()) -> str | None:
    """The one name of ``names`` that looks like ``name`` (:func:`lookalike_key`: ``João``
    for a typed ``joao``) and is another user's, for a client's "did you mean João?"; None
    when there is none, or several (which one is not ours to guess). Neither ``name``'s own
    user nor any of ``besides`` (the asker: nobody is asked whether they meant themselves)."""
    key, skipped = lookalike_key(name), {canonical(name), *map(canonical, besides)}
    found = {canonical(known): known for known in names
             if canonical(known) not in skipped and lookalike_key(known) == key}
    return next(iter(found.values())) if len(found) == 1 else None
