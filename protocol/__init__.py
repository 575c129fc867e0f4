"""The chat wire protocol as a sans-I/O core: bytes in, events out, no sockets.

Call :class:`Connection` ``receive_data(bytes)`` with what arrived (``b""`` at EOF), iterate
``events()``, and write whatever ``send(event)`` and ``data_to_send()`` return. The asyncio
server, the threaded client, the GUI and the web gateway are thin shells around it.
PROTOCOL.md at the repository root describes the same protocol for people.
"""

from .connection import LATEST_VERSION, Connection, Role, State, negotiate
from .errors import ErrorCode, LocalProtocolError
from .events import (
    Accepted,
    CARBONS,
    FEATURES,
    RESUME,
    READ,
    TYPING,
    EDITS,
    Edit,
    Delete,
    EditReceipt,
    Settings,
    Edited,
    Deleted,
    Read,
    Typing,
    Block,
    Blocked,
    Blocking,
    BLOCKS_FEATURE,
    Unblocked,
    BlockList,
    Carbon,
    CATCH_UP,
    CatchUp,
    ConnectionClosed,
    Delivered,
    DirectMessage,
    Done,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    HistoryEntry,
    HistoryPage,
    HistoryRequest,
    LookupRequest,
    LookupResult,
    OutcomeAck,
    Ping,
    Pong,
    Presence,
    Queued,
    Receipt,
    Register,
    ChangePassword,
    Revoke,
    Unregister,
    RoomMessage,
    RoomSkipped,
    SendDirect,
    SendRoom,
    Unblock,
    Unwatch,
    UserJoined,
    UserLeft,
    UserList,
    Watch,
    Watching,
    Welcome,
    WhoRequest,
)
from .events import (  # rooms and moderation: protocol version 2
    Appoint,
    Ban,
    Invite,
    JoinRoom,
    Kick,
    LeaveRoom,
    MemberEntry,
    MemberList,
    MembersRequest,
    Mute,
    RoomEntry,
    RoomInfo,
    RoomList,
    RoomNotice,
    RoomPost,
    RoomsRequest,
    SendToRoom,
    SetRoomMode,
    SetTopic,
    Unban,
    Unmute,
)
from .events import BATCH_ACKS, OutcomeAcks, Receipts  # feature batch_acks (issue 9)
from .events import RoomDeleted, RoomEdited, RoomTyping  # typing, edit, delete in rooms (issue 13)
from .events import RoomRead  # read marks in rooms (issue 13)
from .events import SINCE_FEATURE, SincePage, SinceRequest  # feature since: catching up after a reconnection

__all__ = [name for name in dir() if not name.startswith("_")]
