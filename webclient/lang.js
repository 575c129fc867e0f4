/*
 * The chat web page, part one of seven: its words. The language (webclient/i18n/LANG.json,
 * made from the same gettext catalogue as the Python clients'), t() and tn(), and the
 * sentences of errors, waits and times. No socket here.
 *
 * The page is plain JavaScript, no dependencies, no build step: seven classic scripts
 * that index.html loads in order and that share one global scope (lang.js, protocol.js,
 * afterdelivered.js, blocks.js, rooms.js, view.js, app.js). Not modules: a page opened from the disk (file://) may run
 * scripts but not import modules. A script's top level may use what an earlier one
 * defines; a function may call any of them, since all are loaded before the page starts.
 */
"use strict";

/* ===================================================================================== */
/* Language: the page's words come from webclient/i18n/LANG.json, generated from the same   */
/* gettext catalogue (locale/LANG/LC_MESSAGES/chat.po) as the Python clients'.             */
/* ===================================================================================== */

// Languages the page speaks; English is the source language (no catalogue to load).
const LANGUAGES = { en: "English", pt_BR: "Português (Brasil)" };
// The plural rules the catalogues may use ("plural" in their JSON): the index of the form.
const PLURAL_RULES = {
  "n != 1": (n) => (n !== 1 ? 1 : 0),
  "n > 1": (n) => (n > 1 ? 1 : 0),
};
// errors: the sentence for each well-known error code (client/display.py's ERROR_TEXTS,
// translated); needsName: the codes whose sentence is only for a named recipient;
// needsLike, needsRoom: only with the error's "like", "room" (NEEDS_LIKE, NEEDS_ROOM);
// whenUntimed: {when} without retry_after, for a wait with no end (WHEN_UNTIMED);
// timed: the sentence (its key in errors) a code takes with retry_after (TIMED_TEXTS);
// liked: the sentence a code takes with the error's "like" (LIKE_TEXTS), roomLiked: with a
// "like" that is a room's name, starting with # (ROOM_LIKE_TEXTS); reservedTexts: with
// "like" and "reserved", a reserved word nobody holds (RESERVED_TEXTS); named: with its
// "name", the person it is about when not the asker (NAMED_TEXTS); selfRoom: the codes
// whose error with "room" and no "name" is about the asker in that room (SELF_ROOM);
// tooLong: a string too long's sentence by its "field", with "max_chars" (TOO_LONG_TEXTS);
// tooManyBytes: a name's over its bytes of UTF-8, with "max_bytes" (TOO_MANY_BYTES_TEXTS); acts:
// an act's own sentence for a code, by "act/code" (ACT_TEXTS); untilTexts: with
// the error's "until" and no retry_after (UNTIL_TEXTS); untilClockless: the sentence without
// the wait, and the longest wait, for a browser clock that makes it one it cannot be
// (UNTIL_CLOCKLESS); leftReasons: a reason the server gives (a left's, a bye's) in words,
// keyed as it words it (LEFT_REASONS).
// loginFields: the login field each refusal is about (client.core.LOGIN_OUTCOMES);
// loginRetry: the refusals of a reconnection that waiting cures (the same table's retry);
// loginWait: the longest rate_limited a first login waits out (client.auth.MAX_LOGIN_WAIT);
// passwordFields: the password dialog's field ("old", "new") each refused change is about
// (client.core.PASSWORD_CHANGE_FIELDS).
const i18n = { language: "en", messages: {}, plural: PLURAL_RULES["n != 1"], errors: {}, needsName: [], needsLike: [],
  needsRoom: [], whenUntimed: {}, timed: {}, liked: {}, roomLiked: {}, reservedTexts: {}, named: {}, selfRoom: [],
  tooLong: {}, tooManyBytes: {}, acts: {}, untilTexts: {}, untilClockless: {}, leftReasons: {}, outOfRoom: {},
  loginFields: {}, loginRetry: [], loginWait: 0, passwordFields: {} };

/** ``values`` put into ``{name}`` fields of ``text`` (a field with no value stays). */
function fill(text, values) {
  return values ? text.replace(/\{(\w+)\}/g, (all, key) => (key in values ? String(values[key]) : all)) : text;
}

