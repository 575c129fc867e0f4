/*
 * The chat web page, part seven of seven (see lang.js): the shell. The WebSocket, logging
 * in, reconnecting with backoff, the page's events, and start(), which runs the page.
 */
"use strict";


const RECONNECT_FIRST = 0.5;   // seconds before the first reconnection attempt
const RECONNECT_MAX = 20;      // the longest wait between attempts
// client/core.py's: a session that ended sooner than this after its login was a short one;
// after two or more in a row, each reconnection waits from one step further on than the last
// (scheduleReconnect), not from the first.
const STABLE_SESSION = 10.0;
const SHOW_AT_LATEST = 0.1;    // seconds from a frame to its taking when no animation frame comes
// Seconds "Log out" waits for the answer to a guest's revoke (its name given up) before it
// says it cannot tell: the server answers it before it closes the session, and waits for its
// store at most ANSWERS_WAIT (2 s, server/session.py) before closing all the same; the rest
// is for the network. Bounded, so that logging out never hangs on a failing server.
const LOGOUT_WAIT = 3;

const shell = {
  chat: createChat(),
  socket: null,
  credentials: null,          // {name, password, register} of the current login
  wantOnline: false,          // false after logging out or a refused login
  attempts: 0,
  openedAt: null,             // when the session now open logged in (monotonicSeconds()), null: none
  flaps: 0,                   // sessions in a row that ended within STABLE_SESSION of their login, the last included
  retryFloor: 0,              // seconds the next attempt waits at least (a refusal's retry_after)
  timer: null,
  resendTimer: null,          // the end of the hold on our sends (holdDue), and what is asked again (askAgainDue)
  aliveTimer: null,           // the next liveness() (livenessDue)
  readTimer: null,            // a read mark held back for its interval (sendReads)
  savedSession: null,         // what keepSession() last wrote
  savedPending: null,         // what keepPending() last wrote
  savedConversations: null,   // what keepConversations() last wrote
  loginError: null,           // () => the login form's refusal, in the page's language (showLoginError)
  leaving: null,              // a guest's logout waiting for its revoke's answer: {socket, timer} (awaitGiveUp)
  // To do once shown (takeFrame).
  taken: { socket: null, receipts: [], announce: [], focus: null, joinRefused: null },
  waiting: [],                // [socket, frame, came] of frames to take at the next animation frame (frameCame)
  waitFrame: null,            // that animation frame
  waitTimer: null,            // ... or this timer, should none come
};

/** (Re)arm the timer that ends the hold on our sends, and asks again what was refused for
 * now of a catch-up or a history (after "rate_limited"/"unavailable"). */
function scheduleResend() {
  clearTimeout(shell.resendTimer);
  const dues = [nextResend(shell.chat), nextAskAgain(shell.chat)].filter((due) => due !== null);
  if (!dues.length) return;
  shell.resendTimer = setTimeout(() => {
    const now = monotonicSeconds();
    [...holdDue(shell.chat, now), ...askAgainDue(shell.chat, now)].forEach(sendFrame);
    scheduleResend();
  }, Math.max(0, Math.min(...dues) - monotonicSeconds()) * 1000);
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
  const first = !chat.welcomedOnce;
  const out = receiveFrame(chat, frame, came);
  if (out.login === "ok" && first) {
    // A new account (the hello claimed the name) starts with no list: one kept for the name
    // was of the account deleted before it, or of someone else's guest.
    if (shell.credentials && shell.credentials.register) forgetConversations(chat.me);
    restoreConversations(chat);  // before watchFrames: their presence is asked with the others'
  }
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
    shell.openedAt = monotonicSeconds();
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
  if (out.joinRefused) taken.joinRefused = out.joinRefused;
  return true;
}

