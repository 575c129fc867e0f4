"""Addresses, ports and limits of the chat system: the defaults, each with what it means.

To change one, set it in ``const_local.py`` beside this file (the same name, e.g.
``ADMINS = ("João",)``), not here: upgrades replace this file and never touch that one
(overrides.py; README, "`const.py`"). The server and every client read their settings
from here, that file applied; command-line flags override them (``python3 chatserver.py
--help``, ``python3 chatclient.py --help``).
"""

# --- Where the server listens and where clients connect -------------------------------
# "0.0.0.0" accepts connections from the LAN; "127.0.0.1" only from this machine. On IPv6:
# "::" accepts them from the LAN over IPv6 and IPv4 both (an IPv4 client is shown as its
# IPv4 address), "::1" from this machine over IPv6 only. Clients take an IPv6 server as
# "::1", "2001:db8::20" or, with a link-local address, "fe80::1%eth0" (no brackets here;
# README, "Run it").
SERVER_HOST = "127.0.0.1"
SERVER_PORT = 5000
# The servers clients use, in order of preference, as (host, port): a client logs in to the
# first that answers and, when its connection is lost, goes round the list (failover).
# Unless your settings set it, it is SERVER_HOST and SERVER_PORT as they leave them (the end
# of this file).
SERVERS: list[tuple[str, int]] = [(SERVER_HOST, SERVER_PORT)]
# The web client (http://SERVER_HOST:WEB_PORT/) and its WebSocket; 0 turns it off.
WEB_PORT = 8080
# Origins allowed to open the WebSocket besides the page's own, e.g. ("https://chat.example",).
WEB_ALLOWED_ORIGINS: tuple[str, ...] = ()
# DNS names of this server that browsers may use, besides localhost and the machine's host
# name, e.g. ("chat.example.org",); other names are refused (DNS rebinding). IP addresses
# always work; "*" allows any name.
WEB_ALLOWED_HOSTS: tuple[str, ...] = ()
# Addresses or CIDR blocks (e.g. "10.0.0.0/8") that may read the server's figures for
# Prometheus at http://SERVER_HOST:WEB_PORT/metrics; everyone else gets 403. Loopback only
# by default: run the scraper on the server's machine, or add its address here.
METRICS_ALLOW: tuple[str, ...] = ("127.0.0.1", "::1")

# --- Wire protocol ----------------------------------------------------------------------
# The newest version clients offer (2: named rooms); they fall back to 1 if refused.
PROTOCOL_VERSION = 2
# Largest frame (one JSON object plus its newline) either side accepts, in bytes.
MAX_FRAME_BYTES = 64 * 1024
# ... and before the server's welcome (on chat TCP, TLS and the WebSocket): the largest valid
# hello is under 12 KB (its password of MAX_PASSWORD_CHARS, each escaped as up to six bytes, its
# name, resume token, id and features; tests/unit/test_hello_fits_login_frame.py), so a connection
# not logged in cannot make the server hold a buffer of MAX_FRAME_BYTES until its login timeout.
# Raised to MAX_FRAME_BYTES at the welcome.
MAX_LOGIN_FRAME_BYTES = 16 * 1024
# Largest message text, in characters (a direct or room message).
MAX_TEXT_CHARS = 4000

# --- After "delivered" (issue 13: read, typing, edit, delete of direct messages) -------
# A sender may edit or delete their own direct message for this many seconds after
# sending it; later the server answers too_late (what was read stays read).
EDIT_WINDOW = 15 * 60.0
# The server forwards at most one "typing" from a sender to a recipient per this many
# seconds; a client repeats it about this often while its user types.
TYPING_INTERVAL = 3.0
# A client stops showing "X is typing" this many seconds after the last "typing" from X
# (or at once when a message from X arrives): nothing needs to say "stopped".
TYPING_EXPIRES = 6.0