/** ``text`` (English) in the page's language, its fields filled from ``values``. */
function t(text, values) {
  const found = i18n.messages[text];
  return fill(typeof found === "string" && found ? found : text, values);
}

/** The singular or plural form for count ``n`` (also put in ``{n}``), translated. */
function tn(singular, plural, n, values) {
  const forms = i18n.messages[`${singular}\u0000${plural}`];
  const english = n === 1 ? singular : plural;
  const text = Array.isArray(forms) ? forms[i18n.plural(n)] || english : english;
  return fill(text, { n, ...values });
}

/** Why a request failed, for people: the catalogue's sentence for ``code`` (about the
 * recipient ``name``; ``like``: the name a refused one looks like; ``room``, ``reason``:
 * the room a refusal of one's own standing is about and a ban's reason, the error's
 * fields), else the server's own words; the code, as on the wire, only after those of a code
 * the table does not know (the one clue to go on then). ``uncertain`` (an
 * "unavailable" error's field: the server cannot tell whether it was done) is said in the
 * words of "unconfirmed", never "nothing was done"; a code of i18n.timed with ``retryAfter``
 * in the words of its cause that has a wait ("name_taken": the guest's own earlier session
 * holds the name; "too_many_rooms": the rooms made from the address), and one of i18n.liked
 * with ``like`` in words that name it ("did you mean João?"). ``attempts`` and ``triedFor``
 * (seconds): a message given up after that many "unavailable" answers over that long, said
 * so, never the server's last wait. ``until`` (a Unix time; the error's field): a code of
 * i18n.untilTexts says until when and for how long (a guest name kept for its last guest).
 * ``waited`` (seconds; an "expired" message's, when the page knows when it was sent) and
 * ``waitedSaid`` (the error's ``waited``, what the server says it waited): one of them said
 * (expiredWait chooses). ``named`` (the error's "name": the person a code of i18n.named is
 * about, not the asker; ``name`` then the room the request named): that code's sentence
 * about them ("Olga is not in #turma"); a code of i18n.selfRoom with ``room`` and no
 * ``named`` is about the asker in that room. ``field`` and ``maxChars`` (a string too long:
 * the error's "field" and "max_chars"): a field of i18n.tooLong (a bad_field's, a name's) in its
 * sentence, and a message_too_large with the server's limit. ``maxBytes`` (a name over its
 * bytes of UTF-8: the error's "max_bytes"): a field of i18n.tooManyBytes in its sentence, with
 * that limit. ``reserved`` (the error's "reserved": ``like`` is a word reserved for the server, which
 * nobody holds): a code of i18n.reservedTexts with ``like`` in its sentence for that, never "if it is
 * yours". client/display.py's explain_error, the one table. */
