"""Boolean options: anything but True or False is refused by name.

A string such as ``"no"`` is truthy: taken as given it would turn an option on
(``trust_remote_code="no"`` would run a repository's code, ``overwrite="no"`` would
replace a store, ``standardize="no"`` would standardise).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from lensnb.errors import LensError

__all__ = ["check_flag", "checks_flags"]

F = TypeVar("F", bound=Callable[..., Any])


def check_flag(name: str, value: Any) -> bool:
    """``value`` as a bool, refusing anything but True or False (numpy's included).

    Raises
    ------
    LensError
        Naming ``name``, for any other value.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise LensError.bad_argument(name, value, "True or False")
    return bool(value)


def checks_flags(function: F) -> F:
    """Decorate ``function`` so that its parameters annotated ``bool`` take only True or False.

    The parameters are found once, from the signature; each call then looks at the
    arguments actually given for them (defaults are not checked) before running
    ``function``, and raises :class:`LensError` naming the first one that is not a bool.
    """
    parameters = list(inspect.signature(function).parameters.values())
    flags = [p for p in parameters if p.annotation in ("bool", bool)]
    if not flags:
        raise TypeError(f"{function.__qualname__} has no parameter annotated bool")
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    slots = [(p.name, parameters.index(p) if p.kind in positional else None) for p in flags]

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name, slot in slots:
            if name in kwargs:
                check_flag(name, kwargs[name])
            elif slot is not None and slot < len(args):
                check_flag(name, args[slot])
        return function(*args, **kwargs)

    return checked  # type: ignore[return-value]
