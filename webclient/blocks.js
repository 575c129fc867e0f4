/*
 * The chat web page, part four of seven (see lang.js): blocking (PROTOCOL.md, "block",
 * "blocks"). Whom the user blocks, as the server says, the block and unblock requests and
 * their outcomes, and those made on another device. No DOM, no socket, as protocol.js:
 * its handlers join protocol.js's HANDLERS.
 */
"use strict";

Object.assign(HANDLERS, {
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
});

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