function explainError(code, message, name, retryAfter, like, room, reason, uncertain, attempts, triedFor, until,
  waited, waitedSaid, named, field, maxChars, maxBytes, reserved) {
  if (i18n.selfRoom.includes(code) && room && !named) name = room;  // about the asker, in that room
  const tooManyBytes = Number.isInteger(maxBytes) && typeof field === "string"
    && Object.hasOwn(i18n.tooManyBytes, field) ? i18n.tooManyBytes[field] : null;
  const tooLong = (Number.isInteger(maxChars) && typeof field === "string"
    && Object.hasOwn(i18n.tooLong, field) ? i18n.tooLong[field] : null) || tooManyBytes;
  const aboutThem = typeof named === "string" && named && name && Object.hasOwn(i18n.named, code) ? i18n.named[code]
    : null;
  const timed = typeof retryAfter === "number" && Object.hasOwn(i18n.timed, code) ? i18n.timed[code] : null;
  const liked = typeof like === "string" && like.startsWith("#") && Object.hasOwn(i18n.roomLiked, code)
    ? i18n.roomLiked[code] : like && Object.hasOwn(i18n.liked, code) ? i18n.liked[code]
    : like && reserved === true && Object.hasOwn(i18n.reservedTexts, code) ? i18n.reservedTexts[code] : null;
  const held = typeof until === "number" && Object.hasOwn(i18n.untilTexts, code) ? untilText(code, until) : null;
  const unsure = code === "unconfirmed" || (uncertain === true && code === "unavailable");
  const spentFor = code === "expired" ? expiredWait(waitedSaid, waited) : null;
  const spent = spentFor !== null;
  const template = i18n.errors[attempts && unsure ? "unconfirmed_given_up" : unsure ? "unconfirmed"
    : attempts && code === "unavailable" ? "unavailable_given_up" : aboutThem || timed || liked || held
      || (spent ? "expired_waited" : tooLong || code)];
  let text = message ? serverWords(message) : t("no explanation given");
  if (!template) return `${text} (${code})`;
  if ((name || !i18n.needsName.includes(code)) && (like || !i18n.needsLike.includes(code))
      && (room || !i18n.needsRoom.includes(code))) {
    const when = typeof retryAfter === "number" ? t("try again in {delay}", { delay: formatDelay(retryAfter) })
      : i18n.whenUntimed[code] || t("try again later");
    const about = aboutThem ? named : i18n.needsRoom.includes(code) ? room : name;
    // limit, span, n: the protocol's (PROTOCOL.md, "Limits"; const.MAX_TEXT_CHARS, the
    // server's edit window, MIN_PASSWORD_LENGTH).
    text = fill(template, { name: about || t("the recipient"), room: name || "", when,
      limit: Number.isInteger(maxChars) ? maxChars : tooManyBytes ? maxBytes : MAX_TEXT_CHARS,
      span: formatSpan(serverEditWindow),
      like: like || "", why: reason ? `: ${reason}` : "", n: MIN_PASSWORD_LENGTH, attempts,
      duration: formatDelay(triedFor), until: held ? formatTime(onThisClock(until)) : "",
      delay: held ? formatDelay(Math.max(0, until - serverNowSeconds())) : "",
      waited: spent ? formatSpan(spentFor) : "" });
  }
  return text;
}

/** How long an expired message waited, to say: what the server said (the "expired" error's
 * ``waited``: its lifetime there, whatever its operator set), else the page's own
 * ``measured`` seconds since it was sent, at most QUEUE_TTL (an older server's, told at a
 * later login: it waited its lifetime, no more); null when neither is known.
 * client/display.py's expired_wait. */
function expiredWait(said, measured) {
  if (typeof said === "number") return said;
  return typeof measured === "number" ? Math.min(measured, QUEUE_TTL) : null;
}

/** The key in i18n.errors of ``code``'s sentence with ``until`` (the server's clock):
 * i18n.untilTexts', or i18n.untilClockless' when the clock (serverNowSeconds: this
 * browser's until the server said its time) makes the wait one it cannot be
 * (client/display.py's _until_text). */
function untilText(code, until) {
  const [clockless, longest] = i18n.untilClockless[code] || [i18n.untilTexts[code], Infinity];
  const wait = until - serverNowSeconds();
  return wait > 0 && wait <= longest ? i18n.untilTexts[code] : clockless;
}

/** explainError for an error frame, with its own fields (retry_after, like, room, reason, uncertain,
 * name, field, max_chars, max_bytes, reserved) when they are there; ``name``: the recipient (or room) the
 * request named. */
function explainFrame(frame, message, name) {
  const text = (key) => (typeof frame[key] === "string" ? frame[key] : null);
  return explainError(frame.code, message, name, typeof frame.retry_after === "number" ? frame.retry_after : null,
    text("like"), text("room"), text("reason"), frame.uncertain === true, undefined, undefined, undefined, undefined,
    undefined, text("name"), text("field"), Number.isInteger(frame.max_chars) ? frame.max_chars : null,
    Number.isInteger(frame.max_bytes) ? frame.max_bytes : null, frame.reserved === true);
}

/** ``value`` with ``places`` decimals and the language's decimal mark ("2,5" in Portuguese): i18n.decimal. */
function decimal(value, places = 1) {
  const [whole, fraction] = value.toFixed(places).split(".");
  return fraction === undefined ? whole : t("{whole}.{fraction}", { whole, fraction });
}

