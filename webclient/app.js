/*
 * The chat web client. Plain JavaScript, no dependencies, no build step.
 *
 * Three parts, top to bottom:
 *   1. Protocol: what each frame from the server does to the chat state, and which frames
 *      to send. No DOM, no socket: functions of (state, frame) -> output, like the Python
 *      core in protocol/. The wire format is PROTOCOL.md's: one JSON object per WebSocket
 *      text message.
 *   2. View: draws the state into the page. Every piece of text that came from the network
 *      or from a user goes in with textContent / createTextNode, never as HTML.
 *   3. Shell: the WebSocket, logging in, reconnecting with backoff, and the page's events.
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
// liked: the sentence a code takes with the error's "like" (LIKE_TEXTS); untilTexts: with
// the error's "until" and no retry_after (UNTIL_TEXTS); untilClockless: the sentence without
// the wait, and the longest wait, for a browser clock that makes it one it cannot be
// (UNTIL_CLOCKLESS).
// loginFields: the login field each refusal is about (client.core.LOGIN_OUTCOMES);
// loginRetry: the refusals of a reconnection that waiting cures (the same table's retry);
// loginWait: the longest rate_limited a first login waits out (client.auth.MAX_LOGIN_WAIT);
// passwordFields: the password dialog's field ("old", "new") each refused change is about
// (client.core.PASSWORD_CHANGE_FIELDS).
const i18n = { language: "en", messages: {}, plural: PLURAL_RULES["n != 1"], errors: {}, needsName: [], needsLike: [],
  needsRoom: [], whenUntimed: {}, timed: {}, liked: {}, untilTexts: {}, untilClockless: {}, loginFields: {}, loginRetry: [],
  loginWait: 0, passwordFields: {} };

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
 * (expiredWait chooses). client/display.py's explain_error, the one table. */
