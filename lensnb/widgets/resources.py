"""Where the browser gets BokehJS from: a CDN when it can be reached, else inline.

Every lensnb view loads BokehJS into the page itself when it is displayed (see
:func:`load_bokehjs`), so nothing has to be called first. Which copy it loads:

- ``"cdn"``: a few kilobytes of script tags pointing at cdn.bokeh.org (Binder, any
  machine online). Notebooks saved with outputs stay small.
- ``"inline"``: the whole BokehJS (several MB) inside the output, for browsers that
  cannot reach the CDN (air-gapped hubs, CI). It works everywhere, at the cost of
  notebook size when outputs are saved.
- ``"auto"`` (the default): ``"cdn"`` if the kernel can open a connection to the CDN
  within a second, else ``"inline"``. The kernel and the browser usually share a
  network; where they do not, choose explicitly.

The choice comes from, in order: the ``resources=`` argument of a view, the
environment variable ``LENSNB_BOKEH_RESOURCES``, bokeh's own ``BOKEH_RESOURCES``
(``"cdn"`` or ``"inline"``), then ``"auto"``. Nothing is stored between calls.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from lensnb.errors import LensError

__all__ = [
    "RESOURCE_CHOICES", "ENVIRONMENT_VARIABLE", "resolve_resources", "check_resources", "bokeh_resources",
    "load_bokehjs",
]  # fmt: skip

RESOURCE_CHOICES = ("auto", "cdn", "inline")
ENVIRONMENT_VARIABLE = "LENSNB_BOKEH_RESOURCES"
CDN_HOST = ("cdn.bokeh.org", 443)


def cdn_reachable(timeout: float = 1.0) -> bool:
    """Whether a TCP connection to Bokeh's CDN opens within ``timeout`` seconds (name lookup included)."""
    import threading

    outcome: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection(CDN_HOST, timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    worker = threading.Thread(target=connect, name="lensnb-cdn-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)  # a name lookup that hangs counts as unreachable
    return bool(outcome and outcome[0])


def resolve_resources(choice: str | None = None, *, probe: Any = cdn_reachable) -> str:
    """``"cdn"`` or ``"inline"``, from ``choice``, the environment, or a reachability probe.

    Parameters
    ----------
    choice : {"auto", "cdn", "inline"}, optional
        None reads ``LENSNB_BOKEH_RESOURCES``, then ``BOKEH_RESOURCES``, then "auto".
    probe : callable () -> bool
        Decides "auto": True means the CDN can be reached.
    """
    source = "resources"
    if choice is None:
        for variable in (ENVIRONMENT_VARIABLE, "BOKEH_RESOURCES"):
            value = os.environ.get(variable, "").strip().lower()
            if value:
                if variable == "BOKEH_RESOURCES" and value not in RESOURCE_CHOICES:
                    continue  # bokeh's other modes (server, relative...) are not for notebooks
                choice, source = value, variable
                break
        else:
            choice = "auto"
    if choice not in RESOURCE_CHOICES:
        raise LensError.bad_argument(source, choice, f"one of {RESOURCE_CHOICES}")
    if choice == "auto":
        return "cdn" if probe() else "inline"
    return choice


def check_resources(choice: str | None) -> str | None:
    """``choice`` itself, after checking it is None or one of "auto", "cdn", "inline" (nothing is probed).

    Views call it when built, so that a misspelt ``resources=`` fails there and then,
    not later when the view is displayed.
    """
    if choice is not None and (not isinstance(choice, str) or choice not in RESOURCE_CHOICES):
        raise LensError.bad_argument("resources", choice, f"None or one of {RESOURCE_CHOICES}")
    return choice


def bokeh_resources(mode: str):
    """bokeh's ``Resources`` object for ``"cdn"`` or ``"inline"``."""
    from bokeh.resources import CDN, INLINE

    if mode not in ("cdn", "inline"):
        raise LensError.bad_argument("mode", mode, "'cdn' or 'inline'")
    return CDN if mode == "cdn" else INLINE


def load_bokehjs(mode: str) -> None:
    """Put BokehJS into the page: one display output, before any plot is shown.

    Loading twice is harmless: BokehJS skips a copy it already has.
    """
    from bokeh.io.notebook import load_notebook

    load_notebook(bokeh_resources(mode), hide_banner=True)
