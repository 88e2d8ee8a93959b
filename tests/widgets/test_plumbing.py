"""BokehJS resources, the mended jupyter_bokeh widget, display and close."""

from __future__ import annotations

import numpy as np
import pytest

import lensnb
from lensnb.widgets import bokeh_model, resources
from lensnb.widgets.bokeh_model import LensBokehModel
from tests.widgets.conftest import PatchSpy, bokeh_selects, toy_projection, toy_texts


# ------------------------------------------------------------------ resources
@pytest.mark.parametrize(
    ("choice", "environment", "reachable", "expected"),
    [
        ("inline", {}, True, "inline"),
        ("cdn", {}, False, "cdn"),
        ("auto", {}, True, "cdn"),
        ("auto", {}, False, "inline"),
        (None, {"LENSNB_BOKEH_RESOURCES": "inline"}, True, "inline"),
        (None, {"BOKEH_RESOURCES": "cdn"}, False, "cdn"),
        (None, {"BOKEH_RESOURCES": "server"}, False, "inline"),  # bokeh's other modes do not apply
        (None, {"LENSNB_BOKEH_RESOURCES": "cdn", "BOKEH_RESOURCES": "inline"}, False, "cdn"),
        (None, {}, False, "inline"),
    ],
)
def test_resources_follow_argument_then_environment_then_probe(monkeypatch, choice, environment, reachable, expected):
    for name in ("LENSNB_BOKEH_RESOURCES", "BOKEH_RESOURCES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert resources.resolve_resources(choice, probe=lambda: reachable) == expected


def test_bad_resources_name_the_argument(monkeypatch):
    monkeypatch.delenv("BOKEH_RESOURCES", raising=False)
    with pytest.raises(lensnb.LensError, match="resources: expected one of"):
        resources.resolve_resources("offline")
    monkeypatch.setenv("LENSNB_BOKEH_RESOURCES", "nope")
    with pytest.raises(lensnb.LensError, match="LENSNB_BOKEH_RESOURCES"):
        resources.resolve_resources()


def test_unreachable_cdn_is_detected_quickly(monkeypatch):
    import socket
    import time

    def refuse(*args, **kwargs):
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    start = time.monotonic()
    assert resources.cdn_reachable(timeout=0.2) is False
    assert time.monotonic() - start < 1.0


def test_load_bokehjs_publishes_the_loader(monkeypatch):
    import bokeh.io.notebook as notebook

    published = []
    monkeypatch.setattr(notebook, "publish_display_data", lambda data, *a, **k: published.append(data))
    resources.load_bokehjs("inline")
    bundle = published[-1]
    assert "application/vnd.bokehjs_load.v0+json" in bundle and "application/javascript" in bundle
    assert len(bundle["application/javascript"]) > 500_000  # BokehJS itself is inside (inline)
    published.clear()
    resources.load_bokehjs("cdn")
    assert "cdn.bokeh.org" in published[-1]["application/javascript"]


# ------------------------------------------------------------------ the mended BokehModel
def _figure():
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    source = ColumnDataSource({"x": np.arange(3.0), "y": np.arange(3.0)})
    fig = figure(title="before")
    fig.scatter("x", "y", source=source)
    return fig, source


def test_a_view_created_later_sees_the_current_plot_not_the_first_one():
    fig, source = _figure()
    widget = LensBokehModel(fig)
    PatchSpy(widget)
    built = widget.render_bundle
    fig.title.text = "after"  # a change made after construction (slider, selection...)
    state = widget.get_state()  # what a reloaded page asks for
    assert "after" in str(state["render_bundle"]) and "after" not in str(built)
    sent = []
    widget.send_state = lambda key=None: sent.append(key)
    widget.refresh()  # what a re-display does first: the current document reaches the browser
    assert "after" in str(widget.render_bundle)


def test_refresh_without_a_change_sends_nothing():
    fig, _ = _figure()
    widget = LensBokehModel(fig)
    before = widget.render_bundle
    widget.refresh()
    assert widget.render_bundle is before


def test_a_browser_change_runs_each_python_callback_once():
    fig, source = _figure()
    widget = LensBokehModel(fig)
    spy = PatchSpy(widget)
    calls = []
    source.selected.on_change("indices", lambda attr, old, new: calls.append([int(i) for i in new]))
    bokeh_selects(widget, source, [0, 2])
    assert calls == [[0, 2]] and list(source.selected.indices) == [0, 2]
    assert spy.events == []  # nothing echoed back to the browser


def test_closing_twice_is_harmless():
    fig, _ = _figure()
    widget = LensBokehModel(fig)
    widget.close()
    widget.close()
    assert widget.comm is None


# ------------------------------------------------------------------ display and close of a view
def test_display_loads_bokehjs_first_and_refreshes_stale_plots(monkeypatch):
    from lensnb.widgets import LinkedScatter, view

    order = []
    monkeypatch.setattr(view, "load_bokehjs", lambda mode: order.append(("load", mode)))
    monkeypatch.setattr(view, "resolve_resources", lambda choice: "inline")
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda data, raw=False: order.append(("display", sorted(data))))
    scatter = LinkedScatter(toy_projection(), texts=toy_texts())
    scatter.layer = 2  # the bundle is now stale
    scatter._ipython_display_()
    assert order[0] == ("load", "inline")
    assert order[1][0] == "display" and "application/vnd.jupyter.widget-view+json" in order[1][1]
    assert "layer 2" in str(scatter.bokeh.render_bundle)


def test_closing_a_view_closes_everything_inside_it_and_twice_is_harmless():
    from lensnb.widgets import LinkedScatter

    scatter = LinkedScatter(toy_projection(), texts=toy_texts())
    scatter.close()
    scatter.close()
    assert scatter.comm is None and scatter.bokeh.comm is None and scatter.color_picker.comm is None


def test_bokeh_model_module_names_its_fixes():
    assert "Stale plots" in bokeh_model.__doc__ and "Closing twice" in bokeh_model.__doc__


def test_with_the_cdn_plots_wait_for_bokehjs_behind_a_gate(monkeypatch):
    from lensnb.widgets import LinkedScatter, view

    shown = []
    monkeypatch.setattr(view, "load_bokehjs", lambda mode: shown.append(("load", mode)))
    monkeypatch.setattr(view, "resolve_resources", lambda choice: "cdn")
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *objects, raw=False: shown.extend(objects))
    scatter = LinkedScatter(toy_projection(), texts=toy_texts())
    scatter._ipython_display_()
    slot = scatter.bokeh_slots()[0]
    assert shown[0] == ("load", "cdn") and not slot.armed and "cdn.bokeh.org" in slot.note.value
    script, gate = shown[1], shown[2]
    name = next(c for c in gate._dom_classes if c.startswith("lensnb-gate-"))
    assert f"button.{name}" in script.data and "window.Bokeh" in script.data
    gate.click()  # what the script does once BokehJS has loaded
    assert slot.armed and slot.children == (scatter.bokeh,) and gate.comm is None
    # inline BokehJS is there at once: no gate
    monkeypatch.setattr(view, "resolve_resources", lambda choice: "inline")
    shown.clear()
    scatter._ipython_display_()
    assert slot.armed and len(shown) == 2
