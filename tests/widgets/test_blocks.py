"""The building blocks headless: traits set, browser messages and bokeh selections simulated, patches read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.geometry.results import LayerMatrix
from lensnb.widgets import (
    LayerCurves,
    LayerHeatmap,
    LayerSlider,
    LinkedScatter,
    TokenLink,
    TokenPicker,
    coloring_from_values,
)  # fmt: skip
from lensnb.widgets.colors import MISSING_COLOR, OTHER_COLOR
from lensnb.widgets.curves import neighbour_overlap_profile
from tests.widgets.conftest import PatchSpy, bokeh_selects, browser_sets, toy_profile, toy_projection, toy_texts


# ------------------------------------------------------------------ LayerSlider
def test_layer_slider_names_layers_and_follows_the_browser():
    slider = LayerSlider([0, 1, 2, 3], names=["embeddings", "layer 1", "layer 2", "layer 3"], layer=1)
    assert slider.layer == 1 and slider.slider.label == "layer 1" and slider.play.value == 1
    browser_sets(slider.slider, index=3)  # the user pressed End, or the arrow key three times
    assert slider.layer == 3 and slider.name == "layer 3"
    browser_sets(slider.play, value=0)  # the play button stepped to the first layer
    assert slider.play.value == 0  # play is linked to the slider in the browser (jslink)
    slider.layer = 2
    assert slider.slider.value == 2 and slider.play.value == 2


def test_layer_slider_refuses_what_is_not_a_layer():
    with pytest.raises(lensnb.LensError, match="layers: expected at least one layer"):
        LayerSlider([])
    with pytest.raises(lensnb.LensError, match="layers: expected each layer once"):
        LayerSlider([0, 0])
    slider = LayerSlider([0, 1])
    with pytest.raises(lensnb.LensError, match="layer: expected one of the layers"):
        slider.layer = 5


# ------------------------------------------------------------------ TokenPicker
@pytest.fixture
def picker_table():
    table = pd.DataFrame({
        "text_id": [0, 0, 0, 1, 1, 1], "position": [1, 2, 3, 1, 2, 3], "window": 0,
        "token": ["the", "price", "<script>", "the", "prices", "fell"],
        "char_start": [0, 4, 10, 0, 4, 11], "char_end": [3, 9, 18, 3, 10, 15],
        "upos": ["DET", "NOUN", "X", "DET", "NOUN", "VERB"],
    })  # fmt: skip
    texts = pd.DataFrame({"text_id": [0, 1], "text": ["the price <script>", "the prices fell"]})
    return table, texts


def test_picker_searches_in_the_kernel_and_lists_hits_in_context(picker_table):
    table, texts = picker_table
    picker = TokenPicker(table, texts, max_hits=1)
    browser_sets(picker.query, value="price")
    assert picker.hits == [1, 4]
    assert [row for _, row in picker.hit_list.options] == [1]  # only what is shown goes to the browser
    assert "2 hits; the first 1 are listed" in picker.count.value
    assert picker.hit_list.options[0][0] == "text 0, pos 2: the [price] <script>"
    browser_sets(picker.mode, index=1)  # by position
    browser_sets(picker.text_id, value=1)
    browser_sets(picker.position, value=3)
    assert picker.hits == [5]
    browser_sets(picker.mode, index=2)  # by label
    browser_sets(picker.value, index=[o[1] for o in picker.value.options].index("DET"))
    assert picker.hits == [0, 3]


def test_a_pattern_that_is_not_a_regular_expression_is_said_in_the_count_and_clears_the_hits(picker_table):
    """An observer's error only reaches ipywidgets' log: the hits of the last valid pattern stayed on screen."""
    table, texts = picker_table
    picker = TokenPicker(table, texts)
    browser_sets(picker.match, index=list(picker.match.options).index("regex"))
    browser_sets(picker.query, value="pric")
    assert picker.hits == [1, 4]
    browser_sets(picker.query, value="pric(")
    assert picker.hits == [] and picker.hit_list.options == ()
    assert "query: expected a valid regular expression" in picker.count.value
    browser_sets(picker.query, value="nothing here")  # no hits again, and a valid pattern: the count says so
    assert picker.hits == [] and "0 hits" in picker.count.value


def test_picking_is_shared_and_shown_escaped(picker_table):
    table, texts = picker_table
    link = TokenLink(len(table))
    picker = TokenPicker(table, texts, link=link)
    browser_sets(picker.query, value="script")
    browser_sets(picker.hit_list, index=[0])
    picker.pick_button.click()
    assert link.picked == [2] and picker.picked == [2]
    assert "&lt;script&gt;" in picker.picked_view.value and "<script>" not in picker.picked_view.value
    picker.clear_button.click()
    assert link.picked == []
    link.picked = [5, 1, 5]
    assert picker.picked == [5, 1] and "fell" in picker.picked_view.value


def test_picker_refuses_a_link_over_other_items(picker_table):
    table, texts = picker_table
    with pytest.raises(lensnb.LensError, match="link: expected a TokenLink over 6 items"):
        TokenPicker(table, texts, link=TokenLink(3))
    with pytest.raises(lensnb.LensError, match="picked: expected rows between 0 and 5"):
        TokenLink(6).picked = [9]


def test_a_link_is_refused_by_a_view_over_other_items_of_the_same_number():
    """Row i of a link is one token: a view over another subset of the same size would select other tokens."""
    projection = toy_projection(n_items=6, n_layers=3)
    first = LinkedScatter(projection, texts=toy_texts())
    TokenPicker(projection.table, toy_texts(), link=first.link)  # the same items: shared
    import dataclasses

    reordered = dataclasses.replace(projection, table=projection.table.iloc[::-1].reset_index(drop=True))
    with pytest.raises(lensnb.LensError, match="link: expected a TokenLink shared by views over the same 6 items"):
        LinkedScatter(reordered, texts=toy_texts(), link=first.link)
    with pytest.raises(lensnb.LensError, match="link: expected a TokenLink shared by views over the same 6 items"):
        TokenPicker(reordered.table, toy_texts(), link=first.link)
    with pytest.raises(lensnb.LensError, match="items_key: expected a digest of the view's items"):
        first.link.bind(None, 6)
    assert first.link.items_key == first.text.key()  # nothing changed by the refusals


# ------------------------------------------------------------------ colourings
def test_categorical_coloring_keeps_the_frequent_classes_and_marks_missing():
    values = np.array(["a"] * 5 + ["b"] * 3 + [None] + [f"rare{i}" for i in range(25)], dtype=object)
    coloring = coloring_from_values("label", values, n_items=len(values))
    assert coloring.kind == "categorical" and coloring.classes[:2] == ["a", "b"] and len(coloring.classes) == 19
    colors = coloring.colors()
    assert colors[8] == MISSING_COLOR and colors[-1] == OTHER_COLOR and colors[0] != colors[5]
    legend = dict(coloring.legend())
    assert "other (8 classes)" in legend and "(no label)" in legend


def test_signed_scores_get_a_diverging_scale_centred_on_zero():
    coloring = coloring_from_values("relevance", np.array([-2.0, 0.0, 1.0, np.nan]), n_items=4)
    assert coloring.kind == "continuous" and (coloring.low, coloring.high) == (-2.0, 2.0)
    colors = coloring.colors()
    assert colors[3] == MISSING_COLOR and colors[0] != colors[2]
    with pytest.raises(lensnb.LensError, match="values of shape \\(4,\\) or \\(n_layers, 4\\)"):
        coloring_from_values("x", np.zeros(3), n_items=4)


# ------------------------------------------------------------------ LinkedScatter
def test_a_layer_move_sends_only_the_new_coordinates():
    scatter = LinkedScatter(toy_projection(n_items=6, n_layers=3), texts=toy_texts())
    spy = PatchSpy(scatter.bokeh)
    scatter.layer = 2
    changed = [e for e in spy.events if e["kind"] == "ColumnDataChanged"]
    assert len(changed) == 1 and sorted(changed[0]["cols"]) == ["x", "y"]
    assert len(spy.buffers) == 2  # x and y as binary float32 buffers, no strings
    assert np.allclose(scatter.plot.points.data["x"], scatter.coordinates[2, :, 0])
    assert scatter.plot.figure.title.text.text == "layer 2"


def test_coordinates_are_shown_at_unit_spread_per_layer():
    projection = toy_projection(n_items=50, n_layers=2)
    projection.coordinates[1] *= 100
    scatter = LinkedScatter(projection)
    for layer in range(2):
        coords = scatter.coordinates[layer]
        assert np.allclose(coords.mean(axis=0), 0, atol=1e-5)
        assert np.isclose(np.sqrt((coords**2).sum(axis=1).mean()), 1.0, atol=1e-5)
    raw = LinkedScatter(projection, normalize=False)
    assert np.allclose(raw.coordinates, projection.coordinates)


def test_a_box_selection_reaches_the_link_and_the_other_scatter_without_echo():
    projection = toy_projection()
    link = TokenLink(6)
    first = LinkedScatter(projection, texts=toy_texts(), link=link)
    second = LinkedScatter(projection, texts=toy_texts(), link=link, layer=1)
    spy_first, spy_second = PatchSpy(first.bokeh), PatchSpy(second.bokeh)
    bokeh_selects(first.bokeh, first.plot.points, [4, 1])
    assert link.selected == [1, 4]
    assert list(second.plot.points.selected.indices) == [1, 4]
    assert any(e.get("attr") == "indices" for e in spy_second.events)  # the other view is told
    assert spy_first.events == []  # the view that made the selection is not echoed to
    link.selected = []
    assert list(first.plot.points.selected.indices) == [] and list(second.plot.points.selected.indices) == []


def test_picked_items_are_ringed_and_their_paths_drawn_on_request():
    scatter = LinkedScatter(toy_projection(n_layers=4), texts=toy_texts())
    scatter.link.picked = [3, 0]
    assert scatter.plot.picked.data["item"] == ["w3", "w0"]
    assert np.allclose(scatter.plot.picked.data["x"], scatter.coordinates[0, [3, 0], 0])
    assert scatter.plot.paths.data["xs"] == [] and not scatter.plot.path_renderer.visible
    browser_sets(scatter.trajectory_box, value=True)
    assert scatter.show_trajectories and scatter.plot.path_renderer.visible
    assert len(scatter.plot.paths.data["xs"]) == 2 and np.allclose(scatter.plot.paths.data["xs"][0],
                                                                  scatter.coordinates[:, 3, 0])  # fmt: skip
    scatter.layer = 3
    assert np.allclose(scatter.plot.picked.data["y"], scatter.coordinates[3, [3, 0], 1])


def test_colour_switches_between_labels_and_per_layer_values():
    projection = toy_projection(n_items=6, n_layers=3)
    per_layer = np.array([["correct"] * 6, ["wrong"] * 6, ["correct", "wrong"] * 3], dtype=object)
    scatter = LinkedScatter(projection, texts=toy_texts(), colorings={"probe": per_layer})
    assert scatter.color == "upos"
    legend = [item.label.value for item in scatter.plot.legend.items]
    assert legend[:2] == ["NOUN", "VERB"] and "(no label)" in legend
    browser_sets(scatter.color_picker, index=list(scatter.colorings).index("probe"))
    assert scatter.color == "probe" and set(scatter.plot.points.data["color"]) == {"#1a9850"}
    spy = PatchSpy(scatter.bokeh)
    scatter.layer = 1  # a per-layer colouring follows the layer
    assert set(scatter.plot.points.data["color"]) == {"#d73027"}
    assert any(sorted(e.get("cols", [])) == ["color", "group"] for e in spy.events)
    scatter.add_coloring("score", np.linspace(-1, 1, 6))
    assert scatter.color == "score" and scatter.plot.color_bar.visible and not scatter.plot.legend.visible
    with pytest.raises(lensnb.LensError, match="color: expected one of"):
        scatter.color = "nothing"


def test_hover_strings_are_data_fields_that_bokeh_escapes():
    from lensnb.widgets.scatter_plot import HOVER_TEMPLATE

    assert "{safe}" not in HOVER_TEMPLATE and "@item" in HOVER_TEMPLATE  # @field values are escaped by BokehJS


def test_scatter_refuses_what_is_not_a_projection():
    with pytest.raises(lensnb.LensError, match="projection: expected a Projection"):
        LinkedScatter(np.zeros((2, 3, 2)))
    with pytest.raises(lensnb.LensError, match="layer: expected one of the projected layers"):
        LinkedScatter(toy_projection(), layer=7)


def test_standalone_html_works_without_a_kernel_and_escapes():
    projection = toy_projection()
    projection.table.loc[0, "token"] = "</script><img src=x onerror=alert(1)>"
    projection.table.loc[0, ["char_start", "char_end"]] = -1  # no characters of its own: shown as its piece
    scatter = LinkedScatter(projection, texts=toy_texts())
    page = scatter.to_html(resources="cdn")
    assert page.startswith("<!DOCTYPE html>") and "Bokeh.embed.embed_item" in page and "cdn.bokeh.org" in page
    # the token travels as JSON inside a script, which it cannot close: every script ends where it should
    assert page.count("</script>") == page.count("<script") and "\\u003c/script\\u003e\\u003cimg" in page
    assert '"x0"' in page and '"y2"' in page  # every layer, for the slider that works in the file
    assert len(scatter.to_html(resources="inline")) > 1_000_000  # BokehJS inside: works offline


# ------------------------------------------------------------------ LayerCurves
def test_a_click_above_a_layer_moves_the_curves_layer():
    probe = toy_profile("probe_accuracy", ci_low=np.array([0.9, 1.0, 1.1]), ci_high=np.array([1.1, 1.2, 1.3]),
                        majority_baseline=0.5)  # fmt: skip
    curves = LayerCurves([toy_profile(), probe])
    assert curves.layer == 0 and [m.location for m in curves._markers] == [0.0, 0.0]
    hits = curves._hit_sources[1]
    bokeh_selects(curves.bokeh, hits, [2])
    assert curves.layer == 2 and [m.location for m in curves._markers] == [2.0, 2.0]
    assert list(hits.selected.indices) == []  # cleared, so the same layer can be clicked again
    curves.layer = 1
    assert [m.location for m in curves._markers] == [1.0, 1.0]


def test_curves_refuse_what_is_not_a_profile_and_derive_next_layer_overlap():
    with pytest.raises(lensnb.LensError, match="profiles: expected LayerProfile objects"):
        LayerCurves([np.arange(3)])
    matrix = LayerMatrix("neighborhood_overlap", (0, 1, 2), (0, 1, 2), np.array([[1, .5, .2], [.5, 1, .7], [.2, .7, 1]]),
                         {"k": 10})  # fmt: skip
    profile = neighbour_overlap_profile(matrix)
    assert profile.layers == (0, 1) and profile.values.tolist() == [0.5, 0.7]


# ------------------------------------------------------------------ LayerHeatmap
def test_a_click_on_a_cell_shows_both_layers_side_by_side():
    matrix = LayerMatrix("cka_linear", (0, 1, 2), (0, 1, 2), np.eye(3) * 0.5 + 0.5, models=("A", "B"))
    projection = toy_projection()
    heatmap = LayerHeatmap(matrix, projections=(projection, projection), texts=toy_texts())
    index = [i for i in range(9) if heatmap.cells.data["layer_a"][i] == 2 and heatmap.cells.data["layer_b"][i] == 1][0]
    bokeh_selects(heatmap.bokeh, heatmap.cells, [index])
    assert heatmap.cell == (2, 1) and heatmap.value == 0.5
    assert [s.layer for s in heatmap.scatters] == [2, 1]
    assert heatmap._chosen.data == {"x": [1.0], "y": [2.0]}
    bokeh_selects(heatmap.scatters[0].bokeh, heatmap.scatters[0].plot.points, [0, 3])
    assert list(heatmap.scatters[1].plot.points.selected.indices) == [0, 3]  # the two layers are linked
    with pytest.raises(lensnb.LensError, match="cell: expected"):
        heatmap.cell = (5, 0)
    assert "linear CKA" in heatmap.to_html(resources="cdn")


# ------------------------------------------------------------------ text drawn as written
def test_titles_and_labels_from_names_are_never_typeset_as_tex():
    """A str title or axis label holding $$...$$ is a bokeh "math string", drawn by MathJax ("model $$\\alpha$$"
    came out as "model α"). Names that come from the user's data reach bokeh as PlainText."""
    from bokeh.models import PlainText

    name = "model $$\\alpha$$ \\(x\\)"
    scatter = LinkedScatter(toy_projection(n_items=6, n_layers=3), texts=toy_texts(), title=name)
    scatter.layer = 1
    assert isinstance(scatter.plot.figure.title.text, PlainText)
    assert scatter.plot.figure.title.text.text == f"{name} · layer 1"
    slider = scatter.export_layout(all_layers=True).children[0]
    headings = [plain.text for plain in slider.js_property_callbacks["change:value"][0].args["headings"]]
    assert headings == [f"{name} · {n}" for n in scatter.names]  # the file's own slider sets them as PlainText
    from lensnb.widgets.curves import curve_figure
    from lensnb.widgets.heatmap import heatmap_figure

    matrix = LayerMatrix("cka_linear", (0, 1), (0, 1), np.eye(2), models=(name, "B"))
    figure = heatmap_figure(matrix, ["0", "1"], ["0", "1"], title=name)[0]
    assert figure.title.text.text == name and figure.yaxis[0].axis_label.text == f"layer of {name}"
    figure = curve_figure(name, toy_profile(), (0, 1, 2), {0: "0", 1: "1", 2: "2"})[0]
    assert isinstance(figure.title.text, PlainText) and figure.title.text.text == name


def test_many_classes_never_share_a_grey_with_other_or_no_label():
    """Category20's greys (#7f7f7f, #c7c7c7) were 13 and 18 levels from "other" and "(no label)"."""
    values = np.array([f"c{i}" for i in range(25)] * 2 + [None], dtype=object)
    coloring = coloring_from_values("many", values, n_items=len(values))
    colors = set(coloring.colors().tolist())
    assert OTHER_COLOR in colors and MISSING_COLOR in colors
    classes = colors - {OTHER_COLOR, MISSING_COLOR}
    assert len(classes) == 19 and not classes & {"#7f7f7f", "#c7c7c7"}
    twenty = coloring_from_values("twenty", np.array([f"c{i}" for i in range(20)], dtype=object), n_items=20)
    shown = set(twenty.colors().tolist())
    assert len(shown) == 20 and not shown & {"#7f7f7f", "#c7c7c7"}