/** ``0.5 s``, ``12 s``, ``4 min 50 s``: a wait, for people (client/display.py format_delay). */
function formatDelay(seconds) {
  if (!(seconds >= 0)) return t("a moment");
  // Tenths, rounded up: never "0.0 s", which reads as "now" (client/display.py's format_delay).
  if (seconds < 10) {
    const tenths = Math.max(1, Math.ceil(seconds * 10 - 1e-9));
    return `${decimal(tenths / 10)} s`; // "5,0 s" in Portuguese
  }
  if (seconds < 120) return `${Math.round(seconds)} s`;
  const total = Math.floor(seconds + 0.5);
  const minutes = Math.floor(total / 60);
  const rest = total % 60;
  return rest ? t("{minutes} min {seconds} s", { minutes, seconds: rest }) : t("{minutes} min", { minutes });
}

/** How long something lasted: "7 days", "5 h" (whole, rounded down), else as formatDelay
 * says it (client/display.py's format_span). */
function formatSpan(seconds) {
  const day = 24 * 3600;
  if (seconds >= day) return tn("{n} day", "{n} days", Math.floor(seconds / day));
  if (seconds >= 3600) return t("{n} h", { n: Math.floor(seconds / 3600) });
  return formatDelay(seconds);
}

/** ``text`` as a sentence on its own: its first letter capitalised ("o nome…" -> "O nome…"),
 * also when it starts with the server's words (serverWords). */
function sentence(text) {
  if (!text) return text;
  const at = text.startsWith(EN_START) ? 1 : 0;
  return text.slice(0, at) + text.charAt(at).toLocaleUpperCase(i18n.language.replace("_", "-")) + text.slice(at + 1);
}

// The server's own words (English: it does not know the reader's language), shown where
// the page has no sentence of its own, are marked in the texts the page builds with these
// two private-use characters, so that showText() puts them in a lang="en" span: in a
// Portuguese page a screen reader said them with Portuguese sounds. They never reach the
// screen: every text that may hold them is shown with showText() (or plainText()).
const EN_START = "\ue000";
const EN_END = "\ue001";

/** ``text`` (the server's words) marked as English for showText(), unless the page is. */
function serverWords(text) {
  return i18n.language === "en" ? text : `${EN_START}${text}${EN_END}`;
}

/** What to do about room ``room``, which a "kick" or "ban" of us, or a leave of ours on
 * another device ("left", said as a kick), put us out of (``act``): no "join" after a ban.
 * The window's words (client/display.py OUT_OF_ROOM_TEXTS, window_out_of_room_words), naming
 * the page's own control that joins a room (joinControl). */
function outOfRoomWords(room, act) {
  return fill(i18n.outOfRoom[act === "ban" ? "ban" : "kick"] || "{room}", { room, join: joinControl() });
}

/** The name of the page's control that joins a room (index.html's join box, its label), for
 * the words that say to join again (the window names its own button there). */
function joinControl() {
  return t("Join or create a room");
}

/** A line typed in room ``room`` we are out of (``act``), refused here: nothing sent, the
 * text kept in the box (window_out_of_room_refused). */
function outOfRoomRefused(room, act) {
  return fill(i18n.outOfRoom.refused || "{words}", { words: outOfRoomWords(room, act) });
}

/** Room ``room`` was not in the server's list of our rooms after a reconnection: put out
 * of it, or left on another device, while away (the list does not say which); said in
 * Everyone (client/display.py window_gone_while_away). Not ``away``: the list was asked
 * again on a live connection, and the room left it, the notice of why maybe still on its way. */
function outOfRoomAway(room, away = true) {
  return fill(i18n.outOfRoom[away ? "away" : "dropped"] || "{room}", { room, join: joinControl() });
}

/** Where Enter sends in room ``room`` we are out of: nowhere (window_out_of_room_recipient). */
function outOfRoomRecipient(room) {
  return fill(i18n.outOfRoom.recipient || "{room}", { room });
}

/** A reason the server gave (a bye's, a user's leaving) in the page's language: the
 * catalogue's (client/display.py's LEFT_REASONS, as reason_words), a lost connection's cause
 * not listed there after the same words, else the server's words as they came. */
