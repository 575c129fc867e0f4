/*
 * The chat web page, part two of seven (see lang.js): the protocol. What each frame from
 * the server does to the chat state, and which frames to send. No DOM, no socket:
 * functions of (state, frame) -> output, like the Python core in protocol/. The wire
 * format is PROTOCOL.md's: one JSON object per WebSocket text message. Logging in,
 * presence, direct messages and their outcomes, history, pacing and liveness; read marks,
 * typing, edits and deletes are afterdelivered.js's, blocking blocks.js's, rooms rooms.js's.
 */
"use strict";


const PROTOCOL_VERSION = 2;  // 2: named rooms; a server that refuses it is asked again with 1
// Optional features the hello asks for (PROTOCOL.md, "Features"): copies of what our
// other sessions send ("sent" frames), and an account credential that keeps a reloaded
// page logged in ("resume" in the welcome after a password login).
// After delivered (issue 13): read receipts, "typing", and editing or deleting our own
// direct messages ("read", "typing", "edits").
// After a reconnection, every conversation's direct messages after the newest shown, those
// of people this page never talked with included ("since": catchUpFrames).
// A block or unblock made on another device, told at once ("blocks": blockTold).
// A cluster node back from a break: the outcomes of our messages decided meanwhile may
// have gone to another device alone ("catch_up": waitingFrames).
const FEATURES = ["carbons", "resume", "read", "typing", "edits", "since", "blocks", "catch_up"];
// const.py: a "typing" is repeated this often while we type, a peer's shown this long,
// and our messages can be changed this long after sending on a server that does not say
// its own window (an older one: serverEditWindow; the server is the judge).
const TYPING_INTERVAL = 3;
const TYPING_EXPIRES = 6;
const EDIT_WINDOW = 15 * 60;
const QUEUE_TTL = 7 * 24 * 3600;      // a message's lifetime unconfirmed (const.QUEUE_TTL): the most an expired one waited
const GUEST_HOLD = 600;               // a guest name kept for nobody after its guest left (const.GUEST_HOLD)
const MAX_TEXT_CHARS = 4000;          // a message's text, at most (const.MAX_TEXT_CHARS)
const MAX_TOPIC_CHARS = 256;          // a room's topic, at most (const.MAX_TOPIC_CHARS), in code points
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
// client/returns.py's: after our reconnection, people who were online before it, or left
// with the server (SERVER_STOPPING), may take this long to come back themselves; until then
// their "joined" (and their first "online" in each room) is no news (the returns, returnsQuiet()).
const REJOIN_GRACE = 60;
const MIN_PASSWORD_LENGTH = 8;        // a password, at least (const.MIN_PASSWORD_LENGTH): weak_password's {n}
const MAX_PASSWORD_CHARS = 1024;      // ... and at most (const.MAX_PASSWORD_CHARS): longer is refused bad_field
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

/** Why ``password`` cannot be sent (a function saying it in the page's language: the words of
 * the server's bad_field for it), or null: the server counts code points, as here. */
