/*
 * The chat web page, part three of seven (see lang.js): after "delivered" (issue 13;
 * PROTOCOL.md "After delivered: read, typing, edit, delete"). Read marks, typing, the
 * receipts switch, and the edits and deletes of direct messages, with the rule that keeps
 * the latest change of a message shown (lateChange). No DOM, no socket, as protocol.js:
 * its handlers join protocol.js's HANDLERS.
 */
"use strict";

// Read marks are cumulative: at most one per conversation this often (seconds), with the
// newest id; after a "rate_limited" without id (a read's or typing's refusal), the marks
// written this recently are written again once its wait is over. The client library's
// rule (client/core.py: READ_INTERVAL, READ_RETRY_WINDOW), kept alike.
const READ_INTERVAL = 1.0;
const READ_RETRY_WINDOW = 10.0;

Object.assign(HANDLERS, {
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
});

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
  // Names the change by its at: a newer one stored meanwhile stays to be told.
  if (!mine) out.receipts.push({ type: "edit_receipt", msg_id: frame.msg_id, at: frame.at });
  const convo = chat.conversations.get(contactKey(mine ? frame.to : frame.from));
  const item = convo ? convo.items.find((each) => each.kind === "message" && each.msgId === frame.msg_id) : null;
  if (!item) {
    keepChange(chat, frame);
    return;
  }
  if (lateChange(item, frame)) return;
  // A dm deleted before it came said it; a change told again is shown already.
  const news = !(frame.type === "deleted" && item.deleted) && !repeatedChange(item, frame);
  applyChange(item, frame);
  if (!mine && news) {
    out.announce.push(frame.type === "deleted" ? t("{name} deleted a message", { name: frame.from })
      : t("{name} edited a message", { name: frame.from }));
  }
}

/** Whether change ``frame`` (an edited or deleted) comes after a newer one of the message
 * ``shown`` (an item, or a frame kept for it): an edit of a deleted message, or an ``at``
 * before the one applied. A message's changes are stamped later each, and a cluster may
 * tell one late, after a newer one (PROTOCOL.md, "`edited`, `deleted`, `edit_receipt`"):
 * the latest stays. The Python clients' rule is the same (client/core.py late_change). */
function lateChange(shown, frame) {
  if (shown.deleted === true || shown.type === "deleted") return frame.type !== "deleted";
  const at = shown.type ? shown.at : shown.changedAt;
  return typeof frame.at === "number" && typeof at === "number" && frame.at < at;
}

/** Whether ``frame`` is the change ``item`` shows already, told again (at a login, until
 * confirmed; a room's after a connection that died unnoticed): applied, but no news. */
function repeatedChange(item, frame) {
  return typeof frame.at === "number" && item.changedAt === frame.at
    && (frame.type === "deleted") === (item.deleted === true);
}

/** Keep change ``frame`` until its message comes, unless a newer one is kept already. */
function keepChange(chat, frame) {
  const kept = chat.changes.get(frame.msg_id);
  if (!kept || !lateChange(kept, frame)) chat.changes.set(frame.msg_id, frame);
}

/** The change kept for ``item``'s message (keepChange), which came before it: applied now. */
function applyKeptChange(chat, item) {
  const early = chat.changes.get(item.msgId);
  if (!early) return;
  chat.changes.delete(item.msgId);
  if (!lateChange(item, early)) applyChange(item, early);
}

function applyChange(item, change) {
  if (typeof change.at === "number") item.changedAt = change.at;  // what a later change is held to (lateChange)
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