/** Show the frames taken (takeFrame): keep the session, draw, then confirm what is shown. */
function showTaken() {
  const chat = shell.chat;
  const taken = shell.taken;
  shell.taken = { socket: shell.socket, receipts: [], announce: [], focus: null, joinRefused: null };
  if (chat.status === "online") keepSession(chat);  // new conversations outlive a reload
  if (chat.status === "online") keepConversations(chat);  // and a logout
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
  // A join refused where it was asked: under the join box (the room list is under it too).
  if (taken.joinRefused) refuseInput($("join-room-name"), taken.joinRefused.words());
  // And the name typed there back in it (emptied when the join was sent), selected: to ask
  // again or fix it without typing it all again. Not over a name typed since.
  const box = $("join-room-name");
  if (taken.joinRefused && taken.joinRefused.typed && !box.value) {
    box.value = taken.joinRefused.typed;
    // Selected where the user still is (the box, its button), not taking the focus from
    // elsewhere: select() moves the focus to the box too.
    const here = document.activeElement;
    if (here === box || here === document.body || $("join-room").contains(here)) box.select();
  }
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
  if (shell.openedAt !== null) {  // the first attempt since a session ended: was it a flap?
    shell.flaps = monotonicSeconds() - shell.openedAt < STABLE_SESSION ? shell.flaps + 1 : 0;
    shell.attempts = Math.max(shell.flaps - 1, 0);  // a server failing soon after each login is not asked twice a second
    shell.openedAt = null;
  }
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
  if (code === "account_deleted" && shell.credentials) forgetConversations(shell.credentials.name);
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
  shell.openedAt = null;
  shell.flaps = 0;
  showLoginError(null);
  $("login-submit").disabled = true;
  connect();
}

function logOut() {
  shell.wantOnline = false;
  clearTimeout(shell.timer);
  // The account credential this tab kept stops working (PROTOCOL.md, "revoke"); a guest's
  // revoke of its own token gives its name up, free for the next login at once rather than
  // held for nobody for GUEST_HOLD. The server handles the frames in order and answers the
  // revoke after the bye too (PROTOCOL.md, "closing"), so the bye follows at once.
  const me = shell.chat.me;
  const guest = Boolean(me) && !shell.chat.registered;
  const credential = me && (shell.chat.registered ? accountCredential(me) : loadResume(me));
  const revokeId = credential ? shell.chat.nextId() : null;
  const revoked = Boolean(credential) && sendFrame({ type: "revoke", id: revokeId, resume: credential });
  if (me) forgetAccountCredential(me);
  if (me) forgetPending(me);
  // A guest's token too (given up above): kept, it would make the next person to type this
  // name on this browser (a school's shared computer) that guest, with their messages and
  // history (docs/privacy.md). Forgotten also when the server could not give the name up:
  // the name then stays kept for nobody a while (said below), never for the next person
  // here. Closing the tab or reloading keeps it; "Log out" is leaving.
  if (me) forgetResume(me);
  // A guest's conversation list too: the name is no longer theirs. An account's stays, for
  // its next login (forgotten with the account).
  if (guest) forgetConversations(me);
  forgetSession();
  sendFrame({ type: "bye", reason: "quit" });
  const socket = shell.socket;
  shell.socket = null;  // what it still brings is not this page's any more (but the revoke's answer)
  const at = nowSeconds();
  shell.chat = createChat();
  shell.credentials = null;
  view.shownKey = null;
  showView("login");
  $("login-password").value = "";
  // "Claim this name" is one login's: the next person at a shared computer starts unticked.
  $("login-register").checked = false;
  render(shell.chat);
  $("login-name").focus();
  if (guest && revoked) {
    awaitGiveUp(socket, revokeId, me, at);  // whether the name is free: said once known
    return;
  }
  if (socket) socket.close(1000);
  // An account has nothing left to say: logged out in this tab, its credential forgotten
  // here (one the server could not forget is in no one's hands). A guest offline: the
  // server was not asked to give the name up.
  loggedOut(guest ? logOutWords(me, null, at) : null);
}

/** The login form usable again after "Log out", saying ``words`` (a function, or null). */
function loggedOut(words) {
  shell.leaving = null;
  $("login-form").removeAttribute("aria-busy");
  $("login-submit").disabled = false;
  showLoginError(words);
}

/** A guest's "Log out" sent its revoke (``id``: its name ``name`` given up) and its bye on
 * ``socket`` at ``at`` (nowSeconds()): the form says "Logging out…", its Log in button off,
 * until the answer comes, the connection closes or LOGOUT_WAIT is over, whichever is first;
 * then the connection is closed and the form says what became of the name (logOutWords). */
