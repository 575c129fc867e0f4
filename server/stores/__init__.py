"""The stores behind the relay: one interface (``base``), two implementations.

- ``base``: :class:`MessageStore`, every operation the relay needs, and its contract.
- ``sqlite``: :class:`SQLiteStore`, durable (``--data``): SQLite with group commit.
- ``memory``: :class:`MemoryStore` (``--memory``): Python structures, nothing on disk.
"""

from .base import MessageStore, StoreUnavailable
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "MessageStore", "SQLiteStore", "StoreUnavailable"]