function reasonWords(reason) {
  const listed = Object.hasOwn(i18n.leftReasons, reason) ? i18n.leftReasons[reason] : null;
  if (typeof listed === "string" && listed) return listed;
  const lost = /^connection lost \((.*)\)$/s.exec(reason);
  if (lost) return t("connection lost: {cause}", { cause: serverWords(lost[1]) });
  const found = i18n.messages[reason];
  return typeof found === "string" && found ? found : serverWords(reason);
}

// Grapheme clusters: what a reader takes for one character (a flag, a family of a ZWJ
// sequence, a letter with its accents, one emoji outside the BMP: two UTF-16 code units).
const GRAPHEMES = typeof Intl.Segmenter === "function" ? new Intl.Segmenter("en", { granularity: "grapheme" }) : null;

/** The characters of ``text`` (GRAPHEMES; code points where Intl.Segmenter is missing). */
function characters(text) {
  return GRAPHEMES ? Array.from(GRAPHEMES.segment(text), (part) => part.segment) : Array.from(text);
}

/** ``text`` cut short for a label or an announcement when it has more than ``limit``
 * characters: its first ``keep`` and "…"; never cut inside one (characters()). */
function shortened(text, limit, keep = limit - 1) {
  const chars = characters(text);
  return chars.length > limit ? `${chars.slice(0, keep).join("")}…` : text;
}

/** ``text`` without the marks of serverWords() (for an attribute, such as a title). */
function plainText(text) {
  return String(text).replace(/[\ue000\ue001]/g, "");
}

