"""The one exception type lensnb raises for bad input, and a helper to word it."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LensError", "check_flag", "describe"]


class LensError(ValueError):
    """Raised when an argument, a model or a store cannot be used as given.

    The message names the argument, what was received and what was expected, and
    where it helps, what to do next.
    """

    @classmethod
    def bad_argument(cls, name: str, received: Any, expected: str, hint: str = "") -> LensError:
        """Build the standard message: ``name: expected X, received Y. hint``."""
        message = f"{name}: expected {expected}, received {describe(received)}."
        if hint:
            message += f" {hint}"
        return cls(message)


def check_flag(name: str, value: Any) -> bool:
    """``value`` as a bool, refusing anything but True or False (numpy's included).

    A string such as ``"no"`` is truthy: taken as given it would turn an option on
    (``trust_remote_code="no"`` would run a repository's code, ``overwrite="no"`` would
    replace a store).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise LensError.bad_argument(name, value, "True or False")
    return bool(value)


def describe(value: Any, limit: int = 80) -> str:
    """A short, human description of ``value`` for error messages (type, shape, repr)."""
    if isinstance(value, type):  # a class (np.float16, say): its attributes are descriptors, not values
        return f"the type {value.__module__}.{value.__qualname__}"
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (str, bytes)):
        dtype = getattr(value, "dtype", "")
        return f"{type(value).__name__} of shape {tuple(shape)} {dtype}".rstrip()
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if isinstance(value, (str, int, float, bool, type(None))):
        return text
    return f"{type(value).__name__} {text}"
