"""``LayerSlider``: the current layer, by name, with the keyboard and a play button."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import traitlets

from lensnb.errors import LensError

__all__ = ["LayerSlider", "layer_names"]


def layer_names(layers: Sequence[int], names: Sequence[str] | Mapping[int, str] | None = None) -> list[str]:
    """Display names of model layers: the model's own names when given, else "embeddings", "layer l".

    Parameters
    ----------
    layers : sequence of int
        Model layers (0 = embeddings).
    names : sequence of str or mapping of int to str, optional
        The model's names, indexed by layer (``Activations.model["layer_names"]``), or
        a name for some layers.
    """
    out = []
    for layer in layers:
        if isinstance(names, Mapping) and layer in names:
            out.append(str(names[layer]))
        elif names is not None and not isinstance(names, Mapping) and 0 <= layer < len(names):
            out.append(str(names[layer]))
        else:
            out.append("embeddings" if layer == 0 else f"layer {layer}")
    return out


class LayerSlider(widgets.HBox):
    """Pick a layer: a slider over the layers' names, arrow keys, and a play button.

    Parameters
    ----------
    layers : sequence of int
        Model layers to step through (0 = embeddings, l = output of block l).
    names : sequence of str, optional
        The model's layer names (indexed by layer number); default "embeddings",
        "layer 1", ...
    layer : int, optional
        Starting layer; default the first.
    interval : int
        Milliseconds per layer when playing.
    description : str

    Attributes
    ----------
    layer : int
        The current model layer (a traitlet: observe or link it).
    layers : tuple of int

    Examples
    --------
    >>> slider = LayerSlider([0, 1, 2], layer=1)
    >>> slider.layer = 2; slider.slider.label
    'layer 2'
    """

    layer = traitlets.Int()

    def __init__(
        self,
        layers: Sequence[int],
        names: Sequence[str] | Mapping[int, str] | None = None,
        layer: int | None = None,
        *,
        interval: int = 700,
        description: str = "layer",
    ):
        layers = tuple(int(x) for x in layers)
        if not layers:
            raise LensError.bad_argument("layers", layers, "at least one layer")
        if len(set(layers)) != len(layers):
            raise LensError.bad_argument("layers", layers, "each layer once")
        self.layers = layers
        labels = layer_names(layers, names)
        self.slider = widgets.SelectionSlider(
            options=list(zip(labels, layers)), description=description, continuous_update=True,
            layout=widgets.Layout(width="360px"), style={"description_width": "initial"},
        )  # fmt: skip
        self.play = widgets.Play(min=0, max=len(layers) - 1, step=1, interval=interval, description="play")
        widgets.jslink((self.play, "value"), (self.slider, "index"))  # plays in the browser, no round trip
        super().__init__([self.play, self.slider])
        self.add_class("lensnb-layer-slider")
        self.layer = layers[0] if layer is None else layer
        self.slider.value = self.layer
        self.slider.observe(self._from_slider, "value")

    @traitlets.validate("layer")
    def _valid_layer(self, proposal) -> int:
        value = proposal["value"]
        if value not in self.layers:
            raise LensError.bad_argument("layer", value, f"one of the layers {list(self.layers)}")
        return value

    @traitlets.observe("layer")
    def _to_slider(self, change) -> None:
        if self.slider.value != change["new"]:
            self.slider.value = change["new"]
        index = self.layers.index(change["new"])
        if self.play.value != index:
            self.play.value = index

    def _from_slider(self, change) -> None:
        if change["new"] is not None and self.layer != change["new"]:
            self.layer = change["new"]

    @property
    def name(self) -> str:
        """Display name of the current layer."""
        return self.name_of(self.layer)

    def name_of(self, layer: int) -> str:
        """Display name of one of the slider's layers."""
        return self.slider.options[self.layers.index(layer)][0]
