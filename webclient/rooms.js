/*
 * The chat web page, part five of seven (see lang.js): the protocol of named rooms
 * (protocol version 2; PROTOCOL.md "Rooms and moderation"), their typing, edits and
 * deletes. No DOM, no socket, as protocol.js: its handlers join protocol.js's HANDLERS.
 */
"use strict";

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
  return [roomRequest(chat, { type: "rooms" }, "rooms"), askMyRooms(chat, true)];
}

/** The "rooms" with "mine" whose answer says which of the rooms listed are still ours;
 * ``afterWelcome``: asked after a welcome (not again on a live connection), which the words
 * for a room it lacks say (dropUnlisted). */
function askMyRooms(chat, afterWelcome = false) {
  chat.mineSeen = new Set();
  return roomRequest(chat, { type: "rooms", mine: true }, "rooms", { mine: true, afterWelcome });
}

/** A server that ignored "mine" (older than it): the rooms this tab was in, joined again
 * (a join of a room one is in changes nothing; it brings back its topic and count). */
function rejoinListed(chat) {
  return [...chat.rooms.values()].map((room) => roomRequest(chat, { type: "join", room: room.name }, "join",
    { quiet: true, room: room.name }));
}

/** The last page of "mine" came: rooms listed here that the server no longer has us in
 * (put out while away, or left from another device: the list does not say which) go, as
 * after a kick seen live (roomGone, "gone"): Everyone says so, and a conversation of the
 * room stays (on screen if it is), saying what to do, and refuses lines typed there; the
 * page used to open Everyone in silence, and a line typed in the room went to the server.
 * Asked again on a live connection (``afterWelcome`` false), the list may lack a room whose
 * leave or kick is not yet announced (the server stores a change, then announces it): not
 * "while you were disconnected" then; the notice that follows is said if it says more (a kick). */
function dropUnlisted(chat, out, afterWelcome) {
  for (const key of [...chat.rooms.keys()]) {
    if (chat.mineSeen.has(key)) continue;
    const name = roomName(chat, key);
    roomGone(chat, key, "gone");
    notice(chat, ROOM, () => sentence(outOfRoomAway(name, afterWelcome)), nowSeconds());
    out.announce.push(sentence(outOfRoomAway(name, afterWelcome)));
    if (chat.conversations.has(key)) notice(chat, key, () => sentence(outOfRoomWords(name, "gone")), nowSeconds());
  }
}

/** Room ``key`` is no longer ours (left from another device, put out, or the server said
 * not_member): off the list; the page no longer says it reads or types there. ``act``
 * ("kick", "ban", "left": a notice of it about us; "gone": off the list of our rooms after a
 * reconnection, dropUnlisted): its conversation, which stays, refuses
 * lines typed there until we are in again (outOfRoomWords), as the terminal and the window do. */
function roomGone(chat, key, act = null) {
  chat.rooms.delete(key);
  chat.roomTyping.delete(key);
  chat.roomMarks.delete(key);
  if (act) chat.outOf.set(key, act);
}

/** Room ``key`` is ours (again): lines typed there go to it. */
function roomBack(chat, key) {
  chat.outOf.delete(key);
}

/** The frame that joins (or creates) ``typed``; null if the name is not valid. ``fromBox``:
 * typed in the join box, which a refusal gives back (roomRequestFailed). */
function joinRoomFrame(chat, typed, fromBox = false) {
  const name = checkRoomName(typed);
  if (!name || chat.version < 2) return null;
  const extra = fromBox ? { room: name, typed } : { room: name };  // named in a refusal
  return roomRequest(chat, { type: "join", room: name }, "join", extra);
}

function leaveRoomFrame(chat, key) {
  return roomRequest(chat, { type: "leave", room: roomName(chat, key) }, "leave", { key });
}

function roomActFrame(chat, key, act, name, fields = {}) {
  const frame = { type: act, room: roomName(chat, key), name, ...fields };
  return roomRequest(chat, frame, "act", { key, act, target: name });
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
  applyKeptChange(chat, item);  // a change that came before it (in a cluster)
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
    keepChange(chat, frame);
    return;
  }
  if (lateChange(item, frame)) return;
  const news = !repeatedChange(item, frame);
  applyChange(item, frame);
  if (!news || isMe(chat, frame.by || frame.from)) return;
  out.announce.push(frame.type === "edited" ? t("{name} edited a message in {room}", { name: frame.from, room: frame.room })
    : typeof frame.by === "string" ? t("{by} deleted a message of {name} in {room}", { by: frame.by, name: frame.from, room: frame.room })
      : t("{name} deleted a message in {room}", { name: frame.from, room: frame.room }));
}

/** Someone else's room post ``item`` we may delete: as the room's owner or moderator. */
function moderatorMayDelete(chat, item) {
  return item.kind === "message" && item.dir === "in" && Boolean(item.room) && item.msgId != null && !item.deleted
    && chat.status === "online" && mayModerate(chat, roomKey(item.room));
}

/** A room notice as the page shows it: a sentence of its own (the terminal's "* " mark off),
 * so "you" at its start, in the language's order, is "You" ("Você entrou em #redes"). */
