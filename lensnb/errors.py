"""The one exception type lensnb raises for bad input, and a helper to word it."""

from __future__ import annotations

from typing import Any

__all__ = ["LensError", "describe"]


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