# --- Names ------------------------------------------------------------------------------
MAX_NAME_LENGTH = 32
# ... in characters (code points, after NFC); and a name as sent is at most this many
# bytes of UTF-8 (a name typed with combining accents is longer before NFC).
MAX_NAME_BYTES = 256
# Names nobody may take (compared case-insensitively, as written here or in an operator's
# settings: "Prof" reserves prof and PROF; registry.names.RESERVED): the server speaks as SERVER_NAME,
# and the clients show one's own messages as "You" and the broadcast room as "Everyone", in
# both their languages ("Você", "Todos"): a user of such a name would pass for them.
SERVER_NAME = "server"
RESERVED_NAMES = frozenset({"server", "system", "admin", "all", "everyone", "room", "nobody", "you", "você", "todos"})

# --- Liveness ---------------------------------------------------------------------------
# The server pings a client that has been silent this long (seconds) ...
HEARTBEAT_INTERVAL = 15.0
# ... and drops it as a ghost when nothing at all has arrived for this long.
HEARTBEAT_TIMEOUT = 45.0
# A guest logging in again with its token while its earlier session still holds the name
# (a phone that changed network: the old connection died without a close) gets name_taken
# with retry_after; the server pings that session, and lets it go if nothing at all comes
# from it within this many seconds (or HEARTBEAT_TIMEOUT's end, if that comes first).
RELEASE_PROBE = 5.0
# A client must say hello within this many seconds of connecting.
LOGIN_TIMEOUT = 10.0
# A frame must be complete (its newline received) within this many seconds of its first
# byte, or the server closes the connection: nobody can hold a buffer open by trickling.
FRAME_TIMEOUT = 30.0

# --- Server resources -------------------------------------------------------------------
# Bytes waiting to be written to one client; a client that stops reading is
# disconnected when its queue passes this, so it cannot make the server's memory grow.
# Above half of it, room messages to the client are skipped (it is told how many) and
# direct messages wait on the server until the queue has drained.
MAX_OUTGOING_BYTES = 1024 * 1024
# The same bound for a connection that has not logged in (chat TCP, TLS, WebSocket) and for
# an HTTP connection of the web listener, which never does: up to MAX_CONNECTIONS_PER_ADDRESS
# of them from one address at MAX_OUTGOING_BYTES each could hold a gigabyte for peers that read
# nothing. Before login the server sends pongs, refusals and errors, each under a frame; a page's
# file is written whole, and no further request is answered while this much waits
# (server/web.py): so one frame, or one file, past it at most.
MAX_OUTGOING_BYTES_BEFORE_LOGIN = 64 * 1024
# The share of it that what other users' acts make the server send a client (their edits
# and deletes, typing, comings and goings, room notices, changes of room posts) may fill:
# past MAX_OUTGOING_BYTES // OTHERS_SHARE waiting (16 KiB, under a second at 20 KB/s), those
# are held, coalesced, dropped or counted as for a client over the soft mark, so that no
# one can queue more than that ahead of a slow reader's own messages (server/session.py).
OTHERS_SHARE = 64  # more than 8: the low-water mark, a quarter of the soft one, is above it
# Seconds between two looks at the queue of a client that others' frames wait for (over
# the share above), to send them once it is back under it (asyncio tells only of the soft mark).
OTHERS_RECHECK = 0.25
# History requests (a conversation's or a room's, and since) of one connection the store may
# be answering at once; requests for lists (who, members...), answered at once, pass the
# same gate (server/intake.py) but are never in flight. Their pages (up to a frame each) come back together, in one loop
# turn: with at most this many, and none begun while the client's queue is over the soft
# mark (server/intake.py), answers to a client that reads can never push its queue past
# MAX_OUTGOING_BYTES (half of it + a quarter written in one turn + 2 frames < all of it).
MAX_HISTORY_IN_FLIGHT = 2
# Direct messages to one recipient that await its delivery receipt.
MAX_PENDING_RECEIPTS = 1000
# Consecutive malformed frames after which the server gives up on a connection.
MAX_BAD_FRAMES = 20
# The left reasons of a client that broke the protocol (PROTOCOL.md, "`joined`, `left`:
# system notices"), worded as the other reasons are; the clients word them in the user's language
# (client/display.py): MAX_BAD_FRAMES malformed frames in a row, and any breach of the
# WebSocket's own rules (RFC 6455: a binary message, an unmasked frame, invalid UTF-8...).
TOO_MANY_ERRORS_REASON = "too many errors"
PROTOCOL_ERROR_REASON = "protocol error"
# Connections the server accepts at once.
MAX_CONNECTIONS = 20000
# Presence: while at most this many users are online, everyone is told of every join and
# leave (a class sees who comes and goes). Above it the room goes quiet, as large IRC
# channels do: a join or leave is told only to the sessions that watch that user (their
# contacts and open conversations), so a login storm costs relationships, not users².
PRESENCE_ROOM_LIMIT = 200
# A user whose presence churns (logins and logouts in a loop) is damped (server/presence.py):
# after this many changes within PRESENCE_FLAP_WINDOW seconds, their notices are held, and
# only the state they settle in is told, once no change came for PRESENCE_SETTLE seconds.
PRESENCE_FLAP_CHANGES = 6
PRESENCE_FLAP_WINDOW = 10.0
PRESENCE_SETTLE = 5.0
# Names one session may watch at once (its contacts and conversations).
MAX_WATCHED = 1000
# Names one account (or guest) may block. Each is kept for good, in memory on every node and
# on disk, so without a bound one user could grow the server's state at the request rate
# (about 17 million names a day); no one needs to block more people than a large school has.
MAX_BLOCKED = 1000

