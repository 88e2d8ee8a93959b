"""Views as files: standalone HTML that works without a kernel, PNG and SVG.

- :func:`standalone_html` writes bokeh layouts (each serialised with ``json_item``,
  so layouts from different documents can share a page) and escaped HTML fragments
  into one page, with BokehJS inline (works offline; the default) or from the CDN.
- :func:`save_image` renders a bokeh layout in a headless browser through bokeh's own
  export (``export_png`` / ``export_svg``), which needs ``selenium`` and a browser with
  its driver (Chromium + chromedriver, or Firefox + geckodriver). In the notebook, each
  plot's toolbar also has a save button that downloads a PNG with no extra install.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lensnb.errors import LensError
from lensnb.widgets.resources import bokeh_resources

__all__ = ["standalone_html", "save_image", "script_json", "Fragment"]


class Fragment:
    """Plain HTML for a standalone page, written as it is (build it from escaped text)."""

    def __init__(self, markup: str):
        self.markup = markup


def standalone_html(parts: Sequence[Any], *, title: str = "lensnb", resources: str = "inline") -> str:
    """One HTML page holding bokeh layouts and HTML fragments, in order.

    Parameters
    ----------
    parts : sequence of bokeh LayoutDOM or Fragment
    title : str
        The page title (escaped).
    resources : {"inline", "cdn"}
        Where the page gets BokehJS: inside the file (works offline) or the CDN.

    Returns
    -------
    str
        A complete HTML document.
    """
    from bokeh.embed import json_item
    from bokeh.models import LayoutDOM

    chosen = bokeh_resources(resources)
    body, scripts = [], []
    for index, part in enumerate(parts):
        if isinstance(part, Fragment):
            body.append(part.markup)
        elif isinstance(part, LayoutDOM):
            element = f"lensnb-plot-{index}"
            body.append(f"<div id='{element}'></div>")
            item = script_json(json_item(part, element))
            scripts.append(f"Bokeh.embed.embed_item({item});")
        else:
            raise LensError.bad_argument("parts", part, "bokeh layouts or Fragment objects")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>{chosen.render_js()}{chosen.render_css()}"
        "<style>body{font-family:sans-serif;margin:16px} .lensnb-caption{color:#555;margin:4px 0 12px}</style>"
        f"</head><body>{''.join(body)}<script>{''.join(scripts)}</script></body></html>"
    )


def script_json(value: Any) -> str:
    """JSON safe inside an inline ``<script>``: ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026``.

    JSON has these characters only inside strings, where the escapes read the same to
    JavaScript; the HTML parser then never sees ``</script>``, ``<!--`` or ``<script``
    in text taken from the data (which could end the script early or keep it open).
    """
    text = json.dumps(value)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def write_text(text: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise LensError.bad_argument("path", str(path), "a file in an existing folder")
    path.write_text(text, encoding="utf-8")
    return path


def _webdriver() -> Any:
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise LensError(
            "save_png / save_svg need selenium and a headless browser: pip install selenium, plus Chromium and "
            "chromedriver (e.g. apt-get install chromium chromium-driver) or Firefox and geckodriver. "
            "In a notebook, the save button of a plot's toolbar downloads a PNG without them."
        ) from None
    from bokeh.io.webdriver import create_chromium_webdriver, create_firefox_webdriver

    options = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    errors = []
    for create in (lambda: create_chromium_webdriver(extra_options=options), create_firefox_webdriver):
        try:
            return create()
        except Exception as error:  # noqa: BLE001 - each browser fails in its own way
            errors.append(f"{type(error).__name__}: {error}".splitlines()[0])
    raise LensError(
        "save_png / save_svg found no headless browser: install Chromium with chromedriver or Firefox with "
        f"geckodriver on PATH ({'; '.join(errors)})."
    )


def save_image(layout: Any, path: str | os.PathLike, kind: str) -> Path:
    """Render ``layout`` in a headless browser and write it as PNG or SVG.

    Parameters
    ----------
    layout : bokeh LayoutDOM
        Built for the export (SVG needs figures with ``output_backend="svg"``).
    path : path
    kind : {"png", "svg"}
    """
    from bokeh.io.export import export_png, export_svg

    if kind not in ("png", "svg"):
        raise LensError.bad_argument("kind", kind, "'png' or 'svg'")
    path = Path(path)
    if not path.parent.exists():
        raise LensError.bad_argument("path", str(path), "a file in an existing folder")
    driver = _webdriver()
    try:
        if kind == "png":
            export_png(layout, filename=str(path), webdriver=driver)
        else:
            svgs = export_svg(layout, filename=str(path), webdriver=driver)
            if not svgs:
                raise LensError("save_svg: the browser returned no SVG for this view.")
    finally:
        driver.quit()
    return path