function describeRoomNotice(chat, frame) {
  const mine = (frame.act === "owner" || frame.act === "delete") && isMe(chat, frame.name);
  const template = ROOM_NOTICES[mine ? `${frame.act}-you` : frame.act];
  const words = template ? t(template) : null;  // i18n: listed in ROOM_NOTICES
  const first = words ? (/^\* \{(\w+)\}/.exec(words) || [])[1] : null;  // the field the line begins with
  const who = (name, field) => (typeof name !== "string" ? t("the server") : !isMe(chat, name) ? name
    : field === first ? t("You") : t("you"));
  let text = words
    ? fill(words, { name: who(frame.name, "name"), by: who(frame.by, "by"), room: frame.room, topic: frame.topic || "",
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
  text = text.replace(/^\* /, "");
  // A line that begins with the catalogue's own words ("a sala #redes agora é de Olga"): their
  // first letter a capital. Never a name's: "ana" is spelled as she spells it.
  return words && !first ? sentence(text) : text;
}

/** A room request refused: said in the room's conversation, and a join the user asked for
 * (from the sidebar) under the join box, as ``out.joinRefused`` ({words, typed}: a function
 * giving the sentence in the page's language, and the name as typed in the box, to be put
 * back there, or undefined): where the user acted, not in whichever conversation happens to
 * be open; in the room's own conversation too when it is the open one (on a phone the
 * sidebar is a drawer over it, where the join was typed). */
function roomRequestFailed(chat, request, frame, message, out) {
  const joined = request.kind === "join" && request.room ? roomKey(request.room) : null;
  const refused = { words: () => sentence(explainFrame(frame, message, request.room)), typed: request.typed };
  if (joined && !request.quiet) out.joinRefused = refused;
  if (joined && !(chat.active === joined || (request.quiet && chat.conversations.has(joined)))) {
    out.joinRefused = refused;  // (a reconnection's rejoin of a room it has no conversation of too)
    return;
  }
  const key = joined || (request.key && chat.conversations.has(request.key) ? request.key : chat.active);
  const room = isRoomKey(request.key) ? roomName(chat, request.key) : request.room || null;
  // An act on someone (kick, invite...): its not_member may be about them ("Vic is not in
  // #redes": they left meanwhile). The error names them then (its "name"), and the page's
  // sentence says it; with neither "name" nor "room" (an older server) no sentence of the
  // page's names the right one: the server's words say it (as the terminal's), and the
  // members are asked again (a members request answers not_member if it is ours after all).
  // One with "room" and no "name" is ours (PROTOCOL.md "error"): the room goes at once, as
  // for a send's.
  const aboutThem = request.kind === "act" && typeof request.target === "string"
    && !(frame.code === "not_member" && typeof frame.room === "string" && typeof frame.name !== "string");
  const named = aboutThem && typeof frame.name === "string";
  if (aboutThem && frame.code === "not_member") {
    const listed = chat.rooms.get(request.key);
    if (listed) Object.assign(listed, { members: null, asked: false });
    if (listed && chat.active === request.key) out.send.push(...roomOpened(chat, request.key));
  } else if (frame.code === "not_member" && isRoomKey(request.key)) {
    roomGone(chat, request.key);  // not ours any more
  }
  // The sentence names it: the request's room, or the room a join was for (invite_only).
  // banned, of our own join: the error names the room and the ban's reason (an invite's
  // refusal names no room: see below). An invite's unknown_recipient is a refusal of an
  // invitation that the catalogue's sentence for the code does not fit ("nobody called ...
  // has ever logged in"): a name with no account, on a server that admits only accounts
  // (PROTOCOL.md, "invite"); said in the page's words, which name the person, in its
  // language (again after a switch).
  // An invite's banned (the person invited is banned) is another (i18n.acts, client/display.py's ACT_TEXTS).
  const own = aboutThem && Object.hasOwn(i18n.acts, `${request.act}/${frame.code}`)
    ? i18n.acts[`${request.act}/${frame.code}`] : null;
  const words = own
    ? () => explainError(own, message, request.target)
    : () => explainFrame(frame, message, aboutThem && !named ? null : room);
  notice(chat, key, () => t("Server: {message}", { message: words() }), nowSeconds(), true);
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
    roomBack(chat, key);
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
        out.send.push(roomRequest(chat, { type: "rooms", mine: true, after: frame.next }, "rooms",
          { mine: true, afterWelcome: request.afterWelcome }));
      } else {
        dropUnlisted(chat, out, request.afterWelcome === true);
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
    // Someone back with the server is no news (the returns, protocol.js).
    const returned = frame.act === "online" && !aboutMe && returnsRoomOnline(chat, key, contactKey(frame.name));
    if (!returned && !(aboutMe && (frame.act === "joined" || (frame.act === "left" && !room)))) {
      notice(chat, key, () => describeRoomNotice(chat, frame), frame.at);
      if (aboutMe) out.announce.push(describeRoomNotice(chat, frame));
    }
    // Our ban lifted while we are out for it: a join would do now, and is offered.
    if (aboutMe && frame.act === "unban" && chat.outOf.get(key) === "ban") {
      chat.outOf.set(key, "kick");
      notice(chat, key, () => sentence(outOfRoomWords(frame.room, "kick")), frame.at);
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
      roomGone(chat, key, frame.act);
      notice(chat, key, () => sentence(outOfRoomWords(frame.room, frame.act)), frame.at);
      out.announce.push(sentence(outOfRoomWords(frame.room, frame.act)));
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
 * lists it, with its topic, count and mode as they are now (changed while the page was
 * away, say), without joining (its owner comes with its members, its notices, or the join
 * of a reconnection). An entry without "invite_only" is a public room (PROTOCOL.md,
 * room_list). Not the default room: "Everyone". */
function listedRoom(chat, entry) {
  if (roomKey(entry.room) === roomKey(DEFAULT_ROOM)) return;
  const key = roomKey(entry.room);
  const room = chat.rooms.get(key) || { members: null, owner: null };
  Object.assign(room, { name: entry.room, topic: String(entry.topic || ""), count: entry.count | 0,
    inviteOnly: entry.invite_only === true });
  chat.rooms.set(key, room);
  roomBack(chat, key);
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