function explainError(code, message, name, retryAfter, like, room, reason, uncertain, attempts, triedFor, until,
  waited, waitedSaid) {
  const timed = typeof retryAfter === "number" && Object.hasOwn(i18n.timed, code) ? i18n.timed[code] : null;
  const liked = like && Object.hasOwn(i18n.liked, code) ? i18n.liked[code] : null;
  const held = typeof until === "number" && Object.hasOwn(i18n.untilTexts, code) ? untilText(code, until) : null;
  const unsure = code === "unconfirmed" || (uncertain === true && code === "unavailable");
  const spentFor = code === "expired" ? expiredWait(waitedSaid, waited) : null;
  const spent = spentFor !== null;
  const template = i18n.errors[attempts && unsure ? "unconfirmed_given_up" : unsure ? "unconfirmed"
    : attempts && code === "unavailable" ? "unavailable_given_up" : timed || liked || held
      || (spent ? "expired_waited" : code)];
  let text = message ? serverWords(message) : t("no explanation given");
  if (!template) return `${text} (${code})`;
  if ((name || !i18n.needsName.includes(code)) && (like || !i18n.needsLike.includes(code))
      && (room || !i18n.needsRoom.includes(code))) {
    const when = typeof retryAfter === "number" ? t("try again in {delay}", { delay: formatDelay(retryAfter) })
      : i18n.whenUntimed[code] || t("try again later");
    const about = i18n.needsRoom.includes(code) ? room : name;
    // limit, span, n: the protocol's (PROTOCOL.md, "Limits"; const.MAX_TEXT_CHARS, the
    // server's edit window, MIN_PASSWORD_LENGTH).
    text = fill(template, { name: about || t("the recipient"), when, limit: MAX_TEXT_CHARS, span: formatSpan(serverEditWindow),
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

/** explainError for an error frame, with its own fields (retry_after, like, room, reason, uncertain)
 * when they are there; ``name``: the recipient the request named. */
function explainFrame(frame, message, name) {
  const text = (key) => (typeof frame[key] === "string" ? frame[key] : null);
  return explainError(frame.code, message, name, typeof frame.retry_after === "number" ? frame.retry_after : null,
    text("like"), text("room"), text("reason"), frame.uncertain === true);
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

/** A reason the server gave (a bye's, a user's leaving) in the page's language: the
 * catalogue's (client/display.py's _LEFT_REASONS), else the server's words as they came. */
function reasonWords(reason) {
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
  i18n.needsName = catalogue.needs_name || [];
  i18n.needsLike = catalogue.needs_like || [];
  i18n.needsRoom = catalogue.needs_room || [];
  i18n.whenUntimed = catalogue.when_untimed || {};
  i18n.timed = catalogue.timed || {};
  i18n.liked = catalogue.liked || {};
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

/* ===================================================================================== */
/* 1. Protocol                                                                            */
/* ===================================================================================== */

const PROTOCOL_VERSION = 2;  // 2: named rooms; a server that refuses it is asked again with 1
// Optional features the hello asks for (PROTOCOL.md, "Features"): copies of what our
// other sessions send ("sent" frames), and an account credential that keeps a reloaded
// page logged in ("resume" in the welcome after a password login).
// After delivered (issue 13): read receipts, "typing", and editing or deleting our own
// direct messages ("read", "typing", "edits").
// After a reconnection, every conversation's direct messages after the newest shown, those
// of people this page never talked with included ("since": catchUpFrames).
// A block or unblock made on another device, told at once ("blocks": blockTold).
const FEATURES = ["carbons", "resume", "read", "typing", "edits", "since", "blocks"];
// const.py: a "typing" is repeated this often while we type, a peer's shown this long,
// and our messages can be changed this long after sending on a server that does not say
// its own window (an older one: serverEditWindow; the server is the judge).
const TYPING_INTERVAL = 3;
const TYPING_EXPIRES = 6;
const EDIT_WINDOW = 15 * 60;
const QUEUE_TTL = 7 * 24 * 3600;      // a message's lifetime unconfirmed (const.QUEUE_TTL): the most an expired one waited
const MAX_TEXT_CHARS = 4000;          // a message's text, at most (const.MAX_TEXT_CHARS)
// const.py: a connection silent this long is pinged (the welcome's "heartbeat" says the
// server's own interval), and one from which nothing came for this long is dead, as the
// server and the terminal and window (client/core.py) hold it (liveness()).
const HEARTBEAT_INTERVAL = 15;
const HEARTBEAT_TIMEOUT = 45;
// client/clock.py's WAKE_CHECK: liveness's timer waits at most this long (seconds), since
// timers run on performance.now(), which stood still if the computer slept, and
// monotonicSeconds() sees the sleep only when read: a laptop that wakes on another Wi-Fi,
// its connection dead without a close, reconnects within this, not at the next ping.
const WAKE_CHECK = 5;
const MIN_PASSWORD_LENGTH = 8;        // a password, at least (const.MIN_PASSWORD_LENGTH): weak_password's {n}
const SERVER_STOPPING = "server shutting down";  // a bye's reason when the server stops (const.SHUTDOWN_REASON)
const ROOM = "#room";                 // the key of the broadcast room's conversation
const DEFAULT_ROOM = "#lobby";        // the broadcast room's name (const.DEFAULT_ROOM)
const MAX_ITEMS = 500;                // messages and notices kept per conversation (and shown)
const MAX_READING = 2000;             // the same while the reader pages back (readingOlder)
const MAX_SEEN = 5000;                 // incoming messages remembered as shown, and our own by msg_id
const HISTORY_PAGE = 50;
// Ask for a conversation's history ({"type":"history","with":NAME,"limit":N}, answered
// by "history_page") when it opens. A server that does not know the type answers
// unknown_type, which turns this off for the rest of the session.
const ASK_FOR_HISTORY = true;
// A cheap pre-check of a name (PROTOCOL.md "Names"): letters, digits and marks of any
// script and _ . -, starting with a letter or digit, at most 32 characters after NFC.
// The server is the authority (scripts, bidi, look-alikes): it answers invalid_name.
const NAME_PATTERN = /^[\p{L}\p{Nd}][\p{L}\p{Nd}\p{Mn}\p{Mc}_.-]*$/u;
const MAX_NAME_LENGTH = 32;

/** The display form: fullwidth ASCII and the ideographic space mapped, NFC (as the server). */
function displayName(name) {
  return name.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .replace(/\u3000/g, " ").normalize("NFC");
}

function validName(name) {
  const shown = displayName(name);
  return NAME_PATTERN.test(shown) && [...shown].length <= MAX_NAME_LENGTH;
}

/** The comparison form (RFC 8265, as the server's registry.canonical): width mapping,
 * toLowerCase, NFC. "JOÃO", "joão" and a decomposed "joão" are one user. */
function nameKey(name) {
  return name.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .toLowerCase().normalize("NFC");
}
// How far each state of our own direct message has got; a state never moves back.
// "waiting": typed while disconnected, sent after the reconnection.
const PROGRESS = { waiting: 0, sending: 0, failed: 1, sent: 1, queued: 2, delivered: 3 };
// Names in one "watch" request (the protocol's limit).
const WATCH_PER_REQUEST = 500;

/** Names are unique in their comparison form, so contacts are keyed by it. */
function contactKey(name) {
  return "@" + nameKey(name);
}

/**
 * Request ids unique to this page: 128 random bits and a counter. The server keeps ids for
 * months and refuses another message under a used id ("id_reused"), so pages (and reloads)
 * must never repeat one.
 */
function makeRequestIds() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const prefix = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  let counter = 0;
  return () => `${prefix}-${++counter}`;
}

let nextLocalId = 0;

/** A fresh chat state: who we are, who is around, every conversation, open requests. */
function createChat(nextId = makeRequestIds()) {
  return {
    nextId,
    me: null,                 // our name, once the server welcomed us
    status: "offline",        // offline | connecting | online | reconnecting
    welcomedOnce: false,      // logged in at least once: a drop means reconnect
    history: ASK_FOR_HISTORY,
    users: new Map(),         // key -> {name, online, since, known}
    conversations: new Map(), // key -> {key, name, items, unread, historyAsked}
    requests: new Map(),      // request id -> {kind: hello|send|say|who|history|watch, item?, key?}
    throttle: newThrottle(0), // sends held back and paced after "rate_limited"/"unavailable" (throttle())
    watched: new Set(),       // keys this connection watches (the server forgets them with it)
    sent: new Map(),          // msg_id -> item, for our own messages
    seen: new Set(),          // seenKey()s of incoming messages already shown
    active: ROOM,             // the conversation on screen
    readReceipts: true,       // this user's setting, from the welcome (issue 13)
    typing: new Map(),        // key -> until when (seconds) "NAME is typing…" shows
    roomTyping: new Map(),    // roomKey -> Map(name key -> {name, until}): who types in a room
    roomMarks: new Map(),     // roomKey -> the other members' read marks (PROTOCOL.md "In rooms")
    typingSent: new Map(),    // key -> when we last said we type to them
    changes: new Map(),       // msg_id -> an edited/deleted frame for a message not here yet
    editing: null,            // our item being edited in the composer, or null
    offer: PROTOCOL_VERSION,  // the version the next hello offers (lowered on unsupported_version)
    version: 1,               // the version this session speaks (the welcome's)
    rooms: new Map(),         // roomKey -> {name, topic, count, owner, inviteOnly, members|null}
    roomSeen: 0,              // the highest msg_id of a named room's post shown (the hello's room_seen)
    roomList: [],             // the answer to "rooms": [{room, count, topic}]
    mineSeen: new Set(),      // roomKeys of the answer to "rooms" with "mine" so far (its pages)
    notice: "",               // the last thing the server said about the session
    blocked: null,            // key -> name of whom the user blocks, as the server said (null: not said)
    blocking: new Set(),      // keys with a block or unblock on its way (their button waits)
    heard: null,              // when the connection last brought anything (null: none open; liveness())
    pinged: 0,                // when we last pinged the server
    pingAfter: HEARTBEAT_INTERVAL,        // the silence after which we ping (the welcome's heartbeat)
    heartbeatTimeout: HEARTBEAT_TIMEOUT,  // the silence after which the connection is dead
  };
}

function conversation(chat, key, name) {
  let convo = chat.conversations.get(key);
  if (!convo) {
    convo = { key, name: key === ROOM ? t("Everyone") : name, items: [], unread: 0, historyAsked: false, readSent: 0 };
    chat.conversations.set(key, convo);
  }
  return convo;
}

function user(chat, name) {
  const key = contactKey(name);
  let entry = chat.users.get(key);
  if (!entry) {
    entry = { key, name, online: false, since: null, known: false, where: null };  // where: the registry's entry (whois)
    chat.users.set(key, entry);
  }
  return entry;
}

function isMe(chat, name) {
  return chat.me !== null && typeof name === "string" && nameKey(name) === nameKey(chat.me);
}

/** Whether ``entry`` (a person, or null) is online as far as the page knows. The server's
 * presence news never lists us (joined, left and who skip our own name), so a conversation
 * with ourselves is online exactly while we are. */
function isOnline(chat, entry) {
  if (!entry) return false;
  return isMe(chat, entry.name) ? chat.status === "online" : entry.online;
}

function addItem(chat, key, name, item) {
  const convo = conversation(chat, key, name);
  item.localId = ++nextLocalId;
  convo.items.push(item);
  trimItems(convo);
  return convo;
}

/** Forget ``convo``'s oldest items beyond MAX_ITEMS (MAX_READING while the reader pages
 * back through a room's history). A room's older messages stay in its history: its
 * cursor then starts at the oldest kept, so that "Older messages" brings those forgotten. */
function trimItems(convo) {
  const most = convo.readingOlder ? MAX_READING : MAX_ITEMS;
  if (convo.items.length <= most) return;
  convo.items.splice(0, convo.items.length - most);
  if (convo.older === undefined) return;  // no history asked: a person's, or the default room
  const oldest = convo.items.find((item) => item.kind === "message" && item.msgId != null);
  if (oldest) convo.older = oldest.msgId;
}

/** Forget the first entries of the Set or Map ``kept`` (the oldest) beyond ``most``. */
function forgetOldest(kept, most) {
  if (kept.size <= most) return;
  let extra = kept.size - most;
  for (const key of kept.keys()) {
    kept.delete(key);
    if (--extra === 0) return;
  }
}

/** Identifies a message across reconnects: a redelivery repeats msg_id and sent_at, while
 * a restarted server may reuse a msg_id for another message. */
function seenKey(msgId, sentAt) {
  return `${msgId}|${sentAt}`;
}

/** The time (a Unix time, the browser's wall clock): for times shown or sent. */
function nowSeconds() {
  return Date.now() / 1000;
}

let monotonicLast = null;  // the last reading of monotonicSeconds(): {wall, steady, at}

/** Seconds on a clock that never goes back, for waits and deadlines (never compared with
 * nowSeconds()): it moves on as performance.now() does, or as the wall clock does where
 * that moved on further. The wall clock steps when the computer's is set or corrected: an
 * hour back kept "typing…" for an hour and left a dead connection unwatched for one. And
 * performance.now() stands still while the computer sleeps (Chrome on Linux and macOS),
 * when the server ends our session: a move of the wall clock forward counts, so a step
 * forward is taken for a sleep (it costs one reconnection). */
function monotonicSeconds() {
  const wall = nowSeconds(), steady = performance.now() / 1000, last = monotonicLast;
  const at = last ? last.at + Math.max(steady - last.steady, wall - last.wall) : wall;
  monotonicLast = { wall, steady, at };
  return at;
}

let serverClock = null;  // the server's time as it last said it: {said (seconds), at: monotonicSeconds() then}

/** The server said its time ``nowMs`` (ms since the epoch: a welcome's or a pong's ``now``;
 * not a number: an older server, which does not). client/serverclock.py's ServerClock.heard. */
function serverClockHeard(nowMs) {
  if (typeof nowMs === "number" && Number.isFinite(nowMs)) serverClock = { said: nowMs / 1000, at: monotonicSeconds() };
}

// How long after sending our message may be edited or deleted, in seconds: the server's
// last welcome's edit_window, EDIT_WINDOW until one said it. client/serverwindow.py.
let serverEditWindow = EDIT_WINDOW;

/** A welcome said its ``edit_window`` ``seconds`` (not a number, or one no server sends:
 * an older server, whose window is EDIT_WINDOW). client/serverwindow.py's heard. */
function editWindowHeard(seconds) {
  serverEditWindow = typeof seconds === "number" && seconds >= 0 && seconds < 366 * 86400 ? seconds : EDIT_WINDOW;
}

/** The server's wall clock now as this page reckons it (nowSeconds() until the server said
 * its time): the times the server gives (a kept name's until, a message's sent_at) are on
 * it, and a browser's clock may be hours off. client/serverclock.py's server_now. */
function serverNowSeconds() {
  return serverClock ? serverClock.said + (monotonicSeconds() - serverClock.at) : nowSeconds();
}

/** The time this browser's clock will read when the server's reads ``serverTime``: a time
 * the server gave (a mute's end, a kept name's), said as "until HH:MM" on the clock its
 * reader sees. client/serverclock.py's on_this_clock. */
function onThisClock(serverTime) {
  return serverTime + (nowSeconds() - serverNowSeconds());
}

/** The hello that logs in; the password goes along only when one was typed, and the
 * guest's resume token (PROTOCOL.md, "Guest names") when this browser keeps one. */
function helloFrame(chat, name, password, register, resume) {
  const id = chat.nextId();
  chat.requests.set(id, { kind: "hello", name });  // a refusal names it (auth_required, name_taken)
  const frame = { type: "hello", id, name, version: chat.offer, features: FEATURES };
  if (password) {
    frame.password = password;
    if (register) frame.register = true;
  }
  if (typeof resume === "string" && resume) frame.resume = resume;
  // The last room post shown: the server sends what came after it first (PROTOCOL.md,
  // "Room messages cut mid-stream"), so posts lost with a dropped connection come back.
  if (chat.offer >= 2 && chat.roomSeen > 0) frame.room_seen = chat.roomSeen;
  return frame;
}

/** Add our message to conversation ``key`` as "sending" (or "waiting" while we are
 * disconnected: the next welcome sends it, with this id); returns the frame to send. */
function composeMessage(chat, key, text) {
  if (isRoomKey(key)) return composeRoomMessage(chat, key, text);
  const id = chat.nextId();
  const toRoom = key === ROOM;
  const peer = toRoom ? null : chat.users.get(key);
  const item = {
    kind: "message", dir: "out", sender: chat.me, to: peer ? peer.name : null, text,
    at: nowSeconds(), state: chat.status === "online" ? "sending" : "waiting", msgId: null, requestId: id, error: "",
  };
  addItem(chat, key, peer && peer.name, item);
  if (peer) peer.known = true;
  const frame = toRoom ? { type: "say", id, text } : { type: "send", id, to: peer.name, text };
  chat.requests.set(id, { kind: toRoom ? "say" : "send", item, key, frame });
  return frame;
}

// Requests that carry one of our messages ("send" to a person, "say", "send" to a room).
const MESSAGE_KINDS = ["send", "say", "post"];
// "unavailable" answers to one message before the page gives up on it: the client
// library's rule (client/core.py, UNAVAILABLE_ATTEMPTS), which the page keeps alike.
const UNAVAILABLE_ATTEMPTS = 6;

// Answers to our message that keep it "sending", to be written again with the same id.
const RETRIED = ["rate_limited", "unavailable"];
// Errors without id with which the server signs a session out (client/core.py SIGNED_OUT),
// and account_deleted (PROTOCOL.md, "unregister"): the login form, saying why; no reconnection.
const SIGNED_OUT = ["password_reset", "password_changed", "account_deleted"];
// Holding back and pacing sends after such an answer: the client library's rule
// (client/core.py: THROTTLE_WAIT, THROTTLE_MAX_DELAY, PACE_WINDOW, RESEND_WINDOW, JITTER), kept alike.
const THROTTLE_WAIT = [0.1, 60];   // the server's wait, bounded (seconds)
const THROTTLE_MAX_DELAY = 30;     // the longest hold the backoff makes
const PACE_WINDOW = 8;             // resends written and not answered yet, at most
const RESEND_WINDOW = 4;           // the same at first after a reconnection (RESEND_WINDOW)
const THROTTLE_JITTER = [0.8, 1.2];
// Read marks are cumulative: at most one per conversation this often (seconds), with the
// newest id; after a "rate_limited" without id (a read's or typing's refusal), the marks
// written this recently are written again once its wait is over. The client library's
// rule (client/core.py: READ_INTERVAL, READ_RETRY_WINDOW), kept alike.
const READ_INTERVAL = 1.0;
const READ_RETRY_WINDOW = 10.0;

/** No hold: ``holds`` holds in a row so far (the backoff's exponent; kept across connections). */
function newThrottle(holds) {
  return { until: null, holds, pacing: false, window: 1, paced: new Set(), unavailable: false };
}

/**
 * While the server answers our messages "unavailable" (its storage failed: a disk, a
 * cluster's Redis): the seconds until they are written again (0: written, or now), else
 * null. From the answers alone (client/core.py's ServerUnavailable, kept alike): on at an
 * "unavailable" answer that holds a message, off once a message is taken, once none so
 * refused is left to write again, or on a new connection (a new throttle).
 */
function unavailableFor(chat, now = monotonicSeconds()) {
  const t = chat.throttle;
  if (!t.unavailable) return null;
  return t.until === null ? 0 : Math.max(0, t.until - now);
}

/**
 * The server answered our message "rate_limited" or "unavailable": keep it "sending", held,
 * to be written again with the SAME id once the hold is over (throttle(); in its turn after
 * a reconnection, as every unanswered message: HANDLERS.welcome). The server recognises the resend: it
 * answers with the original msg_id if it had stored the message after all ("uncertain"),
 * or stores it now. Returns false once UNAVAILABLE_ATTEMPTS "unavailable" answers came:
 * the message then fails, as "unconfirmed" if any answer was uncertain (it may or may not
 * have been stored), saying how often and over how long it was tried (failureWords).
 * Rate limits are retried while the session lasts.
 */
function retryLater(chat, request, frame, now = monotonicSeconds(), random = Math.random) {
  if (!MESSAGE_KINDS.includes(request.kind) || !RETRIED.includes(frame.code) || !request.item
      || request.item.state !== "sending" || !request.frame) return false;
  if (frame.code === "unavailable") {
    if (!request.unavailable) request.unavailableSince = now;  // how long it was tried, when given up
    request.unavailable = (request.unavailable || 0) + 1;
    request.uncertain = request.uncertain || frame.uncertain === true;
    if (request.unavailable >= UNAVAILABLE_ATTEMPTS) return false;
  }
  request.held = true;
  throttle(chat, frame.retry_after, now, random);
  if (frame.code === "unavailable") chat.throttle.unavailable = true;  // the status says so (unavailableFor)
  return true;
}

/** The frame that changes this account's password (PROTOCOL.md, "password"), from ``old``
 * to ``password``; ``resume``: this tab's account credential, which goes on working. Its
 * answer sets chat.passwordChange: {state: "sending" | "done" | "failed", words}. */
function passwordFrame(chat, old, password, resume) {
  const id = chat.nextId();
  chat.requests.set(id, { kind: "password" });
  chat.passwordChange = { state: "sending" };
  const frame = { type: "password", id, old, new: password };
  if (resume) frame.resume = resume;
  return frame;
}

/** The frame that deletes this account (PROTOCOL.md, "unregister"), proving ``password``.
 * Its answer sets chat.unregistering: {state: "sending" | "done" | "failed", words}; after
 * "ok" the server ends the session (account_deleted: SIGNED_OUT, the login form). */
function unregisterFrame(chat, password) {
  const id = chat.nextId();
  chat.requests.set(id, { kind: "unregister" });
  chat.unregistering = { state: "sending" };
  return { type: "unregister", id, password };
}

/**
 * Hold back every send until the server's wait is over: the refused, and those typed
 * meanwhile (behind them, in order). The first hold after sends went through is the
 * server's wait; each one more that follows without a message taken doubles it, times a
 * random factor, up to THROTTLE_MAX_DELAY and never below the server's wait. A refusal
 * while a hold is on (the rest of the same burst) lengthens it to its own wait. Then the
 * held messages go out paced (pace()), not in one burst: a full disk's 150 queued messages
 * written again all at once drew hundreds of refusals a second.
 */
function throttle(chat, retryAfter, now, random) {
  const t = chat.throttle;
  let wait = typeof retryAfter === "number" ? retryAfter : 1;
  wait = Math.min(Math.max(wait, THROTTLE_WAIT[0]), THROTTLE_WAIT[1]);
  t.pacing = true;
  t.window = 1;
  if (t.until !== null) {
    t.until = Math.max(t.until, now + wait);
    return;
  }
  t.holds += 1;
  if (t.holds > 1) {
    const nominal = Math.min(THROTTLE_MAX_DELAY, wait * 2 ** Math.min(t.holds - 1, 32));
    const factor = THROTTLE_JITTER[0] + (THROTTLE_JITTER[1] - THROTTLE_JITTER[0]) * random();
    wait = Math.max(wait, Math.min(THROTTLE_MAX_DELAY, nominal * factor));
  }
  t.until = now + wait;
}

/** Unless a hold is on: the held messages' frames to write now, in order, up to the window
 * (written and not answered; one after a hold, one more per message taken). Pacing ends
 * once none is held. */
function pace(chat) {
  const t = chat.throttle;
  if (!t.pacing || t.until !== null || chat.status !== "online") return [];
  const frames = [];
  for (const [id, request] of chat.requests) {
    if (!request.held || !request.item || request.item.state !== "sending") continue;
    if (t.paced.size >= t.window) return frames;  // the next goes when an answer comes
    request.held = false;
    t.paced.add(id);
    frames.push(request.frame);
  }
  t.pacing = false;
  return frames;
}

/** The frames to write for our message just composed (online): its own, or, while sends
 * are held back, what pace() lets go now (it waits its turn behind the held ones). */
function outgoingFrames(chat, frame) {
  const request = chat.requests.get(frame.id);
  if (!chat.throttle.pacing || !request) return [frame];
  request.held = true;
  return pace(chat);
}

/** The hold is over at ``now``: the frames pacing lets go. */
function holdDue(chat, now) {
  if (chat.throttle.until === null || chat.throttle.until > now) return [];
  chat.throttle.until = null;
  return pace(chat);
}

/** When the hold ends (seconds), or null. */
function nextResend(chat) {
  return chat.throttle.until;
}

// Answers to a "send" that mean the name was mistyped: nobody by that name (or none can be).
const MISTYPED_CODES = ["unknown_recipient", "invalid_name"];

/** Drop the conversations with mistyped names (see HANDLERS.error), but the one on screen. */
function forgetMistyped(chat) {
  for (const entry of [...chat.users.values()]) {
    if (!entry.mistyped || entry.online || entry.key === chat.active) continue;
    chat.conversations.delete(entry.key);
    chat.users.delete(entry.key);
  }
}

/** A conversation with ``name``, who need not be online; returns its key or null. */
function startConversation(chat, name) {
  if (!validName(name)) return null;
  name = displayName(name);
  const entry = user(chat, name);
  entry.known = true;
  entry.mistyped = false;  // typed again: let the server say again
  conversation(chat, entry.key, entry.name);
  return entry.key;
}

/** Show conversation ``key``: clears its unread count; returns frames to send (history). */
function openConversation(chat, key) {
  chat.active = key;
  forgetMistyped(chat);
  const convo = conversation(chat, key, key === ROOM ? null : (chat.users.get(key) || {}).name);
  convo.unread = 0;
  const frames = [];
  if (isRoomKey(key)) return roomOpened(chat, key);
  const entry = key === ROOM ? null : chat.users.get(key);
  if (entry && entry.online && chat.status === "online") {  // the registry's entry, for the header
    const id = chat.nextId();
    chat.requests.set(id, { kind: "whois", key });
    frames.push({ type: "whois", id, name: convo.name });
  }
  if (chat.history && key !== ROOM && !convo.historyAsked && chat.status === "online") {
    convo.historyAsked = true;
    const id = chat.nextId();
    chat.requests.set(id, { kind: "history", key });
    frames.push({ type: "history", id, with: convo.name, limit: HISTORY_PAGE });
  }
  return frames;
}

/**
 * The socket is gone. Messages still waiting for an answer are kept, to be sent again with
 * the same ids after the next welcome (see HANDLERS.welcome): the server recognises a resend
 * by its id, so nothing is stored or shown twice. A message the server took already (sent,
 * queued) is never written again (client/core.py's rule): the server tells its outcome
 * ("delivered", "expired") again at every login until it is acknowledged, and that finds
 * the message by its msg_id (chat.sent). Other requests (who, history) can no longer be
 * answered and are dropped.
 */
function connectionLost(chat) {
  if (chat.passwordChange && chat.passwordChange.state === "sending") {
    // No answer will come: the change may or may not have been stored. Never "not changed".
    chat.passwordChange = { state: "failed", words: () => t(
      "The connection was lost before the server answered: the password may or may not have been changed. Log in again to find out which one works.") };
  }
  if (chat.unregistering && chat.unregistering.state === "sending") {
    chat.unregistering = { state: "failed", words: () => t(
      "The connection was lost before the server answered: the account may or may not have been deleted. Log in again to find out.") };
  }
  const unsettled = [];
  for (const request of chat.requests.values()) {
    if (request.kind === "block") blockUnsettled(chat, request, t("the connection ended"));
  }
  for (const [id, request] of chat.requests) {
    const item = request.item;
    if (!item || !request.frame) continue;
    if (item.state === "sending" || item.state === "waiting") unsettled.push([id, request]);
  }
  chat.requests = new Map(unsettled);
  chat.watched = new Set();  // a new connection watches again
  // Presence is kept as it was, but drawn as unknown until the next "who" answers.
  for (const convo of chat.conversations.values()) convo.historyAsked = false;
  chat.status = chat.welcomedOnce ? "reconnecting" : "offline";
  chat.heard = null;  // nothing more to watch (liveness)
}

/**
 * Liveness, the rule of PROTOCOL.md's "Heartbeat" as client/core.py keeps it, with its
 * constants: a connection is watched from the moment it is made (connectionMade). Once
 * logged in, when nothing came from the server for ``pingAfter`` seconds we ping it (it
 * answers "pong"); when nothing at all came for ``heartbeatTimeout`` seconds the connection
 * is dead. A network gone away, a NAT that forgot the connection or a laptop that slept
 * leaves a WebSocket that never closes, while the server has long ended the session.
 * Returns {send: frames to send now, lost}: ``lost`` true means the shell must give the
 * connection up (as if it closed); ``chat.notice`` then says why. The shell calls it when
 * livenessDue() comes.
 */
function liveness(chat, now) {
  const out = { send: [], lost: silentTooLong(chat, now) };
  if (!out.lost && chat.heard !== null && chat.status === "online"
      && now >= Math.max(chat.heard, chat.pinged) + chat.pingAfter) {
    chat.pinged = now;
    out.send.push({ type: "ping", token: `c${Math.floor(now)}` });
  }
  return out;
}

/** Whether the connection was silent for ``heartbeatTimeout`` seconds by ``now`` (then
 * it is dead: not watched any more, and ``chat.notice`` says so). The shell asks it also
 * before it hands on a frame: one that comes after such a silence (a page that slept)
 * is of a connection the server already ended. */
function silentTooLong(chat, now) {
  // Compared as livenessDue adds them up, so that the deadline it named is due (client/core.py).
  if (chat.heard === null || now < chat.heard + chat.heartbeatTimeout) return false;
  chat.notice = sentence(t("no data from the server for {seconds} s", { seconds: Math.round(now - chat.heard) }));
  chat.heard = null;
  return true;
}

/** When liveness() is due next (null: no connection to watch). */
function livenessDue(chat) {
  if (chat.heard === null) return null;
  const dead = chat.heard + chat.heartbeatTimeout;
  return chat.status === "online" ? Math.min(dead, Math.max(chat.heard, chat.pinged) + chat.pingAfter) : dead;
}

/** A connection was made at ``now``: liveness watches it from now on (a connection that
 * brings nothing, not even the answer to our hello, is given up as a silent one is). */
function connectionMade(chat, now) {
  chat.heard = chat.pinged = now;
}

/**
 * The "watch" frames for the people of our conversations not watched yet on this
 * connection. In a large room the server tells joins and leaves only to those who watch
 * (PROTOCOL.md, "Presence"); the answer ("watching") says who of them is online now.
 */
function watchFrames(chat) {
  if (chat.status !== "online") return [];
  const names = [];
  for (const convo of chat.conversations.values()) {
    if (convo.key === ROOM || chat.watched.has(convo.key) || isMe(chat, convo.name)) continue;
    if (typeof convo.name !== "string" || !NAME_PATTERN.test(convo.name)) continue;
    chat.watched.add(convo.key);
    names.push(convo.name);
  }
  const frames = [];
  for (let start = 0; start < names.length; start += WATCH_PER_REQUEST) {
    const id = chat.nextId();
    chat.requests.set(id, { kind: "watch" });
    frames.push({ type: "watch", id, names: names.slice(start, start + WATCH_PER_REQUEST) });
  }
  return frames;
}

/**
 * Apply one frame from the server to ``chat``. Returns what the shell must do:
 *   send     frames to send now
 *   receipts frames to send once the page shows the new messages (dm receipts, and acks
 *            of the outcomes of our own messages: the server repeats those until acked)
 *   announce short texts for screen readers
 *   login    "ok" | "retry" (name still held by our previous connection) |
 *            {code, message} (refused) | null
 * ``came`` is when the frame came (monotonicSeconds()), which may be before it is taken.
 */
function receiveFrame(chat, frame, came = monotonicSeconds()) {
  const out = { send: [], receipts: [], announce: [], login: null };  // and focus: "composer" when a room opens
  const handler = typeof frame.type === "string" && Object.hasOwn(HANDLERS, frame.type) ? HANDLERS[frame.type] : null;
  // Anything at all says the connection lived when it came (liveness): when it came, not
  // when it is taken, or a page that slept between the two would take the sleep for news.
  if (chat.heard !== null) chat.heard = Math.max(chat.heard, came);
  const paced = frame.id != null && chat.throttle.paced.delete(frame.id);  // answered: a place for the next
  if (handler) handler(chat, frame, out);
  // A day in a busy room brings thousands: only the latest are kept (insertion order).
  forgetOldest(chat.seen, MAX_SEEN);
  forgetOldest(chat.sent, MAX_SEEN);
  forgetOldest(chat.changes, MAX_ITEMS);
  const taken = frame.type === "accepted" || frame.type === "queued" || frame.type === "delivered";
  if (taken) {
    chat.throttle.holds = 0;  // taken: the next refusal starts the backoff again
    if (paced) chat.throttle.window = Math.min(PACE_WINDOW, chat.throttle.window + 1);
  }
  if (chat.throttle.unavailable && (taken || ![...chat.requests.values()].some((r) => r.unavailable
      && r.item && r.item.state === "sending"))) chat.throttle.unavailable = false;  // served, or given up
  out.send.push(...pace(chat));
  return out;  // unknown types are ignored: later servers may add some
}

const HANDLERS = {
  welcome(chat, frame, out) {
    const again = chat.welcomedOnce;  // a reconnection: what happened meanwhile is asked below
    serverClockHeard(frame.now);  // the server's time, for the waits it gives
    editWindowHeard(frame.edit_window);  // and how long it lets a message be changed
    chat.requests.delete(frame.id);
    chat.me = frame.name;
    chat.version = Number.isInteger(frame.version) ? frame.version : 1;
    chat.status = "online";
    chat.welcomedOnce = true;
    chat.notice = "";
    // The server's ping interval is ours too; never an absurd value from the wire (client/core.py).
    chat.pingAfter = typeof frame.heartbeat === "number" && frame.heartbeat > 0 && frame.heartbeat < 86400
      ? frame.heartbeat : HEARTBEAT_INTERVAL;
    chat.readReceipts = frame.read_receipts !== false;
    chat.since = Array.isArray(frame.features) && frame.features.includes("since");
    chat.registered = frame.registered === true;  // an account: it has a password to change
    out.login = "ok";
    // A new guest token: the shell keeps it, so that coming back gets our messages.
    if (typeof frame.resume === "string" && frame.resume) out.resume = frame.resume;
    const id = chat.nextId();
    chat.requests.set(id, { kind: "who", listed: new Set() });
    out.send.push({ type: "who", id });
    out.send.push(blocksFrame(chat));  // changed on another device meanwhile, perhaps
    out.send.push(...roomsOnWelcome(chat));
    out.send.push(...openConversation(chat, chat.active));
    // Messages the last connection left unanswered, and those typed while we were away
    // (connectionLost kept only those), in the order they were written, with their ids:
    // the server takes each once. Paced by the rule of a hold's end (pace()), without a
    // hold and with a first window of RESEND_WINDOW: the usual few go at once, a full
    // disk's 150 not in one burst.
    chat.throttle = newThrottle(chat.throttle.holds);  // no hold across connections
    chat.throttle.window = RESEND_WINDOW;
    for (const request of chat.requests.values()) {
      if (!request.frame || !request.item) continue;
      if (request.item.state === "waiting") request.item.state = "sending";
      request.held = request.item.state === "sending";
      if (request.held) chat.throttle.pacing = true;
    }
    out.send.push(...pace(chat));  // the first RESEND_WINDOW now, the rest as answers come
    // After those: the server answers in order, so a message of ours it took before the
    // drop has its msg_id again (its resend's answer) when a catch-up's page lists it.
    if (again) out.send.push(...catchUpFrames(chat));
  },

  users(chat, frame, out) {
    // The list comes in pages that each fit in one frame; "next" is the cursor for the
    // rest. Each page's users are online now; once the last page is in, whoever no page
    // listed (and who did not join meanwhile) is offline.
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!Array.isArray(frame.users)) return;
    const listed = request && request.listed ? request.listed : new Set();
    for (const presence of frame.users) {
      if (!presence || typeof presence.name !== "string" || isMe(chat, presence.name)) continue;
      const entry = user(chat, presence.name);
      entry.online = true;
      entry.since = presence.since;
      listed.add(entry.key);
    }
    if (typeof frame.next === "string" && frame.users.length) {
      const id = chat.nextId();
      chat.requests.set(id, { kind: "who", listed });
      out.send.push({ type: "who", id, after: frame.next });
      return;
    }
    for (const entry of chat.users.values()) if (!listed.has(entry.key)) entry.online = false;
  },

  watching(chat, frame) {
    // The answer to "watch": who of those names is online now, and who is not.
    chat.requests.delete(frame.id);
    for (const presence of Array.isArray(frame.users) ? frame.users : []) {
      if (!presence || typeof presence.name !== "string" || isMe(chat, presence.name)) continue;
      const entry = user(chat, presence.name);
      whoInProgress(chat, (listed) => listed.add(entry.key));
      entry.online = true;
      entry.since = presence.since;
    }
    for (const name of Array.isArray(frame.offline) ? frame.offline : []) {
      const entry = typeof name === "string" ? chat.users.get(contactKey(name)) : null;
      if (entry) entry.online = false;
    }
  },

  joined(chat, frame, out) {
    if (typeof frame.name !== "string" || isMe(chat, frame.name)) return;
    const entry = user(chat, frame.name);
    whoInProgress(chat, (listed) => listed.add(entry.key));
    entry.online = true;
    entry.where = null;  // another connection now: asked again when the conversation opens
    entry.since = frame.at;
    notice(chat, ROOM, () => t("{name} joined", { name: frame.name }), frame.at);
    if (chat.conversations.has(entry.key)) notice(chat, entry.key, () => t("{name} is online", { name: frame.name }), frame.at);
    if (entry.key === chat.active) out.announce.push(t("{name} is online", { name: frame.name }));  // the header changed
  },

  user(chat, frame) {
    // The answer to "whois" (openConversation): where the person's connection comes from
    // and since when, as the registry has it (PROTOCOL.md, "whois"), shown in the header.
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!request || request.kind !== "whois" || typeof frame.name !== "string") return;
    const entry = chat.users.get(request.key);
    if (!entry) return;
    entry.where = frame.status === "online" && typeof frame.address === "string" && Number.isInteger(frame.port)
      ? { address: frame.address, port: frame.port, since: frame.since } : null;
  },

  left(chat, frame, out) {
    if (typeof frame.name !== "string" || isMe(chat, frame.name)) return;
    const entry = user(chat, frame.name);
    whoInProgress(chat, (listed) => listed.delete(entry.key));
    entry.online = false;
    entry.where = null;
    const reason = typeof frame.reason === "string" ? frame.reason : "";
    const plain = !reason || ["quit", "disconnected"].includes(reason) || reason.startsWith("connection lost");
    const why = () => (plain ? "" : ` (${reasonWords(reason)})`);
    notice(chat, ROOM, () => t("{name} left{why}", { name: frame.name, why: why() }), frame.at);
    if (chat.conversations.has(entry.key)) notice(chat, entry.key, () => t("{name} went offline{why}", { name: frame.name, why: "" }), frame.at);
    if (entry.key === chat.active) out.announce.push(t("{name} went offline{why}", { name: frame.name, why: "" }));
  },

  skipped(chat, frame, out) {
    // Room frames the server did not send us because our connection was too slow: messages,
    // and others' changes of posts and room notices (PROTOCOL.md, "skipped").
    if (!Number.isInteger(frame.room) || frame.room < 1) return;
    const text = () => tn("{n} room message or update was skipped because your connection is slow",
      "{n} room messages or updates were skipped because your connection is slow", frame.room);
    notice(chat, ROOM, text, nowSeconds());
    out.announce.push(text());
  },

  accepted(chat, frame) {
    const request = chat.requests.get(frame.id);
    if (!request || !request.item) return;
    const item = request.item;
    item.msgId = frame.msg_id;
    item.takenAt = monotonicSeconds();  // about when the server's edit window began (changeable)
    chat.sent.set(frame.msg_id, item);
    if (item.state === "sending" || item.state === "waiting") item.state = "sent";
    if (request.kind === "post") countReaders(chat, request.key, item);
    if (request.kind === "say" || request.kind === "post") chat.requests.delete(frame.id);  // final for a room
  },

  queued(chat, frame) {
    // The recipient is offline and the server stored the message; delivered follows later.
    // Also for a message another session of ours sent (a carbon), known by its msg_id.
    const request = chat.requests.get(frame.id);
    const item = (request && request.item) || chat.sent.get(frame.msg_id);
    if (!item) return;
    item.msgId = frame.msg_id;
    chat.sent.set(frame.msg_id, item);
    if (item.state === "sending" || item.state === "waiting" || item.state === "sent") item.state = "queued";
  },

  sent(chat, frame) {
    // A carbon: a direct message another session of ours sent (PROTOCOL.md, "sent"). Shown
    // as ours, keyed by msg_id, so its outcome (delivered, queued, expired) updates it, and
    // the same message in a history page is the same line.
    if (typeof frame.msg_id !== "number" || typeof frame.to !== "string" || chat.sent.has(frame.msg_id)) return;
    const entry = user(chat, frame.to);
    entry.known = true;
    entry.mistyped = false;
    const convo = conversation(chat, entry.key, entry.name);
    const shown = convo.items.find((item) => item.msgId === frame.msg_id);
    if (shown) {
      chat.sent.set(frame.msg_id, shown);
      return;
    }
    const item = {
      kind: "message", dir: "out", sender: chat.me, to: entry.name, text: String(frame.text),
      at: typeof frame.sent_at === "number" ? frame.sent_at : nowSeconds(),
      state: frame.state === "queued" ? "queued" : "sent", msgId: frame.msg_id, requestId: null, error: "",
    };
    addItem(chat, entry.key, entry.name, item);
    chat.sent.set(frame.msg_id, item);
  },

  delivered(chat, frame, out) {
    const request = chat.requests.get(frame.id);
    const item = (request && request.item) || chat.sent.get(frame.msg_id);
    chat.requests.delete(frame.id);
    // Every outcome is acknowledged, also one for a message this page never sent.
    if (typeof frame.msg_id === "number") out.receipts.push({ type: "ack", msg_id: frame.msg_id });
    if (!item) return;
    item.msgId = frame.msg_id;
    item.state = "delivered";
    item.error = "";
  },

  error(chat, frame, out) {
    const request = frame.id == null ? null : chat.requests.get(frame.id);
    const message = typeof frame.message === "string" ? frame.message : String(frame.code);
    if (request && request.kind === "password") {  // said in the dialog; nothing was changed
      chat.requests.delete(frame.id);
      chat.passwordChange = { state: "failed", code: frame.code, words: () => sentence(explainError(frame.code,
        message, null, frame.retry_after, null, null, null, frame.uncertain === true)) };
      return;
    }
    if (request && request.kind === "unregister") {  // said in the dialog; nothing was deleted
      chat.requests.delete(frame.id);
      chat.unregistering = { state: "failed", words: () => sentence(explainError(frame.code, message, null,
        frame.retry_after, null, null, null, frame.uncertain === true)) };
      return;
    }
    if (request && retryLater(chat, request, frame)) return;  // kept, in its place: sent again later
    if (request) chat.requests.delete(frame.id);
    const uncertain = frame.uncertain === true;
    if (frame.code === "expired" && typeof frame.msg_id === "number") {
      // An outcome, like delivered: acknowledged once shown, or the server repeats it.
      out.receipts.push({ type: "ack", msg_id: frame.msg_id });
      const item = (request && request.item) || chat.sent.get(frame.msg_id);
      if (item) {
        item.state = "failed";
        item.error = message;
        item.errorCode = frame.code;  // the view explains it in the page's language
        item.waited = Math.max(0, nowSeconds() - item.at);  // now: a later drawing says no longer a wait
        item.waitedSaid = typeof frame.waited === "number" ? frame.waited : null;  // the server's word for it
        return;
      }
    }
    if (!request && frame.id == null && SIGNED_OUT.includes(frame.code)) {
      // The server ends the session for its password (reset by the operator, changed on
      // another device): the login form, asking for the new one; no reconnection.
      out.login = { code: frame.code, message, words: () => explainError(frame.code, message) };
      return;
    }
    if (request && request.kind === "hello" && frame.code === "unsupported_version" && chat.offer > 1) {
      chat.offer -= 1;  // an older server: log in again, on a new connection, with the older version
      out.login = "fallback";
      return;
    }
    if (request && ROOM_REQUESTS.includes(request.kind)) {
      roomRequestFailed(chat, request, frame, message);
      return;
    }
    if (request && request.kind === "hello") {
      serverClockHeard(frame.now);  // a kept name's refusal says the server's time: no welcome will
      // A reconnection refused for a while (the old connection not noticed gone yet, the
      // store out of reach, too many logins or connections from a school's one address):
      // try again, no sooner than the server said, as the other clients do.
      // words: the refusal said again in the page's language after a switch.
      const words = () => explainError(frame.code, message, request.name, frame.retry_after,
        typeof frame.like === "string" ? frame.like : null, null, null, uncertain, null, null,
        typeof frame.until === "number" ? frame.until : null);
      // A first login told to wait a moment (a class logging in at once from one
      // address meets the password-check budget) waits it out, as the other clients do.
      const moment = !chat.welcomedOnce && frame.code === "rate_limited"
        && typeof frame.retry_after === "number" && frame.retry_after <= i18n.loginWait;
      out.login = chat.welcomedOnce && i18n.loginRetry.includes(frame.code) ? "retry"
        : moment ? "wait" : { code: frame.code, message: words(), words };
      if (typeof frame.retry_after === "number") out.retryAfter = frame.retry_after;
      return;
    }
    if (request && request.item && request.kind !== "edit" && request.kind !== "delete") {
      if (request.kind === "post" && frame.code === "not_member") roomGone(chat, request.key);
      request.item.state = "failed";
      request.item.error = message;
      request.item.errorCode = frame.code;
      // What the view needs to say it (a muted post's room and time left, kept as when
      // the wait ends: a later drawing says no longer a wait than there is).
      request.item.refusal = { room: typeof frame.room === "string" ? frame.room : null,
        reason: typeof frame.reason === "string" ? frame.reason : null,
        retryAt: typeof frame.retry_after === "number" ? monotonicSeconds() + frame.retry_after : null };
      if (frame.code === "unavailable" && request.unavailable >= UNAVAILABLE_ATTEMPTS) {
        // Given up (retryLater): how often and how long it was tried is the news, not the last wait.
        request.item.refusal.attempts = request.unavailable;
        request.item.refusal.triedFor = monotonicSeconds() - request.unavailableSince;
      }
      // Given up after an answer that said it may have been stored: never "not delivered".
      if (frame.code === "unavailable" && (request.uncertain || uncertain)) request.item.errorCode = "unconfirmed";
      // A name nobody uses (mistyped): out of the contact list; its conversation goes
      // once another is chosen (the failed message says why meanwhile).
      if (request.kind === "send" && MISTYPED_CODES.includes(frame.code)) {
        const entry = chat.users.get(request.key);
        if (entry && !entry.online) {
          entry.mistyped = true;
          entry.known = false;
        }
      }
      return;
    }
    if (request && request.kind === "history") {
      if (frame.code === "unknown_type") chat.history = false;  // an older server
      const convo = request.room ? chat.conversations.get(request.key) : null;
      if (convo) {
        convo.loadingOlder = false;
        if (frame.code === "not_member") roomGone(chat, request.key);
        notice(chat, request.key, t("Could not load earlier messages: {why}",
          { why: explainFrame(frame, message, convo.name) }), nowSeconds(), true);
      }
      return;
    }
    if (request && (request.kind === "block" || request.kind === "blocks")) {
      blockRefused(chat, request, frame, message, out);
      return;
    }
    if (request && (request.kind === "edit" || request.kind === "delete")) {
      const explained = explainFrame(frame, message, null);  // muted: with its room and time left
      notice(chat, request.key, t("Not changed: {why}", { why: explained }), nowSeconds(), true);
      out.announce.push(t("Not changed: {why}", { why: explained }));
      return;
    }
    if (request) return;
    // Too many requests, and no id: a read or typing of ours (PROTOCOL.md "error"). The user
    // asked for nothing, so nothing is shown; the recent marks go again after the wait.
    if (frame.code === "rate_limited" && frame.id == null) {
      readsRefused(chat, frame.retry_after);
      return;
    }
    // A read or typing sent before the news that another device of ours turned receipts
    // off came (the only frames without id refused so: PROTOCOL.md "The switch"): the
    // switch is off, said in our words, never the server's.
    if (frame.code === "forbidden" && frame.id == null) {
      receiptsSwitched(chat, false, out);
      return;
    }
    // A read or typing for a room we are no longer in: the server's list of ours, again.
    if (frame.code === "not_member" && chat.version >= 2) out.send.push(askMyRooms(chat));
    const explained = explainFrame(frame, message, null);
    chat.notice = explained;
    // Placed by when it happened: a session ended for our silence was cut when that began,
    // the (same) heartbeat timeout before. Messages sent since come after it, also those a
    // reconnection brings later, which are placed by when they were sent (history_page).
    const at = nowSeconds() - (frame.code === "heartbeat_timeout" ? chat.heartbeatTimeout : 0);
    notice(chat, chat.active, t("Server: {message}", { message: explained }), at, true);
    out.announce.push(t("Server: {message}", { message: explained }));
  },

  dm(chat, frame, out) {
    if (typeof frame.msg_id !== "number" || typeof frame.from !== "string") return;
    // Every dm is confirmed, even a repeat (a redelivery after reconnecting).
    out.receipts.push({ type: "receipt", msg_id: frame.msg_id });
    const seen = seenKey(frame.msg_id, frame.sent_at);
    if (chat.seen.has(seen)) return;
    chat.seen.add(seen);
    const entry = user(chat, frame.from);
    entry.known = true;
    entry.mistyped = false;
    chat.typing.delete(entry.key);  // their message ends "typing"
    const item = {
      kind: "message", dir: "in", sender: frame.from, to: frame.to, text: String(frame.text),
      at: frame.sent_at, state: "received", msgId: frame.msg_id,
    };
    // Deleted by its sender before it came (PROTOCOL.md "dm"): "This message was deleted",
    // not an empty bubble; nothing to read, and said once (the "deleted" after it is not news).
    if (frame.deleted === true) applyChange(item, { type: "deleted" });
    const early = chat.changes.get(frame.msg_id);  // a change that came before the message
    if (early) {
      chat.changes.delete(frame.msg_id);
      applyChange(item, early);
    }
    const convo = addItem(chat, entry.key, entry.name, item);
    if (item.deleted) {
      out.announce.push(t("{name} deleted a message", { name: frame.from }));
      return;
    }
    if (chat.active !== entry.key) convo.unread += 1;
    out.announce.push(t("{name} to you: {text}", { name: frame.from, text: frame.text }));
  },

  room(chat, frame, out) {
    if (typeof frame.room === "string") return roomPost(chat, frame, out);  // a named room's
    if (typeof frame.msg_id !== "number" || typeof frame.from !== "string") return;
    const ours = chat.sent.get(frame.msg_id);
    if (ours && ours.to === null && ours.text === frame.text) return;  // ours, echoed to everyone
    const seen = seenKey(frame.msg_id, frame.sent_at);
    if (chat.seen.has(seen)) return;
    chat.seen.add(seen);
    // Ours, said from another device: shown as ours, not unread.
    const mine = isMe(chat, frame.from);
    const item = {
      kind: "message", dir: mine ? "out" : "in", sender: frame.from, text: String(frame.text),
      at: frame.sent_at, state: mine ? "sent" : "received", msgId: frame.msg_id,
    };
    if (mine) Object.assign(item, { to: null, requestId: null, error: "" });
    const early = chat.changes.get(frame.msg_id);  // a change that came before it (in a cluster)
    if (early) {
      chat.changes.delete(frame.msg_id);
      applyChange(item, early);
    }
    const convo = addItem(chat, ROOM, null, item);
    if (mine) {
      chat.sent.set(frame.msg_id, item);
      return;
    }
    if (chat.active !== ROOM) convo.unread += 1;
    out.announce.push(t("{name} to everyone: {text}", { name: frame.from, text: frame.text }));
  },

  since_page(chat, frame, out) {
    // A catch-up's page of every conversation (catchUpFrames, feature since): each person's
    // messages merged as a conversation's catch-up page, a person new to this page too.
    // Those still waiting for our receipt are left to the login's backlog (they come as dm).
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!request || request.kind !== "since" || !Array.isArray(frame.messages)) return;
    const people = new Map();
    for (const entry of frame.messages) {
      if (!entry || typeof entry.from !== "string" || typeof entry.to !== "string") continue;
      const mine = isMe(chat, entry.from);
      if (!mine && (entry.state === "sent" || entry.state === "queued")) continue;
      const person = user(chat, mine ? entry.to : entry.from);
      if (!people.has(person.key)) people.set(person.key, { person, entries: [] });
      people.get(person.key).entries.push(entry);
    }
    for (const { person, entries } of people.values()) {
      person.known = true;
      person.mistyped = false;
      mergeNewer(chat, conversation(chat, person.key, person.name), entries, request.since, out);
    }
    const next = frame.next_id;
    if (Number.isInteger(next) && next > request.after && request.page < CATCH_UP_SINCE_PAGES) {
      out.send.push(sinceFrame(chat, request.since, next, request.page + 1));
    }
  },

  history_page(chat, frame, out) {
    // The stored conversation, oldest first: add what is missing, update our messages'
    // delivery states (they may have been delivered while we were away).
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!request || !Array.isArray(frame.messages)) return;
    const convo = conversation(chat, request.key);
    if (request.catchUp) return mergeNewer(chat, convo, frame.messages, request.since, out);  // after a reconnection
    if (request.room) {  // a named room's page: its cursor leads to the older ones
      const before = Number.isInteger(frame.before) ? frame.before : null;
      if (request.older || convo.older === undefined) convo.older = before;
      if (request.older) Object.assign(convo, { loadingOlder: false, readingOlder: true });
    }
    const have = new Map();
    for (const item of convo.items) if (item.msgId != null) have.set(item.msgId, item);
    const added = [];
    for (const entry of frame.messages) {
      if (!entry || typeof entry.msg_id !== "number" || typeof entry.from !== "string") continue;
      const mine = isMe(chat, entry.from);
      // A room's message has no receipts: accepted ("sent") is as far as it goes.
      const state = request.room ? "sent" : entry.state === "expired" ? "failed" : entry.state;
      const known = have.get(entry.msg_id);
      if (known && (entry.deleted === true || (entry.edited === true && known.text !== entry.text))) {
        applyChange(known, entry.deleted === true ? { type: "deleted" } : { type: "edited", text: String(entry.text) });
      }
      if (known) {
        if (known.dir === "out" && (PROGRESS[state] ?? -1) > (PROGRESS[known.state] ?? -1)) {
          known.state = state;
          known.error = entry.state === "expired" ? t("expired before delivery") : "";
        }
        continue;
      }
      if (!mine) chat.seen.add(seenKey(entry.msg_id, entry.sent_at));
      const item = {
        kind: "message", dir: mine ? "out" : "in", sender: entry.from, text: String(entry.text),
        // A room's message as a live one is: to nobody in particular, in its room.
        to: request.room ? null : entry.to, room: request.room ? entry.to : undefined,
        at: entry.sent_at, msgId: entry.msg_id, localId: ++nextLocalId,
        state: mine ? state : "received", error: entry.state === "expired" ? t("expired before delivery") : "",
        edited: entry.edited === true, deleted: entry.deleted === true,
      };
      // Ours (also sent from another session): a later outcome or carbon finds it by msg_id.
      if (mine && !chat.sent.has(entry.msg_id)) chat.sent.set(entry.msg_id, item);
      added.push(item);
    }
    if (!added.length) return;
    convo.items.push(...added);
    convo.items.sort((a, b) => a.at - b.at);  // stable: equal times keep their order
    trimItems(convo);
  },

  // --- After delivered (issue 13) ---

  read(chat, frame) {
    if (typeof frame.room === "string" && typeof frame.msg_id === "number" && !Array.isArray(frame.marks)) {
      // Our own mark in a room, read on another device (PROTOCOL.md "In rooms"): as for a
      // person below, not to be said again, and its posts up to msg_id no longer unread.
      if (typeof frame.from === "string" && !isMe(chat, frame.from)) return;
      const convo = chat.conversations.get(roomKey(frame.room));
      if (convo) {
        convo.readSent = Math.max(convo.readSent || 0, frame.msg_id);
        clearUnreadUpTo(convo, frame.msg_id);
      }
      return;
    }
    if (typeof frame.room === "string") return roomReads(chat, frame);  // a small room's marks
    // Someone read our messages up to msg_id (or we did, on another device).
    if (typeof frame.msg_id !== "number" || typeof frame.from !== "string" || typeof frame.with !== "string") return;
    if (isMe(chat, frame.from)) {
      // Read on another device: not to be said again, and no longer unread here.
      const convo = chat.conversations.get(contactKey(frame.with));
      if (convo) {
        convo.readSent = Math.max(convo.readSent, frame.msg_id);
        clearUnreadUpTo(convo, frame.msg_id);
      }
      return;
    }
    const convo = chat.conversations.get(contactKey(frame.from));
    if (!convo) return;
    for (const item of convo.items) {
      if (item.dir === "out" && item.msgId != null && item.msgId <= frame.msg_id && !item.read) {
        item.read = true;
        item.rev = (item.rev || 0) + 1;
      }
    }
  },

  typing(chat, frame) {
    if (typeof frame.room === "string") return roomTyping(chat, frame);  // in a named room
    if (typeof frame.from !== "string" || isMe(chat, frame.from)) return;
    chat.typing.set(contactKey(frame.from), monotonicSeconds() + TYPING_EXPIRES);
  },

  edited(chat, frame, out) {
    if (typeof frame.room === "string") return roomChanged(chat, frame, out);  // a room's post
    changed(chat, frame, out);
  },

  deleted(chat, frame, out) {
    if (typeof frame.room === "string") return roomChanged(chat, frame, out);
    changed(chat, frame, out);
  },

  /** From the server, without id: another session of ours changed the read receipts switch. */
  settings(chat, frame, out) {
    if (typeof frame.read_receipts === "boolean") receiptsSwitched(chat, frame.read_receipts, out);
  },

  ok(chat, frame, out) {
    const request = chat.requests.get(frame.id);
    if (!request) return;
    chat.requests.delete(frame.id);
    if (request.kind === "settings") chat.readReceipts = request.readReceipts;
    if (request.kind === "password") passwordChanged(chat, out);
    if (request.kind === "unregister") chat.unregistering = { state: "done" };  // the session ends next
    if (request.kind === "edit" || request.kind === "delete") {
      applyChange(request.item, request.kind === "delete" ? { type: "deleted" } : { type: "edited", text: request.text });
    }
    if (request.kind === "leave" || request.kind === "act") roomOk(chat, request, out);
    if (request.kind === "block") blockDone(chat, request, out);
  },

  blocking(chat, frame, out) {
    // Whom the user blocks, in pages: the list replaces what the page thought once the
    // last page is in (another device may have changed it).
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!request || request.kind !== "blocks" || !Array.isArray(frame.blocked)) return;
    for (const name of frame.blocked) {
      if (typeof name === "string" && !isMe(chat, name)) request.listed.set(contactKey(name), name);
    }
    if (typeof frame.next === "string" && frame.blocked.length) {
      out.send.push(blocksFrame(chat, request.listed, frame.next));
      return;
    }
    chat.blocked = request.listed;
    for (const name of chat.blocked.values()) user(chat, name);  // listed, to be seen and unblocked
  },

  // Feature blocks: another device of ours blocked or unblocked someone (no id).
  blocked(chat, frame) {
    blockTold(chat, frame, true);
  },

  unblocked(chat, frame) {
    blockTold(chat, frame, false);
  },

  ping(chat, frame, out) {
    out.send.push({ type: "pong", token: typeof frame.token === "string" ? frame.token : "" });
  },

  pong(chat, frame) {
    serverClockHeard(frame.now);  // a server's says its time again (an older server's: nothing)
  },

  bye(chat, frame) {
    // In the page's language: a server stopping (console /quit) is said as the window says
    // it; another reason the Python clients know is translated (client/display.py's
    // _LEFT_REASONS); one of a newer server stays as it came.
    const reason = typeof frame.reason === "string" ? frame.reason : "";
    const why = reason ? reasonWords(reason) : "";
    chat.notice = reason === SERVER_STOPPING ? sentence(t("the server stopped or is restarting"))
      : why ? t("The server ended the session: {why}", { why }) : t("The server ended the session");
  },
};