# --- Client -----------------------------------------------------------------------------
# How long `chatclient.py NAME --send TO TEXT` waits for the delivery acknowledgement.
SEND_TIMEOUT = 10.0
# Seconds to wait for the server's answer to the opening hello.
CONNECT_TIMEOUT = 10.0

# --- Storage (python3 chatserver.py --data DIR) --------------------------------------------
# Where the server keeps its database (accounts, queued messages, history, blocks). A
# relative folder is in the program's folder (beside this file), wherever the server is
# started from; a relative --data DIR is from the current folder (chatserver.setting_data_dir).
DATA_DIR = "data"
# Unconfirmed direct messages expire after this many seconds (the sender is told).
QUEUE_TTL = 7 * 24 * 3600.0
# Messages in a final state are forgotten after this many seconds (history retention).
HISTORY_RETENTION = 90 * 24 * 3600.0

# --- Cluster mode (python3 chatserver.py --cluster redis://HOST:PORT/DB) --------------------
# A redis:// URL ("redis://[:password@]host:port/db") keeps everything in that Redis
# instead of --data: the store of every node of a cluster (docs/cluster.md). None: not a
# cluster node. Run Redis with --appendonly yes --appendfsync always, or what was
# acknowledged can be lost in a crash (the server warns at start). Over TLS, a rediss://
# URL: "rediss://...?ssl_ca_certs=FILE", and "&ssl_certfile=FILE&ssl_keyfile=FILE" where
# Redis wants the node's certificate (docs/cluster.md, "Redis over TLS").
CLUSTER_URL = None
# Seconds the other nodes hold back the leave of a user whose node stopped (its users get
# the bye of SHUTDOWN_REASON and log in on the next node of their list at once): back
# within them, the user moved and nobody is told that they left or joined. Later, the
# leave is told then (docs/cluster.md, "Restarting the nodes one at a time").
CLUSTER_MOVE_GRACE = 5.0
# Seconds between a node's readings of Redis's settings (appendfsync, maxmemory-policy...)
# while it runs: an operator's CONFIG SET that weakens what the start checked is logged
# within them (server/cluster/checks.py SettingsWatch).
CLUSTER_SETTINGS_RECHECK = 60.0
# The bye reason (and left reason) of the sessions of a server that stops.
SHUTDOWN_REASON = "server shutting down"