function awaitGiveUp(socket, id, name, at) {
  const leaving = { socket, timer: null };
  shell.leaving = leaving;
  $("login-form").setAttribute("aria-busy", "true");
  $("login-submit").disabled = true;
  showLoginError(() => t("Logging out…"));
  const done = (answer) => {
    if (shell.leaving !== leaving) return;
    clearTimeout(leaving.timer);
    if (socket) socket.close(1000);
    loggedOut(logOutWords(name, answer, at));
  };
  socket.addEventListener("message", (event) => {
    let frame = null;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && frame.id === id && (frame.type === "ok" || frame.type === "error")) done(frame);
  });
  socket.addEventListener("close", () => done(null));
  leaving.timer = setTimeout(() => done(null), LOGOUT_WAIT * 1000);
}

/** What the login form says once a guest logged out as ``name`` at ``at`` (nowSeconds()),
 * given the answer to its revoke (``answer``: the ok or error frame, null if none came: not
 * sent, offline, the connection closed first, or LOGOUT_WAIT over): null when the name was
 * given up (ok: free for anyone at once); else a function that says, in the page's language
 * (showLoginError), that it stays kept, for nobody (the token is forgotten here), and until
 * when. Refused (unavailable, rate_limited...): surely kept, GUEST_HOLD from the bye, which
 * ended the session as it was answered. Not known (unavailable with uncertain: it may have
 * been done; no answer): it may be kept, until at the latest GUEST_HOLD from the end of a
 * session the server may take HEARTBEAT_TIMEOUT to find gone when the bye did not reach it.
 * (The name_taken a later login may get says its own until.) */
