"""What a node makes of Redis's settings: whether Redis may throw away keys by itself
(eviction), which no answer of the chat could then be true about, and what a crash of
Redis can lose of what was acknowledged (its append-only file's sync).

Sans-I/O: :func:`eviction_verdict` takes the values of ``CONFIG GET maxmemory`` and
``maxmemory-policy`` (``None`` when they could not be read) and says what to do;
:meth:`ClusterNode.start <server.cluster.node.ClusterNode.start>` reads them and acts.
:func:`durability_warning` says the same of ``appendonly`` and ``appendfsync`` (the
store reads them at start). Both can change while everything runs (an operator's
``CONFIG SET``): :class:`SettingsWatch` says so when a running node reads them again.

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
    """``level``: "refuse" (the node must not start), "error" (it runs, and must be
    fixed), "warn" or "info"; ``text``: the sentence for the log (or for chatserver.py's
    one line, when refused)."""

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


def durability_warning(appendonly: str | None, appendfsync: str | None) -> str | None:
    """What an acknowledged message can be lost to with this Redis configuration, in words
    for the log; None if Redis keeps every acknowledged write (``appendonly yes``,
    ``appendfsync always``), or if the configuration could not be read (``None``s: the
    caller says that instead)."""
    if appendonly is None or appendfsync is None:
        return None
    if appendonly != "yes":
        return ("Redis runs without its append-only file (appendonly no): if Redis stops or crashes, every "
                "message, account and queue change since its last snapshot is lost, acknowledged or not; "
                "run it with --appendonly yes --appendfsync always")
    if appendfsync == "always":
        return None
    lost = "about the last second" if appendfsync == "everysec" else "the last seconds (whenever the OS flushes)"
    return (f"Redis syncs its append-only file {appendfsync!r}, not 'always': if Redis or its machine crashes, "
            f"{lost} of acknowledged messages and changes can be lost; run it with --appendfsync always")


# Redis's settings a running node reads again (``CONFIG GET``), every
# const.CLUSTER_SETTINGS_RECHECK seconds.
WATCHED = ("appendonly", "appendfsync", "maxmemory", "maxmemory-policy")


class SettingsWatch:
    """Redis's settings as a running node last read them, and what to log when they
    change: what the start said of them (a warning, or none) would otherwise go on being
    believed after an operator's ``CONFIG SET appendfsync everysec`` or an evicting
    policy. Sans-I/O: :meth:`read` takes what was read."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._seen: dict[str, str] | None = None

    def read(self, values: dict[str, str | None]) -> list[Verdict]:
        """The verdicts to log for ``values`` (each of WATCHED; None: it could not be read):
        none the first time (the start said its own), none while they stay as they were,
        none while one cannot be read (the start said that once); for a change, the
        verdict on what changed, with an evicting policy an "error" (the node runs on:
        it cannot be refused now, and must be fixed)."""
        if any(values.get(name) is None for name in WATCHED):
            return []
        now = {name: str(values[name]) for name in WATCHED}
        before, self._seen = self._seen, now
        if before is None:
            return []
        said = []
        if (before["appendonly"], before["appendfsync"]) != (now["appendonly"], now["appendfsync"]):
            warning = durability_warning(now["appendonly"], now["appendfsync"])
            said.append(Verdict("warn", f"Redis's settings changed: {warning}") if warning else Verdict(
                "info", f"Redis at {self.address} syncs every write before answering again (appendonly yes, "
                        "appendfsync always)"))
        if (before["maxmemory"], before["maxmemory-policy"]) != (now["maxmemory"], now["maxmemory-policy"]):
            verdict = eviction_verdict(self.address, now["maxmemory"], now["maxmemory-policy"])
            said.append(Verdict("error" if verdict.level == "refuse" else verdict.level,
                                f"Redis's settings changed: {verdict.text}"))
        return said