# --- Accounts ---------------------------------------------------------------------------
# True: every name must be a registered account (guests are refused).
REQUIRE_ACCOUNTS = False
MIN_PASSWORD_LENGTH = 8
# ... and at most this many characters (a hello's, a register's, a password change's): the
# codec refuses a longer one bad_field, and the clients stop it before it is sent.
MAX_PASSWORD_CHARS = 1024
# Groups of five characters in a password the operator's /password NAME sets (server/
# accounts.py reset_password_text): four are 100 bits, short enough to read out to a student.
RESET_PASSWORD_GROUPS = 4
# The bye reason (and left reason) of the sessions the operator's /password NAME ends; the
# clients word it in the user's language (client/display.py).
PASSWORD_RESET_REASON = "password reset by the server operator"
ACCOUNT_DELETED_REASON = "account deleted"
# The same for the account's other sessions when one of its sessions changes the password.
PASSWORD_CHANGED_REASON = "password changed in another session"
# After the k-th wrong password in a row for a name from an address, the next try for it
# from there waits LOGIN_FAILURE_DELAY * 2**(k-1) seconds, at most LOGIN_FAILURE_MAX_DELAY;
# and after any wrong password from an address, a try there for any name waits as long, k
# being the number of different names that failed there (README, "Accounts and passwords").
LOGIN_FAILURE_DELAY = 0.5
LOGIN_FAILURE_MAX_DELAY = 60.0
# Seconds a guest name stays reserved for its guest after their last session leaves: only a
# hello with the guest's resume token may use it meanwhile. Ten minutes covers a dropped
# connection, a restarted client or a short suspend many times over (the client retries
# within a minute), and frees a name a one-time guest left by the end of a class break.
GUEST_HOLD = 600.0
# The longest a room mute may last, in seconds (a year): a longer "seconds" is refused
# bad_field (PROTOCOL.md, "Rooms and moderation"), and the clients say so before sending.
# Unbounded, "/mute Rita 99999999999999" muted Rita until the year 3170900.
MAX_MUTE_SECONDS = 365 * 24 * 3600
# A guest name is remembered for a day after its guest left (a message to them is queued, as
# to anyone offline, and their token takes the name back after the hold), then, if no
# message refers to it any more (none waiting for it, none from it unconfirmed or untold),
# forgotten, as if never held (server/guests.py): a message to it is then unknown_recipient.
# Names given up to a script's thousands of hellos must not stay for ever: while more than
# GUEST_REMEMBERED_MOST names are held (a MAX_CLIENTS of them online, and 30,000 more at
# about 700 bytes each), those longest gone are forgotten as soon as their hold is over.
GUEST_REMEMBERED = 86400.0
GUEST_REMEMBERED_MOST = 50_000
# At most this many names are forgotten a pass of the relay's expiry (another pass follows
# at once while more are due), so that no pass holds the loop long. A name still referred to is looked at again
# after GUEST_RECHECK seconds.
GUEST_FORGET_BATCH = 500
GUEST_RECHECK = 3600.0
# Seconds an account resume credential (server/credentials.py: a reloaded web page stays
# logged in) lasts after the password login that issued it. A month: a page left open
# keeps working; a lost laptop's page stops by itself, or sooner with "Log out".
ACCOUNT_RESUME_TTL = 30 * 86400.0
# Password checks (scrypt, about 50 ms of CPU each) the server runs per second, for all
# names and addresses together, and its burst: more are answered rate_limited.
LOGIN_CHECKS_PER_SECOND = 10.0
LOGIN_CHECKS_BURST = 20.0
# Addresses with a recent wrong password may only use the top half of that burst, so that
# guessing from many addresses cannot keep anyone else out; an account's last
# KNOWN_ADDRESSES addresses it logged in from with its password come first of all.
KNOWN_ADDRESSES = 8
# Accounts one address may register an hour (all at once, then one every 3600/this
# seconds): each costs a password hash (scrypt) and a stored account, and a classroom behind
# one NAT must still be able to register together. More are answered rate_limited.
REGISTRATIONS_PER_ADDRESS = 60

# Log lines for logins and logouts (one each per connection): in full up to this many per
# second, with bursts of LOGIN_LOG_BURST; past that, a count in one line (server/logsummary.py).
LOGIN_LOG_LINES_PER_SECOND = 10.0
LOGIN_LOG_BURST = 100.0
# Log lines of things a user creates (an account, a room), per address: this many in full
# per log summary interval (ServerConfig.log_summary_interval, 60 s), then one line counts
# the rest (server/logsummary.py): one connection created 27 accounts a second, a line each.
CREATED_LOG_LINES = 10