// Characters that could drive how other people's text is laid out, with the terminal's
// rule (client/display.py, sanitize): controls (C0, DEL, C1; not the line breaks and tabs
// a message may hold, which a page cannot be made to overprint with), format characters but
// ZWNJ and ZWJ (bidi overrides, embeddings and isolates, invisible marks), lone surrogates,
// line and paragraph separators. Two format characters the page lays out as they are meant
// to look are matched first, and kept (the first group): a soft hyphen (pasted from Word: a
// hyphen only where the line breaks) and a subdivision's flag (U+1F3F4, tag characters,
// U+E007F: England's); the terminal shows them as nothing and as the black flag.
const UNSAFE_CHARACTER =
  /(\u00ad|\u{1f3f4}[\u{e0020}-\u{e007e}]+\u{e007f})|(?![\n\r\t\u200c\u200d])[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/gu;

/** ``text`` with each character of UNSAFE_CHARACTER shown as its escape ("\\u202e"), as
 * the terminal shows it: a U+202E in a message made "gnp.exe" read "exe.png". Applied to
 * every string of every frame from the server (the socket's JSON.parse), so no text of
 * anyone's reaches the screen without it. */
function visibleControls(text) {
  return text.replace(UNSAFE_CHARACTER, (char, kept) => {
    if (kept) return kept;
    const code = char.codePointAt(0);
    if (code < 0x100) return `\\x${code.toString(16).padStart(2, "0")}`;
    if (code < 0x10000) return `\\u${code.toString(16).padStart(4, "0")}`;
    return `\\U${code.toString(16).padStart(8, "0")}`;
  });
}

/** ``node`` shows ``text``: the server's words in it (serverWords) in a span lang="en" each
 * (a mark left open by a text cut short runs to its end). */
function showText(node, text) {
  const parts = String(text).split(/([\ue000\ue001])/);
  const nodes = [];
  let english = false;
  for (const part of parts) {
    if (part === EN_START || part === EN_END) english = part === EN_START;
    else if (part && english) nodes.push(Object.assign(document.createElement("span"), { lang: "en", textContent: part }));
    else if (part) nodes.push(document.createTextNode(part));
  }
  node.replaceChildren(...nodes);
}

/** The language for a browser list such as navigator.languages: the first one spoken
 * here, matched on language and region ("pt-BR") or language alone ("pt" -> pt_BR). */
function pickLanguage(wanted) {
  for (const tag of wanted || []) {
    const [language, region] = String(tag).replace("_", "-").split("-");
    const exact = region ? `${language.toLowerCase()}_${region.toUpperCase()}` : language.toLowerCase();
    if (exact in LANGUAGES) return exact;
    const same = Object.keys(LANGUAGES).find((code) => code.split("_")[0] === language.toLowerCase());
    if (same) return same;
  }
  return "en";
}

/** Put the page's fixed words (index.html's data-i18n elements and attributes) in the
 * language in use. The English text stays in data-en, so switching back works. */
function translatePage() {
  for (const node of document.querySelectorAll("[data-i18n]")) {
    if (node.dataset.en === undefined) node.dataset.en = node.textContent.replace(/\s+/g, " ").trim();
    node.textContent = t(node.dataset.en);  // i18n: listed from index.html
  }
  for (const attribute of ["placeholder", "aria-label", "title"]) {
    for (const node of document.querySelectorAll(`[data-i18n-${attribute}]`)) {
      const saved = `en${attribute.replace(/(^|-)(\w)/g, (all, dash, c) => c.toUpperCase())}`;
      if (node.dataset[saved] === undefined) node.dataset[saved] = node.getAttribute(attribute) || "";
      node.setAttribute(attribute, t(node.dataset[saved]));  // i18n: listed from index.html
    }
  }
  document.documentElement.lang = i18n.language.replace("_", "-");
}

// The catalogues i18n/LANG.js handed over (a page opened as a file: scriptCatalogue).
const scriptCatalogues = {};

/** Called by i18n/LANG.js (written by python3 -m i18n web) with its catalogue. */
function chatCatalogueLoaded(language, catalogue) {
  scriptCatalogues[language] = catalogue;
}

/** ``language``'s catalogue for a page opened as a file (file://), which cannot fetch
 * i18n/LANG.json but may run the script beside it, i18n/LANG.js: the same catalogue. */
function scriptCatalogue(language) {
  return new Promise((resolve, reject) => {
    if (Object.hasOwn(scriptCatalogues, language)) {
      resolve(scriptCatalogues[language]);
      return;
    }
    const script = el("script");
    script.src = `i18n/${language}.js`;
    script.onload = () => (Object.hasOwn(scriptCatalogues, language) ? resolve(scriptCatalogues[language])
      : reject(new Error(`i18n/${language}.js gave no catalogue`)));
    script.onerror = () => reject(new Error(`no i18n/${language}.js`));
    document.head.append(script);
  });
}

/** Speak ``language`` from now on: load its catalogue, then redraw. */
async function useLanguage(language) {
  let catalogue = {};
  try {
    if (location.protocol === "file:") catalogue = await scriptCatalogue(language);
    else catalogue = await (await fetch(`i18n/${language}.json`, { cache: "no-cache" })).json();
  } catch {
    language = "en";  // no catalogue: English rather than half a language
  }
  i18n.language = language;
  i18n.messages = (language !== "en" && catalogue.messages) || {};
  i18n.plural = PLURAL_RULES[catalogue.plural] || PLURAL_RULES["n != 1"];
  i18n.errors = catalogue.errors || {};
  i18n.leftReasons = catalogue.left_reasons || {};
  i18n.needsName = catalogue.needs_name || [];
  i18n.needsLike = catalogue.needs_like || [];
  i18n.needsRoom = catalogue.needs_room || [];
  i18n.whenUntimed = catalogue.when_untimed || {};
  i18n.outOfRoom = catalogue.out_of_room || {};
  i18n.timed = catalogue.timed || {};
  i18n.liked = catalogue.liked || {};
  i18n.roomLiked = catalogue.room_liked || {};
  i18n.reservedTexts = catalogue.reserved || {};
  i18n.named = catalogue.named || {};
  i18n.selfRoom = catalogue.self_room || [];
  i18n.tooLong = catalogue.too_long || {};
  i18n.tooManyBytes = catalogue.too_many_bytes || {};
  i18n.acts = catalogue.acts || {};
  i18n.untilTexts = catalogue.until_texts || {};
  i18n.untilClockless = catalogue.until_clockless || {};
  i18n.loginFields = catalogue.login_fields || {};
  i18n.loginRetry = catalogue.login_retry || [];
  i18n.loginWait = catalogue.login_wait || 0;
  i18n.passwordFields = catalogue.password_fields || {};
  $("lang-switch").value = language;
  translatePage();
  if (shell.loginError) showLoginError(shell.loginError);  // the refusal shown, in the new language
  render(shell.chat);
}