// After a reconnection, the conversations with people asked for what another session of
// ours got or sent meanwhile (catchUpFrames): the most recent ones, one page each; with
// the feature since, at most this many pages of every conversation at once.
const CATCH_UP_PEERS = 20;
const CATCH_UP_SINCE_PAGES = 40;

/** The newest msg_id among ``convo``'s messages (0: none yet). */
function newestShown(convo) {
  let newest = 0;
  for (const item of convo.items) if (item.kind === "message" && item.msgId != null) newest = Math.max(newest, item.msgId);
  return newest;
}

/**
 * After a reconnection (not the page's first welcome): a "history" request for the newest
 * page of each conversation with a person (the CATCH_UP_PEERS most recent). While the page
 * was away another session of ours may have received direct messages (its receipt made
 * them delivered, so they never come here) or sent some: the server gives those only to
 * the sessions online then (PROTOCOL.md, "sent"), and the page finds them in history. Each
 * answer goes to mergeNewer. The conversation on screen is not asked twice: its history
 * was just asked (openConversation), and that answer adds whatever is missing.
 *
 * What is new: above the newest message a conversation shows. One that shows none yet (kept
 * over a reload, never opened) takes the newest direct message the page shows at all: the
 * server numbers messages as they come, so above it is what came after. A page that shows
 * no direct message anywhere cannot tell new from old and asks nothing: a conversation's
 * history comes when it opens.
 *
 * With the feature since (the welcome said so), one "since" request in place of those
 * pages: every conversation's messages above that newest one, people this page never
 * talked with included (they wrote to another session of ours meanwhile); its answer goes
 * to since_page, which asks the next page while there is one.
 */