function logOutWords(name, answer, at) {
  if (answer && answer.type === "ok") return null;
  if (answer && answer.uncertain !== true) {
    return () => t("You are logged out, but the server could not free the name {name}: it stays kept until {until}, and nobody can log in with it before then, you included.",
      { name, until: formatTime(at + GUEST_HOLD) });
  }
  const latest = at + GUEST_HOLD + (answer ? 0 : HEARTBEAT_TIMEOUT);
  return () => t("You are logged out, but the server did not confirm that it freed the name {name}: it may stay kept until {until} at the latest, and if so nobody can log in with it before then, you included.",
    { name, until: formatTime(latest) });
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
 * until they press "Log out", which gives the name up on the server (revoke) and forgets
 * the token here (forgetResume). */
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

/* The conversation list, per user, in localStorage: a single server keeps no index of a
 * user's conversations (PROTOCOL.md, "since"), so without it the people someone chatted
 * with yesterday were gone from the list at their next login (a reload has the tab's
 * session: keepSession). Names only, never a message: each conversation's history comes
 * from the server as it opens. localStorage belongs to the server's origin, so the key
 * needs only the name; a list is taken only by a login of its kind (an account's by the
 * account, a guest's by that guest, whose token the same browser keeps). A guest's goes
 * with its "Log out"; an account's with the account (account_deleted), and a new account
 * of the name starts without one (takeFrame). */
const KEPT_CONVERSATIONS = 200;  // names at most, the newest kept: a few kilobytes

function conversationsKey(name) {
  return `chat.conversations.${nameKey(name)}`;
}

/** The people ``chat`` has a conversation with, as kept (names). */
function conversationNames(chat) {
  return [...chat.conversations.values()]
    .filter((convo) => convo.key.startsWith("@") && typeof convo.name === "string" && validName(convo.name)
      && !isMe(chat, convo.name) && !(chat.users.get(convo.key) || {}).mistyped)
    .map((convo) => convo.name)
    .slice(-KEPT_CONVERSATIONS);
}

/** Note ``chat``'s conversation list for its user's next login (only when it changed). */
function keepConversations(chat) {
  if (!chat.me || !shell.wantOnline) return;
  const saved = JSON.stringify({ account: chat.registered === true, names: conversationNames(chat) });
  if (saved === shell.savedConversations) return;
  shell.savedConversations = saved;
  try {
    localStorage.setItem(conversationsKey(chat.me), saved);
  } catch {
    /* no storage: the list lasts as long as the page */
  }
}

/** After a welcome: the conversations kept for this user (keepConversations) back in the
 * list, each with no messages until it opens; none kept for a login of the other kind. */
function restoreConversations(chat) {
  let kept = null;
  try {
    kept = JSON.parse(localStorage.getItem(conversationsKey(chat.me)) || "null");
  } catch {
    return;  /* unreadable: nothing to restore */
  }
  if (!kept || kept.account !== (chat.registered === true) || !Array.isArray(kept.names)) return;
  for (const name of kept.names.slice(-KEPT_CONVERSATIONS)) {
    if (typeof name === "string" && !isMe(chat, name)) startConversation(chat, name);
  }
}

function forgetConversations(name) {
  shell.savedConversations = null;
  try {
    localStorage.removeItem(conversationsKey(name));
  } catch {
    /* nothing kept */
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
  keepConversations(shell.chat);
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
  // A room we were put out of (kicked, banned, left on another device): nothing goes, not
  // even an edit the server would refuse; the text stays in the box; why and what to do is
  // said again, as the terminal and the window say it.
  const outAct = chat.outOf.get(chat.active);
  if (outAct !== undefined) {
    const room = roomName(chat, chat.active);
    notice(chat, chat.active, () => sentence(outOfRoomRefused(room, outAct)), nowSeconds(), true);
    render(chat);
    return;
  }
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
  if (shell.leaving) return;  // "Logging out…": the button is off until it is done (awaitGiveUp)
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
  const tooLong = passwordProblem(password);
  if (tooLong) {  // not sent: the server would refuse it
    showLoginError(tooLong);
    $("login-password").focus();
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
    refuseInput(input, t("\"{name}\" is not a valid name.", { name }));
    input.focus();
    return;
  }
  acceptInput(input);
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
    if (!frame) return;
    acceptInput($("join-room-name"));  // an earlier refusal under the join box is not this join's
    sendFrame(frame);
  });
  $("room-tools").addEventListener("click", onRoomToolClick);
  document.querySelector("details.members").addEventListener("toggle", fitMemberList);
  window.addEventListener("resize", fitMemberList);
  keepAtBottom();
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
  $("where-toggle").addEventListener("click", (event) => {  // a phone's: the registry's line shown or not
    const button = event.currentTarget;
    button.setAttribute("aria-expanded", String(button.getAttribute("aria-expanded") !== "true"));
  });
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
  // The header's "Did you mean João?" (view.js likeOffer): João's conversation, as if typed in New chat.
  $("conversation-presence").addEventListener("click", (event) => {
    const button = event.target.closest("button.like-offer");
    const key = button && startConversation(shell.chat, button.dataset.like);
    if (key) selectConversation(key);
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
  $("account-toggle").addEventListener("click", () => {
    const open = !accountMenuOpen();
    if (open) setContactsOpen(false);  // one of the two over the conversation at a time
    setAccountMenuOpen(open);
  });
  // An action chosen in it closes it (a setting changed keeps it open, for the next one).
  for (const id of ["change-password", "delete-account", "logout"]) {
    $(id).addEventListener("click", () => setAccountMenuOpen(false));
  }
  // A tap or the focus elsewhere closes it, as it does any menu.
  const outsideAccountMenu = (event) => {
    if (accountMenuOpen() && !$("account-toggle").contains(event.target) && !$("account-menu").contains(event.target)) {
      setAccountMenuOpen(false);
    }
  };
  document.addEventListener("click", outsideAccountMenu);
  document.addEventListener("focusin", outsideAccountMenu);
  // A dialog opened from the menu gives the focus back to the menu's button where there is
  // one (the browser gives it to the button that opened the dialog: in the closed menu, not
  // drawn, so the focus would be lost to the page's body).
  for (const id of ["password-dialog", "unregister-dialog"]) {
    $(id).addEventListener("close", () => {
      if ($("account-toggle").getClientRects().length) $("account-toggle").focus();
    });
  }
  DRAWER.addEventListener("change", () => {  // widened: no drawer or menu to be open
    setContactsOpen(false);
    setAccountMenuOpen(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (accountMenuOpen()) {
      setAccountMenuOpen(false);
      $("account-toggle").focus();
    } else if (document.body.classList.contains("contacts-open")) {
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
