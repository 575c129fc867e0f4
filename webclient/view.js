/*
 * The chat web page, part six of seven (see lang.js): the view. Draws the state into the
 * page. Every piece of text that came from the network or from a user goes in with
 * textContent / createTextNode, never as HTML.
 */
"use strict";


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
  atBottom: true,            // the list was last scrolled to its newest (keepAtBottom)
  contactsShown: null,       // what the contact list shows (renderContacts), to build it only when it changes
  membersShown: null,        // the same for the open room's member list (renderRoomTools)
  membersKey: null,          // the room whose members the list shows
};

function render(chat) {
  renderTopbar(chat);
  renderPassword(chat);
  renderUnregister(chat);
  renderContacts(chat);
  renderConversation(chat);
  renderTyping(chat);
  fitMemberList();  // the header above the list may have changed
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
  const tooLong = passwordProblem(old) || passwordProblem(password);  // not sent: the server would refuse it
  const problem = tooLong ? sentence(tooLong()) : password !== $("password-again").value
    ? t("The two new passwords differ.") : "";
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

/** A row of the contact list; ``said``: a person's presence in words (presenceWords: none when
 * not known); ``detail`` (a room's topic or size, a person's block) replaces it. */
function contactButton(chat, key, name, online, said, unread, detail) {
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
  const presence = detail || (key === ROOM ? t("Broadcast room") : said);
  const presenceNode = el("span", "contact-presence", presence);
  if (presence) label.append(detail ? theirs(presenceNode) : presenceNode);
  button.append(dot, label);
  if (unread) button.append(el("span", "badge", String(unread)));
  if (isBlocked(chat, key)) button.classList.add("blocked");
  // A screen reader hears what is shown, in the page's language.
  const parts = presence ? [name, presence] : [name];
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
  const rows = [[ROOM, t("Everyone"), true, "", room ? room.unread : 0]];
  rows.push(...roomButtons(chat));
  const live = chat.status === "online";  // while disconnected nobody is known to be online
  for (const entry of sortedContacts(chat)) {
    const convo = chat.conversations.get(entry.key);
    const peer = live ? entry : null;
    const presence = presenceWords(chat, peer);  // as the header says it
    const blocked = !isBlocked(chat, entry.key) ? null
      : presence ? t("{presence} · blocked", { presence }) : t("blocked");
    rows.push([entry.key, entry.name, isOnline(chat, peer), presence, convo ? convo.unread : 0, blocked]);
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
  renderWhere(chat, key, peer);
  if (!isRoomKey(key)) {
  $("conversation-title").textContent = key === ROOM ? t("Everyone") : convo.name;
  const presence = personPresence(chat, peer);
  const offer = key !== ROOM && !isBlocked(chat, key) ? likeOffer(chat, peer) : null;
  if (offer) $("conversation-presence").replaceChildren(`${presence}. `, offer);
  else $("conversation-presence").textContent = key === ROOM ? t("Messages here go to everyone online")
    : !isBlocked(chat, key) ? presence
    : presence ? t("{presence} · blocked: their messages do not reach you", { presence })
    : t("Blocked: their messages do not reach you");
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

/** Person ``peer``'s presence in the header (null while we are offline): online,
 * offline, or nobody's name, as the server said; while its lookup (whoisFrames) is awaited
 * for a name the page never saw online, nothing: "Offline" would say that someone by that
 * name exists and will read the message later. Nothing either while we are not connected:
 * we know nobody's presence then (the top bar says why), and they may be online. */
function personPresence(chat, peer) {
  return sentence(presenceWords(chat, peer));
}

/** For a name nobody has (``peer``, as the header says it): "Did you mean João?", a button
 * that opens João's conversation (app.js), when the server named a look-alike online (the
 * whois answer's or unknown_recipient's "like": HANDLERS.user); else null. The page has no
 * table of look-alikes: without the server's word it offers none. Only in the header: a
 * contact row says a presence, not a choice. */
function likeOffer(chat, peer) {
  if (!peer || !peer.like || isOnline(chat, peer) || !(peer.mistyped || peer.exists === false)) return null;
  const button = el("button", "like-offer", t("Did you mean {like}?", { like: peer.like }));
  button.type = "button";
  button.dataset.like = peer.like;
  return button;
}

/** Person ``peer``'s presence as personPresence says it, in lower case for a contact row: the
 * row and the header say the same, and nothing where the page does not know. */
function presenceWords(chat, peer) {
  if (!peer) return "";
  if (isOnline(chat, peer)) return t("online");
  // Nobody's: a lookup or a send said so (mistyped), or the answer to a watch (exists false).
  if (peer.mistyped || peer.exists === false) return t("nobody by that name has logged in here");
  if (peer.exists === null && !isMe(chat, peer.name)) return "";
  return t("offline");
}

/** The line under a person's name in the header: their registry entry (the answer to the
 * whois whoisFrames sent), while they are online. Everyone and a room have none: drawn
 * for every conversation, so that a room opened after a person keeps none of theirs. */
function renderWhere(chat, key, peer) {
  const where = key !== ROOM && !isRoomKey(key) && isOnline(chat, peer) && peer.where ? peer.where : null;
  const host = where && where.address.includes(":") ? `[${where.address}]` : where && where.address;  // IPv6
  $("conversation-where").textContent = where
    ? t("{address} · online since {when}", { address: `${host}:${where.port}`, when: formatTime(where.since) }) : "";
  $("conversation-where").hidden = !where;
  $("where-toggle").hidden = !where;
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
 * the user blocks; it waits (aria-disabled: a click sends nothing, blockFrame) while a
 * request of theirs is on its way or the page is offline. Not `disabled`, which would take
 * the focus away from a keyboard user who just pressed it, to the document's body. */
function renderBlockButton(chat, key) {
  const button = $("block-toggle");
  const person = chat.users.get(key) || {};
  button.hidden = key === ROOM || isRoomKey(key) || chat.blocked === null || isMe(chat, person.name)
    || (person.mistyped === true && !person.online && !isBlocked(chat, key));  // nobody to block
  button.textContent = isBlocked(chat, key) ? t("Unblock") : t("Block");
  button.setAttribute("aria-disabled", String(!mayBlock(chat, key)));
  button.classList.toggle("unblock", isBlocked(chat, key));
}


/* ----- Rooms in the page ------------------------------------------------------------- */

/** The joined rooms' rows of the contact list (after "Everyone"), as contactButton's arguments. */
function roomButtons(chat) {
  const rows = [];
  const rooms = [...chat.rooms.entries()].sort((a, b) => compareNames(a[1].name, b[1].name));
  for (const [key, room] of rooms) {
    const convo = chat.conversations.get(key);
    rows.push([key, room.name, true, "", convo ? convo.unread : 0,
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
  // The topic in the text's colour, the count muted: not green, which is a person's "Online" on this line.
  const presence = $("conversation-presence");
  if (room && room.topic) presence.replaceChildren(el("bdi", "topic-text", room.topic), ` · ${count}`);
  else presence.textContent = count;
  delete presence.dataset.online;
  presence.dataset.blocked = "false";
  $("composer-label").textContent = chat.outOf.has(key) ? outOfRoomRecipient(name)
    : t("Message to everyone in {room}", { room: name });
  $("composer-input").placeholder = t("Message {room}…", { room: name });
}

const SVG = "http://www.w3.org/2000/svg";

/** A padlock, drawn (an emoji needs a font many computers lack: a box then); hidden from
 * screen readers, which are told in words beside it. */
function lockMark() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "room-lock");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  const shackle = document.createElementNS(SVG, "path");
  shackle.setAttribute("d", "M5 7V5a3 3 0 0 1 6 0v2");
  const body = document.createElementNS(SVG, "rect");
  const box = { x: 3, y: 7, width: 10, height: 8, rx: 1.5 };
  for (const [name, value] of Object.entries(box)) body.setAttribute(name, value);
  svg.append(shackle, body);
  return svg;
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
    button.append(bdi(entry.room));
    // Invite-only (listed to administrators only, PROTOCOL.md room_list): a lock to see, words to hear.
    if (entry.invite_only === true) button.append(" ", lockMark(), el("span", "visually-hidden", t("invite only")));
    button.append(` (${entry.count | 0})`);
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
  // Asked again (a room notice sets it to null): what is shown stays until the answer
  // replaces it, or the list blinked out at every join of a busy room.
  if (room.members === null && view.membersKey === key) return;
  view.membersKey = key;
  // Built again only when it changed: every frame of a busy room would, for nothing.
  const shown = JSON.stringify([i18n.language, key, moderator, chat.me,
    (room.members || []).map((member) => [member.name, member.role, member.online, member.muted === true])]);
  if (shown === view.membersShown) return;
  view.membersShown = shown;
  // In the contact list's order: the server pages them by code point (Érica after Vitória).
  const inOrder = [...(room.members || [])].sort((a, b) => compareNames(a.name, b.name));
  members.replaceChildren(...inOrder.map((member) => {
    const item = el("li", member.online ? "member" : "member member-offline");
    item.dataset.name = member.name;
    // Beside the name, in brackets: a role above member, and a mute that keeps them from
    // posting now (PROTOCOL.md member_list's "muted"), which every member sees.
    const marks = [];
    if (member.role !== "member" && ROLES[member.role]) marks.push(t(ROLES[member.role]));  // i18n: listed in ROLES
    if (member.muted === true) marks.push(t("muted"));
    const nameNode = el("span", "member-name");
    nameNode.append(bdi(member.name), marks.length ? ` (${marks.join(", ")})` : "");
    item.append(nameNode);
    if (moderator && !isMe(chat, member.name) && member.role !== "owner") {
      for (const [act, fields, label] of ROOM_ACTS) {
        // Mute for someone not muted, Unmute for someone muted: the list says which (PROTOCOL.md member_list).
        if (act === (member.muted === true ? "mute" : "unmute")) continue;
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

/** The message list, read at its newest, stays there when it gets shorter (a member list
 * opened above it, the message box grown): the newest message was left below its fold. */
function keepAtBottom() {
  const list = $("messages");
  list.addEventListener("scroll", () => {
    view.atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  });
  new ResizeObserver(() => {
    if (view.atBottom) list.scrollTop = list.scrollHeight;
  }).observe(list);
}

const MEMBERS_LEAST = 80;  // px: an open member list shows at least one member and its acts

/** An open member list, in the header's flow, takes at most half of what is left of the
 * conversation below its top (and 14rem, style.css): the messages keep the rest. On a
 * 360x640 phone its 14rem had left them a strip of 24 px, not one message readable; it
 * scrolls instead. */
function fitMemberList() {
  const list = $("member-list");
  if (!list.closest("details").open || $("room-tools").hidden) {
    list.style.maxHeight = "";
    return;
  }
  const bottom = document.querySelector(".conversation").getBoundingClientRect().bottom - $("composer").offsetHeight;
  const half = Math.floor((bottom - list.getBoundingClientRect().top) / 2);
  list.style.maxHeight = `min(14rem, ${Math.max(MEMBERS_LEAST, half)}px)`;
}

function onJoinRoom(event) {
  event.preventDefault();
  const input = $("join-room-name");
  const frame = joinRoomFrame(shell.chat, input.value, true);
  if (!frame) {
    refuseInput(input, t("\"{name}\" is not a valid room name.", { name: input.value }));
    return;
  }
  acceptInput(input);
  input.value = "";
  sendFrame(frame);
}

/** The new topic of ``room`` (``topic`` now), or null (cancelled). One longer than the
 * server takes (MAX_TOPIC_CHARS code points: it would refuse it, bad_field, in English) is
 * asked again with the limit and its length said, the text kept to be shortened: the
 * window's rule (client/gui/rooms.py), in its words. */
function askTopic(room, topic) {
  let question = t("The topic of {room}:", { room });
  for (;;) {
    topic = window.prompt(question, topic);
    if (topic === null || Array.from(topic).length <= MAX_TOPIC_CHARS) return topic;
    question = t("The topic of {room} (at most {limit} characters; this one has {n}: shorten it):",
      { room, limit: MAX_TOPIC_CHARS, n: Array.from(topic).length });
  }
}

function onRoomToolClick(event) {
  const chat = shell.chat;
  const key = chat.active;
  const button = event.target.closest("button");
  if (!button || !isRoomKey(key)) return;
  let frame = null;
  if (button.id === "room-leave") frame = leaveRoomFrame(chat, key);
  if (button.id === "room-topic") {
    const topic = askTopic(roomName(chat, key), (chat.rooms.get(key) || {}).topic || "");
    if (topic !== null) frame = topicFrame(chat, key, topic);
  }
  if (button.id === "room-invite") {
    const name = (window.prompt(t("Who may join {room}?", { room: roomName(chat, key) }), "") || "").trim();
    if (validName(name)) frame = roomActFrame(chat, key, "invite", name);
    else if (name) {  // never sent: said, rather than a button that seems to do nothing
      const words = () => t("\"{name}\" is not a valid name.", { name });
      notice(chat, key, words, nowSeconds(), true);
      render(chat);
      announce([words()]);
    }
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
    ? explainError(item.errorCode, item.error, item.to || item.room, left, refusal.like || null, refusal.room,
      refusal.reason, false, refusal.attempts, refusal.triedFor, null, item.waited, item.waitedSaid)
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

/** A sidebar form's ``input`` refused (before anything was sent, or by the server: a join):
 * marked, and ``text`` said on screen under it (its aria-describedby) and to screen readers;
 * a red border alone told a sighted user nothing of why. */
function refuseInput(input, text) {
  input.setAttribute("aria-invalid", "true");
  showText($(input.getAttribute("aria-describedby")), text);
  announce([text]);
}

/** The input was taken: its mark and words go. */
function acceptInput(input) {
  input.removeAttribute("aria-invalid");
  showText($(input.getAttribute("aria-describedby")), "");
}

function showView(name) {
  document.body.dataset.view = name;
  $("login-view").hidden = name !== "login";
  $("chat-view").hidden = name !== "chat";
  setAccountMenuOpen(false);  // the next login starts with it closed
}

/** When the contact list is a drawer over the conversation: style.css's phone layout. */
const DRAWER = window.matchMedia("(max-width: 720px)");

/** The phone's account menu (the settings and account actions behind one button: style.css,
 * "account menu") open or closed. Its state is the button's aria-expanded, which is also
 * what the style sheet draws the menu from: one place, so the two cannot disagree. */
function setAccountMenuOpen(open) {
  $("account-toggle").setAttribute("aria-expanded", String(open));
}

function accountMenuOpen() {
  return $("account-toggle").getAttribute("aria-expanded") === "true";
}

function setContactsOpen(open) {
  document.body.classList.toggle("contacts-open", open);
  $("contacts-toggle").setAttribute("aria-expanded", String(open));
  // What the open drawer covers is out of reach, so Tab and a screen reader stay in the
  // drawer and the top bar instead of walking through hidden controls behind it.
  document.querySelector(".conversation").inert = open && DRAWER.matches;
}