function passwordProblem(password) {
  if ([...password].length <= MAX_PASSWORD_CHARS) return null;
  return () => explainError("bad_field", "", null, null, null, null, null, false, null, null, null, null, null, null,
    "password", MAX_PASSWORD_CHARS);
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
// Names in one "watch" request: fewer than the protocol's 500, so that the answer always
// fits in a frame whatever the names (protocol/codec.py, WATCH_PART).
const WATCH_PER_REQUEST = 250;

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
    beganAfter: null,         // the server's last msg_id as it first welcomed us (feature since; null: unknown)
    history: ASK_FOR_HISTORY,
    users: new Map(),         // key -> {name, online, since, known}
    conversations: new Map(), // key -> {key, name, items, unread, historyAsked}
    requests: new Map(),      // request id -> {kind: hello|send|say|who|history|watch, item?, key?}
    throttle: newThrottle(0), // sends held back and paced after "rate_limited"/"unavailable" (throttle())
    askAgain: [],             // [{at, request}]: a catch-up, history, lookup, rooms list refused for now: askAgainLater
    watched: new Set(),       // keys this connection watches (the server forgets them with it)
    sent: new Map(),          // msg_id -> item, for our own messages
    seen: new Set(),          // seenKey()s of incoming messages already shown
    active: ROOM,             // the conversation on screen
    readReceipts: true,       // this user's setting, from the welcome (issue 13)
    typing: new Map(),        // key -> until when (seconds) "NAME is typing…" shows
    roomTyping: new Map(),    // roomKey -> Map(name key -> {name, until}): who types in a room
    roomMarks: new Map(),     // roomKey -> the other members' read marks (PROTOCOL.md "In rooms")
    outOf: new Map(),         // roomKey -> "kick", "ban", "left" or "gone": put out of it (rooms.js roomGone)
    typingSent: new Map(),    // key -> when we last said we type to them
    changes: new Map(),       // msg_id -> an edited/deleted frame for a message not here yet
    editing: null,            // our item being edited in the composer, or null
    offer: PROTOCOL_VERSION,  // the version the next hello offers (lowered on unsupported_version)
    version: 1,               // the version this session speaks (the welcome's)
    rooms: new Map(),         // roomKey -> {name, topic, count, owner, inviteOnly, members|null}
    roomSeen: 0,              // the highest msg_id of a named room's post shown (the hello's room_seen)
    lastHeard: null,          // until when the last session was heard, server's clock, ms (the hello's last_heard)
    roomList: [],             // the answer to "rooms": [{room, count, topic, invite_only?}]
    mineSeen: new Set(),      // roomKeys of the answer to "rooms" with "mine" so far (its pages)
    notice: "",               // the last thing the server said about the session
    blocked: null,            // key -> name of whom the user blocks, as the server said (null: not said)
    blocking: new Set(),      // keys with a block or unblock on its way (their button waits)
    returns: newReturns(),    // who comes back after an outage, as no news (returnsQuiet())
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
    // where: the registry's entry (whois); exists: whether the registry knows the name (null: not said yet);
    // like: with a name nobody has, the one user online whose name looks like it, as the server said
    entry = { key, name, online: false, since: null, known: false, where: null, exists: null, like: null };
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
  // And until when the last session was heard: the server tells the edits and deletes made
  // since of those posts and of our direct messages, which another session of ours may have
  // taken in meanwhile (PROTOCOL.md, "Changes a device missed").
  if (chat.lastHeard !== null) frame.last_heard = chat.lastHeard;
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

/** The server's ``like`` (a whois answered "unknown", a send refused unknown_recipient: the
 * one user online whose name looks like the one asked for), if it is a name someone else
 * can have; else null. The server never names the asker: checked all the same, an offer to
 * write to ourselves would be a trap. */
function theirLike(chat, like) {
  return typeof like === "string" && validName(like) && !isMe(chat, like) ? displayName(like) : null;
}

/** A conversation with ``name``, who need not be online; returns its key or null. */
function startConversation(chat, name) {
  if (!validName(name)) return null;
  name = displayName(name);
  const entry = user(chat, name);
  entry.known = true;
  entry.mistyped = false;  // typed again: let the server say again
  entry.like = null;
  if (entry.exists === false) entry.exists = null;  // and look it up again (whoisFrames)
  conversation(chat, entry.key, entry.name);
  return entry.key;
}

/** The "whois" for person ``key``'s registry entry (HANDLERS.user): while they are online,
 * the header's address and "online since"; for a name not yet known to be anyone's (typed
 * in "New chat", or kept from an earlier login: it may be nobody's, or no longer anyone's),
 * whether it is, as the terminal's "/to NAME" asks. None while we are offline. Sent when
 * their conversation opens, and when they come online while it is open (cameOnline). */
function whoisFrames(chat, key) {
  const entry = key === ROOM || isRoomKey(key) ? null : chat.users.get(key);
  if (!entry || chat.status !== "online" || !lookUpWanted(entry)) return [];
  const id = chat.nextId();
  chat.requests.set(id, { kind: "whois", key });
  return [{ type: "whois", id, name: conversation(chat, key, entry.name).name }];
}

/** Whether person ``entry``'s registry entry is to be asked (whoisFrames): while they are
 * online (where from), and while it is not known whether the name is anyone's; also when only
 * a watch's answer said nobody has it: the lookup then says it as for a name typed, and the
 * name leaves the kept list (mistyped) once another conversation is chosen. */
function lookUpWanted(entry) {
  return entry.online || entry.exists === null || (entry.exists === false && !entry.mistyped);
}

/** Person ``entry`` is online now (a "joined", or a "who" or "watching" answer that lists
 * them); ``again``: on a new connection of theirs (a "joined"), whose entry changed even
 * if they were online. In the open conversation the header's entry is asked for again, as
 * opening it does: without it the header said "Online" and nothing more until the
 * conversation was opened again. */
function cameOnline(chat, entry, again, out) {
  const was = entry.online;
  entry.online = true;
  entry.exists = true;
  if (again) entry.where = null;  // of their old connection
  if (entry.key === chat.active && (again || !was)) out.send.push(...whoisFrames(chat, entry.key));
}

/**
 * Who comes back after an outage: the rule of client/returns.py, which the terminal and the
 * window follow, so that a restart does not announce everyone again. A person is returning
 * when they were online as our connection went (returnsWentAway) or left with the server
 * (a "left" whose reason is SERVER_STOPPING). Their next "joined", and their next "online"
 * in each room, is a return, shown by the presence alone, if it comes while we are away or
 * within REJOIN_GRACE seconds of our reconnection; each is taken once. Anything else is
 * news. The page, like the terminal, does not know who in a room was online: a returning
 * person's "online" is a return once in whichever room it comes from.
 */
function newReturns() {
  return { away: false, quietUntil: 0, users: new Set(), rooms: new Map() };  // rooms: key -> roomKeys taken
}

function returnsExpect(returns, key) {
  returns.users.add(key);
  returns.rooms.set(key, new Set());  // a new outage: every room again
}

/** Our connection is gone (told again while away, it changes nothing). */
function returnsWentAway(chat) {
  const returns = chat.returns;
  if (returns.away || !chat.welcomedOnce) return;
  returns.away = true;
  for (const entry of chat.users.values()) {
    if (entry.online && !isMe(chat, entry.name)) returnsExpect(returns, entry.key);
  }
}

/** A welcome: after an outage the grace begins; a first login has none. */
function returnsWelcomed(chat, again) {
  chat.returns.away = false;
  if (again) chat.returns.quietUntil = monotonicSeconds() + REJOIN_GRACE;
}

function returnsQuiet(returns) {
  return returns.away || monotonicSeconds() <= returns.quietUntil;
}

/** True if this "joined" of person ``key`` is a return, to show no line for. */
function returnsJoined(chat, key) {
  if (!chat.returns.users.delete(key)) return false;
  return returnsQuiet(chat.returns);
}

/** True if person ``key`` coming online in room ``room`` (a roomKey) is a return. */
function returnsRoomOnline(chat, room, key) {
  const taken = chat.returns.rooms.get(key);
  if (!taken || taken.has(room)) return false;
  taken.add(room);
  return returnsQuiet(chat.returns);
}

/** Show conversation ``key``: clears its unread count; returns frames to send (history). */
function openConversation(chat, key) {
  chat.active = key;
  forgetMistyped(chat);
  const convo = conversation(chat, key, key === ROOM ? null : (chat.users.get(key) || {}).name);
  convo.unread = 0;
  if (isRoomKey(key)) return roomOpened(chat, key);
  const frames = whoisFrames(chat, key);
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
  returnsWentAway(chat);  // who was online: coming back with the server is no news
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
  chat.askAgain = [];  // a new connection catches up afresh
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
  // and focus: "composer" when a room opens; joinRefused: a join's refusal, said under the join box
  // (rooms.js, roomRequestFailed)
  const out = { send: [], receipts: [], announce: [], login: null };
  const handler = typeof frame.type === "string" && Object.hasOwn(HANDLERS, frame.type) ? HANDLERS[frame.type] : null;
  // Anything at all says the connection lived when it came (liveness): when it came, not
  // when it is taken, or a page that slept between the two would take the sleep for news.
  if (chat.heard !== null) chat.heard = Math.max(chat.heard, came);
  const paced = frame.id != null && chat.throttle.paced.delete(frame.id);  // answered: a place for the next
  if (handler) handler(chat, frame, out);
  // Heard in a session until this frame, on the server's clock as it said it (client/core.py
  // _heard_until; a welcome or pong just taken says it exactly): a frame of a login that
  // failed is no news.
  if (chat.status === "online" && serverClock) {
    const heard = serverClock.said + Math.max(0, came - serverClock.at);
    chat.lastHeard = Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.round(heard * 1000)));
  }
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
    returnsWelcomed(chat, again);
    // Where this page began: a catch-up before it shows any direct message asks from there
    // (catchUpFrames). Only the first welcome's: what came between two is what one is for.
    if (!again) chat.beganAfter = Number.isInteger(frame.last_id) && frame.last_id >= 0 ? frame.last_id : null;
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
      cameOnline(chat, entry, false, out);
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

  watching(chat, frame, out) {
    // The answer to "watch": who of those names is online now, who is not, and which names
    // nobody has (unknown: whois would say so; an older server counts them offline).
    chat.requests.delete(frame.id);
    for (const presence of Array.isArray(frame.users) ? frame.users : []) {
      if (!presence || typeof presence.name !== "string" || isMe(chat, presence.name)) continue;
      const entry = user(chat, presence.name);
      whoInProgress(chat, (listed) => listed.add(entry.key));
      cameOnline(chat, entry, false, out);
      entry.since = presence.since;
    }
    for (const name of Array.isArray(frame.offline) ? frame.offline : []) {
      const entry = typeof name === "string" ? chat.users.get(contactKey(name)) : null;
      if (!entry) continue;
      entry.online = false;
      // Offline says "not online", no more (a cluster that could not ask its store says it of
      // a name it does not know): nobody's no longer, and someone's not known either.
      if (entry.exists === false && !entry.mistyped) entry.exists = null;
    }
    // Nobody's (a name kept from a guest whose name was forgotten, say): the contact stays in
    // the list, saying so, as the header says it (presenceWords); a "joined" undoes it.
    for (const name of Array.isArray(frame.unknown) ? frame.unknown : []) {
      const entry = typeof name === "string" ? chat.users.get(contactKey(name)) : null;
      if (!entry || isMe(chat, entry.name)) continue;
      entry.online = false;
      entry.exists = false;
      entry.where = null;
    }
  },

  joined(chat, frame, out) {
    if (typeof frame.name !== "string" || isMe(chat, frame.name)) return;
    const entry = user(chat, frame.name);
    whoInProgress(chat, (listed) => listed.add(entry.key));
    cameOnline(chat, entry, true, out);
    entry.since = frame.at;
    if (returnsJoined(chat, entry.key)) return;  // back with the server: no news
    notice(chat, ROOM, () => t("{name} joined", { name: frame.name }), frame.at);
    if (chat.conversations.has(entry.key)) notice(chat, entry.key, () => t("{name} is online", { name: frame.name }), frame.at);
    if (entry.key === chat.active) out.announce.push(t("{name} is online", { name: frame.name }));  // the header changed
  },

  user(chat, frame) {
    // The answer to "whois" (whoisFrames): where the person's connection comes from
    // and since when, as the registry has it (PROTOCOL.md, "whois"), shown in the header.
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!request || request.kind !== "whois" || typeof frame.name !== "string") return;
    const entry = chat.users.get(request.key);
    if (!entry) return;
    if (frame.status === "unknown" && !entry.online) {
      // Nobody's name (mistyped, or an account deleted since): said in the header, and, as
      // for a message refused unknown_recipient, out of the contacts and the kept list.
      entry.exists = false;
      entry.mistyped = true;
      entry.known = false;
      // The page has no table of look-alikes (registry/names.py's is 5,000 entries): the
      // server's choice is the header's "did you mean João?" (PROTOCOL.md, "user": never us).
      entry.like = theirLike(chat, frame.like);
    } else if (frame.status === "online" || frame.status === "offline") {
      entry.exists = true;
      entry.mistyped = false;
      entry.like = null;
    }
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
    if (reason === SERVER_STOPPING) {  // gone with the server, as we are about to: no news
      returnsExpect(chat.returns, entry.key);
      return;
    }
    // A lost connection's cause is said, as the terminal and the window say it ("reset by the
    // other side"; "server stopped": a cluster's node, which many left with at once).
    const plain = !reason || ["quit", "disconnected"].includes(reason);
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
      // The list of our rooms refused for now (a change of one was being stored, and failed):
      // asked again after the wait, the rooms shown meanwhile as they were; said once given up.
      if (askedAgainLater(request) && (frame.code === "unavailable" || frame.code === "rate_limited")
          && askAgainLater(chat, request, frame.retry_after)) return;
      roomRequestFailed(chat, request, frame, message, out);
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
        typeof frame.until === "number" ? frame.until : null, null, null, null,
        typeof frame.field === "string" ? frame.field : null,
        Number.isInteger(frame.max_chars) ? frame.max_chars : null,
        Number.isInteger(frame.max_bytes) ? frame.max_bytes : null, frame.reserved === true);
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
        like: typeof frame.like === "string" ? frame.like : null,  // unknown_recipient's "did you mean João?"
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
          entry.like = theirLike(chat, frame.like);  // the header offers it, as after a whois
        }
      }
      return;
    }
    // A lookup too (whoisFrames): refused, it left the header blank until the conversation was
    // opened again; asked again, the header says nothing meanwhile (the name's presence is not known).
    if (request && askedAgainLater(request) && (frame.code === "unavailable" || frame.code === "rate_limited")) {
      askAgainLater(chat, request, frame.retry_after);
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
    applyKeptChange(chat, item);  // a change that came before it (in a cluster)
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
    applyKeptChange(chat, item);  // a change that came before it (in a cluster)
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

  catch_up(chat, frame, out) {
    // Feature catch_up (no id): the server, a cluster node, was cut off and is back; the
    // connection stayed open. Not news for the user: what another device of ours got or
    // sent meanwhile is asked as after a reconnection, and the states of ours still open.
    const frames = catchUpFrames(chat);
    const asked = new Map(frames.filter((f) => f.type === "history").map((f) => [contactKey(f.with), f]));
    out.send.push(...frames, ...waitingFrames(chat, asked));
  },

  history_page(chat, frame, out) {
    // The stored conversation, oldest first: add what is missing, update our messages'
    // delivery states (they may have been delivered while we were away).
    const request = chat.requests.get(frame.id);
    chat.requests.delete(frame.id);
    if (!request || !Array.isArray(frame.messages)) return;
    const convo = conversation(chat, request.key);
    if (request.catchUp) {  // after a reconnection, or a catch_up
      mergeNewer(chat, convo, frame.messages, request.since, out);
      // Ours still waiting older than this page (waitingFrames): the next older page, while
      // the budget lasts (counted in messages: a page of long ones holds fewer).
      const first = frame.messages.length ? frame.messages[0] : null;
      const budget = (request.budget || 0) - frame.messages.length;
      if (request.waiting != null && Number.isInteger(frame.before) && budget > 0 && first
          && typeof first.msg_id === "number" && first.msg_id > request.waiting) {
        out.send.push(waitingFrame(chat, convo, { since: request.since, waiting: request.waiting, budget,
          before: frame.before }));
      }
      return;
    }
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

  ok(chat, frame, out) {
    const request = chat.requests.get(frame.id);
    if (!request) return;
    chat.requests.delete(frame.id);
    if (request.kind === "settings") chat.readReceipts = request.readReceipts;
    if (request.kind === "password") passwordChanged(chat, out);
    if (request.kind === "unregister") chat.unregistering = { state: "done" };  // the session ends next
    if (request.kind === "edit" || request.kind === "delete") {
      // The ok says when our change was stamped: what a change told later is held to, and
      // one from another device that came before the ok and is newer stays.
      const change = request.kind === "delete" ? { type: "deleted", at: frame.at }
        : { type: "edited", text: request.text, at: frame.at };
      if (!lateChange(request.item, change)) applyChange(request.item, change);
    }
    if (request.kind === "leave" || request.kind === "act") roomOk(chat, request, out);
    if (request.kind === "block") blockDone(chat, request, out);
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
    // LEFT_REASONS); one of a newer server stays as it came.
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
// After a catch_up, the history of a conversation in which a message of ours waits is asked
// page by page, back to that message: at most this many pages of this many messages (the
// server's most a page), as client/core.py's RECONCILE_PAGES of MAX_HISTORY_PAGE.
const WAITING_PAGES = 4;
const WAITING_PAGE = 500;
// A catch-up's page or a person's history refused for now ("unavailable", "rate_limited"):
// asked again after the server's wait, for up to this many seconds of such waits in all
// (client/library.py's CATCH_UP_PATIENCE). A reconnection comes when the servers have
// trouble; given up on, what another device took meanwhile would not show until the next one.
const CATCH_UP_PATIENCE = 60;

/** Whether ``request``, refused for now, is asked again after the server's wait (askAgainLater). */
function askedAgainLater(request) {
  return request.kind === "since" || request.kind === "whois" || (request.kind === "history" && !request.room)
    || (request.kind === "rooms" && request.mine === true);
}

/** ``request`` (a "since", a person's "history" or "whois", the list of our rooms) was refused
 * for now, the server asking to wait ``retryAfter`` seconds: ask it again then (askAgainDue),
 * while patience lasts; true if it will be. A person's history or lookup given up on is asked
 * again when the conversation is next opened (a lookup is, while the name's presence is
 * unknown: whoisFrames); the list of our rooms at the next welcome (its refusal is said then). */
function askAgainLater(chat, request, retryAfter) {
  const now = monotonicSeconds();
  const wait = Math.max(typeof retryAfter === "number" ? retryAfter : 1, 0.1);
  if (request.patientUntil === undefined) request.patientUntil = now + CATCH_UP_PATIENCE;
  if (now + wait <= request.patientUntil) {
    chat.askAgain.push({ at: now + wait, request });
    return true;
  }
  if (request.kind === "history") {
    const convo = chat.conversations.get(request.key);
    if (convo) convo.historyAsked = false;
  }
  return false;
}

/** The requests askAgainLater kept whose wait is over at ``now``: their frames, under new ids. */
function askAgainDue(chat, now) {
  if (chat.status !== "online") return [];
  const due = chat.askAgain.filter((each) => each.at <= now);
  chat.askAgain = chat.askAgain.filter((each) => each.at > now);
  const frames = [];
  for (const { request } of due) {
    if (request.kind === "rooms") {  // from its first page again, under the same patience
      const again = askMyRooms(chat, request.afterWelcome === true);
      chat.requests.get(again.id).patientUntil = request.patientUntil;
      frames.push(again);
      continue;
    }
    const id = chat.nextId();
    if (request.kind === "since") {
      chat.requests.set(id, request);
      frames.push({ type: "since", id, after_id: request.after, limit: HISTORY_PAGE });
      continue;
    }
    const convo = chat.conversations.get(request.key);
    if (!convo || typeof convo.name !== "string") continue;
    if (request.kind === "whois") {
      const entry = chat.users.get(request.key);
      if (!entry || !lookUpWanted(entry)) continue;  // said meanwhile (a "joined")
      chat.requests.set(id, request);
      frames.push({ type: "whois", id, name: convo.name });
      continue;
    }
    chat.requests.set(id, request);
    frames.push(personHistoryFrame(request, id, convo.name));
  }
  return frames;
}

/** When askAgainDue has frames next (seconds), or null. */
function nextAskAgain(chat) {
  return chat.askAgain.length ? Math.min(...chat.askAgain.map((each) => each.at)) : null;
}

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
 * no direct message anywhere takes the server's last id as it first welcomed this page
 * (its welcome's last_id, with the feature since); without one it cannot tell new from
 * old and asks nothing: a conversation's history comes when it opens.
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
  const floor = Math.max(chat.beganAfter || 0, ...people.map(newestShown));
  if (chat.since && (floor || chat.beganAfter !== null)) return [sinceFrame(chat, floor, floor, 1)];
  if (!floor) return [];
  return people.filter((convo) => !convo.historyAsked)
    .sort((a, b) => last(b) - last(a))
    .slice(0, CATCH_UP_PEERS)
    .map((convo) => {
      const id = chat.nextId();
      chat.requests.set(id, { kind: "history", key: convo.key, catchUp: true, since: newestShown(convo) || floor });
      return { type: "history", id, with: convo.name, limit: HISTORY_PAGE };
    });
}

/**
 * After a catch_up frame: a "history" request for the newest page of each conversation
 * with a person in which a direct message of ours is still "sent" or "queued" (one that
 * another device of ours was told the outcome of, and acknowledged, while our server was
 * cut off: nobody tells it here any more, PROTOCOL.md "catch_up"). A conversation whose
 * newest page the catch-up asks already (``asked``: key -> its history frame) is not asked
 * twice: that request becomes this one. Each answer goes to mergeNewer, which moves our
 * messages' states forward and adds what came meanwhile; while the oldest message of ours
 * still waiting is older than the page, the next older page is asked (history_page), up to
 * WAITING_PAGES pages of WAITING_PAGE messages, as client/core.py's reconciling does. The
 * conversation on screen too: its history was not asked since the connection opened.
 */
function waitingFrames(chat, asked = new Map()) {
  if (!chat.history || chat.status !== "online") return [];
  const waiting = (item) => item.kind === "message" && item.dir === "out" && item.msgId != null
    && (item.state === "sent" || item.state === "queued");
  const frames = [];
  for (const convo of chat.conversations.values()) {
    if (!convo.key.startsWith("@") || typeof convo.name !== "string" || !convo.items.some(waiting)) continue;
    const oldest = Math.min(...convo.items.filter(waiting).map((item) => item.msgId));
    const budget = WAITING_PAGES * WAITING_PAGE;
    const already = asked.get(convo.key);
    const request = already && chat.requests.get(already.id);
    if (request) {
      Object.assign(request, { waiting: oldest, budget });
      already.limit = WAITING_PAGE;
    } else {
      frames.push(waitingFrame(chat, convo, { since: newestShown(convo), waiting: oldest, budget }));
    }
  }
  return frames;
}

/** A "history" request of waitingFrames for ``convo``: ``asked`` holds ``since`` (as
 * mergeNewer takes it), ``waiting`` (the msg_id of the oldest message of ours still waiting),
 * ``budget`` (how many more messages may be looked at) and ``before`` (the cursor of an older
 * page; none: the newest). */
function waitingFrame(chat, convo, asked) {
  const id = chat.nextId();
  const request = { kind: "history", key: convo.key, catchUp: true, ...asked };
  chat.requests.set(id, request);
  return personHistoryFrame(request, id, convo.name);
}

/** The "history" frame of ``request``, a catch-up's request of a person's conversation,
 * under ``id``: one of waitingFrames asks WAITING_PAGE messages, from its cursor if it has one. */
function personHistoryFrame(request, id, name) {
  const frame = { type: "history", id, with: name, limit: request.waiting != null ? WAITING_PAGE : HISTORY_PAGE };
  if (Number.isInteger(request.before)) frame.before = request.before;
  return frame;
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