# --- Abuse limits -----------------------------------------------------------------------
# Requests (messages, lookups...) per second one connection may make, and its burst.
RATE_PER_CONNECTION = 30.0
BURST_PER_CONNECTION = 60.0
# The same, for all connections from one IP address together.
RATE_PER_ADDRESS = 200.0
BURST_PER_ADDRESS = 400.0
# What each connection may still request, per second and at once, while its address's
# budget above is spent: a school shares one address (NAT), and one student flooding from a
# few connections took all of it, so the class's messages came back rate_limited. A burst
# of five, then one every five seconds: a person's pace, not a script's. One address can
# add at most MAX_CONNECTIONS_PER_ADDRESS times the rate to its own (server/relay.py). A
# burst under one turns the floor off.
RATE_FLOOR_PER_CONNECTION = 0.2
BURST_FLOOR_PER_CONNECTION = 5.0
# Connections one IP address may hold at once. A school puts all its students behind one
# address (NAT): 100 refused half of 200 students, and a browser holds its page's keep-alive
# HTTP connections beside its WebSocket. A thousand leaves room for a school of a few
# hundred, and still takes one address twenty to fill MAX_CONNECTIONS (tests/integration/
# test_shared_address.py).
MAX_CONNECTIONS_PER_ADDRESS = 1000
# Bytes of message text (UTF-8) per second one connection may send, and its burst: the
# request rate alone would let one sender fill a slow reader's link (30 x 4,000 chars/s).
BYTES_PER_SECOND_PER_CONNECTION = 16 * 1024
BYTES_BURST_PER_CONNECTION = 64 * 1024
# Receipts for messages not in flight to that connection ("late": a copy another session
# of the user confirmed first, or one shown before a restart) per second, per connection
# and per address. Each costs a store operation, and receipts are not requests (a client
# sends one per message): unbounded, one user's flood of unknown ids (100,000 a second)
# held the store's queue for everyone's messages for seconds. Over it, a late receipt is
# answered rate_limited and not done. A connection's burst is MAX_PENDING_RECEIPTS: a
# reconnection's whole window of late receipts at once. An edit_receipt spends the same
# budgets (and floor, below): it confirms a change as a receipt confirms a message, and each
# is a store operation too (server/afterdelivered.py), unbounded but by the read budget.
LATE_RECEIPTS_PER_CONNECTION = 100.0
LATE_RECEIPTS_PER_ADDRESS = 1000.0
LATE_RECEIPTS_BURST_PER_ADDRESS = 5000.0
# Acks of outcomes (ack, batch_acks' acks) per second, per connection, spent once per frame
# (a frame of n ids costs n). Each costs a store operation, and acks are not requests (a
# sender acks every outcome it is told): unbounded, one user's flood of acks for random ids
# grew a durable server's store queue to 5.5 million in 8 s, and everyone's messages fell
# to 2 a second. An honest connection is told outcomes no faster than its user's messages
# are accepted: RATE_PER_CONNECTION (30) for each of its sessions, RATE_PER_ADDRESS (200)
# for all of one address's; the rate is well above both. The burst is two frames of
# MAX_PENDING_RECEIPTS ids: a recipient's whole window confirmed at once after a login,
# told at once, and acked in one frame (or two, with another's). The outcomes told at
# login from the store (the outcome pages, paced by the acks themselves) are not counted:
# each is one real message, and an ack takes it off the pages. Over it, the frame's acks
# are not done: harmless, those outcomes are told again at the next login.
ACKS_PER_CONNECTION = 300.0
ACKS_BURST_PER_CONNECTION = 2.0 * MAX_PENDING_RECEIPTS
# The same for all connections from one IP address together: without it, 100 connections
# of one address (MAX_CONNECTIONS_PER_ADDRESS) at 300 each asked the store 30,000 times a
# second. A class behind one address is told outcomes no faster than its messages are
# accepted, RATE_PER_ADDRESS (200) a second: the rate is ten times that (and follows a
# raised address rate). The burst is ten connections' windows: after a restart, each of
# its users is told the outcomes waiting in the store at login (not counted, as above),
# and those its classmates' receipts settle at once, live, a few each.
ACKS_PER_ADDRESS = 2000.0
ACKS_BURST_PER_ADDRESS = 10.0 * MAX_PENDING_RECEIPTS
# What each connection may still send of late receipts, and of acks, per second and at once,
# while its address's budget of them above is spent: as RATE_FLOOR_PER_CONNECTION for
# requests. A school shares one address (NAT), and one student flooding them from a few
# connections took all of it, so the class's late receipts and acks came back
# rate_limited. A person's pace: a user is sent direct messages, and told the outcomes of
# their own, a few a second at most; the burst holds a reconnection's few dozen at once.
# One address can add at most MAX_CONNECTIONS_PER_ADDRESS times the rate to its own
# (server/relay.py). A frame of more acks than the burst never passes on the floor (it
# would be charged as the burst: server/limits.py). A burst under one turns the floor off.
LATE_RECEIPTS_FLOOR_PER_CONNECTION = 1.0
LATE_RECEIPTS_BURST_FLOOR_PER_CONNECTION = 50.0
ACKS_FLOOR_PER_CONNECTION = 1.0
ACKS_BURST_FLOOR_PER_CONNECTION = 50.0
# Bytes the server reads from one connection per second, and its burst: frames no rate
# counts (ping, pong, receipt, ack, and any frame before a rate refuses it) still cost
# their parsing, and one client writing them as fast as the server read (5 MB/s of pongs)
# held everyone else's messages back by 100 ms. Over the budget the server stops reading
# that connection until it refills (server/session.py: counted per read, not per frame),
# and TCP holds the sender back; nothing is refused. An honest connection sends far less:
# its message text at BYTES_PER_SECOND_PER_CONNECTION (16 KiB/s, up to 6 bytes of JSON per
# byte of text: 96 KiB/s), acks at ACKS_PER_CONNECTION (300/s) and late receipts at
# LATE_RECEIPTS_PER_CONNECTION (100/s) of about 50 bytes each (20 KB/s), RATE_PER_CONNECTION
# other requests of a few hundred bytes: the rate is twice all of it (a server that raises
# the request rate past 256 a second gets 1 KiB a second more for each: server/config.py).
# The burst holds the most an honest client sends at once,
# after a login: MAX_PENDING_RECEIPTS receipts and ACKS_BURST_PER_CONNECTION acks one frame
# each (150 KB), MAX_WATCHED names of MAX_NAME_BYTES (256 KiB), the burst of message text
# as JSON (BYTES_BURST_PER_CONNECTION x 6: 384 KiB): 1 MiB, as much as the server queues
# for a client (MAX_OUTGOING_BYTES).
READ_BYTES_PER_SECOND_PER_CONNECTION = 256 * 1024
READ_BYTES_BURST_PER_CONNECTION = MAX_OUTGOING_BYTES
# What a frame read counts as against that budget at least, a chat frame on the chat port
# (its newline included) and a WebSocket frame on the web port (its header included):
# parsing a frame costs about the same whatever its size, and by bytes alone tiny frames
# got through by the ten thousand a second per connection and took the server's core from
# everyone. On the web port, empty pings (6 bytes) came at 44,000 a second per connection,
# each parsed and answered (six of them: 450 ms for a round trip); on the chat port six
# connections of empty lines or minimal pings (16 bytes, 16,000 a second each) took half
# the core. At 64 bytes a frame, 4,096 a second. The shortest frames an honest client sends
# are receipts and acks of some 50 bytes, so it pays a few bytes more at most (the burst's
# receipts and acks above: 192 KB rather than 150).
READ_BYTES_MIN_PER_FRAME = 64

