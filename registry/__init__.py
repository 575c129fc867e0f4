"""The user registry: who is online, and where each user is connected from.

A dynamic map of usernames to their endpoints (IP address and port of each connection, as
the server sees it, and since when). The relay registers a name when a client logs in and
unregisters it when the client leaves, vanishes or times out. What a valid name is, and
when two names are one user or look alike, is in :mod:`registry.names`.
"""

from .lookalikes import Lookalikes
from .names import InvalidName, canonical, display_form, lookalike_key, validate_name
from .registry import OFFLINE, Endpoint, NameTaken, Registry, UserRecord

__all__ = ["Endpoint", "InvalidName", "Lookalikes", "NameTaken", "OFFLINE", "Registry", "UserRecord", "canonical",
           "display_form", "lookalike_key", "validate_name"]
