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
from typing import Any

_MISSING = dataclasses.MISSING


def fast_init(cls: type) -> bool:
    """Give the frozen slotted dataclass ``cls`` the faster ``__init__``; True if it did,
    False (nothing changed) if ``cls`` is not one it can copy exactly (module docstring)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        return False
    if hasattr(cls, "__post_init__"):
        return False
    # The fields in __init__'s order (public API: no ClassVar, no InitVar). An InitVar is a
    # parameter but not a field, so its class's __init__ takes other parameters than the
    # fields: such a class keeps its own.
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters)[1:]
    if parameters != [f.name for f in fields]:
        return False
    if any(not f.init or f.kw_only or f.default_factory is not _MISSING for f in fields):
        return False
    if any(f.name.startswith("__fast_") for f in fields):  # the generated function's own names
        return False
    namespace: dict[str, Any] = {}
    params_text, body = [], []
    for number, f in enumerate(fields):
        slot = cls.__dict__.get(f.name)
        if type(slot).__name__ != "member_descriptor":  # not a slot of this very class
            return False
        namespace[f"__fast_set{number}"] = slot.__set__
        if f.default is _MISSING:
            params_text.append(f.name)
        else:
            namespace[f"__fast_default{number}"] = f.default
            params_text.append(f"{f.name}=__fast_default{number}")
        body.append(f"    __fast_set{number}(__fast_self__, {f.name})\n")
    source = (f"def __init__(__fast_self__{''.join(', ' + p for p in params_text)}):\n"
              + ("".join(body) or "    pass\n"))
    exec(source, namespace)  # noqa: S102 (built from field names only, as dataclasses does)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return True