function catchUpFrames(chat) {
  if (!chat.history || chat.status !== "online") return [];
  const last = (convo) => convo.items.length ? convo.items[convo.items.length - 1].at || 0 : 0;
  const people = [...chat.conversations.values()]
    .filter((convo) => convo.key.startsWith("@") && typeof convo.name === "string" && validName(convo.name)
      && !isMe(chat, convo.name) && !(chat.users.get(convo.key) || {}).mistyped);
  const floor = Math.max(0, ...people.map(newestShown));
  if (!floor) return [];
  if (chat.since) return [sinceFrame(chat, floor, floor, 1)];
  return people.filter((convo) => !convo.historyAsked)
    .sort((a, b) => last(b) - last(a))
    .slice(0, CATCH_UP_PEERS)
    .map((convo) => {
      const id = chat.nextId();
      chat.requests.set(id, { kind: "history", key: convo.key, catchUp: true, since: newestShown(convo) || floor });
      return { type: "history", id, with: convo.name, limit: HISTORY_PAGE };
    });
}

/** A "since" request for page ``page`` of a catch-up from ``floor`` (the newest message
 * shown before the reconnection), going on after msg_id ``after``. */
function sinceFrame(chat, floor, after, page) {
  const id = chat.nextId();
  chat.requests.set(id, { kind: "since", since: floor, after, page });
  return { type: "since", id, after_id: after, limit: HISTORY_PAGE };
}

/**
 * Merge a catch-up's page (catchUpFrames) into ``convo``. Contract: only entries newer than
 * the newest message ``convo`` showed when the page was asked (msg_id above ``since``)
 * and not shown since (by msg_id; a received one also by seenKey, as for a live dm) are
 * added, each where its msg_id puts it among the messages, as it would have come live:
 * a received one unread unless ``convo`` is on screen (then readFrames says it read, as
 * for a live one), ours (sent from another session) as ours with its state, found by msg_id
 * by a later outcome; edited/deleted marks kept. A message shown already only has its
 * delivery state moved forward. Older entries are left alone: the conversation's history
 * brings them when it opens (history_page). Returns nothing; announces received ones.
 */
function mergeNewer(chat, convo, entries, since, out) {
  const have = new Map();
  for (const item of convo.items) if (item.kind === "message" && item.msgId != null) have.set(item.msgId, item);
  const added = [];
  for (const entry of entries) {
    if (!entry || typeof entry.msg_id !== "number" || typeof entry.from !== "string") continue;
    const mine = isMe(chat, entry.from);
    const state = entry.state === "expired" ? "failed" : entry.state;
    const known = have.get(entry.msg_id);
    if (known) {
      if (known.dir === "out" && (PROGRESS[state] ?? -1) > (PROGRESS[known.state] ?? -1)) {
        known.state = state;
        known.error = entry.state === "expired" ? t("expired before delivery") : "";
      }
      continue;
    }
    if (entry.msg_id <= (since || 0) || (mine && chat.sent.has(entry.msg_id))) continue;
    const seen = seenKey(entry.msg_id, entry.sent_at);
    if (!mine && chat.seen.has(seen)) continue;
    const item = {
      kind: "message", dir: mine ? "out" : "in", sender: entry.from, to: entry.to, text: String(entry.text),
      at: entry.sent_at, msgId: entry.msg_id, localId: ++nextLocalId,
      state: mine ? state : "received", error: mine && entry.state === "expired" ? t("expired before delivery") : "",
      edited: entry.edited === true, deleted: entry.deleted === true,
    };
    if (mine) {
      Object.assign(item, { requestId: null });
      chat.sent.set(entry.msg_id, item);
    } else {
      chat.seen.add(seen);
    }
    chat.changes.delete(entry.msg_id);  // the page's text is the latest
    have.set(entry.msg_id, item);
    added.push(item);
  }
  added.sort((a, b) => a.msgId - b.msgId);
  for (const item of added) {
    const after = convo.items.findIndex((each) => each.kind === "message" && each.msgId != null && each.msgId > item.msgId);
    if (after < 0) convo.items.push(item);
    else convo.items.splice(after, 0, item);
  }
  trimItems(convo);
  const received = added.filter((item) => item.dir === "in");
  // A deleted one as when it comes live (handlers.dm): nothing to read, said as deleted.
  if (chat.active !== convo.key) convo.unread += received.filter((item) => !item.deleted).length;
  for (const item of received) {
    out.announce.push(item.deleted ? t("{name} deleted a message", { name: item.sender })
      : t("{name} to you: {text}", { name: item.sender, text: item.text }));
  }
}

/** ``convo``'s messages up to ``msgId`` were read (on another device): its unread count
 * keeps only those that came after. */
function clearUnreadUpTo(convo, msgId) {
  const after = convo.items.filter((item) => item.kind === "message" && item.dir === "in"
    && item.msgId != null && item.msgId > msgId).length;
  convo.unread = Math.min(convo.unread, after);
}

/** An edited or deleted frame: change the message if we have it (else keep it for the
 * dm), and confirm it when we are its recipient (the server repeats it until then). */
function changed(chat, frame, out) {
  if (typeof frame.msg_id !== "number" || typeof frame.from !== "string" || typeof frame.to !== "string") return;
  const mine = isMe(chat, frame.from);
  if (!mine) out.receipts.push({ type: "edit_receipt", msg_id: frame.msg_id });
  const convo = chat.conversations.get(contactKey(mine ? frame.to : frame.from));
  const item = convo ? convo.items.find((each) => each.kind === "message" && each.msgId === frame.msg_id) : null;
  if (!item) {
    chat.changes.set(frame.msg_id, frame);
    return;
  }
  const news = !(frame.type === "deleted" && item.deleted);  // a dm deleted before it came said it
  applyChange(item, frame);
  if (!mine && news) {
    out.announce.push(frame.type === "deleted" ? t("{name} deleted a message", { name: frame.from })
      : t("{name} edited a message", { name: frame.from }));
  }
}

function applyChange(item, change) {
  if (change.type === "deleted") {
    item.deleted = true;
    item.text = "";
    // Deleted by a room's moderator or an administrator, not by its sender.
    if (typeof change.by === "string") item.deletedBy = change.by;
  } else {
    item.edited = true;
    item.text = String(change.text);
  }
  item.rev = (item.rev || 0) + 1;
}

/** Our own message ``item`` (direct, a room post, or one to "Everyone", the default room)
 * may still be edited or deleted (the server decides). The window's age: since the server
 * took it, on monotonicSeconds(), for one sent from this page (a step of the browser's
 * clock back kept Edit an hour past the window); else by its time (the server's, from
 * history or another device) against the server's clock (serverNowSeconds: a browser's
 * clock that is off would misjudge it). */
function changeable(chat, item) {
  const age = typeof item.takenAt === "number" ? monotonicSeconds() - item.takenAt : serverNowSeconds() - item.at;
  return item.kind === "message" && item.dir === "out"
    && item.msgId != null && !item.deleted && age < serverEditWindow && chat.status === "online";
}

/** The frame that edits (``text``) or deletes (null) our message ``item``. */
function changeFrame(chat, key, item, text) {
  const id = chat.nextId();
  const kind = text === null ? "delete" : "edit";
  chat.requests.set(id, { kind, item, key, text });
  return text === null ? { type: "delete", id, msg_id: item.msgId } : { type: "edit", id, msg_id: item.msgId, text };
}

/** Another device of this user turned read receipts ``on`` (or off), as the server says:
 * the switch follows (no read or typing is sent while off), and says so once. */
function receiptsSwitched(chat, on, out) {
  if (chat.readReceipts === on) return;
  chat.readReceipts = on;
  const words = on ? t("Read receipts were turned on on another of your devices")
    : t("Read receipts were turned off on another of your devices: nobody sees when you have read their messages or type, and you do not see theirs");
  notice(chat, chat.active, words, nowSeconds());
  out.announce.push(words);
}

/** The frame that turns this user's read receipts (and typing) on or off; the page
 * shows the new setting once the server said "ok". */
function settingsFrame(chat, on) {
  const id = chat.nextId();
  chat.requests.set(id, { kind: "settings", readReceipts: on });
  return { type: "settings", id, read_receipts: on };
}

/* ----- Blocking (PROTOCOL.md, "block", "blocks") -------------------------------------- */

/** A "blocks" request: whom the user blocks (``listed``: the pages so far, ``after``: the
 * cursor of the next). Asked after each welcome; a server older than it answers
 * unknown_type, and the page then offers no button (it could not show the truth). */
function blocksFrame(chat, listed = new Map(), after = null) {
  const id = chat.nextId();
  chat.requests.set(id, { kind: "blocks", listed });
  return after === null ? { type: "blocks", id } : { type: "blocks", id, after };
}

function isBlocked(chat, key) {
  return chat.blocked !== null && chat.blocked.has(key);
}

/** Whether conversation ``key`` offers Block / Unblock now: a person, not ourselves, the
 * server's list known, online, and no request of theirs on its way. */
function mayBlock(chat, key) {
  return key !== ROOM && !isRoomKey(key) && chat.blocked !== null && chat.status === "online"
    && !chat.blocking.has(key) && !(chat.me !== null && key === contactKey(chat.me));
}

/** The "block" (or "unblock", if blocked) of person ``key``; null when not offered. */
function blockFrame(chat, key) {
  if (!mayBlock(chat, key)) return null;
  const name = (chat.users.get(key) || chat.conversations.get(key) || {}).name;
  if (typeof name !== "string") return null;
  const block = !isBlocked(chat, key);
  const id = chat.nextId();
  chat.requests.set(id, { kind: "block", key, name, block });
  chat.blocking.add(key);
  return { type: block ? "block" : "unblock", id, name };
}

/** The server said ok: the mark follows, and the conversation says what it means. */
function blockDone(chat, request, out) {
  chat.blocking.delete(request.key);
  if (chat.blocked === null) chat.blocked = new Map();
  if (request.block) chat.blocked.set(request.key, request.name);
  else chat.blocked.delete(request.key);
  blockOutcome(chat, request, request.block
    ? t("You blocked {name}: their messages no longer reach you (yours still reach them)", { name: request.name })
    : t("You unblocked {name}: their new messages reach you again", { name: request.name }), false, out);
}

/** A block's or unblock's outcome: a notice in that person's conversation, and said to a
 * screen reader (the log is not a live region), when there is an ``out`` to say it through. */
function blockOutcome(chat, request, text, isError, out) {
  notice(chat, request.key, text, nowSeconds(), isError);
  if (out) out.announce.push(text);
}

/** A block (``block``) or unblock made on another device, as the server told it (feature
 * blocks, PROTOCOL.md "blocked"): the mark and the list follow at once, as the next
 * "blocks" would say. Before the server's list came, nothing: that list will say it. */
function blockTold(chat, frame, block) {
  if (chat.blocked === null || typeof frame.name !== "string" || isMe(chat, frame.name)) return;
  const key = contactKey(frame.name);
  if (block) {
    chat.blocked.set(key, frame.name);
    user(chat, frame.name);  // listed, to be seen and unblocked
  } else {
    chat.blocked.delete(key);
  }
}

/** A block or unblock whose outcome nobody knows (``why``): said so, never as done or not
 * done; the list is asked again (when online), and says what the server holds. */
function blockUnsettled(chat, request, why, out = null) {
  chat.blocking.delete(request.key);
  blockOutcome(chat, request, request.block
    ? t("Blocking {name} is not confirmed: {why}", { name: request.name, why })
    : t("Unblocking {name} is not confirmed: {why}", { name: request.name, why }), true, out);
}

/** An error answering a "block"/"unblock" or a "blocks". */
function blockRefused(chat, request, frame, message, out) {
  const why = explainFrame(frame, message, request.name || null);
  if (request.kind === "blocks") {
    // unknown_type: an older server keeps no list to show; anything else is said once.
    if (frame.code !== "unknown_type") notice(chat, ROOM, t("Could not load whom you block: {why}", { why }), nowSeconds(), true);
    return;
  }
  if (frame.code === "unavailable" && frame.uncertain === true) {
    blockUnsettled(chat, request, why, out);
    if (chat.status === "online") out.send.push(blocksFrame(chat));
    return;
  }
  blockNotDone(chat, request, why, out);
}

/** A block or unblock that was not done (``why``): the mark stays, and the conversation says so. */
function blockNotDone(chat, request, why, out) {
  chat.blocking.delete(request.key);
  blockOutcome(chat, request, request.block
    ? t("{name} was not blocked: {why}", { name: request.name, why })
    : t("{name} was not unblocked: {why}", { name: request.name, why }), true, out);
}

/** The "read" to send now: the newest message from the peer of the conversation on
 * screen, if the page is ``focused``, receipts are on, and we have not said it yet. At
 * most one per conversation each READ_INTERVAL, none while a refusal holds them back: one
 * not due yet sets ``chat.readDueAt``, when to ask again (sendReads arms a timer). */
function readFrames(chat, focused) {
  chat.readDueAt = null;
  if (!focused || !chat.readReceipts || chat.status !== "online" || chat.active === ROOM) return [];
  if (isRoomKey(chat.active) && !chat.rooms.has(chat.active)) return [];  // not ours (any more)
  const convo = chat.conversations.get(chat.active);
  if (!convo) return [];
  let newest = 0;
  if (isRoomKey(chat.active)) {  // a room: how far we have seen its posts, ours included
    for (const item of convo.items) if (item.kind === "message" && item.msgId != null) newest = Math.max(newest, item.msgId);
  } else {
    for (const item of convo.items) if (item.dir === "in" && item.msgId != null) newest = Math.max(newest, item.msgId);
  }
  if (newest <= (convo.readSent || 0)) return [];
  const now = monotonicSeconds();
  const due = Math.max(chat.readHold || 0, convo.readAt == null ? 0 : convo.readAt + READ_INTERVAL);
  if (now < due) {
    chat.readDueAt = due;
    return [];
  }
  convo.readSent = newest;
  convo.readAt = now;
  return [isRoomKey(chat.active) ? { type: "read", room: roomName(chat, chat.active), msg_id: newest }
    : { type: "read", with: convo.name, msg_id: newest }];
}

/** A "rate_limited" without id: one of our reads or typing was refused. Hold marks back for
 * its wait, and say again the marks said in the last READ_RETRY_WINDOW seconds (each
 * conversation's newest, when it is on screen). */
function readsRefused(chat, retryAfter) {
  const now = monotonicSeconds();
  const wait = Math.min(Math.max(typeof retryAfter === "number" ? retryAfter : 1, THROTTLE_WAIT[0]), THROTTLE_WAIT[1]);
  chat.readHold = Math.max(chat.readHold || 0, now + wait);
  for (const convo of chat.conversations.values()) {
    if (convo.readAt != null && convo.readAt >= now - READ_RETRY_WINDOW) convo.readSent = 0;
  }
}

/** The "typing" to send as we type in the conversation on screen (at most one per interval). */
function typingFrames(chat, now) {
  if (!chat.readReceipts || chat.status !== "online" || chat.active === ROOM || chat.editing) return [];
  const convo = chat.conversations.get(chat.active);
  if (!convo) return [];
  // To a person only while they are online: the server forwards nothing to someone
  // offline, and answers a name nobody has (mistyped) with an error that has no id, so
  // it could only be shown apart from the failed message, a second time.
  if (isRoomKey(chat.active) && !chat.rooms.has(chat.active)) return [];  // not ours (any more)
  const peer = isRoomKey(chat.active) ? null : chat.users.get(chat.active);
  if (!isRoomKey(chat.active) && !(peer && peer.online)) return [];
  const last = chat.typingSent.get(chat.active) || 0;
  if (now - last < TYPING_INTERVAL) return [];
  chat.typingSent.set(chat.active, now);
  if (isRoomKey(chat.active)) return [{ type: "typing", room: roomName(chat, chat.active) }];
  return [{ type: "typing", to: convo.name }];
}

/** Who is typing in the conversation on screen, or null (expired ones are forgotten): a
 * name, or in a room the names, joined. */
function typingName(chat, now) {
  for (const [key, until] of chat.typing) if (until <= now) chat.typing.delete(key);
  if (isRoomKey(chat.active)) return roomTypingNames(chat, chat.active, now);
  if (chat.active === ROOM || !chat.typing.has(chat.active)) return null;
  const entry = chat.users.get(chat.active);
  return entry ? entry.name : null;
}

/** Apply ``change`` to the users listed so far by each "who" whose pages are still coming:
 * someone who joins or leaves between two pages is where the notices say. */
function whoInProgress(chat, change) {
  for (const request of chat.requests.values()) {
    if (request.kind === "who" && request.listed) change(request.listed);
  }
}

/** The server changed our password: the dialog closes (renderPassword) and the confirmation
 * is a notice in the open conversation, where it is seen, and is said once; not a line in
 * the top bar, which it stretched on a phone and where it stayed. */
function passwordChanged(chat, out) {
  chat.passwordChange = { state: "done" };
  const words = t("Your password is changed: log in with the new one from now on.");
  notice(chat, chat.active, words);
  out.announce.push(words);
}

/** A notice line in conversation ``key``. ``text`` is its words, or a function that says
 * them in the page's language: such a line (a join, a leave, a room's news) is said again
 * after a language switch, so a class's lines are not left in the language switched from
 * (updateItem). Not kept across a reload: the words shown stay. */
function notice(chat, key, text, at, isError = false) {
  const name = key === ROOM ? null : isRoomKey(key) ? roomName(chat, key) : (chat.users.get(key) || {}).name;
  const words = typeof text === "function" ? text : null;
  addItem(chat, key, name, { kind: "notice", text: words ? words() : text, words,
    lang: i18n.language, at: typeof at === "number" ? at : nowSeconds(), isError });
}

/** The one order of names in the page's lists (people, rooms): the page's language's,
 * letters first without accents or case ("Álvaro" beside "Alice", "Érica" among the E's,
 * "Conceição" after "Carlos"), numbers by value ("Aluno2" before "Aluno10"), then accents
 * and case, then the exact text, so it is total. As registry/collation.py's name_order in
 * the window. */
