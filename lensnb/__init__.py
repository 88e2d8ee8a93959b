"""lensnb: what each layer of a transformer knows, and how it gets the answer.

The core loads a Hugging Face model (:func:`load_model`), extracts its hidden states
for labelled text into :class:`Activations` (:func:`extract`), and measures them.
Importing lensnb loads no widget or notebook library.
"""

from __future__ import annotations

from lensnb._version import __version__
from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.examples import Example, Span, SpanPair
from lensnb.extract import extract
from lensnb.models import LensModel, load_model

__all__ = [
    "Activations",
    "Example",
    "LensError",
    "LensModel",
    "Span",
    "SpanPair",
    "extract",
    "load_model",
    "__version__",
]
