// Written by python3 -m i18n web from the catalogue of en.json: do not edit.
// A page opened as a file (file://) cannot fetch that file; it runs this one.
chatCatalogueLoaded("en", {
 "language": "en",
 "plural": "n != 1",
 "messages": {},
 "errors": {
  "account_deleted": "this account was deleted: its name and what was stored of it are gone from this server",
  "account_exists": "this name is already registered: log in with its password, or choose another name",
  "accounts_required": "this server only admits registered names: claim yours with --register",
  "act_forbidden": "you may not do that to {name}: only a room's owner, its moderators or an administrator may act on its members, each only on someone below them in the room, and nobody on themselves",
  "act_staff_only": "only a room's owner, its moderators or an administrator may do that in the room; ask them",
  "auth_required": "the name {name} is registered: it needs its password",
  "bad_password": "wrong password",
  "banned": "you are banned from {name}{why}",
  "block_self": "you cannot block yourself",
  "confusable_name": "the name {name} looks too much like {like}, a name already in use here: if {like} is yours, type it exactly so; otherwise choose another name",
  "confusable_name_reserved": "the name {name} looks too much like {like}, a word reserved for the server: choose another name",
  "expired": "it waited for {name} until it expired: their client never took it; tell them some other way, or send it again when they are online",
  "expired_waited": "it waited {waited} for {name} and expired: their client never took it; tell them some other way, or send it again when they are online",
  "forbidden": "you may not do that: only a message's sender may change it, and only a room's owner, its moderators or an administrator may manage the room; ask them",
  "heartbeat_timeout": "the server closed the connection: it heard nothing from this client for too long",
  "invalid_name": "that name cannot be used: a name has letters and digits of one script, with '_', '-' or '.' but no spaces or symbols (a room's name starts with #); choose another",
  "invite_banned": "{name} is banned from this room: unban them first, then invite them",
  "invite_no_account": "{name} has no account here, and only accounts log in on this server: check the name, or invite them once they have registered",
  "invite_only": "{name} is invite-only: ask its moderators to invite you",
  "login_timeout": "the server closed the connection: the login did not finish in time",
  "message_too_large": "the text is longer than {limit} characters: shorten it, or send it in parts",
  "muted": "you are muted in {name}: {when}",
  "name_held": "the name {name} is kept for the guest who used it last until {until} ({delay} from now): choose another name, or wait",
  "name_held_until": "the name {name} is kept for the guest who used it last until {until}: choose another name, or wait",
  "name_still_yours": "the name {name} is yours, but a session of yours still holds it: an earlier connection the server has not found ended yet, or another client of yours still open (on this computer, logged in as {name}); {when}",
  "name_taken": "the name {name} is in use, or kept for a while for the guest who used it last: choose another name",
  "name_too_long": "the name is too long: at most {limit} characters; choose a shorter one",
  "name_too_many_bytes": "the name is too long: at most {limit} bytes of UTF-8 (a letter takes 1 to 4, one made of several parts more); choose a shorter one",
  "no_such_room": "there is no room {name}",
  "no_such_room_like": "there is no room {name}; did you mean {like}?",
  "not_member": "you are not in {name}: join it first",
  "not_member_named": "{name} is not in {room}",
  "password_changed": "your password was changed on another device: log in again with the new password",
  "password_reset": "your password was reset by the server operator: log in again with the new password the operator gives you",
  "password_too_long": "the password is too long: at most {limit} characters",
  "queue_full": "too many messages are waiting for the connection to come back",
  "rate_limited": "too many attempts; {when}",
  "reason_too_long": "the reason is too long: at most {limit} characters; shorten it",
  "recipient_busy": "{name} has too many messages waiting; try again later",
  "recipient_disconnected": "{name} disconnected before receiving it",
  "room_confusable": "{name} looks too much like {like}, a room that exists: join {like}, or choose another name",
  "room_exists": "{name} exists already: join it",
  "rooms_from_address": "too many rooms were made lately from your address (this computer, or your network's): join a room that exists, or {when}",
  "server_full": "the server has no room for another user now; {when}",
  "slow_consumer": "the server closed the connection: this client did not read what it was sent fast enough",
  "too_late": "a message can be edited or deleted only within {span} of sending it",
  "too_many_blocked": "you block as many names as one may already: unblock someone you no longer need to block first",
  "too_many_connections": "too many connections come from your address (this computer, or your network's); close some, or {when}",
  "too_many_rooms": "no more rooms now: you are in as many rooms as one may be, or too many rooms were made (on this server, or lately from your address); leave a room you no longer need, or join one that exists",
  "topic_too_long": "the topic is too long: at most {limit} characters; shorten it",
  "unavailable": "the server cannot use its storage right now (its disk is full or failing, or it cannot reach its Redis), so nothing was done; {when}",
  "unavailable_given_up": "the server could not store it (its disk is full or failing, or it cannot reach its Redis): tried {attempts} times in {duration}, and it was not sent; send it again later",
  "unblock_self": "you cannot unblock yourself: nobody can block themselves",
  "unconfirmed": "the server's storage did not answer in time, so the server cannot tell whether it was done: it may or may not have been",
  "unconfirmed_given_up": "the server's storage did not answer in time: tried {attempts} times in {duration}, and the server cannot tell whether it was stored: it may or may not have been",
  "unknown_message": "there is no such message for you on the server (it was deleted, or it was not sent to or by you)",
  "unknown_recipient": "nobody called {name} has ever logged in here: check the name",
  "unknown_recipient_like": "nobody called {name} has ever logged in here; did you mean {like}?",
  "unsupported_version": "the server does not speak this client's protocol version",
  "weak_password": "a password needs at least {n} characters"
 },
 "needs_name": [
  "auth_required",
  "confusable_name",
  "invite_only",
  "name_taken",
  "no_such_room",
  "not_member",
  "room_exists",
  "unknown_recipient"
 ],
 "needs_like": [
  "confusable_name"
 ],
 "needs_room": [
  "banned",
  "muted"
 ],
 "left_reasons": {
  "account deleted": "account deleted",
  "connection lost (BrokenPipeError)": "connection lost: reset by the other side",
  "connection lost (ConnectionAbortedError)": "connection lost: aborted by the network",
  "connection lost (ConnectionResetError)": "connection lost: reset by the other side",
  "connection lost (OSError)": "connection lost: network error",
  "connection lost (SSLEOFError)": "connection lost: TLS error",
  "connection lost (SSLError)": "connection lost: TLS error",
  "connection lost (SSLSyscallError)": "connection lost: TLS error",
  "connection lost (SSLZeroReturnError)": "connection lost: TLS error",
  "connection lost (server stopped)": "connection lost: server stopped",
  "disconnected": "disconnected",
  "frame timeout": "frame timeout",
  "password changed in another session": "password changed in another session",
  "password reset by the server operator": "password reset by the server operator",
  "protocol error": "protocol error",
  "quit": "quit",
  "server lost the cluster": "server lost the cluster",
  "server shutting down": "server shutting down",
  "slow consumer": "slow consumer",
  "timeout": "timeout",
  "too many errors": "too many errors"
 },
 "out_of_room": {
  "kick": "you are no longer in {room}: join it again ({join}) to write here, or open Everyone",
  "ban": "you are no longer in {room}: open Everyone to write to everyone",
  "refused": "not sent, the text stays in the box: {words}",
  "recipient": "Nowhere: you are no longer in {room}",
  "away": "you are no longer in {room}: it left your rooms while you were disconnected (put out of it, or left on another device); join it again ({join}) to go back",
  "dropped": "you are no longer in {room}: it left your rooms (put out of it, or left on another device); join it again ({join}) to go back"
 },
 "when_untimed": {
  "muted": "until a moderator unmutes you"
 },
 "timed": {
  "name_taken": "name_still_yours",
  "too_many_rooms": "rooms_from_address"
 },
 "liked": {
  "no_such_room": "no_such_room_like",
  "unknown_recipient": "unknown_recipient_like"
 },
 "room_liked": {
  "confusable_name": "room_confusable"
 },
 "reserved": {
  "confusable_name": "confusable_name_reserved"
 },
 "named": {
  "not_member": "not_member_named"
 },
 "self_room": [
  "not_member"
 ],
 "too_long": {
  "name": "name_too_long",
  "names": "name_too_long",
  "new": "password_too_long",
  "old": "password_too_long",
  "password": "password_too_long",
  "reason": "reason_too_long",
  "room": "name_too_long",
  "to": "name_too_long",
  "topic": "topic_too_long",
  "with": "name_too_long"
 },
 "too_many_bytes": {
  "name": "name_too_many_bytes",
  "names": "name_too_many_bytes",
  "room": "name_too_many_bytes",
  "to": "name_too_many_bytes",
  "with": "name_too_many_bytes"
 },
 "acts": {
  "appoint/forbidden": "act_forbidden",
  "ban/forbidden": "act_forbidden",
  "block/bad_field": "block_self",
  "invite/banned": "invite_banned",
  "invite/forbidden": "act_staff_only",
  "invite/unknown_recipient": "invite_no_account",
  "kick/forbidden": "act_forbidden",
  "mute/forbidden": "act_forbidden",
  "topic/forbidden": "act_staff_only",
  "unban/forbidden": "act_forbidden",
  "unblock/bad_field": "unblock_self",
  "unmute/forbidden": "act_forbidden"
 },
 "until_texts": {
  "name_taken": "name_held"
 },
 "until_clockless": {
  "name_taken": [
   "name_held_until",
   600.0
  ]
 },
 "login_fields": {
  "account_exists": "name",
  "auth_required": "password",
  "bad_password": "password",
  "confusable_name": "name",
  "invalid_name": "name",
  "name_taken": "name",
  "weak_password": "password"
 },
 "login_retry": [
  "name_taken",
  "rate_limited",
  "server_full",
  "too_many_connections",
  "unavailable"
 ],
 "login_wait": 10.0,
 "password_fields": {
  "bad_password": "old",
  "weak_password": "new"
 }
});
