"""Interactive views for Jupyter (ipywidgets + bokeh), built on the core's result objects.

Building blocks, each usable alone, their state in traitlets:

- :class:`LayerSlider`: the current layer, keyboard-operable, with play.
- :class:`TokenPicker`: find items by text, position or label; pick some.
- :class:`LinkedScatter`: one layer's 2-D projection; selections and picks shared
  through a :class:`TokenLink` with every other view of the same items.
- :class:`LayerCurves`: per-layer profiles; a click picks the layer.
- :class:`LayerHeatmap`: a layer x layer matrix; a click shows both layers.
- :class:`RelevanceView`: a text shaded by relevance, with method, target and layer pickers.

Composed explorers, one call each: :class:`LayerExplorer`, :class:`CompareExplorer`,
:class:`RelevanceExplorer`. The views read :class:`~lensnb.Activations`,
projections, profiles, matrices and relevance results; they never run a model.
Each loads BokehJS into the page when displayed (CDN or inline, see
:mod:`lensnb.widgets.resources`); :func:`load_bokehjs` does it by hand for a view
placed inside your own ipywidgets layout.
"""

from __future__ import annotations

from lensnb.widgets.colors import Coloring, coloring_from_values, probe_correctness, relevance_coloring
from lensnb.widgets.compare_explorer import CompareExplorer
from lensnb.widgets.curves import LayerCurves
from lensnb.widgets.heatmap import LayerHeatmap
from lensnb.widgets.layer_explorer import LayerExplorer
from lensnb.widgets.layer_slider import LayerSlider
from lensnb.widgets.relevance_explorer import RelevanceExplorer
from lensnb.widgets.relevance_view import RelevanceView
from lensnb.widgets.resources import load_bokehjs, resolve_resources
from lensnb.widgets.scatter import LinkedScatter
from lensnb.widgets.selection import TokenLink
from lensnb.widgets.token_picker import TokenPicker

__all__ = [
    "Coloring",
    "CompareExplorer",
    "LayerCurves",
    "LayerExplorer",
    "LayerHeatmap",
    "LayerSlider",
    "LinkedScatter",
    "RelevanceExplorer",
    "RelevanceView",
    "TokenLink",
    "TokenPicker",
    "coloring_from_values",
    "load_bokehjs",
    "probe_correctness",
    "relevance_coloring",
    "resolve_resources",
]
