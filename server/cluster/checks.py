"""What a node makes of Redis's memory settings at start: whether Redis may throw away
keys by itself (eviction), which no answer of the chat could then be true about.

Sans-I/O: :func:`eviction_verdict` takes the values of ``CONFIG GET maxmemory`` and
``maxmemory-policy`` (``None`` when they could not be read) and says what to do;
:meth:`ClusterNode.start <server.cluster.node.ClusterNode.start>` reads them and acts.

Why an evicting policy is refused, not warned about (as a weaker ``appendfsync`` is, by
the store): a weaker sync loses the last second of writes in a crash of Redis; an
``allkeys-*`` policy deletes keys while everything runs, whenever Redis reaches
``maxmemory``, silently: queued messages, accounts (their names free for anyone),
resend records, the registry of who is online, the nodes' inboxes, and ``{chat}:next``,
after which message ids are given out again from 1 and clients hide new messages under
ids they have seen. No acknowledgement could be trusted, crash or not. ``volatile-*``
policies evict only keys with a time to live: here the login throttle's counters and
lockouts and the guest-forgetting lease; losing them weakens the throttle (a lockout
can end early) and loses no message, so it is a warning. With ``noeviction`` (Redis's
default) a full Redis refuses writes (``OOM``), which every request is answered
``unavailable`` for: nothing is lost, nothing is acknowledged falsely.
"""

from __future__ import annotations

from dataclasses import dataclass

FIX = "run Redis with --maxmemory-policy noeviction (or CONFIG SET maxmemory-policy noeviction)"


@dataclass(frozen=True, slots=True)
class Verdict:
    """``level``: "refuse" (the node must not start), "warn" or "info"; ``text``: the
    sentence for the log (or for chatserver.py's one line, when refused)."""

    level: str
    text: str


def eviction_verdict(address: str, maxmemory: str | None, policy: str | None, why: str = "") -> Verdict:
    """What the node says (or does) about Redis at ``address`` with these settings;
    ``why``: Redis's answer when they could not be read."""
    if maxmemory is None or policy is None:
        return Verdict("warn", f"cannot read Redis's maxmemory-policy at {address} ({why or 'no answer'}): make sure "
                               "it is noeviction, or Redis may delete messages, accounts and names when its memory "
                               "is full")
    if maxmemory.strip() in ("", "0"):
        return Verdict("info", f"Redis at {address} has no memory limit (maxmemory 0): it never evicts keys")
    if policy.startswith("allkeys-"):
        return Verdict("refuse", f"Redis at {address} evicts any key when it reaches maxmemory ({maxmemory} bytes, "
                                 f"maxmemory-policy {policy}): it would silently delete queued messages, "
                                 f"accounts, names and the message id counter; {FIX}")
    if policy != "noeviction":
        return Verdict("warn", f"Redis at {address} evicts keys with a time to live when it reaches maxmemory "
                               f"({maxmemory} bytes, maxmemory-policy {policy}): the login throttle's lockouts can end "
                               f"early; {FIX}")
    return Verdict("info", f"Redis at {address} refuses writes beyond maxmemory ({maxmemory} bytes, noeviction): "
                           "requests are then answered unavailable until memory is freed")
