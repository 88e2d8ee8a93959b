"""Text that bokeh draws exactly as written.

A plain ``str`` given to a bokeh title, axis label or colour-bar title is a "math
string": where it holds ``$$...$$``, ``\\[...\\]`` or ``\\(...\\)``, BokehJS typesets it with
MathJax (``model $$\\alpha$$`` is drawn as "model α", in a TeX font). Titles and labels
built from model names, label columns, task labels or method names go through
:func:`plain_text`, so that they read as the user wrote them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plain_text"]


def plain_text(text: str) -> Any:
    """``text`` as a bokeh ``PlainText`` (never typeset as TeX).

    Parameters
    ----------
    text : str

    Returns
    -------
    bokeh.models.PlainText
        A new model each call (a bokeh model belongs to one document at a time).
    """
    from bokeh.models import PlainText  # bokeh is imported when a view is built, as in every widget module

    return PlainText(text=str(text))
