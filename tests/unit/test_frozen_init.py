"""protocol/frozen.py: the cheaper __init__ builds exactly what dataclass's own builds (issue 9)."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import InitVar, dataclass, field

import pytest

from protocol import codec, events
from protocol.frozen import fast_init, fast_new
from server import mailbox, relay
from server.stores import memory
from server.cluster import bus

# Every class given the fast __init__: the events, the store's message, the cluster's bus events.
FAST = events._FAST_INIT + (mailbox.StoredMessage,) + bus._FAST_INIT


# Classes neither fast_init nor fast_new can copy exactly (used by the tests of both).
@dataclass(frozen=True, slots=True)
class PostInit:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


@dataclass(slots=True)
class NotFrozen:
    a: int


def _plain_fields(cls: type) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def test_every_frozen_event_and_the_stored_message_have_the_fast_init() -> None:
    frozen_events = [cls for cls in vars(events).values() if isinstance(cls, type) and issubclass(cls, events.Event)
                     and dataclasses.is_dataclass(cls)]
    assert frozen_events and set(frozen_events) <= set(events._FAST_INIT)
    assert set(bus._KINDS.values()) == set(bus._FAST_INIT)  # every bus event
    for cls in FAST:
        assert cls.__init__.__code__.co_varnames[:1] == ("__fast_self__",), cls
        assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"


@pytest.mark.parametrize("cls", FAST, ids=lambda cls: cls.__name__)
def test_same_parameters_defaults_values_and_frozenness_as_the_dataclass(cls: type) -> None:
    fields = _plain_fields(cls)
    # The signature dataclass would write: the fields in order, with their defaults.
    parameters = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in parameters] == [f.name for f in fields]
    assert [p.default for p in parameters] == [inspect.Parameter.empty if f.default is dataclasses.MISSING
                                              else f.default for f in fields]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
    # Every value lands in its own field, positionally and by keyword alike.
    values = [object() for _ in fields]
    by_position = cls(*values)
    by_keyword = cls(**{f.name: v for f, v in zip(fields, values)})
    assert [getattr(by_position, f.name) for f in fields] == values
    assert by_position == by_keyword and hash(by_position) == hash(by_keyword)
    # What dataclass's own __init__ does (object.__setattr__ per field) gives an equal object.
    reference = object.__new__(cls)
    for f, v in zip(fields, values):
        object.__setattr__(reference, f.name, v)
    assert reference == by_position and repr(reference) == repr(by_position)
    # Left out, a field takes its default.
    required = {f.name: v for f, v in zip(fields, values) if f.default is dataclasses.MISSING}
    with_defaults = cls(**required)
    for f in fields:
        assert getattr(with_defaults, f.name) is (required[f.name] if f.name in required else f.default)
    # Still frozen, and still refuses what dataclass's __init__ refuses.
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(by_position, fields[0].name, None)
        with pytest.raises(TypeError):
            cls(*values, None)
    with pytest.raises(TypeError):
        cls(no_such_field=1, **required)


def test_the_message_path_frames_encode_byte_for_byte_as_before() -> None:
    # The frames whose fast encoders run for every message (codec._FAST), built by the fast
    # __init__, against the same events built field by field as dataclass's __init__ does.
    samples = [events.DirectMessage(7, "ana", "bo", "héllo \"x\"", 1700000000.25),
               events.Accepted("r1", 7), events.Queued("r2", 8), events.Delivered("r1", 7),
               events.SendDirect("r3", "bo", "hi")]
    for event in samples:
        reference = object.__new__(type(event))
        for f in _plain_fields(type(event)):
            object.__setattr__(reference, f.name, getattr(event, f.name))
        assert codec.encode(event) == codec.encode(reference)
        fast = codec._FAST.get(type(event))
        if fast is not None:
            assert fast(event) == fast(reference) == codec.encode(reference)


def test_a_class_it_cannot_copy_exactly_keeps_the_dataclass_init() -> None:
    @dataclass(frozen=True, slots=True)
    class Factory:
        items: list = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int
        b: int = field(default=0, kw_only=True)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        scale: InitVar[int] = 1

        def __post_init__(self, scale: int) -> None:
            object.__setattr__(self, "a", self.a * scale)

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class NotInInit:
        a: int
        b: int = field(default=3, init=False)

    for cls in (Factory, KeywordOnly, PostInit, WithInitVar, NoSlots, NotFrozen, NotInInit):
        before = cls.__init__
        assert fast_init(cls) is False, cls
        assert cls.__init__ is before
    assert Factory().items == [] and KeywordOnly(1, b=2).b == 2 and WithInitVar(2, 3).a == 6
    with pytest.raises(ValueError):
        PostInit(-1)


def test_fields_named_like_the_init_s_own_names() -> None:
    @dataclass(frozen=True, slots=True)
    class Awkward:
        self: int
        _set0: int = 5
        _default1: str = "d"

    assert fast_init(Awkward) is True
    built = Awkward(1, 2)
    assert (built.self, built._set0, built._default1) == (1, 2, "d")
    assert Awkward(self=4) == Awkward(4, 5, "d")

    # (Written in a class body, such a name would be mangled: only make_dataclass gives it.)
    Clashing = dataclasses.make_dataclass("Clashing", [("__fast_set0", int, field(default=1))], frozen=True,
                                          slots=True)

    before = Clashing.__init__
    assert fast_init(Clashing) is False and Clashing.__init__ is before


# --- fast_new (issue 9, round fourteen) -------------------------------------------------


@pytest.mark.parametrize("cls", FAST, ids=lambda cls: cls.__name__)
def test_fast_new_builds_what_the_class_builds(cls: type) -> None:
    new = fast_new(cls)
    # A class with a frozen base (the cluster's bus events) is its own builder: the base's
    # __setattr__ would refuse the twin's writes (see the last test).
    frozen_base = any(getattr(getattr(base, "__dataclass_params__", None), "frozen", False) for base in cls.__mro__[1:])
    assert (new is cls) == frozen_base
    assert new is cls or new.__name__ == f"new_{cls.__name__}"
    fields = _plain_fields(cls)
    # The same parameters, defaults and kinds as the class's own.
    assert list(inspect.signature(new).parameters.values()) == list(inspect.signature(cls).parameters.values())
    values = [object() for _ in fields]
    by_class, by_position = cls(*values), new(*values)
    by_keyword = new(**{f.name: v for f, v in zip(fields, values)})
    for built in (by_position, by_keyword):
        assert type(built) is cls  # the class itself, not the twin it was written through
        assert [getattr(built, f.name) for f in fields] == values  # each value in its own field
        assert all(getattr(built, f.name) is v for f, v in zip(fields, values))
        assert built == by_class and hash(built) == hash(by_class) and repr(built) == repr(by_class)
        assert not hasattr(built, "__dict__")
    # Left out, a field takes its default.
    required = {f.name: v for f, v in zip(fields, values) if f.default is dataclasses.MISSING}
    assert new(**required) == cls(**required)
    # Frozen afterwards, and refusing what the class refuses.
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(by_position, fields[0].name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(by_position, fields[0].name)
        with pytest.raises(TypeError):
            new(*values, None)
    with pytest.raises(TypeError):
        new(no_such_field=1, **required)
    if required:
        with pytest.raises(TypeError):
            new()


def test_the_message_path_builds_its_events_and_messages_with_fast_new() -> None:
    # Each direct message's SendDirect, StoredMessage, Accepted, DirectMessage and Delivered.
    for new, cls in ((codec._new_send_direct, events.SendDirect), (mailbox.new_stored_message, mailbox.StoredMessage),
                     (relay._new_accepted, events.Accepted), (relay._new_direct_message, events.DirectMessage),
                     (relay._new_delivered, events.Delivered)):
        assert new is not cls and new.__name__ == f"new_{cls.__name__}", cls
    assert memory.new_stored_message is mailbox.new_stored_message  # both stores build by it
    decoded = codec.decode(b'{"type":"send","id":"r1","to":"bo","text":"hi there"}', {"send": events.SendDirect}, 100)
    assert type(decoded) is events.SendDirect and decoded == events.SendDirect("r1", "bo", "hi there")
    # And the batched receipts and acks (feature batch_acks), read from their bytes.
    for single, batched in ((events.Receipt, events.Receipts), (events.OutcomeAck, events.OutcomeAcks)):
        assert codec._NEW_BATCHED[single].__name__ == f"new_{batched.__name__}"
        head = b'{"type":"%b","msg_ids":[7,8,9]}' % single.TYPE.encode()
        decoded = codec.decode(head, {single.TYPE: single}, 100)
        assert type(decoded) is batched and decoded == batched((7, 8, 9))


def test_fast_new_of_a_class_it_cannot_copy_exactly_is_the_class_itself() -> None:
    @dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclass(frozen=True, slots=True)
    class Derived(Base):  # its base's frozen __setattr__ would refuse the twin's writes too
        b: int

    for cls in (PostInit, NotFrozen, Derived):
        assert fast_new(cls) is cls, cls
    assert fast_new(Base) is not Base and fast_new(Base)(1) == Base(1)
    with pytest.raises(ValueError):
        fast_new(PostInit)(-1)
