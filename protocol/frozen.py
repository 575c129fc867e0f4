"""A cheaper ``__init__`` for frozen, slotted dataclasses (issue 9: the message path's events).

``@dataclass(frozen=True)`` writes each field in ``__init__`` with
``object.__setattr__(self, name, value)``: a global, an attribute, a generic call and a
lookup of the name in the type, for every field of every event. Building a 12-field
``StoredMessage`` that way took six times as long as a plain slotted class. :func:`fast_init`
gives such a class an ``__init__`` that writes each slot through that slot's own descriptor
(``member_descriptor.__set__``, bound once per class): the same values in the same slots,
the same parameters and defaults, the class still frozen afterwards (its ``__setattr__`` and
``__delattr__`` are untouched), at under half the cost.

It takes only what it can copy exactly: a frozen dataclass with ``__slots__``, every field
in ``__init__``, no ``default_factory``, no keyword-only field, no ``InitVar``, no
``__post_init__`` and no field whose name starts ``__fast_``. Any other class keeps
dataclass's own ``__init__`` (the function says which it did), so a field added later with
one of those is still built right, only slower.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

_MISSING = dataclasses.MISSING


def _plan(cls: type) -> tuple[list[dataclasses.Field], dict[str, Any], list[str]] | None:
    """What :func:`fast_init` and :func:`fast_new` build from: the fields of ``cls`` in
    ``__init__``'s order, a namespace holding each slot's setter and each default, and the
    parameters' text (``name`` or ``name=__fast_defaultN``); None if ``cls`` is not a class
    they can copy exactly (module docstring)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        return None
    if hasattr(cls, "__post_init__"):
        return None
    # The fields in __init__'s order (public API: no ClassVar, no InitVar). An InitVar is a
    # parameter but not a field, so its class's __init__ takes other parameters than the
    # fields: such a class keeps its own.
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters)[1:]
    if parameters != [f.name for f in fields]:
        return None
    if any(not f.init or f.kw_only or f.default_factory is not _MISSING for f in fields):
        return None
    if any(f.name.startswith("__fast_") for f in fields):  # the generated function's own names
        return None
    namespace: dict[str, Any] = {}
    params_text = []
    for number, f in enumerate(fields):
        slot = cls.__dict__.get(f.name)
        if type(slot).__name__ != "member_descriptor":  # not a slot of this very class
            return None
        namespace[f"__fast_set{number}"] = slot.__set__
        if f.default is _MISSING:
            params_text.append(f.name)
        else:
            namespace[f"__fast_default{number}"] = f.default
            params_text.append(f"{f.name}=__fast_default{number}")
    return list(fields), namespace, params_text


def fast_init(cls: type) -> bool:
    """Give the frozen slotted dataclass ``cls`` the faster ``__init__``; True if it did,
    False (nothing changed) if ``cls`` is not one it can copy exactly (module docstring)."""
    plan = _plan(cls)
    if plan is None:
        return False
    fields, namespace, params_text = plan
    body = [f"    __fast_set{number}(__fast_self__, {f.name})\n" for number, f in enumerate(fields)]
    source = (f"def __init__(__fast_self__{''.join(', ' + p for p in params_text)}):\n"
              + ("".join(body) or "    pass\n"))
    exec(source, namespace)  # noqa: S102 (built from field names only, as dataclasses does)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return True


def fast_new(cls: type) -> Callable[..., Any]:
    """A function that builds what ``cls(...)`` builds, with the same parameters, at about a
    third of the cost for a class of many fields (issue 9, round fourteen); ``cls`` itself
    if ``cls`` is not a class :func:`fast_init` can copy exactly.

    Even the fast ``__init__`` writes each slot through a bound ``member_descriptor.__set__``,
    a call that CPython makes with a tuple of its arguments: about 650 instructions a
    field, on top of calling a class with a Python ``__init__``. This function instead makes
    an instance of a twin class, one with the same bases and the same ``__slots__`` (so the
    same layout) but without the frozen ``__setattr__``, writes each slot with a plain
    attribute store (about 100), and then makes the instance one of ``cls`` by assigning
    its ``__class__``, which CPython allows exactly when the two layouts are the same. The
    values land in the same slots, so the object is the same in every respect: its type,
    its fields, equality, hash, repr, and frozenness from then on. The twin is never seen
    outside this function.
    """
    plan = _plan(cls)
    if plan is None:
        return cls
    fields, namespace, params_text = plan
    twin = type(cls.__name__, cls.__bases__, {"__slots__": cls.__dict__["__slots__"], "__module__": cls.__module__})
    if twin.__setattr__ is not object.__setattr__:  # a base that is frozen too: no twin to write through
        return cls
    try:
        probe = twin()
        probe.__class__ = cls  # refused unless the layouts are the same
    except TypeError:
        return cls
    namespace["__fast_twin"], namespace["__fast_cls"] = twin, cls
    body = [f"    __fast_self__.{f.name} = {f.name}\n" for f in fields]
    source = (f"def new({', '.join(params_text)}):\n    __fast_self__ = __fast_twin()\n" + "".join(body)
              + "    __fast_self__.__class__ = __fast_cls\n    return __fast_self__\n")
    exec(source, namespace)  # noqa: S102 (built from field names only, as dataclasses does)
    new = namespace["new"]
    new.__qualname__ = new.__name__ = f"new_{cls.__name__}"
    new.__module__ = cls.__module__
    new.__doc__ = f"Build a {cls.__qualname__} (protocol.frozen.fast_new)."
    return new