# --- Transport security (optional) ------------------------------------------------------
# Server: certificate chain and private key files (PEM) turn TLS on; None leaves it off.
TLS_CERT = None
TLS_KEY = None

# --- Language ---------------------------------------------------------------------------
# The language of the clients and the server console when neither --lang nor the
# environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG) names one: "en" or "pt_BR".
LANGUAGE_DEFAULT = "en"

# --- Rooms and moderation (server/rooms.py) ---------------------------------------------
# Server administrators: account names (any spelling of one user) that may moderate every
# room. Only a session logged in to the account counts: a guest cannot take an admin's power
# by taking the name. A name that is no account when the server starts is left out (the log
# warns), or whoever registered it first would administer: register it, then restart (or
# type /admin NAME at the server's console). Example: ADMINS = ("teacher",)
ADMINS: tuple[str, ...] = ()
# The room everyone logged in is in (the broadcast room of `say`). It has no owner.
DEFAULT_ROOM = "#lobby"
# Rooms on the server at once (a room ends when its last member leaves), rooms one user is
# a member of, and invitations one room keeps (the oldest goes first).
MAX_ROOMS = 10000
MAX_ROOMS_PER_USER = 100
MAX_ROOM_INVITES = 1000
# Rooms one address may create in ROOM_CREATION_WINDOW seconds (a sliding window; the
# server's administrators are not counted), on each server of a cluster: without a bound,
# one connection cycling guest names created 300 rooms in 11.5 s, and would have filled
# MAX_ROOMS for everyone in minutes. A class behind one address (NAT) making a room per
# group of students stays well within it; past it, ``too_many_rooms`` says when.
ROOMS_CREATED_PER_ADDRESS = 30
ROOM_CREATION_WINDOW = 3600.0
# Characters of a room's topic (a kick's, ban's or mute's reason: 256, as every reason).
MAX_TOPIC_CHARS = 256
# What a member who was offline gets at their next login, per room they are in: at most
# this many messages (the newest they missed) no older than this many seconds. The rest
# stays in the room's history.
ROOM_BACKLOG_LIMIT = 100
# Posts one member may make to one room per second, and their burst: a room post goes to
# every member, so the connection's request rate (RATE_PER_CONNECTION, 30 a second) let one
# student's loop fill a class's 30 screens and push the teacher's question out of everyone's
# backlog (ROOM_BACKLOG_LIMIT) in seconds. A few lines pasted at once pass; a loop is paced
# to one post a second (IRC's flood protection, a chat's "slow mode"). Over it, a post is
# answered rate_limited with retry_after. The room's owner and moderators and the
# administrators are not held to it (a teacher pasting an exercise). On each node of a
# cluster apart (server/roomdesk.py).
ROOM_POSTS_PER_SECOND = 1.0
ROOM_POST_BURST = 10.0
ROOM_BACKLOG_AGE = 7 * 24 * 3600.0
# A client that logs in again says until when it heard its last session (the hello's
# last_heard, on the server's clock as it reckons it); the edits and deletes of room posts
# from this many seconds before that on are told to it. The margin covers what that
# reckoning misses: the network's delay, clocks that drift apart over a long session or
# differ between a cluster's nodes, and a change stamped a moment before it is written.
# (A change told twice is applied once.)
LAST_HEARD_MARGIN = 60.0
# So too for the edits and deletes of your direct messages (sent or received) that another
# session of yours took while a device was away: per user, the server keeps the latest this
# many where a device back can find them (older ones show in the history).
DM_CHANGES_KEPT = 1000
# Feature since (catching up after a reconnection): message ids one request looks through
# at most, in the SQLite and memory stores. They keep no index of a user's messages across
# conversations (one would cost every direct message a write), so a page walks the ids
# after its cursor, everyone's messages among them; this bounds what one request costs the
# store (about a millisecond), and the page's cursor leads on from where the walk stopped.
# The Redis store reads an index instead (docs/cluster.md, ``peers``): there a walk of
# these ids held Redis, which every node waits on, for 15 ms a page.
SINCE_SCAN = 2000
# Read marks in rooms (issue 13): in a room of at most this many members, the members with
# read receipts on are told the room's read marks (anonymous: "read by N" under a post), at
# most once per room per ROOM_READS_INTERVAL seconds. Larger rooms keep marks but tell none.
ROOM_READS_LIMIT = 50
ROOM_READS_INTERVAL = 1.0

# --- Your settings ----------------------------------------------------------------------
# const_local.py, beside this file (or the file CHAT_CONST_LOCAL names): what it sets
# replaces the defaults above; a name this file does not have, or an error in it, stops
# the program with one line naming its line (overrides.py). The server logs which file it
# applied and what it set.
import overrides as _overrides  # noqa: E402  (after every default: the file starts from them)

LOCAL_SETTINGS = _overrides.apply(globals(), *_overrides.settings_path())
if "SERVERS" not in LOCAL_SETTINGS.names:
    SERVERS = [(SERVER_HOST, SERVER_PORT)]