function compareNames(a, b) {
  const [base, variant] = collators(i18n.language.replace("_", "-"));
  return base.compare(a, b) || variant.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

const COLLATORS = new Map();  // language -> [base, variant]: made once (localeCompare makes one a call)

function collators(language) {
  if (!COLLATORS.has(language)) {
    COLLATORS.set(language, ["base", "variant"].map((sensitivity) => new Intl.Collator(language, { sensitivity, numeric: true })));
  }
  return COLLATORS.get(language);
}

/** Contacts in display order: by name only. Presence plays no part (the dot and the
 * words show it), so a row never moves because someone came online or left, and a click
 * lands on the row that was under the pointer. A name the server said nobody uses
 * (mistyped) is not one. */
function sortedContacts(chat) {
  return [...chat.users.values()]
    .filter((entry) => !entry.mistyped || entry.online)
    .filter((entry) => entry.online || entry.known || chat.conversations.has(entry.key) || isBlocked(chat, entry.key))
    .sort((a, b) => compareNames(a.name, b.name));
}

function totalUnread(chat) {
  let total = 0;
  for (const convo of chat.conversations.values()) total += convo.unread;
  return total;
}


/* ----- Rooms (protocol version 2; PROTOCOL.md "Rooms and moderation") ----------------- */
// A named room is a conversation keyed "##" + its comparison form (neither a user's "@..."
// key nor ROOM can be that). Membership lives on the server: after each welcome the page
// asks "rooms" with "mine" for the rooms the server kept it in (so a reload lists them
// again, quiet ones too, without joining; a room it no longer lists, one we were put out
// of while away, goes), and "rooms" for the public ones. A server older than "mine" lists
// every room without saying "mine": nothing is taken from that, and the rooms this tab
// was in are joined again instead (joining again changes nothing for a member).

// Request kinds of the room requests, whose errors are told in the room's conversation.
const ROOM_REQUESTS = ["join", "leave", "members", "rooms", "act"];
// The acts the member list offers those who may moderate: [act, frame fields, label].
const ROOM_ACTS = [
  ["kick", {}, "Put out"],
  ["ban", {}, "Ban"],
  ["mute", { seconds: 600 }, "Mute 10 min"],
  ["unmute", {}, "Unmute"],
  ["appoint", { role: "moderator" }, "Make moderator"],
];
void [t("Put out"), t("Ban"), t("Mute 10 min"), t("Unmute"), t("Make moderator")];
// What a room notice says, by its act (as client/display.py says it; shown through t()).
const ROOM_NOTICES = {
  joined: "* {name} joined {room}", left: "* {name} left {room}", topic: "* {by} set the topic of {room}: {topic}",
  invite: "* {by} invited {name} to {room}", kick: "* {by} put {name} out of {room}",
  ban: "* {by} banned {name} from {room}", unban: "* {by} lifted the ban on {name} in {room}",
  mute: "* {by} muted {name} in {room}", unmute: "* {name} may write in {room} again",
  appoint: "* {by} made {name} {role} of {room}", owner: "* {name} owns {room} now",
  delete: "* {by} deleted a message of {name} in {room}",  // a moderator's delete (issue 13)
  invite_only: "* {by} made {room} invite-only", public: "* {by} made {room} public",
  "owner-you": "* you own {room} now",  // "owner" naming us: "you owns" is no English
  "delete-you": "* {by} deleted a message of yours in {room}",  // not "a message of you"
  online: "* {name} is online in {room}", offline: "* {name} went offline in {room}",  // presence in a room
};
void [t("* {name} joined {room}"), t("* {name} left {room}"), t("* {by} set the topic of {room}: {topic}"),
  t("* {by} invited {name} to {room}"), t("* {by} put {name} out of {room}"), t("* {by} banned {name} from {room}"),
  t("* {by} lifted the ban on {name} in {room}"), t("* {by} muted {name} in {room}"),
  t("* {name} may write in {room} again"), t("* {by} made {name} {role} of {room}"), t("* {name} owns {room} now"),
  t("* {by} deleted a message of {name} in {room}"),
  t("* {by} made {room} invite-only"), t("* {by} made {room} public"), t("* you own {room} now"),
  t("* {by} deleted a message of yours in {room}"), t("* {name} is online in {room}"), t("* {name} went offline in {room}")];
// The reasons the server gives its own notices, as client/display.py's _SERVER_REASONS.
const SERVER_REASONS = ["the mute ended"];
void [t("the mute ended")];
const ROLES = { owner: "owner", moderator: "moderator", member: "member" };
void [t("owner"), t("moderator"), t("member")];

function roomKey(name) {
  return "##" + nameKey(String(name).replace(/^#/, ""));
}

function isRoomKey(key) {
  return typeof key === "string" && key.startsWith("##");
}

function roomName(chat, key) {
  const room = chat.rooms.get(key);
  const convo = chat.conversations.get(key);
  return room ? room.name : convo ? convo.name : key.slice(1);
}

/** A room name as typed ("redes" or "#redes"), checked like a user name; null if invalid. */
function checkRoomName(typed) {
  const name = String(typed).trim().replace(/^#/, "");
  return validName(name) ? "#" + displayName(name) : null;
}

function roomRequest(chat, frame, kind, extra = {}) {
  frame.id = chat.nextId();
  chat.requests.set(frame.id, { kind, ...extra });
  return frame;
}

/** After a welcome: the public rooms and the rooms the server kept us in ("mine"; its
 * answer decides what becomes of the rooms this tab lists). */
function roomsOnWelcome(chat) {
  if (chat.version < 2) return [];
  for (const room of chat.rooms.values()) room.members = null;
  return [roomRequest(chat, { type: "rooms" }, "rooms"), askMyRooms(chat)];
}

/** The "rooms" with "mine" whose answer says which of the rooms listed are still ours. */
function askMyRooms(chat) {
  chat.mineSeen = new Set();
  return roomRequest(chat, { type: "rooms", mine: true }, "rooms", { mine: true });
}

/** A server that ignored "mine" (older than it): the rooms this tab was in, joined again
 * (a join of a room one is in changes nothing; it brings back its topic and count). */
function rejoinListed(chat) {
  return [...chat.rooms.values()].map((room) => roomRequest(chat, { type: "join", room: room.name }, "join",
    { quiet: true }));
}

/** The last page of "mine" came: rooms listed here that the server no longer has us in
 * (put out while away, or left from another device) go. */
function dropUnlisted(chat, out) {
  for (const key of [...chat.rooms.keys()]) {
    if (chat.mineSeen.has(key)) continue;
    chat.rooms.delete(key);
    if (chat.active === key) out.send.push(...openConversation(chat, ROOM));
  }
}

/** Room ``key`` is no longer ours (left from another device, put out, or the server said
 * not_member): off the list; the page no longer says it reads or types there. */
function roomGone(chat, key) {
  chat.rooms.delete(key);
  chat.roomTyping.delete(key);
  chat.roomMarks.delete(key);
}

/** The frame that joins (or creates) ``typed``; null if the name is not valid. */
function joinRoomFrame(chat, typed) {
  const name = checkRoomName(typed);
  if (!name || chat.version < 2) return null;
  return roomRequest(chat, { type: "join", room: name }, "join");
}

function leaveRoomFrame(chat, key) {
  return roomRequest(chat, { type: "leave", room: roomName(chat, key) }, "leave", { key });
}

function roomActFrame(chat, key, act, name, fields = {}) {
  return roomRequest(chat, { type: act, room: roomName(chat, key), name, ...fields }, "act", { key, act });
}

function topicFrame(chat, key, topic) {
  return roomRequest(chat, { type: "topic", room: roomName(chat, key), topic }, "act", { key, act: "topic" });
}

/** Opening a room's conversation asks for its newest page of history (once per
 * connection; what is shown already is not shown twice) and its members. */
function roomOpened(chat, key) {
  const room = chat.rooms.get(key);
  if (!room || chat.status !== "online") return [];
  const frames = [];
  const convo = conversation(chat, key, room.name);
  if (chat.history && !convo.historyAsked) {
    convo.historyAsked = true;
    frames.push(roomHistoryFrame(chat, key, null));
  }
  if (room.members !== null || room.asked) return frames;
  room.asked = true;
  frames.push(roomRequest(chat, { type: "members", room: room.name }, "members", { key }));
  return frames;
}

/** A page of room ``key``'s history: the newest, or the one older than ``before``. */
function roomHistoryFrame(chat, key, before) {
  const id = chat.nextId();
  chat.requests.set(id, { kind: "history", key, room: true, older: before !== null });
  const frame = { type: "history", id, with: roomName(chat, key), limit: HISTORY_PAGE };
  if (before !== null) frame.before = before;
  return frame;
}

/** "Older messages" in room ``key``: the page before the oldest shown, or null when there
 * is none, one is on its way, or we are offline. */
function olderRoomHistory(chat, key) {
  const convo = chat.conversations.get(key);
  if (!isRoomKey(key) || !convo || convo.older == null || convo.loadingOlder || chat.status !== "online"
      || convo.items.length >= MAX_READING) return null;
  convo.loadingOlder = true;
  return roomHistoryFrame(chat, key, convo.older);
}

/** Whether we may switch room ``key`` invite-only or public: its owner (PROTOCOL.md, "Roles"). */
function mayChangeMode(chat, key) {
  const room = chat.rooms.get(key);
  if (!room) return false;
  if (room.owner && isMe(chat, room.owner)) return true;
  const me = (room.members || []).find((member) => isMe(chat, member.name));
  return Boolean(me && me.role === "owner");
}

function roomModeFrame(chat, key, inviteOnly) {
  return roomRequest(chat, { type: "mode", room: roomName(chat, key), invite_only: inviteOnly }, "act",
    { key, act: "mode" });
}

/** Our message to a room: like a "say", final at "sent"; resent with its id after a drop. */
function composeRoomMessage(chat, key, text) {
  const id = chat.nextId();
  const room = roomName(chat, key);
  const item = {
    kind: "message", dir: "out", sender: chat.me, to: null, room, text,
    at: nowSeconds(), state: chat.status === "online" ? "sending" : "waiting", msgId: null, requestId: id, error: "",
  };
  addItem(chat, key, room, item);
  const frame = { type: "send", id, room, text };
  chat.requests.set(id, { kind: "post", item, key, frame });
  return frame;
}

/** Whether we may moderate room ``key``: owner or moderator, as last known. */
function mayModerate(chat, key) {
  const room = chat.rooms.get(key);
  if (!room) return false;
  if (room.owner && isMe(chat, room.owner)) return true;
  const me = (room.members || []).find((member) => isMe(chat, member.name));
  return Boolean(me && (me.role === "owner" || me.role === "moderator"));
}

function roomPost(chat, frame, out) {
  if (typeof frame.msg_id !== "number" || typeof frame.from !== "string") return;
  const ours = chat.sent.get(frame.msg_id);
  if (ours && ours.room && ours.text === frame.text) return;  // ours, echoed to the members
  const seen = seenKey(frame.msg_id, frame.sent_at);
  if (chat.seen.has(seen)) return;
  chat.seen.add(seen);
  const key = roomKey(frame.room);
  chat.roomSeen = Math.max(chat.roomSeen, frame.msg_id);
  const typing = chat.roomTyping.get(key);
  if (typing) typing.delete(nameKey(frame.from));  // their post ends "typing"
  // Ours, sent from another device: shown as ours (as its history shows it), not unread.
  const mine = isMe(chat, frame.from);
  const item = {
    kind: "message", dir: mine ? "out" : "in", sender: frame.from, room: frame.room, text: String(frame.text),
    at: frame.sent_at, state: mine ? "sent" : "received", msgId: frame.msg_id,
  };
  if (mine) Object.assign(item, { to: null, requestId: null, error: "" });
  const early = chat.changes.get(frame.msg_id);  // a change that came before the post
  if (early) {
    chat.changes.delete(frame.msg_id);
    applyChange(item, early);
  }
  const convo = addItem(chat, key, frame.room, item);
  if (mine) {
    chat.sent.set(frame.msg_id, item);  // its edits and deletes find it as ours
    countReaders(chat, key, item);
    return;
  }
  if (chat.active !== key) convo.unread += 1;
  out.announce.push(t("{name} in {room}: {text}", { name: frame.from, room: frame.room, text: frame.text }));
}

// --- Typing, edits and deletes in rooms (issue 13) -------------------------------------

/** A member types in a room: shown under it until TYPING_EXPIRES after the last one. */
function roomTyping(chat, frame) {
  if (typeof frame.from !== "string" || isMe(chat, frame.from)) return;
  const key = roomKey(frame.room);
  if (!chat.roomTyping.has(key)) chat.roomTyping.set(key, new Map());
  chat.roomTyping.get(key).set(nameKey(frame.from), { name: frame.from, until: monotonicSeconds() + TYPING_EXPIRES });
}

/** A small room's read marks (the other members', anonymous): each of our posts there
 * counts the marks at or above its id, shown as "Read by N". */
function roomReads(chat, frame) {
  if (!Array.isArray(frame.marks)) return;
  const key = roomKey(frame.room);
  const marks = frame.marks.filter((mark) => typeof mark === "number");
  chat.roomMarks.set(key, marks);
  const convo = chat.conversations.get(key);
  if (convo) for (const item of convo.items) countReaders(chat, key, item);
}

/** Bring ``item``'s "read by" count up to date, if it is our post in room ``key``. */
function countReaders(chat, key, item) {
  if (item.kind !== "message" || item.dir !== "out" || item.msgId == null) return;
  const marks = chat.roomMarks.get(key);
  if (!marks) return;
  item.readBy = marks.filter((mark) => mark >= item.msgId).length;
}

/** The names of those typing in room ``key`` now, joined, or null; expired ones go. */
function roomTypingNames(chat, key, now) {
  const typing = chat.roomTyping.get(key);
  if (!typing) return null;
  for (const [who, entry] of typing) if (entry.until <= now) typing.delete(who);
  return typing.size ? [...typing.values()].map((entry) => entry.name).join(", ") : null;
}

/** An edited or deleted frame with ``room``: change the post if we have it (else keep
 * the change for the post); never confirmed (PROTOCOL.md, "In rooms"). The default
 * room's are of its conversation, "Everyone" (ROOM). */
function roomChanged(chat, frame, out) {
  if (typeof frame.msg_id !== "number" || typeof frame.from !== "string") return;
  const convo = chat.conversations.get(roomKey(frame.room) === roomKey(DEFAULT_ROOM) ? ROOM : roomKey(frame.room));
  const item = convo ? convo.items.find((each) => each.kind === "message" && each.msgId === frame.msg_id) : null;
  if (!item) {
    chat.changes.set(frame.msg_id, frame);
    return;
  }
  applyChange(item, frame);
  if (isMe(chat, frame.by || frame.from)) return;
  out.announce.push(frame.type === "edited" ? t("{name} edited a message in {room}", { name: frame.from, room: frame.room })
    : typeof frame.by === "string" ? t("{by} deleted a message of {name} in {room}", { by: frame.by, name: frame.from, room: frame.room })
      : t("{name} deleted a message in {room}", { name: frame.from, room: frame.room }));
}

/** Someone else's room post ``item`` we may delete: as the room's owner or moderator. */
function moderatorMayDelete(chat, item) {
  return item.kind === "message" && item.dir === "in" && Boolean(item.room) && item.msgId != null && !item.deleted
    && chat.status === "online" && mayModerate(chat, roomKey(item.room));
}

function describeRoomNotice(chat, frame) {
  const who = (name) => (typeof name !== "string" ? t("the server") : isMe(chat, name) ? t("you") : name);
  const mine = (frame.act === "owner" || frame.act === "delete") && isMe(chat, frame.name);
  const template = ROOM_NOTICES[mine ? `${frame.act}-you` : frame.act];
  let text = template
    ? t(template, { name: who(frame.name), by: who(frame.by), room: frame.room, topic: frame.topic || "", // i18n: listed in ROOM_NOTICES
      role: ROLES[frame.role] ? t(ROLES[frame.role]) : String(frame.role || "") })  // i18n: listed in ROLES
    : `* ${frame.room}: ${frame.act} ${frame.name}`;
  const extras = [];
  if (frame.act === "mute") extras.push(typeof frame.until === "number" ? t("until {when}", { when: formatTime(onThisClock(frame.until)) }) : t("until unmuted"));
  if (typeof frame.reason === "string" && frame.reason) {
    // The server's own reason (no "by"), in the page's language; a moderator's as typed.
    extras.push(typeof frame.by !== "string" && SERVER_REASONS.includes(frame.reason) ? t(frame.reason) : frame.reason);  // i18n: listed in SERVER_REASONS
  }
  if (extras.length) text += ` (${extras.join("; ")})`;
  if (frame.act === "ban" && frame.address_banned === true && isMe(chat, frame.by)) {  // as client/display.py says it
    text += t("; as {name} is a guest, other guests from the same address are kept out too until the ban is lifted",
      { name: frame.name });
  }
  return text.replace(/^\* /, "");
}

function roomRequestFailed(chat, request, frame, message) {
  const key = request.key && chat.conversations.has(request.key) ? request.key : chat.active;
  if (frame.code === "not_member" && isRoomKey(request.key)) roomGone(chat, request.key);  // not ours any more
  const room = isRoomKey(request.key) ? roomName(chat, request.key) : null;  // the sentence names it
  // banned, of our own join: the error names the room and the ban's reason (an invite's
  // refusal names no room, and is said in the server's words).
  notice(chat, key, t("Server: {message}", { message: explainFrame(frame, message, room) }), nowSeconds(), true);
}

Object.assign(HANDLERS, {
  room_info(chat, frame, out) {
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (typeof frame.room !== "string") return;
    const key = roomKey(frame.room);
    if (request && !request.quiet) out.focus = "composer";  // a room the user asked for: ready to write in
    if (frame.room.toLowerCase() === "#lobby" && !frame.owner) {  // the default room: it is "Everyone"
      out.send.push(...openConversation(chat, ROOM));
      return;
    }
    const room = chat.rooms.get(key) || { members: null };
    chat.mineSeen.add(key);  // joined: not dropped by a "mine" answer that was on its way
    Object.assign(room, { name: frame.room, topic: String(frame.topic || ""), count: frame.count | 0,
      owner: typeof frame.owner === "string" ? frame.owner : null, inviteOnly: frame.invite_only === true });
    chat.rooms.set(key, room);
    conversation(chat, key, frame.room).name = frame.room;
    if (request && !request.quiet) out.send.push(...openConversation(chat, key));
    else if (chat.active === key) out.send.push(...roomOpened(chat, key));
  },

  room_list(chat, frame, out) {
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!Array.isArray(frame.rooms)) return;
    const rooms = frame.rooms.filter((entry) => entry && typeof entry.room === "string");
    if (request && request.mine) {
      // Our rooms: only from an answer that says "mine" (an older server ignores the key
      // and lists every room it shows us).
      if (frame.mine !== true) {
        out.send.push(...rejoinListed(chat));
        return;
      }
      rooms.forEach((entry) => {
        chat.mineSeen.add(roomKey(entry.room));
        listedRoom(chat, entry);
      });
      if (typeof frame.next === "string" && rooms.length) {
        out.send.push(roomRequest(chat, { type: "rooms", mine: true, after: frame.next }, "rooms", { mine: true }));
      } else {
        dropUnlisted(chat, out);
      }
      return;
    }
    chat.roomList = request && request.after ? chat.roomList.concat(rooms) : rooms;
    if (typeof frame.next === "string" && rooms.length) {
      out.send.push(roomRequest(chat, { type: "rooms", after: frame.next }, "rooms", { after: true }));
    }
  },

  member_list(chat, frame, out) {
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    const room = typeof frame.room === "string" ? chat.rooms.get(roomKey(frame.room)) : null;
    if (!room || !Array.isArray(frame.members)) return;
    const members = frame.members.filter((m) => m && typeof m.name === "string");
    room.members = request && request.after ? (room.members || []).concat(members) : members;
    room.asked = false;
    if (typeof frame.next === "string" && members.length) {
      out.send.push(roomRequest(chat, { type: "members", room: room.name, after: frame.next }, "members",
        { key: roomKey(room.name), after: true }));
    } else {
      room.count = room.members.length;
    }
  },

  room_notice(chat, frame, out) {
    if (typeof frame.room !== "string" || typeof frame.act !== "string" || typeof frame.name !== "string") return;
    const key = roomKey(frame.room);
    const aboutMe = isMe(chat, frame.name);
    const room = chat.rooms.get(key);
    // Our own join is said by the list; our leave too, but one from another device is told here.
    if (!(aboutMe && (frame.act === "joined" || (frame.act === "left" && !room)))) {
      notice(chat, key, () => describeRoomNotice(chat, frame), frame.at);
      if (aboutMe) out.announce.push(describeRoomNotice(chat, frame));
    }
    if (!room) {
      // Joined on another device: the server's list of our rooms brings it in, with its
      // topic and count (not while a join of this page is on its way: its answer does).
      const joining = [...chat.requests.values()].some((request) => request.kind === "join");
      if (aboutMe && frame.act === "joined" && chat.version >= 2 && !joining) out.send.push(askMyRooms(chat));
      return;
    }
    if (frame.act === "topic") room.topic = String(frame.topic || "");
    if (frame.act === "owner") room.owner = frame.name;
    if (frame.act === "invite_only" || frame.act === "public") room.inviteOnly = frame.act === "invite_only";
    // Put out, or left from another device: no longer ours (its conversation stays, read-only).
    if (aboutMe && (frame.act === "kick" || frame.act === "ban" || frame.act === "left")) {
      roomGone(chat, key);
      return;
    }
    // Our own join is in the count its answer (or the list of our rooms) gave already.
    if (frame.act === "joined" && !aboutMe) room.count += 1;
    if (["left", "kick", "ban"].includes(frame.act)) room.count = Math.max(0, room.count - 1);
    // The member list follows: asked again (roles, presence) when the room is on screen.
    room.members = null;
    if (chat.active === key) out.send.push(...roomOpened(chat, key));
  },
});

/** A room the server says we are in (the answer to "rooms" with "mine"): listed as a join
 * lists it, with its topic and count, without joining (its owner and mode come with its
 * members, its notices, or the join of a reconnection). Not the default room: "Everyone". */
function listedRoom(chat, entry) {
  if (roomKey(entry.room) === roomKey(DEFAULT_ROOM)) return;
  const key = roomKey(entry.room);
  const room = chat.rooms.get(key) || { members: null, owner: null, inviteOnly: false };
  Object.assign(room, { name: entry.room, topic: String(entry.topic || ""), count: entry.count | 0 });
  chat.rooms.set(key, room);
  conversation(chat, key, entry.room).name = entry.room;
}

/** The rooms' share of "ok" (called by the one ok handler): a leave or a moderation act was done. */
function roomOk(chat, request, out) {
  if (request.kind === "leave") {
    chat.rooms.delete(request.key);
    if (chat.active === request.key) out.send.push(...openConversation(chat, ROOM));
    out.send.push(roomRequest(chat, { type: "rooms" }, "rooms"));
  } else if (request.kind === "act") {
    const room = chat.rooms.get(request.key);
    if (room) room.members = null;
    if (chat.active === request.key) out.send.push(...roomOpened(chat, request.key));
  }
}


/* ===================================================================================== */
/* 2. View                                                                                */
/* ===================================================================================== */

const $ = (id) => document.getElementById(id);

// Shown through t().
const STATE_LABELS = {
  waiting: "Waiting for the connection…",
  sending: "Sending…",
  sent: "Sent",
  // Not "will be delivered": to someone who blocks the sender it never is, and the
  // server does not say so (PROTOCOL.md, "Blocking"); an offline recipient is all it says.
  queued: "Queued: they are offline",
  delivered: "Delivered",
  // A failure is said by what became of the message (failedOutcome): refused at once, it
  // was not sent; taken and expired, not delivered; perhaps taken, not confirmed.
  failed: "Not sent",
};
const FAILED_LABELS = { refused: "Not sent", expired: "Not delivered", unconfirmed: "Not confirmed" };
// The same, listed for the catalogue check (t() needs literals to be found).
void [t("Waiting for the connection…"), t("Sending…"), t("Sent"), t("Queued: they are offline"), t("Delivered"), t("Not sent"),
  t("Not delivered"), t("Not confirmed")];
void [t("Read")];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** ``node`` (which shows someone's words: a name, a message, a topic) laid out in the
 * direction of its own first letter (dir="auto") and isolated from the page's words around
 * it: a Hebrew name or topic never takes the page's " · 3 members" into its direction. */
function theirs(node) {
  node.dir = "auto";
  return node;
}

/** A <bdi> of ``text``: someone's words within a line of the page's (see theirs()). */
function bdi(text) {
  return el("bdi", "", text);
}

const CLOCK = { hour: "2-digit", minute: "2-digit" };

/** ``seconds`` (a Unix time) as the hour and minute in the browser's time zone, in the
 * page's language (pt-BR: 13:21; English: 01:21 PM), not the browser's: a message's stamp
 * (the label above it tells its day: dayBreaks). */
function formatClock(seconds) {
  if (typeof seconds !== "number") return "";
  return new Date(seconds * 1000).toLocaleTimeString(i18n.language.replace("_", "-"), CLOCK);
}

/** formatClock, and for a day other than today the date too, in the language's order
 * (pt-BR: 25/12/2026, 13:21), as the terminal's format_when: a time in a sentence. */
function formatTime(seconds) {
  if (typeof seconds !== "number") return "";
  const then = new Date(seconds * 1000);
  if (dayNumber(then) === dayNumber(new Date(nowSeconds() * 1000))) return formatClock(seconds);
  return then.toLocaleString(i18n.language.replace("_", "-"), { day: "2-digit", month: "2-digit", year: "numeric", ...CLOCK });
}

/** The calendar day of ``date`` in the browser's time zone as a count of days: two differ
 * by the midnights between them, whatever daylight saving did to the hours (display.py's
 * _day_number). */
function dayNumber(date) {
  return Math.round(Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()) / 86400000);
}

/** The local day of ``seconds`` as its separator names it, relative to now: "Today",
 * "Yesterday", else its weekday and date in the page's language (Friday, November 27;
 * pt-BR: sexta-feira, 27 de novembro), with the year when it is not this year's
 * (display.py's day_label). */
function dayLabel(seconds) {
  const then = new Date(seconds * 1000), now = new Date(nowSeconds() * 1000);
  const before = dayNumber(now) - dayNumber(then);
  if (before === 0) return t("Today");
  if (before === 1) return t("Yesterday");
  const year = then.getFullYear() !== now.getFullYear() ? { year: "numeric" } : {};
  return then.toLocaleDateString(i18n.language.replace("_", "-"), { weekday: "long", day: "numeric", month: "long", ...year });
}

/** The day separators ``items`` (a conversation's, in order) need, as item -> label: before
 * one whose local day is not the previous one's, and before the first if it is not today
 * (a conversation of today's has none): display.py's DayBreaks, the terminal's and the
 * window's rule. */
function dayBreaks(items) {
  const breaks = new Map();
  const today = dayNumber(new Date(nowSeconds() * 1000));
  let last = null;
  for (const item of items) {
    if (typeof item.at !== "number" || !Number.isFinite(item.at)) continue;
    const day = dayNumber(new Date(item.at * 1000));
    if (day !== last && !(last === null && day === today)) breaks.set(item, dayLabel(item.at));
    last = day;
  }
  return breaks;
}

/** Put in ``list`` the day separators its ``items`` need, each a centred row before its
 * item's (<li class="day-break">), and take away those no longer needed (the day before
 * trimmed away, or today become yesterday). */
function showDayBreaks(list, items) {
  const wanted = new Set();
  for (const [item, label] of dayBreaks(items)) {
    const row = view.elements.get(item);
    let rule = view.dayBreaks.get(item);
    if (!rule) view.dayBreaks.set(item, rule = el("li", "day-break"));
    if (rule.textContent !== label) rule.textContent = label;
    if (row.previousSibling !== rule) row.before(rule);
    wanted.add(rule);
  }
  for (const rule of list.querySelectorAll(":scope > .day-break")) if (!wanted.has(rule)) rule.remove();
}

const view = {
  elements: new WeakMap(),   // item -> its <li>
  dayBreaks: new WeakMap(),  // item -> the <li> naming its day above it (showDayBreaks)
  shownKey: null,            // conversation currently in the list
  shownItems: [],            // items currently in the list, in order
  newBelow: 0,               // messages added below while the reader was scrolled up
  contactsShown: null,       // what the contact list shows (renderContacts), to build it only when it changes
  membersShown: null,        // the same for the open room's member list (renderRoomTools)
};

function render(chat) {
  renderTopbar(chat);
  renderPassword(chat);
  renderUnregister(chat);
  renderContacts(chat);
  renderConversation(chat);
  renderTyping(chat);
}

function renderTyping(chat) {
  const name = typingName(chat, monotonicSeconds());
  const line = $("typing");
  line.hidden = name === null;
  line.textContent = name === null ? "" : t("{name} is typing…", { name });
  const editing = chat.editing !== null;
  $("composer").dataset.editing = String(editing);
  $("composer-send").textContent = editing ? t("Save") : t("Send");
  if (editing) $("composer-label").textContent = t("Edit your message");
}

function renderTopbar(chat) {
  const connection = $("connection");
  const labels = {
    offline: t("Not connected"),
    connecting: t("Connecting…"),
    online: t("Online"),
    reconnecting: t("Reconnecting…"),
  };
  const unavailable = chat.status === "online" ? unavailableFor(chat) : null;
  if (unavailable !== null) labels.online += " · " + t("the server is unavailable (it cannot store messages now)");
  const status = chat.status !== "online" && chat.notice
    ? t("{status} — {reason}", { status: labels[chat.status], reason: chat.notice }) : labels[chat.status];
  if (connection.dataset.status !== chat.status) connection.dataset.status = chat.status;
  const unavailableNow = String(unavailable !== null);
  if (connection.dataset.unavailable !== unavailableNow) connection.dataset.unavailable = unavailableNow;
  // Written only when it changes: it is a role=status region, and screen readers say it
  // again whenever its text is replaced, even by the same words (every render).
  if (connection.dataset.words !== status) {
    connection.dataset.words = status;
    showText(connection, status);
    connection.title = plainText(status);  // whole, where the pill is cut short (style.css)
  }
  // What changes at every try (the attempt number) or every second (the wait before our
  // messages are written again: see the interval in start()) is shown beside the region,
  // not in it, so that only a new state is said.
  const detail = $("connection-detail");
  let words = "";
  if (chat.status === "reconnecting" && shell.attempts > 1) words = t("attempt {n}", { n: shell.attempts });
  else if (unavailable !== null) {
    words = unavailable > 0 ? t("trying again in {delay}", { delay: formatDelay(unavailable) }) : t("trying again now");
  }
  if (detail.hidden !== !words) detail.hidden = !words;
  if (detail.textContent !== words) detail.textContent = words;
  $("me").textContent = chat.me || "";
  $("read-receipts").checked = chat.readReceipts;
  $("read-receipts").parentElement.title = chat.readReceipts
    ? t("Read receipts and typing: on, you send and see them")
    : t("Read receipts and typing: off, you neither send nor see them");
  const unread = totalUnread(chat);
  document.title = unread ? `(${unread}) ${t("Chat")}` : t("Chat");
  const badge = $("toggle-unread");
  badge.hidden = unread === 0;
  badge.textContent = String(unread);
  $("contacts-toggle").setAttribute("aria-label", unread ? tn("Contacts, {n} unread", "Contacts, {n} unread", unread) : t("Contacts"));
}

/** The "Change password" button (an account's, online) and its dialog's answer. */
function renderPassword(chat) {
  $("change-password").hidden = !(chat.registered && chat.status === "online");
  const dialog = $("password-dialog");
  const change = chat.passwordChange;
  $("password-submit").disabled = Boolean(change && change.state === "sending");
  if (!change || change.state === "sending") return;
  chat.passwordChange = null;
  if (change.state === "done") {
    if (dialog.open) dialog.close();  // the confirmation is a notice (passwordChanged)
    return;
  }
  showText($("password-error"), change.words());
  // The field to fix, typed again: the current password, or a new one the server refused.
  const which = i18n.passwordFields[change.code];
  const field = which === "old" ? $("password-old") : which === "new" ? $("password-new") : null;
  if (field && dialog.open) {
    field.focus();
    field.select();
  }
}

/** The dialog's form sent: the new password typed twice alike is checked here; the rest
 * (its length: weak_password) by the server, whose refusal the dialog says. */
function submitPassword(event) {
  event.preventDefault();
  const old = $("password-old").value;
  const password = $("password-new").value;
  const problem = password !== $("password-again").value ? t("The two new passwords differ.") : "";
  if (problem || !shell.socket) {
    $("password-error").textContent = problem || t("Not connected");
    return;
  }
  $("password-error").textContent = "";
  sendFrame(passwordFrame(shell.chat, old, password, accountCredential(shell.chat.me)));
  render(shell.chat);
}

/** The "Delete account" button (an account's, online) and its dialog's answer; the dialog
 * closes once the session is over (deleted: the login form says so). */
function renderUnregister(chat) {
  const online = chat.registered && chat.status === "online";
  $("delete-account").hidden = !online;
  const dialog = $("unregister-dialog");
  const state = chat.unregistering;
  $("unregister-submit").disabled = Boolean(state && state.state === "sending");
  if (state && state.state === "failed") {
    chat.unregistering = null;
    showText($("unregister-error"), state.words());
    if (dialog.open) $("unregister-password").select();
  } else if ((!online || (state && state.state === "done")) && dialog.open) {
    dialog.close();
  }
}

function submitUnregister(event) {
  event.preventDefault();
  const password = $("unregister-password").value;
  if (!password || !shell.socket) {
    $("unregister-error").textContent = password ? t("Not connected") : t("Type your password to confirm");
    return;
  }
  $("unregister-error").textContent = "";
  sendFrame(unregisterFrame(shell.chat, password));
  render(shell.chat);
}

function openUnregisterDialog() {
  $("unregister-password").value = "";
  $("unregister-error").textContent = "";
  $("unregister-dialog").showModal();
  $("unregister-password").focus();
}

function openPasswordDialog() {
  for (const id of ["password-old", "password-new", "password-again", "password-error"]) {
    const node = $(id);
    if ("value" in node && node.tagName === "INPUT") node.value = ""; else node.textContent = "";
  }
  $("password-dialog").showModal();
  $("password-old").focus();
}

/** A row of the contact list; ``detail`` (a room's topic or size) replaces its presence. */
function contactButton(chat, key, name, online, unread, detail) {
  const button = el("button", "contact");
  button.type = "button";
  button.dataset.key = key;
  if (key === chat.active) button.setAttribute("aria-current", "true");
  const dot = el("span", key === ROOM || isRoomKey(key) ? "avatar room" : "avatar");
  dot.textContent = key === ROOM || isRoomKey(key) ? "#" : (characters(name)[0] || "").toUpperCase();
  dot.setAttribute("aria-hidden", "true");
  if (key !== ROOM && !isRoomKey(key)) dot.dataset.online = String(online);
  const label = el("span", "contact-label");
  label.append(theirs(el("span", "contact-name", name)));
  const presence = detail || (key === ROOM ? t("Broadcast room") : (online ? t("online") : t("offline")));
  const presenceNode = el("span", "contact-presence", presence);
  label.append(detail ? theirs(presenceNode) : presenceNode);
  button.append(dot, label);
  if (unread) button.append(el("span", "badge", String(unread)));
  if (isBlocked(chat, key)) button.classList.add("blocked");
  // A screen reader hears what is shown, in the page's language.
  const parts = [name, presence];
  if (unread) parts.push(tn("{n} unread", "{n} unread", unread));
  button.setAttribute("aria-label", parts.join(", "));
  const item = el("li");
  item.append(button);
  return item;
}

function renderContacts(chat) {
  const list = $("contact-list");
  const focusedKey = list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  const room = chat.conversations.get(ROOM);
  const rows = [[ROOM, t("Everyone"), true, room ? room.unread : 0]];
  rows.push(...roomButtons(chat));
  const live = chat.status === "online";  // while disconnected nobody is known to be online
  for (const entry of sortedContacts(chat)) {
    const convo = chat.conversations.get(entry.key);
    const online = live && isOnline(chat, entry);
    const presence = online ? t("online") : t("offline");
    rows.push([entry.key, entry.name, online, convo ? convo.unread : 0,
      isBlocked(chat, entry.key) ? t("{presence} · blocked", { presence }) : null]);
  }
  // Built again only when a row changed: every frame of a busy room would, for nothing.
  const shown = JSON.stringify([i18n.language, chat.active, rows, rows.map(([key]) => isBlocked(chat, key))]);
  if (shown === view.contactsShown) return;
  view.contactsShown = shown;
  list.replaceChildren(...rows.map((row) => contactButton(chat, ...row)));
  if (focusedKey) {
    const again = list.querySelector(`button[data-key="${CSS.escape(focusedKey)}"]`);
    if (again) again.focus();
  }
}

function renderConversation(chat) {
  const key = chat.active;
  renderRoomTools(chat);
  renderBlockButton(chat, key);
  if (isRoomKey(key)) renderRoomHeader(chat, key);
  const convo = conversation(chat, key, key === ROOM ? null : (chat.users.get(key) || {}).name);
  const found = key === ROOM ? null : chat.users.get(key);
  const peer = found && chat.status === "online" ? found : null;
  if (!isRoomKey(key)) {
  $("conversation-title").textContent = key === ROOM ? t("Everyone") : convo.name;
  const presence = isOnline(chat, peer) ? sentence(t("online")) : sentence(t("offline"));
  // The registry's entry (the answer to the whois openConversation sent), while online.
  const where = key !== ROOM && isOnline(chat, peer) && peer.where ? peer.where : null;
  const host = where && where.address.includes(":") ? `[${where.address}]` : where && where.address;  // IPv6
  $("conversation-where").textContent = where
    ? t("{address} · online since {when}", { address: `${host}:${where.port}`, when: formatTime(where.since) }) : "";
  $("conversation-where").hidden = !where;
  $("conversation-presence").textContent = key === ROOM ? t("Messages here go to everyone online")
    : isBlocked(chat, key) ? t("{presence} · blocked: their messages do not reach you", { presence }) : presence;
  $("conversation-presence").dataset.online = String(isOnline(chat, peer));
  $("conversation-presence").dataset.blocked = String(isBlocked(chat, key));
  $("composer-label").textContent = key === ROOM ? t("Message to everyone") : t("Message to {name}", { name: convo.name });
  $("composer-input").placeholder = key === ROOM ? t("Message everyone…") : t("Message {name}…", { name: convo.name });
  }

  const list = $("messages");
  $("load-older").hidden = !(isRoomKey(key) && convo.older != null && convo.items.length < MAX_READING);
  const switched = view.shownKey !== key;
  const atBottom = switched || list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const oldHeight = list.scrollHeight, oldTop = list.scrollTop;
  const anchor = atBottom ? null : firstVisible(list);
  const items = convo.items;
  for (const item of items) updateItem(item);
  const added = showItems(list, switched ? [] : view.shownItems, items);
  showDayBreaks(list, items);
  view.shownKey = key;
  view.shownItems = items.slice();
  view.newBelow = atBottom ? 0 : view.newBelow + added.filter((item) => item.kind === "message" && item.dir === "in").length;
  if (atBottom) convo.readingOlder = false;  // back at the newest: the next post trims to MAX_ITEMS
  if (atBottom) list.scrollTop = list.scrollHeight;
  // Whatever came or went above, what the reader was reading stays where it was.
  else if (anchor && anchor.node.parentNode === list) {
    list.scrollTop += anchor.node.getBoundingClientRect().top - anchor.top;
  } else list.scrollTop = oldTop + (list.scrollHeight - oldHeight);
  renderNewBelow();
}

/** The first of ``list``'s rows on screen, and where its top is. */
function firstVisible(list) {
  const top = list.getBoundingClientRect().top;
  for (const node of list.children) {
    const box = node.getBoundingClientRect();
    if (box.bottom > top) return { node, top: box.top };
  }
  return null;
}

/** Make ``list`` show ``items`` where it showed ``shown``: when the change is some gone
 * from the top (MAX_ITEMS) and some added at the bottom, only those rows are touched (a
 * busy room's every post would otherwise put all its rows back). Returns those added
 * at the bottom (none when the list was rebuilt). */
function showItems(list, shown, items) {
  const start = items.length ? shown.indexOf(items[0]) : -1;
  const kept = start < 0 ? 0 : shown.length - start;
  const same = start >= 0 && kept <= items.length && items.slice(0, kept).every((item, index) => shown[start + index] === item);
  if (!same) {
    list.replaceChildren(...items.map((item) => view.elements.get(item)));
    return [];
  }
  for (const item of shown.slice(0, start)) view.elements.get(item).remove();
  const added = items.slice(kept);
  if (added.length) list.append(...added.map((item) => view.elements.get(item)));
  return added;
}

/** "N new messages" under the list, while the reader is scrolled up and new ones came. */
function renderNewBelow() {
  const button = $("new-messages");
  button.hidden = view.newBelow === 0;
  if (view.newBelow) button.textContent = tn("{n} new message", "{n} new messages", view.newBelow);
}

/** The reader is back at the bottom (scrolled, or the button): nothing new below. */
function readToBottom(list) {
  if (list.scrollHeight - list.scrollTop - list.clientHeight >= 60 || !view.newBelow) return;
  view.newBelow = 0;
  renderNewBelow();
}

/** The header's Block / Unblock button: a person's conversation, once the server said whom
 * the user blocks; it waits (disabled) while a request of theirs is on its way. */
function renderBlockButton(chat, key) {
  const button = $("block-toggle");
  button.hidden = key === ROOM || isRoomKey(key) || chat.blocked === null || isMe(chat, (chat.users.get(key) || {}).name);
  button.textContent = isBlocked(chat, key) ? t("Unblock") : t("Block");
  button.disabled = !mayBlock(chat, key);
  button.classList.toggle("unblock", isBlocked(chat, key));
}


/* ----- Rooms in the page ------------------------------------------------------------- */

/** The joined rooms' rows of the contact list (after "Everyone"), as contactButton's arguments. */
function roomButtons(chat) {
  const rows = [];
  const rooms = [...chat.rooms.entries()].sort((a, b) => compareNames(a[1].name, b[1].name));
  for (const [key, room] of rooms) {
    const convo = chat.conversations.get(key);
    rows.push([key, room.name, true, convo ? convo.unread : 0,
      room.topic || tn("{n} member", "{n} members", room.count, { n: room.count })]);
  }
  return rows;
}

function renderRoomHeader(chat, key) {
  const room = chat.rooms.get(key);
  const name = roomName(chat, key);
  $("conversation-title").textContent = name;
  let count = room ? tn("{n} member", "{n} members", room.count, { n: room.count }) : t("You are not in this room");
  if (room && room.inviteOnly) count = `${t("invite only")} · ${count}`;
  if (room && room.topic) $("conversation-presence").replaceChildren(bdi(room.topic), ` · ${count}`);
  else $("conversation-presence").textContent = count;
  $("conversation-presence").dataset.online = "true";
  $("conversation-presence").dataset.blocked = "false";
  $("composer-label").textContent = t("Message to everyone in {room}", { room: name });
  $("composer-input").placeholder = t("Message {room}…", { room: name });
}

/** The public rooms (join by a click), the join box, and for an open room its tools: the
 * member list, with the moderation acts for those who may, the topic and Leave. */
function renderRoomTools(chat) {
  const rooms = chat.version >= 2;
  $("rooms-box").hidden = !rooms;
  const list = $("room-list");
  list.replaceChildren(...chat.roomList.filter((entry) => !chat.rooms.has(roomKey(entry.room)) && entry.room.toLowerCase() !== "#lobby").map((entry) => {
    const button = el("button", "room-entry");
    button.type = "button";
    button.dataset.room = entry.room;
    button.append(bdi(entry.room), ` (${entry.count | 0})`);
    if (entry.topic) button.append(" — ", bdi(entry.topic));
    const item = el("li");
    item.append(button);
    return item;
  }));
  $("rooms-heading").hidden = list.children.length === 0;
  const key = chat.active;
  const room = isRoomKey(key) ? chat.rooms.get(key) : null;
  $("room-tools").hidden = !room;
  if (!room) return;
  const moderator = mayModerate(chat, key);
  $("room-topic").hidden = !moderator;
  $("room-invite").hidden = !moderator;
  $("room-mode-label").hidden = !mayChangeMode(chat, key);
  $("room-mode").checked = room.inviteOnly === true;
  const members = $("member-list");
  $("member-count").textContent = String(room.members ? room.members.length : room.count);
  // Built again only when it changed: every frame of a busy room would, for nothing.
  const shown = JSON.stringify([i18n.language, key, moderator, chat.me,
    (room.members || []).map((member) => [member.name, member.role, member.online])]);
  if (shown === view.membersShown) return;
  view.membersShown = shown;
  // In the contact list's order: the server pages them by code point (Érica after Vitória).
  const inOrder = [...(room.members || [])].sort((a, b) => compareNames(a.name, b.name));
  members.replaceChildren(...inOrder.map((member) => {
    const item = el("li", member.online ? "member" : "member member-offline");
    item.dataset.name = member.name;
    const role = member.role !== "member" && ROLES[member.role] ? ` (${t(ROLES[member.role])})` : "";  // i18n: listed in ROLES
    const nameNode = el("span", "member-name");
    nameNode.append(bdi(member.name), role);
    item.append(nameNode);
    if (moderator && !isMe(chat, member.name) && member.role !== "owner") {
      for (const [act, fields, label] of ROOM_ACTS) {
        const button = el("button", "member-act", t(label));  // i18n: listed in ROOM_ACTS
        button.type = "button";
        button.dataset.act = act;
        button.dataset.fields = JSON.stringify(fields);
        item.append(button);
      }
    }
    return item;
  }));
}

function onJoinRoom(event) {
  event.preventDefault();
  const input = $("join-room-name");
  const frame = joinRoomFrame(shell.chat, input.value);
  if (!frame) {
    input.setAttribute("aria-invalid", "true");
    announce([t("\"{name}\" is not a valid room name.", { name: input.value })]);
    return;
  }
  input.removeAttribute("aria-invalid");
  input.value = "";
  sendFrame(frame);
}

function onRoomToolClick(event) {
  const chat = shell.chat;
  const key = chat.active;
  const button = event.target.closest("button");
  if (!button || !isRoomKey(key)) return;
  let frame = null;
  if (button.id === "room-leave") frame = leaveRoomFrame(chat, key);
  if (button.id === "room-topic") {
    const room = chat.rooms.get(key);
    const topic = window.prompt(t("The topic of {room}:", { room: roomName(chat, key) }), room ? room.topic : "");
    if (topic !== null) frame = topicFrame(chat, key, topic);
  }
  if (button.id === "room-invite") {
    const name = window.prompt(t("Who may join {room}?", { room: roomName(chat, key) }), "");
    if (name && validName(name.trim())) frame = roomActFrame(chat, key, "invite", name.trim());
  }
  if (button.dataset.act) {
    const name = button.closest("li").dataset.name;
    frame = roomActFrame(chat, key, button.dataset.act, name, JSON.parse(button.dataset.fields || "{}"));
  }
  if (frame) sendFrame(frame);
}

/** Create the element of ``item`` once, then bring its delivery state up to date. */
function updateItem(item) {
  let node = view.elements.get(item);
  if (!node) {
    node = item.kind === "notice" ? noticeElement(item) : messageElement(item);
    view.elements.set(item, node);
  }
  if (item.kind === "notice" && item.words && item.lang !== i18n.language) {  // said again after a switch
    item.lang = i18n.language;
    item.text = item.words();
    showText(node.querySelector(".notice-text"), item.text);
  }
  const time = node.querySelector(".msg-time");  // after a language switch: its way of telling time
  if (time && node.dataset.timeLang !== i18n.language) {
    node.dataset.timeLang = i18n.language;
    time.textContent = formatClock(item.at);
  }
  if (item.kind === "message" && node.dataset.wordsLang !== i18n.language) {  // drawn, or drawn before a switch
    node.dataset.wordsLang = i18n.language;
    if (item.dir === "out") node.querySelector(".msg-sender").textContent = t("You");
    node.querySelector(".msg-edited").textContent = t("edited");
    for (const edit of node.querySelectorAll(".msg-edit")) edit.textContent = t("Edit");
    for (const remove of node.querySelectorAll(".msg-delete")) remove.textContent = t("Delete");
    node.dataset.rev = "-";  // a deleted message's words again, below
  }
  if (item.kind === "message" && node.dataset.rev !== String(item.rev || 0)) {
    node.dataset.rev = String(item.rev || 0);
    const gone = item.deletedBy ? t("This message was deleted by {name}", { name: item.deletedBy })
      : t("This message was deleted");
    node.querySelector(".msg-text").replaceWith(item.deleted ? el("p", "msg-text msg-deleted", gone)
      : messageText(item.text));
    node.dataset.edited = String(Boolean(item.edited && !item.deleted));
    node.dataset.deleted = String(Boolean(item.deleted));
    node.dataset.read = String(Boolean(item.read));
    node.querySelector(".msg-edited").hidden = !(item.edited && !item.deleted);
    node.dataset.lang = "";  // the status line again (read)
  }
  if (item.kind === "message" && item.dir === "in" && item.room) {  // a moderator deletes others' posts
    const moderate = node.querySelector(".msg-actions");
    if (moderate) moderate.hidden = !moderatorMayDelete(shell.chat, item);
  }
  const labelled = `${item.rev || 0} ${i18n.language}`;
  if (node.dataset.labelled !== labelled && node.querySelector(".msg-actions")) {
    node.dataset.labelled = labelled;
    labelActions(node, item);
  }
  if (item.kind !== "message" || item.dir !== "out") return;
  const actions = node.querySelector(".msg-actions");
  if (actions) actions.hidden = !changeable(shell.chat, item);
  if (node.dataset.state === item.state && node.dataset.error === item.error
      && node.dataset.lang === i18n.language && node.dataset.readBy === String(item.readBy || 0)) return;
  node.dataset.readBy = String(item.readBy || 0);
  node.dataset.lang = i18n.language;
  node.dataset.state = item.state;
  node.dataset.error = item.error || "";
  if (item.msgId != null) node.dataset.msgId = String(item.msgId);
  const status = node.querySelector(".msg-status");
  const words = item.state === "failed" ? FAILED_LABELS[failedOutcome(item)] : STATE_LABELS[item.state];
  let label = words ? t(words) : item.state;  // i18n: listed below STATE_LABELS
  if (item.to === null && item.state === "queued") label = t("Queued");
  if (item.read && item.state === "delivered") label = t("Read");
  if (item.readBy && !item.error) label = `${label} · ${t("Read by {n}", { n: item.readBy })}`;  // a small room
  node.dataset.read = String(Boolean(item.read));
  const why = failureWords(item);
  showText(status, why ? `${label}: ${why}` : label);
}

/** What became of our failed message ``item`` (client/display.py's failed_outcome): "unconfirmed"
 * (the server cannot tell whether it took it), "expired" (it took it, a message to someone, and
 * it expired unconfirmed; one from a history page has its msg_id and no code), or "refused"
 * (refused at once or given up before the server took it: nothing reached anyone). */
function failedOutcome(item) {
  if (item.errorCode === "unconfirmed") return "unconfirmed";
  return item.errorCode === "expired" || (!item.errorCode && item.to !== null && item.msgId != null)
    ? "expired" : "refused";
}

/** Why our message ``item`` failed, in the page's language (empty: it did not). */
function failureWords(item) {
  const refusal = item.refusal || {};
  const left = typeof refusal.retryAt === "number" ? Math.max(0, refusal.retryAt - monotonicSeconds()) : null;
  return item.error && item.errorCode
    ? explainError(item.errorCode, item.error, item.to || item.room, left, null, refusal.room, refusal.reason,
      false, refusal.attempts, refusal.triedFor, null, item.waited, item.waitedSaid)
    : item.error;
}

/** Edit's and Delete's names for a screen reader, with the message they act on (every
 * message has them: "Edit" alone does not say which); each starts with its visible word. */
function labelActions(node, item) {
  const text = item.deleted || typeof item.text !== "string" ? ""
    : shortened(item.text, 40);
  const edit = node.querySelector(".msg-edit");
  const remove = node.querySelector(".msg-delete");
  if (edit) edit.setAttribute("aria-label", t("Edit the message “{text}”", { text }));
  if (remove) remove.setAttribute("aria-label", t("Delete the message “{text}”", { text }));
}

function messageElement(item) {
  const node = el("li", `msg msg-${item.dir}`);
  if (item.msgId != null) node.dataset.msgId = String(item.msgId);
  if (item.requestId) node.dataset.requestId = item.requestId;
  const meta = el("p", "msg-meta");
  meta.append(theirs(el("span", "msg-sender", item.dir === "out" ? "" : item.sender)));  // "You": updateItem
  const time = el("time", "msg-time", formatClock(item.at));
  if (typeof item.at === "number") time.dateTime = new Date(item.at * 1000).toISOString();
  meta.append(time);
  const edited = el("span", "msg-edited");
  edited.hidden = true;
  meta.append(edited);
  node.dataset.localId = String(item.localId);
  node.dataset.rev = "-";  // updateItem fills the text, with the edited and deleted marks
  node.dataset.wordsLang = "-";  // and the page's words (updateItem: again after a language switch)
  node.append(meta, el("p", "msg-text"));
  if (item.dir === "out") {
    const status = el("p", "msg-status");
    status.setAttribute("aria-live", "polite");
    node.append(status);
    // Edit and Delete, shown while changeable(): a direct message, a room post, one to "Everyone".
    const actions = el("p", "msg-actions");
    const edit = el("button", "msg-edit");
    edit.type = "button";
    const remove = el("button", "msg-delete");
    remove.type = "button";
    actions.append(edit, remove);
    actions.hidden = true;
    node.append(actions);
  } else if (item.room) {  // another member's room post: Delete, for its moderators
    const actions = el("p", "msg-actions");
    const remove = el("button", "msg-delete");
    remove.type = "button";
    actions.append(remove);
    actions.hidden = true;
    node.append(actions);
  }
  return node;
}

// Candidates for links: http(s):// and what follows up to a space or a character that
// cannot be in a URL unescaped. Only these schemes are ever linked (never javascript:).
const LINK_PATTERN = /\bhttps?:\/\/[^\s<>"'`{}|\\^]+/gi;
// Punctuation that ends a sentence rather than the link ("see https://x.org/a.").
const LINK_TRAILER = /[.,;:!?)\]}'"]+$/;

/**
 * The text of a message as a <p>, its http and https links clickable. Built from text
 * nodes and <a> elements (never HTML), each link checked with the URL parser and opened
 * in a new tab that cannot reach back to this page (rel="noopener noreferrer").
 */
function messageText(text) {
  const node = theirs(el("p", "msg-text"));
  let last = 0;
  for (const match of text.matchAll(LINK_PATTERN)) {
    let href = match[0];
    const trailer = href.match(LINK_TRAILER);
    if (trailer && !(trailer[0].startsWith(")") && href.includes("("))) href = href.slice(0, -trailer[0].length);
    let url = null;
    try {
      url = new URL(href);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) continue;
    if (match.index > last) node.append(document.createTextNode(text.slice(last, match.index)));
    const link = el("a", "msg-link", href);
    link.href = url.href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    node.append(link);
    last = match.index + href.length;
  }
  if (last < text.length) node.append(document.createTextNode(text.slice(last)));
  return node;
}

function noticeElement(item) {
  const node = el("li", item.isError ? "notice notice-error" : "notice");
  const text = el("span", "notice-text");
  showText(text, item.text);
  node.append(text);
  node.append(el("time", "msg-time", formatClock(item.at)));
  return node;
}

function announce(texts) {
  if (!texts.length) return;
  const text = texts.map((t) => shortened(t, 160, 157)).join(". ");
  showText($("announcer"), text);
}

function showView(name) {
  document.body.dataset.view = name;
  $("login-view").hidden = name !== "login";
  $("chat-view").hidden = name !== "chat";
}

/** When the contact list is a drawer over the conversation: style.css's phone layout. */
const DRAWER = window.matchMedia("(max-width: 720px)");

function setContactsOpen(open) {
  document.body.classList.toggle("contacts-open", open);
  $("contacts-toggle").setAttribute("aria-expanded", String(open));
  // What the open drawer covers is out of reach, so Tab and a screen reader stay in the
  // drawer and the top bar instead of walking through hidden controls behind it.
  document.querySelector(".conversation").inert = open && DRAWER.matches;
}

/* ===================================================================================== */
/* 3. Shell: the socket, logging in, reconnecting, page events                            */
/* ===================================================================================== */

const RECONNECT_FIRST = 0.5;   // seconds before the first reconnection attempt
const RECONNECT_MAX = 20;      // the longest wait between attempts
const SHOW_AT_LATEST = 0.1;    // seconds from a frame to its taking when no animation frame comes

const shell = {
  chat: createChat(),
  socket: null,
  credentials: null,          // {name, password, register} of the current login
  wantOnline: false,          // false after logging out or a refused login
  attempts: 0,
  retryFloor: 0,              // seconds the next attempt waits at least (a refusal's retry_after)
  timer: null,
  resendTimer: null,          // the end of the hold on our sends (holdDue)
  aliveTimer: null,           // the next liveness() (livenessDue)
  readTimer: null,            // a read mark held back for its interval (sendReads)
  savedSession: null,         // what keepSession() last wrote
  savedPending: null,         // what keepPending() last wrote
  loginError: null,           // () => the login form's refusal, in the page's language (showLoginError)
  taken: { socket: null, receipts: [], announce: [], focus: null },  // to do once shown (takeFrame)
  waiting: [],                // [socket, frame, came] of frames to take at the next animation frame (frameCame)
  waitFrame: null,            // that animation frame
  waitTimer: null,            // ... or this timer, should none come
};

/** (Re)arm the timer that ends the hold on our sends (after "rate_limited"/"unavailable"). */
function scheduleResend() {
  clearTimeout(shell.resendTimer);
  const due = nextResend(shell.chat);
  if (due === null) return;
  shell.resendTimer = setTimeout(() => {
    holdDue(shell.chat, monotonicSeconds()).forEach(sendFrame);
    scheduleResend();
  }, Math.max(0, due - monotonicSeconds()) * 1000);
}

/** (Re)arm the timer of liveness(): ping a silent server, give up a dead connection (looked at
 * every WAKE_CHECK at least, so that a sleep is seen). */
function watchLiveness() {
  clearTimeout(shell.aliveTimer);
  const due = livenessDue(shell.chat);
  if (due === null) return;
  shell.aliveTimer = setTimeout(() => {
    const { send, lost } = liveness(shell.chat, monotonicSeconds());
    send.forEach(sendFrame);
    if (lost) giveUp();
    else watchLiveness();
  }, Math.min(WAKE_CHECK, Math.max(0, due - monotonicSeconds())) * 1000);
}

/** The current connection is dead though it never closed (liveness): drop it and go on as
 * when a connection closes. Its own close may take long (the closing handshake waits for
 * an answer that will not come), and anything it still brings is of a session already over. */
function giveUp() {
  const socket = shell.socket;
  shell.socket = null;
  if (socket) socket.close();
  connectionGone(shell.chat);
}

/** The current connection ended: reconnect (with resume), or, before the first login
 * succeeded, back to the form saying why. */
function connectionGone(chat) {
  shell.socket = null;
  connectionLost(chat);
  watchLiveness();  // nothing to watch: the timer stops
  if (shell.wantOnline && chat.welcomedOnce) {
    scheduleReconnect();
  } else if (shell.wantOnline) {
    loginFailed(() => chat.notice || t("Could not reach the chat server."));
  }
  render(shell.chat);  // after a failed login, the new logged-out chat, not this one
}

function socketUrl() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function sendFrame(frame) {
  if (shell.socket && shell.socket.readyState === WebSocket.OPEN) {
    shell.socket.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

/** What the login form says when the page was opened from the disk (file://), as one
 * original assignment's page was: it talks to the server that serves it, and there is none. */
function openedAsAFile() {
  return t("This page was opened as a file, so it has no chat server to talk to: open the address the server prints instead (“web client on http://…”)");
}

function connect() {
  if (location.protocol === "file:") {
    loginFailed(openedAsAFile);
    return;
  }
  clearTimeout(shell.timer);
  shell.timer = null;
  const chat = shell.chat;
  chat.status = chat.welcomedOnce ? "reconnecting" : "connecting";
  render(chat);
  let socket;
  try {
    socket = new WebSocket(socketUrl());
  } catch (error) {
    loginFailed(() => t("Cannot connect: {why}", { why: error.message }));
    return;
  }
  shell.socket = socket;
  connectionMade(chat, monotonicSeconds());
  watchLiveness();
  socket.addEventListener("open", () => {
    if (socket !== shell.socket) return;
    const { name, password, register } = shell.credentials;
    // An account's resume credential (kept after a password login) stands in for the
    // password; else a guest's token.
    const resume = (!password && accountCredential(name)) || guestToken(name, password);
    sendFrame(helloFrame(chat, name, password, register, resume));
  });
  socket.addEventListener("message", (event) => {
    if (socket !== shell.socket || typeof event.data !== "string") return;
    const came = monotonicSeconds();
    if (silentTooLong(chat, came)) {  // the page slept past the deadline: this is too late
      giveUp();
      return;
    }
    let frame;
    try {
      frame = JSON.parse(event.data, (_key, value) => (typeof value === "string" ? visibleControls(value) : value));
    } catch {
      return;
    }
    if (frame && typeof frame === "object" && !Array.isArray(frame)) frameCame(socket, frame, came);
  });
  socket.addEventListener("close", () => {
    takeWaiting();  // what it brought before it closed (a bye's reason) comes first
    if (socket === shell.socket) connectionGone(chat);
  });
}

/** One frame from the server, taken and shown at once (showTaken): as the tests call it. */
function onFrame(frame, came = monotonicSeconds()) {
  if (takeFrame(frame, came)) showTaken();
}

/** A frame from ``socket``. In a hidden tab (whose timers may wait a minute) taken and
 * shown at once, as onFrame does; else with those that come before the next animation
 * frame, all taken then and drawn once: a flood is drawn once per frame, not once per
 * frame of it, and what the page knows is what it shows. */
function frameCame(socket, frame, came) {
  if (document.visibilityState !== "visible") {
    takeWaiting();  // those that came before it, first
    if (socket === shell.socket) onFrame(frame, came);
    return;
  }
  shell.waiting.push([socket, frame, came]);
  if (shell.waiting.length > 1) return;
  shell.waitFrame = requestAnimationFrame(takeWaiting);
  shell.waitTimer = setTimeout(takeWaiting, SHOW_AT_LATEST * 1000);  // no frame drawn: hidden meanwhile
}

/** Take the frames waiting (frameCame), those of the current connection, and show them. */
function takeWaiting() {
  cancelAnimationFrame(shell.waitFrame);
  clearTimeout(shell.waitTimer);
  const waiting = shell.waiting;
  if (!waiting.length) return;
  shell.waiting = [];
  for (const [socket, frame, came] of waiting) {
    if (socket === shell.socket && !takeFrame(frame, came)) return;  // refused: loginFailed drew the form
  }
  showTaken();
}

/** Apply one frame from the server (receiveFrame) and send what it asks for now; what is
 * to be done once the page shows it waits in shell.taken for showTaken(). False when the
 * login was refused (loginFailed drew the logged-out page). */
function takeFrame(frame, came) {
  const chat = shell.chat;
  const out = receiveFrame(chat, frame, came);
  watchLiveness();  // heard from the server (and a welcome says how often to ping)
  // A guest's token (kept per name, in localStorage), or an account's credential (this tab's).
  if (out.resume && frame.registered === true) {
    keepAccountCredential(chat.me, out.resume);
    // From now on the credential logs in (reconnections too): the page forgets the password.
    shell.credentials = { name: chat.me, password: "", register: false };
  } else if (out.resume) {
    keepResume(chat.me, out.resume);
  }
  out.send.forEach(sendFrame);
  if (frame.type === "error" || frame.type === "welcome") scheduleResend();
  watchFrames(chat).forEach(sendFrame);  // new conversations (a dm), or all after a welcome
  if (out.login === "ok") {
    shell.attempts = 0;
    const firstTime = document.body.dataset.view !== "chat";
    showView("chat");
    remember(chat.me);
    keepSession(chat);
    if (firstTime) $("composer-input").focus();
  } else if (out.login === "fallback") {
    const old = shell.socket;
    shell.socket = null;  // its close is not a lost connection: a new one logs in at once
    if (old) old.close();
    connect();
  } else if (out.login === "retry") {
    shell.retryFloor = out.retryAfter || 0;
    shell.socket.close();   // the close handler schedules the next attempt
  } else if (out.login === "wait") {
    const old = shell.socket;
    shell.socket = null;  // its close is not a failed login: a new one logs in after the wait
    if (old) old.close();
    clearTimeout(shell.timer);
    shell.timer = setTimeout(connect, out.retryAfter * 1000);
  } else if (out.login) {
    // Refused: loginFailed() drew the new, logged-out chat; drawing this one again would
    // leave "Connecting…" in the header over the form.
    loginFailed(out.login.words || out.login.message, out.login.code);
    return false;
  }
  const taken = shell.taken;
  if (taken.socket !== shell.socket) Object.assign(taken, { socket: shell.socket, receipts: [] });
  taken.receipts.push(...out.receipts);
  if (out.announce.length) taken.announce = out.announce;  // as when each was said: the last
  if (out.focus) taken.focus = out.focus;
  return true;
}

/** Show the frames taken (takeFrame): keep the session, draw, then confirm what is shown. */
function showTaken() {
  const chat = shell.chat;
  const taken = shell.taken;
  shell.taken = { socket: shell.socket, receipts: [], announce: [], focus: null };
  if (chat.status === "online") keepSession(chat);  // new conversations outlive a reload
  keepPending(chat);  // and messages not taken yet
  render(chat);
  if (taken.focus === "composer") {  // a room joined: the drawer closes, as when a contact is picked
    setContactsOpen(false);
    $("composer-input").focus();
  }
  // The page now shows the new messages: confirm them (on the connection that brought them).
  if (taken.socket === shell.socket) taken.receipts.forEach(sendFrame);
  sendReads(chat);
  announce(taken.announce);
}

/** Send the read marks due (readFrames), and ask again when one is held back for later. */
function sendReads(chat) {
  readFrames(chat, pageFocused()).forEach(sendFrame);
  clearTimeout(shell.readTimer);
  shell.readTimer = null;
  if (chat.readDueAt == null) return;
  shell.readTimer = setTimeout(() => {
    shell.readTimer = null;
    if (shell.chat === chat) sendReads(chat);
  }, Math.max(0, (chat.readDueAt - monotonicSeconds()) * 1000));
}

/** The page is what the user looks at: the read receipts' "seen". */
function pageFocused() {
  return document.visibilityState === "visible" && document.hasFocus();
}

/** The item of our message whose Edit or Delete button was clicked. */
function onMessageAction(event) {
  const button = event.target.closest("button.msg-edit, button.msg-delete");
  if (!button) return;
  const chat = shell.chat;
  const node = button.closest("li.msg");
  const convo = chat.conversations.get(chat.active);
  const item = convo && convo.items.find((each) => String(each.localId) === node.dataset.localId);
  if (!item) return;
  if (button.classList.contains("msg-delete") && moderatorMayDelete(chat, item)) {
    sendFrame(changeFrame(chat, chat.active, item, null));
    return;
  }
  if (!changeable(chat, item)) return;
  if (button.classList.contains("msg-delete")) {
    sendFrame(changeFrame(chat, chat.active, item, null));
    return;
  }
  chat.editing = item;
  const input = $("composer-input");
  input.value = item.text;
  fitComposer();
  render(chat);
  input.focus();
}

function scheduleReconnect() {
  shell.attempts += 1;
  const base = Math.min(RECONNECT_MAX, RECONNECT_FIRST * 2 ** (shell.attempts - 1));
  // jitter: not everyone at once; and no sooner than a refused reconnection's retry_after
  const delay = Math.max(shell.retryFloor || 0, base * (0.75 + Math.random() * 0.5));
  shell.retryFloor = 0;
  // On monotonicSeconds(), a WAKE_CHECK at most at a time: a timer runs on performance.now(),
  // which stands still while the computer sleeps, and a wait begun before the lid closed
  // was waited out after waking. shell.timer is always the pending one (connect clears it).
  const until = monotonicSeconds() + delay;
  const tick = () => {
    const left = until - monotonicSeconds();
    if (left <= 0) connect();
    else shell.timer = setTimeout(tick, Math.min(left, WAKE_CHECK) * 1000);
  };
  clearTimeout(shell.timer);
  shell.timer = setTimeout(tick, Math.min(delay, WAKE_CHECK) * 1000);
}

/** The login form's refusal: ``words`` (a function: said again after a language switch,
 * in the new language), or none (null). */
function showLoginError(words) {
  shell.loginError = words;
  showText($("login-error"), words ? sentence(words()) : "");
}

/** The login was refused (``code``) or the server is out of reach: the form again, saying
 * why (``words``: a text, or a function that says it in the page's language). */
function loginFailed(words, code) {
  shell.wantOnline = false;
  // Refused (not merely unreachable): what this tab kept does not log in any more.
  if (code) forgetSession();
  if ((code === "auth_required" || SIGNED_OUT.includes(code)) && shell.credentials) {
    forgetAccountCredential(shell.credentials.name);  // it stopped working (PROTOCOL.md, "password")
  }
  if (SIGNED_OUT.includes(code)) $("login-password").value = "";  // the old one no longer logs in
  const socket = shell.socket;
  shell.socket = null;
  if (socket) socket.close();
  shell.chat = createChat();
  showView("login");
  $("login-submit").disabled = false;
  showLoginError(typeof words === "function" ? words : () => words);
  // The field the refusal is about: client.core.LOGIN_OUTCOMES, exported with the wording.
  (i18n.loginFields[code] === "password" || SIGNED_OUT.includes(code) ? $("login-password")
    : $("login-name")).focus();
  render(shell.chat);
}

function logIn(name, password, register) {
  shell.chat = createChat();
  shell.savedPending = null;
  restorePending(shell.chat, name);  // what a reload left waiting: sent after the welcome
  shell.credentials = { name, password, register };
  shell.wantOnline = true;
  shell.attempts = 0;
  showLoginError(null);
  $("login-submit").disabled = true;
  connect();
}

function logOut() {
  shell.wantOnline = false;
  clearTimeout(shell.timer);
  // The account credential this tab kept stops working (PROTOCOL.md, "revoke"); the
  // server handles the frames in order, so the bye may follow at once.
  const credential = shell.chat.me && accountCredential(shell.chat.me);
  if (credential) sendFrame({ type: "revoke", id: shell.chat.nextId(), resume: credential });
  if (shell.chat.me) forgetAccountCredential(shell.chat.me);
  if (shell.chat.me) forgetPending(shell.chat.me);
  // A guest's token too: kept, it would make the next person to type this name on this
  // browser (a school's shared computer) that guest, with their messages and history
  // (docs/privacy.md). Closing the tab or reloading keeps it; "Log out" is leaving.
  if (shell.chat.me) forgetResume(shell.chat.me);
  forgetSession();
  sendFrame({ type: "bye", reason: "quit" });
  const socket = shell.socket;
  shell.socket = null;
  if (socket) socket.close(1000);
  shell.chat = createChat();
  shell.credentials = null;
  view.shownKey = null;
  showView("login");
  $("login-submit").disabled = false;
  $("login-password").value = "";
  render(shell.chat);
  $("login-name").focus();
}

/* Guest resume tokens, by name. localStorage belongs to this page's origin (the server),
 * so the key needs only the name; without storage they last as long as the page. */
const resumeTokens = new Map();

function resumeKey(name) {
  return `chat.resume.${nameKey(name)}`;
}

function loadResume(name) {
  try {
    const token = localStorage.getItem(resumeKey(name));
    if (token) return token;
  } catch {
    /* storage may be off: the copy in memory still serves reconnections */
  }
  return resumeTokens.get(nameKey(name)) || null;
}

/** The resume token a hello for ``name`` carries: the one kept, or, for a guest without
 * one, a new secret kept before the hello goes out, so that a retry after a lost welcome
 * proves it is the same guest (PROTOCOL.md, "Guest names"). */
function guestToken(name, password) {
  let token = loadResume(name);
  if (!token && !password) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    token = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    keepResume(name, token);
  }
  return token;
}

function forgetResume(name) {
  resumeTokens.delete(nameKey(name));
  try {
    localStorage.removeItem(resumeKey(name));
  } catch {
    /* nothing kept */
  }
}

function keepResume(name, token) {
  resumeTokens.set(nameKey(name), token);
  try {
    localStorage.setItem(resumeKey(name), token);
  } catch {
    /* storage may be off: reconnections use the copy in memory */
  }
}

/* Staying logged in across a reload. An account's resume credential (PROTOCOL.md,
 * "Accounts: the resume credential") and the session (who is logged in, the open
 * conversations) are kept in sessionStorage: they belong to this tab, survive its reloads,
 * and are gone when it is closed, so a shared computer does not hand the next person in
 * another tab or the next day a logged-in account; "Log out" revokes the credential on the
 * server too. A guest's token stays in localStorage, as before: it keeps the name theirs
 * until they press "Log out" (forgetResume). */
const SESSION_KEY = "chat.session";

function credentialKey(name) {
  return `chat.account.${nameKey(name)}`;
}

function accountCredential(name) {
  try {
    return sessionStorage.getItem(credentialKey(name));
  } catch {
    return null;  /* no storage: log in with the password after a reload */
  }
}

function keepAccountCredential(name, secret) {
  try {
    sessionStorage.setItem(credentialKey(name), secret);
  } catch {
    /* no storage: a reload asks for the password */
  }
}

function forgetAccountCredential(name) {
  try {
    sessionStorage.removeItem(credentialKey(name));
  } catch {
    /* nothing kept */
  }
}

/** Note who is logged in in this tab and the conversations open, for a reload. */
function keepSession(chat) {
  if (!chat.me || !shell.wantOnline) return;
  const names = [...chat.conversations.values()]
    .filter((convo) => convo.key !== ROOM && typeof convo.name === "string" && !isMe(chat, convo.name)
      && !(chat.users.get(convo.key) || {}).mistyped)
    .map((convo) => convo.name);
  const active = chat.active === ROOM ? null : (chat.conversations.get(chat.active) || {}).name || null;
  const saved = JSON.stringify({ name: chat.me, conversations: names, active });
  if (saved === shell.savedSession) return;  // written after every frame: only changes
  shell.savedSession = saved;
  try {
    sessionStorage.setItem(SESSION_KEY, saved);
  } catch {
    /* no storage: a reload shows the login form */
  }
}

/* Messages the server has not taken yet (typed while disconnected, or sent and not yet
 * answered) are kept in this tab's sessionStorage too, per user: a reload shows them again,
 * waiting, and the next welcome sends them with their ids, so the server takes each once
 * (PROTOCOL.md, "id"). Like the session, they belong to the tab: closing it forgets them. */
function pendingKey(name) {
  return `chat.pending.${nameKey(name)}`;
}

/** Note ``chat``'s messages not taken yet (only when that changed). */
function keepPending(chat) {
  if (!chat.me) return;
  const pending = [];
  for (const [id, request] of chat.requests) {
    const item = request.item;
    if (!item || !request.frame || !["waiting", "sending"].includes(item.state)) continue;
    pending.push({ id, kind: request.kind, key: request.key, frame: request.frame, at: item.at });
  }
  const saved = JSON.stringify(pending);
  if (saved === shell.savedPending) return;
  shell.savedPending = saved;
  try {
    if (pending.length) sessionStorage.setItem(pendingKey(chat.me), saved);
    else sessionStorage.removeItem(pendingKey(chat.me));
  } catch {
    /* no storage: they wait as long as the page */
  }
}

/** Before logging in as ``name``: the messages a reload left waiting, back in their
 * conversations as waiting, to be sent by the welcome. */
function restorePending(chat, name) {
  let pending = [];
  try {
    pending = JSON.parse(sessionStorage.getItem(pendingKey(name)) || "[]");
  } catch {
    return;  /* unreadable: nothing to restore */
  }
  if (!Array.isArray(pending)) return;
  for (const entry of pending) {
    const frame = entry && entry.frame;
    if (!frame || typeof entry.id !== "string" || frame.id !== entry.id || typeof frame.text !== "string"
        || chat.requests.has(entry.id)) continue;
    const kind = entry.kind;
    let key = ROOM;
    let label = null;
    if (kind === "send" && typeof frame.to === "string" && validName(frame.to)) {
      const peer = user(chat, frame.to);
      peer.known = true;
      key = peer.key;
      label = peer.name;
    } else if (kind === "post" && typeof frame.room === "string") {
      key = roomKey(frame.room);
      label = frame.room;
    } else if (kind !== "say") {
      continue;
    }
    const item = {
      kind: "message", dir: "out", sender: name, to: kind === "send" ? label : null, text: frame.text,
      at: typeof entry.at === "number" ? entry.at : nowSeconds(), state: "waiting", msgId: null,
      requestId: entry.id, error: "",
    };
    if (kind === "post") item.room = frame.room;
    addItem(chat, key, label, item);
    chat.requests.set(entry.id, { kind, item, key, frame });
  }
}

function forgetPending(name) {
  shell.savedPending = null;
  try {
    sessionStorage.removeItem(pendingKey(name));
  } catch {
    /* nothing kept */
  }
}

function forgetSession() {
  shell.savedSession = null;
  try {
    sessionStorage.removeItem(SESSION_KEY);
  } catch {
    /* nothing kept */
  }
}

/** The session this tab had before a reload, or null. */
function savedSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (saved && typeof saved.name === "string" && validName(saved.name)) return saved;
  } catch {
    /* unreadable: start afresh */
  }
  return null;
}

/** After a reload: log in again as the tab was (an account with its credential, a guest
 * with its token), with its conversations back; each one's history comes as it opens. */
function resumeSession(saved) {
  logIn(saved.name, "", false);
  const chat = shell.chat;
  for (const name of Array.isArray(saved.conversations) ? saved.conversations : []) {
    if (typeof name === "string") startConversation(chat, name);
  }
  if (typeof saved.active === "string") {
    const key = startConversation(chat, saved.active);
    if (key) chat.active = key;
  }
}

function remember(name) {
  try {
    localStorage.setItem("chat.name", name);
  } catch {
    /* storage may be off; remembering the name is only a convenience */
  }
}

function selectConversation(key) {
  shell.chat.editing = null;
  const frames = openConversation(shell.chat, key);
  frames.forEach(sendFrame);
  watchFrames(shell.chat).forEach(sendFrame);
  keepSession(shell.chat);
  setContactsOpen(false);
  render(shell.chat);
  sendReads(shell.chat);
  $("composer-input").focus();
}

function onSubmitMessage(event) {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value.trim();
  if (!text) return;
  const chat = shell.chat;
  const reconnecting = chat.status !== "online" && shell.wantOnline && chat.welcomedOnce;
  if (chat.status !== "online" && !reconnecting) {
    announce([t("Not connected: the message was not sent.")]);
    $("connection").classList.add("flash");
    setTimeout(() => $("connection").classList.remove("flash"), 600);
    return;
  }
  // Longer than the protocol allows (MAX_TEXT_CHARS: code points, never UTF-16 units as a
  // maxlength counts them, which cut an emoji's family in two): the server would refuse it;
  // said here, the text kept in the box to be shortened.
  if (Array.from(text).length > MAX_TEXT_CHARS) {
    const why = explainError("message_too_large", "", null);
    notice(chat, chat.active, chat.editing ? t("Not changed: {why}", { why }) : t("Not sent: {why}", { why }),
      nowSeconds(), true);
    render(chat);
    return;
  }
  if (chat.editing) {  // Save: the edit of our message, not a new one
    const item = chat.editing;
    chat.editing = null;
    input.value = "";
    fitComposer();
    if (text !== item.text && changeable(chat, item)) sendFrame(changeFrame(chat, chat.active, item, text));
    render(chat);
    return;
  }
  // While reconnecting the message waits, shown as waiting; the welcome sends it.
  const frame = composeMessage(chat, chat.active, text);
  keepPending(chat);  // a reload before the server takes it does not lose it
  input.value = "";
  fitComposer();
  render(chat);
  if (reconnecting) {
    announce([t("Not connected: the message will be sent when the connection is back.")]);
    return;
  }
  if (!outgoingFrames(chat, frame).every(sendFrame)) {
    connectionLost(chat);
    render(chat);
  }
}

/** Enter sends; Shift+Enter (or Enter while an input method is composing) makes a new line. */
function onComposerKeydown(event) {
  if (event.key === "Escape" && shell.chat.editing) {  // stop editing; nothing sent
    shell.chat.editing = null;
    $("composer-input").value = "";
    render(shell.chat);
    return;
  }
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  $("composer").requestSubmit();
}

/** The composer as tall as its lines, up to its CSS max-height (then it scrolls). */
function fitComposer() {
  const input = $("composer-input");
  input.style.height = "auto";
  input.style.height = `${input.scrollHeight + (input.offsetHeight - input.clientHeight)}px`;
}

function onLoginSubmit(event) {
  event.preventDefault();
  const name = $("login-name").value.trim();
  const password = $("login-password").value;
  if (!name) {
    showLoginError(() => t("Please enter a name."));
    $("login-name").focus();
    return;
  }
  if (!validName(name)) {
    showLoginError(() => (/\s/.test(name)
      ? t("A name cannot contain spaces: try \"{name}\".", { name: name.split(/\s+/).join("_") })
      : t("A name has letters and digits of one script, \"_\", \"-\" or \".\", and starts with a letter or a digit (at most 32).")));
    $("login-name").focus();
    return;
  }
  logIn(name, password, $("login-register").checked);
}

function onNewConversation(event) {
  event.preventDefault();
  const input = $("new-chat-name");
  const name = input.value.trim();
  const key = startConversation(shell.chat, name);
  if (!key) {
    input.setAttribute("aria-invalid", "true");
    announce([t("\"{name}\" is not a valid name.", { name })]);
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  input.value = "";
  selectConversation(key);
}

function onContactKeydown(event) {
  const buttons = [...$("contact-list").querySelectorAll("button.contact")];
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return;
  let next = null;
  if (event.key === "ArrowDown") next = buttons[Math.min(buttons.length - 1, index + 1)];
  if (event.key === "ArrowUp") next = buttons[Math.max(0, index - 1)];
  if (event.key === "Home") next = buttons[0];
  if (event.key === "End") next = buttons[buttons.length - 1];
  if (next) {
    event.preventDefault();
    next.focus();
  }
}

function start() {
  $("login-form").addEventListener("submit", onLoginSubmit);
  // Another name: the last attempt's refusal was about the old one.
  $("login-name").addEventListener("input", () => showLoginError(null));
  $("composer").addEventListener("submit", onSubmitMessage);
  $("composer-input").addEventListener("keydown", onComposerKeydown);
  $("composer-input").addEventListener("input", fitComposer);
  $("composer-input").addEventListener("input", () => typingFrames(shell.chat, monotonicSeconds()).forEach(sendFrame));
  $("messages").addEventListener("click", onMessageAction);
  $("read-receipts").addEventListener("change", (event) => {
    const chat = shell.chat;
    if (chat.status !== "online" || !sendFrame(settingsFrame(chat, event.target.checked))) render(chat);
  });
  // Seen when the page comes back into view or focus; "typing…" expires by itself.
  const seen = () => sendReads(shell.chat);
  window.addEventListener("focus", seen);
  document.addEventListener("visibilitychange", seen);
  setInterval(() => {
    if (shell.chat.typing.size) renderTyping(shell.chat);
    if (shell.chat.throttle.unavailable) renderTopbar(shell.chat);  // "trying again in 4.0 s" counts down
  }, 1000);
  $("new-chat").addEventListener("submit", onNewConversation);
  $("join-room").addEventListener("submit", onJoinRoom);
  $("room-list").addEventListener("click", (event) => {
    const button = event.target.closest("button.room-entry");
    const frame = button && joinRoomFrame(shell.chat, button.dataset.room);
    if (frame) sendFrame(frame);
  });
  $("room-tools").addEventListener("click", onRoomToolClick);
  $("room-mode").addEventListener("change", (event) => {
    const key = shell.chat.active;
    if (isRoomKey(key)) sendFrame(roomModeFrame(shell.chat, key, event.target.checked));
  });
  const older = () => {
    const frame = olderRoomHistory(shell.chat, shell.chat.active);
    if (frame) sendFrame(frame);
  };
  $("load-older").addEventListener("click", older);
  // Scrolled to the top of a room: its older messages, as the button does.
  $("messages").addEventListener("scroll", (event) => {
    if (event.target.scrollTop < 8 && isRoomKey(shell.chat.active)) older();
    readToBottom(event.target);
  });
  $("new-messages").addEventListener("click", () => {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
    readToBottom(list);
  });
  $("logout").addEventListener("click", logOut);
  $("block-toggle").addEventListener("click", () => {
    const frame = blockFrame(shell.chat, shell.chat.active);
    const said = { announce: [] };
    if (frame && !sendFrame(frame)) {  // never left: not done, and said so
      const request = shell.chat.requests.get(frame.id);
      shell.chat.requests.delete(frame.id);
      blockNotDone(shell.chat, request, t("not connected"), said);
    }
    render(shell.chat);
    announce(said.announce);
  });
  $("change-password").addEventListener("click", openPasswordDialog);
  $("password-form").addEventListener("submit", submitPassword);
  $("password-cancel").addEventListener("click", () => $("password-dialog").close());
  $("delete-account").addEventListener("click", openUnregisterDialog);
  $("unregister-form").addEventListener("submit", submitUnregister);
  $("unregister-cancel").addEventListener("click", () => $("unregister-dialog").close());
  $("contact-list").addEventListener("click", (event) => {
    const button = event.target.closest("button.contact");
    if (button) selectConversation(button.dataset.key);
  });
  $("contact-list").addEventListener("keydown", onContactKeydown);
  $("contacts-toggle").addEventListener("click", () => {
    const open = !document.body.classList.contains("contacts-open");
    setContactsOpen(open);
    if (open) {
      const current = $("contact-list").querySelector('button[aria-current="true"]');
      if (current) current.focus();
    }
  });
  DRAWER.addEventListener("change", () => setContactsOpen(false));  // widened: no drawer to be open
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("contacts-open")) {
      setContactsOpen(false);
      $("contacts-toggle").focus();
    }
  });
  // Back online after a network outage: do not wait for the backoff timer.
  window.addEventListener("online", () => {
    if (shell.wantOnline && !shell.socket && shell.timer) connect();
  });
  try {
    const name = localStorage.getItem("chat.name");
    if (name) $("login-name").value = name;
  } catch {
    /* no storage: nothing to prefill */
  }
  showView("login");
  if (location.protocol === "file:") showLoginError(openedAsAFile);
  render(shell.chat);
  $("login-name").focus();
  const saved = savedSession();
  if (saved) resumeSession(saved);  // a reload: back in as before, without the form
  // The language: the one chosen with the switch before, else the browser's.
  const switcher = $("lang-switch");
  for (const [code, label] of Object.entries(LANGUAGES)) {
    const option = el("option", "", label);
    option.value = code;
    option.lang = code.replace("_", "-");
    switcher.append(option);
  }
  let chosen = null;
  try {
    chosen = localStorage.getItem("chat.lang");
  } catch {
    /* no storage: the browser's language */
  }
  switcher.addEventListener("change", () => {
    try {
      localStorage.setItem("chat.lang", switcher.value);
    } catch {
      /* not remembered; still switched */
    }
    useLanguage(switcher.value);
  });
  useLanguage(chosen in LANGUAGES ? chosen : pickLanguage(navigator.languages || [navigator.language]));
}

start();
