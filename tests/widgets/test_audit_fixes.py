"""Regression tests of the widgets audit (stop 23): one section per finding, worst first."""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.examples import RESERVED_TEXT_COLUMNS, Span
from lensnb.geometry.results import LayerMatrix, Projection
from lensnb.relevance.html import shade_color
from lensnb.widgets import (
    CompareExplorer,
    LayerCurves,
    LayerExplorer,
    LayerHeatmap,
    LinkedScatter,
    RelevanceView,
    TokenLink,
    TokenPicker,
    coloring_from_values,
)
from lensnb.widgets.columns import NON_LABEL_COLUMNS
from lensnb.widgets.compare_explorer import match_items
from lensnb.widgets.heatmap import text_color
from lensnb.widgets.item_text import ItemText
from lensnb.widgets.layer_explorer import label_columns
from tests.widgets.conftest import bokeh_selects, examples, toy_profile, toy_projection, toy_texts


def _rgb(color: str) -> tuple[int, int, int]:
    if color.startswith("rgb("):
        return tuple(int(v) for v in color[4:-1].split(","))  # type: ignore[return-value]
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _quiet(build):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build()


# ------------------------------------------------------------------ 1. diverging palette
def test_signed_scores_are_blue_below_zero_white_at_zero_red_above_like_the_relevance_text():
    coloring = coloring_from_values("relevance", np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), n_items=5)
    colors = coloring.colors()
    expected = [_rgb(shade_color(v, 1.0)) for v in (-1.0, -0.5, 0.0, 0.5, 1.0)]
    assert np.abs(np.array([_rgb(c) for c in colors]) - np.array(expected)).max() <= 2  # a ramp of 255 steps
    red, green, blue = _rgb(colors[0])
    assert blue > red + 100 and _rgb(colors[2]) == (255, 255, 255) and _rgb(colors[4])[0] > _rgb(colors[4])[2] + 100
    assert _rgb(coloring.palette[0])[2] == 255 and _rgb(coloring.palette[-1])[0] == 255  # colour bar: blue to red
    heatmap = LayerHeatmap(LayerMatrix("cka_linear_debiased", (0, 1), (0, 1), np.array([[1.0, -1.0], [0.0, 0.5]])))
    by_value = dict(zip(heatmap.cells.data["value"], heatmap.cells.data["color"]))
    assert _rgb(by_value[1.0]) == (255, 0, 0) and _rgb(by_value[-1.0]) == (0, 0, 255)


# ------------------------------------------------------------------ 2. compare pairs by text and word
@pytest.fixture(scope="module")
def other_texts(tiny_models):
    ex = examples()
    return {
        "bert_first": lensnb.extract(tiny_models["bert"], ex[:6], progress=False),
        "gpt2_last": lensnb.extract(tiny_models["gpt2"], ex[6:], progress=False),
        "gpt2_overlap": lensnb.extract(tiny_models["gpt2"], ex[4:], progress=False),
        "gpt2_reversed": lensnb.extract(tiny_models["gpt2"], ex[::-1], progress=False),
    }


def test_compare_refuses_activations_over_other_texts(other_texts):
    with pytest.raises(lensnb.LensError, match="acts_b: expected the same texts as acts_a"):
        match_items(other_texts["bert_first"].drop_special(), other_texts["gpt2_last"].drop_special())
    with pytest.raises(lensnb.LensError, match="acts_b: expected the same texts"):
        CompareExplorer(other_texts["bert_first"], other_texts["gpt2_last"], cka=False, progress=False)


def test_compare_pairs_only_the_same_words_of_the_same_texts_and_says_what_it_left_out(other_texts, bert_acts):
    matching = match_items(other_texts["bert_first"].drop_special(), other_texts["gpt2_overlap"].drop_special())
    assert (matching.a.table["word"].to_numpy() == matching.b.table["word"].to_numpy()).all()
    shared = sum(len(w) for w, _ in lensnb_words()[4:6])  # texts 4 and 5 are in both
    assert len(matching.a) == shared and matching.left_out_a > 0 and matching.left_out_b > 0
    assert "left out" in matching.note()
    explorer = _quiet(lambda: CompareExplorer(other_texts["bert_first"], other_texts["gpt2_overlap"], cka=False,
                                              progress=False))  # fmt: skip
    assert "left out" in explorer.note.value and explorer.matching.left_out_b == matching.left_out_b
    # the same texts in another order: matched by their text, not their id
    reordered = match_items(bert_acts.drop_special(), other_texts["gpt2_reversed"].drop_special())
    assert len(reordered.a) == sum(len(w) for w, _ in lensnb_words()) and reordered.left_out_a == 0
    assert (reordered.a.table["word"].to_numpy() == reordered.b.table["word"].to_numpy()).all()
    texts_a = reordered.a.texts.set_index("text_id")["text"]
    texts_b = reordered.b.texts.set_index("text_id")["text"]
    assert (
        texts_a.loc[reordered.a.table["text_id"]].to_numpy() == texts_b.loc[reordered.b.table["text_id"]].to_numpy()
    ).all()


def lensnb_words():
    from tests.widgets.conftest import WORDS

    return WORDS


# ------------------------------------------------------------------ 3. export follows per-layer colours
def test_exported_slider_swaps_per_layer_colours_hover_groups_and_legend():
    from bokeh.models import ColumnDataSource, CustomJS

    values = np.array([["wrong"] * 6, ["wrong"] * 3 + ["correct"] * 3, ["correct"] * 6], dtype=object)
    coloring = coloring_from_values("probe correct?", values, n_items=6, kind="categorical")
    scatter = LinkedScatter(toy_projection(), texts=toy_texts(), colorings={"probe correct?": coloring},
                            color="probe correct?")  # fmt: skip
    layout = scatter.export_layout(all_layers=True)
    callback = layout.select_one({"type": CustomJS})
    assert "d.color = every.data['c' + i]" in callback.code and "d.group" in callback.code
    every = callback.args["every"]
    assert isinstance(every, ColumnDataSource)
    for layer in range(3):
        scatter.layer = layer  # what the live widget shows at this layer
        assert list(every.data[f"c{layer}"]) == list(scatter.plot.points.data["color"])
        assert list(every.data[f"g{layer}"]) == list(scatter.plot.points.data["group"])
        legend = [item.label.value for item in callback.args["legends"][layer]]
        assert legend == [item.label.value for item in scatter.plot.legend.items]
    page = scatter.to_html(resources="cdn")
    assert "#1a9850" in page and "#d73027" in page


# ------------------------------------------------------------------ 4, 5. spans and texts: their text, their labels
@pytest.fixture(scope="module")
def span_acts(tiny_models):
    ex = [lensnb.Example(words=e.words, spans=[Span(0, 2, "NP"), Span(3, 5, "VP")]) for e in examples()]
    return lensnb.extract(tiny_models["bert"], ex, progress=False).pool_spans("mean")


def test_spans_read_as_their_words_and_their_label_is_the_only_label(span_acts):
    text = ItemText(span_acts.table, span_acts.texts)
    assert list(text.item[:2]) == ["The keys", "the cabinet"]
    assert text.left[1] == "The keys to " and text.right[1].startswith(" are on the table")
    picker = TokenPicker(span_acts.table, span_acts.texts)
    picker.query.value = "cabinet"
    assert picker.hits[0] == 1 and all("cabinet" in text.item[r] for r in picker.hits)
    assert label_columns(span_acts, None) == ["label"] and picker.column.options == ("label",)
    explorer = _quiet(lambda: LayerExplorer(span_acts, progress=False, geometry=False))
    assert explorer.scatter.color == "label" and not any("table" in note for note in explorer.notes)
    assert "probe on label: correct?" in explorer.scatter.colorings
    assert {"word_start", "word_end", "token_start", "token_end", "span_id"} <= NON_LABEL_COLUMNS


def test_spans_whose_words_cannot_be_found_say_which_words_they_are():
    table = pd.DataFrame({"span_id": [0], "text_id": [0], "word_start": [0], "word_end": [2], "label": ["X"]})
    texts = pd.DataFrame({"text_id": [0], "text": ["do n't go"], "n_words": [4]})  # words given with their own text
    assert list(ItemText(table, texts).item) == ["words 0-2 of text 0"]


def test_text_items_are_coloured_and_probed_by_the_users_label(tiny_models):
    ex = [lensnb.Example(words=e.words, meta={"sentiment": ["pos", "neg"][i % 2]}) for i, e in enumerate(examples())]
    acts = lensnb.extract(tiny_models["bert"], ex, progress=False).pool_texts("mean")
    assert set(RESERVED_TEXT_COLUMNS) <= NON_LABEL_COLUMNS
    assert label_columns(acts, None) == ["sentiment"]
    explorer = _quiet(lambda: LayerExplorer(acts, progress=False, geometry=False))
    assert explorer.scatter.color == "sentiment" and "n_windows" not in explorer.scatter.colorings
    assert explorer.curves.titles == ["probe accuracy: sentiment"]


# ------------------------------------------------------------------ 6. relevance with per-text targets
@pytest.fixture(scope="module")
def classifier(tiny_paths):
    return lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)


def test_results_with_different_per_text_targets_are_both_offered(classifier):
    from lensnb.relevance import explain

    texts = ["the keys to the cabinet", "the quick brown fox", "a man a plan"]
    predicted = explain(classifier, texts, methods=("raw_attention",), progress=False)[0].segments["predicted"]
    p = [int(v) for v in predicted]
    first, second = [1 - p[0], p[1], p[2]], [p[0], 1 - p[1], p[2]]
    r1, r2 = explain(classifier, texts, methods=("attnlrp",), targets=(first, second), progress=False)
    view = RelevanceView([r1, r2])
    assert len(view.entries) == 2 and len(set(view.target_picker.options)) == 2 and view.notes == []
    view.target = view.target_picker.options[1]
    assert view.entry.relevance is r2
    # the same explanation twice is shown once, and the view says so
    again = RelevanceView([r1, r1])
    assert (
        len(again.entries) == 1
        and "same explanation" in again.notes[0]
        and "same explanation" in again.notes_html.value
    )
    # two different results under one label (two models, say) are refused, not dropped
    other = dataclasses.replace(r1, scores=r1.scores * 2)
    with pytest.raises(lensnb.LensError, match="relevances: expected one result per method, parameters and target"):
        RelevanceView([r1, other])
    assert len(RelevanceView({"model A": r1, "model B": other}).entries) == 2


# ------------------------------------------------------------------ 7. byte-level tokens
@pytest.fixture(scope="module")
def unicode_acts(tiny_models):
    texts = ["Café naïve résumé", "東京 は 日本", "Emoji like 🤗 too"]
    return lensnb.extract(tiny_models["gpt2"], texts, progress=False).drop_special()


def test_byte_level_tokens_show_and_search_as_their_characters(unicode_acts):
    table, texts = unicode_acts.table, unicode_acts.texts
    picker = TokenPicker(table, texts)
    shown = picker.text.item
    assert not any("Ã" in s or "Ġ" in s or "ð" in s for s in shown)
    expected = [
        texts["text"][int(t)][int(s) : int(e)] for t, s, e in table[["text_id", "char_start", "char_end"]].to_numpy()
    ]
    assert list(shown) == expected
    for query in ("café", "é", "東", "🤗", "naïve"):  # the tokens holding the query's characters, and no others
        picker.query.value = query
        expected = []
        for row, (text_id, start, end) in enumerate(table[["text_id", "char_start", "char_end"]].to_numpy()):
            text = texts["text"][int(text_id)].lower()
            spans = [(m.start(), m.end()) for m in re.finditer(re.escape(query), text)]
            if any(start < b and end > a for a, b in spans):
                expected.append(row)
        assert picker.hits == expected and expected, query
    picker.query.value = "café"
    assert [shown[r] for r in picker.hits] == ["Ca", "fé"]
    picker.query.value = "Ã"
    assert picker.hits == []
    picker.match.value = "exact"
    picker.query.value = "like"  # GPT-2's " like": its space is not part of the word
    assert [shown[r].strip() for r in picker.hits] == ["like"]
    from lensnb import geometry

    scatter = LinkedScatter(geometry.project(unicode_acts, "pca", progress=False), texts=texts)
    scatter.link.picked = [1]
    assert scatter.plot.picked.data["item"] == [shown[1]] and "Ã" not in shown[1]


def test_relevance_pieces_are_the_tokens_characters(tiny_paths):
    from lensnb.relevance import explain
    from lensnb.widgets.relevance_view import pieces_and_scores

    model = lensnb.load_model(tiny_paths["gpt2"], task="sequence-classification", num_labels=2)
    relevance = explain(model, ["Café 🤗"], methods=("raw_attention",), progress=False)[0]
    pieces, _ = pieces_and_scores(relevance, 0, -1, None)
    assert not any("Ã" in p or "ð" in p for p in pieces) and "".join(pieces).replace("🤗", "").strip() != ""


# ------------------------------------------------------------------ 8. CKA map follows the sliders; clicks always act
def test_cka_cell_follows_the_sliders_and_a_click_on_it_brings_the_layers_back(bert_acts):
    explorer = _quiet(lambda: CompareExplorer(bert_acts, bert_acts, progress=False))
    explorer.slider_a.layer = 2
    assert (explorer.layer_a, explorer.layer_b) == (2, 2) and explorer.heatmap.cell == (2, 2)
    assert explorer.heatmap._chosen.data == {"x": [2.0], "y": [2.0]}
    explorer.same_depth.value = False
    explorer.slider_b.layer = 1
    assert explorer.heatmap.cell == (2, 1)
    cells = explorer.heatmap.cells

    def click(a: int, b: int) -> None:
        index = next(i for i in range(len(cells.data["x"]))
                     if cells.data["layer_a"][i] == a and cells.data["layer_b"][i] == b)  # fmt: skip
        bokeh_selects(explorer.heatmap.bokeh, cells, [index])

    click(0, 0)
    assert (explorer.layer_a, explorer.layer_b) == (0, 0) and explorer.heatmap.cell == (0, 0)
    # a heatmap alone: a click on the chosen cell tells its observers again
    heatmap = explorer.heatmap
    seen = []
    heatmap.observe(lambda change: seen.append(change["new"]), "cell")
    click(0, 0)
    assert seen == [(0, 0)]


# ------------------------------------------------------------------ 9. the page's script always ends
@pytest.mark.parametrize("text", ["web page: <!-- begin <script> analytics", "a </script> b & c > d", "<!-- x -->"])
def test_embedded_json_holds_no_markup_characters(text):
    words = text.split()
    starts, cursor = [], 0
    for word in words:
        starts.append(text.index(word, cursor))
        cursor = starts[-1] + len(word)
    table = pd.DataFrame({"text_id": 0, "position": range(len(words)), "window": 0, "token": words,
                          "char_start": starts, "char_end": [s + len(w) for s, w in zip(starts, words)]})  # fmt: skip
    coords = np.random.default_rng(0).normal(size=(2, len(words), 2)).astype(np.float32)
    scatter = LinkedScatter(Projection("pca", (0, 1), coords, table=table),
                            texts=pd.DataFrame({"text_id": [0], "text": [text]}))  # fmt: skip
    page = scatter.to_html(resources="cdn")
    body = page.index("<body>")
    script = page[page.index("<script>", body) + len("<script>") : page.rindex("</script>")]
    assert "<" not in script and ">" not in script and "&" not in script.replace("\\u0026", "")
    assert "\\u003c" in script  # the text is there, escaped the JSON way


# ------------------------------------------------------------------ 10. explorers' layers are checked
def test_explorers_refuse_layers_they_do_not_show_and_stay_as_they_were(bert_acts):
    explorer = _quiet(lambda: LayerExplorer(bert_acts, probe=False, geometry=False, progress=False))
    for bad in (5, -1):
        with pytest.raises(lensnb.LensError, match=f"layer: expected one of the layers \\[0, 1, 2\\], received {bad}"):
            explorer.layer = bad
        assert explorer.layer == explorer.slider.layer == explorer.scatter.layer == 0
    compare = _quiet(lambda: CompareExplorer(bert_acts, bert_acts, cka=False, progress=False))
    for name in ("layer_a", "layer_b"):
        with pytest.raises(lensnb.LensError, match=f"{name}: expected one of the layers"):
            setattr(compare, name, 7)
    assert (compare.layer_a, compare.layer_b) == (0, 0) and (compare.slider_a.layer, compare.slider_b.layer) == (0, 0)


# ------------------------------------------------------------------ 11. a projection over some layers
def test_a_projection_over_some_layers_makes_the_explorer_use_those_layers(bert_acts):
    from lensnb import geometry

    projection = geometry.project(bert_acts.drop_special(), "pca", layers=[0, 2], progress=False)
    explorer = _quiet(lambda: LayerExplorer(bert_acts, "upos", projection=projection, progress=False))
    assert explorer.items.layers == (0, 2) and explorer.slider.layers == (0, 2) and explorer.curves.layers == (0, 2)
    assert explorer.scatter.colorings["probe on upos: correct?"].values.shape[0] == 2
    assert all(tuple(p.layers) == (0, 2) for p in explorer.curves.profiles if p.name != "neighborhood_overlap_next")
    bokeh_selects(explorer.curves.bokeh, explorer.curves._hit_sources[0], [1])  # the second column: layer 2
    assert explorer.layer == explorer.scatter.layer == explorer.curves.layer == 2
    alien = Projection("pca", (0, 7), projection.coordinates, table=projection.table)
    with pytest.raises(lensnb.LensError, match="projection: expected a projection over layers of these activations"):
        LayerExplorer(bert_acts, projection=alien, progress=False)


def test_curves_offer_only_the_layers_asked_for():
    curves = LayerCurves([toy_profile(layers=(0, 1, 2))], layers=(0, 2))
    assert curves.layers == (0, 2) and list(curves._hit_sources[0].data["layer"]) == [0, 2]
    with pytest.raises(lensnb.LensError, match="layer: expected one of the layers \\[0, 2\\]"):
        curves.layer = 1


# ------------------------------------------------------------------ 12. every label value can be found
def test_picker_says_the_value_list_is_cut_and_its_filter_finds_the_rest():
    n = 600
    table = pd.DataFrame({"text_id": np.arange(n) // 10, "position": np.arange(n) % 10,
                          "token": [f"t{i}" for i in range(n)], "entity": [f"E{i % 300:03d}" for i in range(n)]})  # fmt: skip
    picker = TokenPicker(table)
    picker.mode.value = "label"
    assert (
        len(picker.value.options) == 200 and "300 values; the 200 most frequent are listed" in picker.value_note.value
    )
    picker.value_filter.value = "E299"
    assert [v for _, v in picker.value.options] == ["E299"] and picker.value.value == "E299"
    assert picker.hits == [299, 599]
    picker.value_filter.value = ""
    assert len(picker.value.options) == 200


# ------------------------------------------------------------------ 13. heatmap projections checked
def test_heatmap_refuses_projections_of_other_items_or_without_a_matrix_layer():
    matrix = LayerMatrix("cka_linear", (0, 1, 2), (0, 1, 2), np.eye(3))
    first, second = toy_projection(), toy_projection()
    second.table.loc[:, "token"] = [f"v{i}" for i in range(6)]
    with pytest.raises(lensnb.LensError, match="projections: expected projections of the same items"):
        LayerHeatmap(matrix, projections=(first, second))
    subset = Projection("pca", (0, 2), first.coordinates[[0, 2]], table=first.table)
    with pytest.raises(
        lensnb.LensError, match="projections: expected a projection over every layer.*lacks layers \\[1\\]"
    ):
        LayerHeatmap(matrix, projections=subset)
    heatmap = LayerHeatmap(matrix, projections=(first, toy_projection(seed=1)))
    assert len(heatmap.scatters) == 2


# ------------------------------------------------------------------ 14. heatmap text readable on its cell
def test_heatmap_text_contrasts_with_its_cell():
    def contrast(a: str, b: str) -> float:
        from lensnb.widgets.heatmap import _luminance

        la, lb = sorted((_luminance(a), _luminance(b)))
        return (lb + 0.05) / (la + 0.05)

    for values in (np.array([[1.0, -0.02], [-0.02, 0.9]]), np.array([[1.0, 0.1], [0.5, 0.0]])):
        heatmap = LayerHeatmap(LayerMatrix("cka_linear_debiased", (0, 1), (0, 1), values))
        for background, foreground in zip(heatmap.cells.data["color"], heatmap.cells.data["text_color"]):
            other = "#ffffff" if foreground == "#000000" else "#000000"
            assert (
                contrast(background, foreground) >= contrast(background, other)
                and contrast(background, foreground) >= 4.5
            )
    assert text_color("#ffffff") == "#000000" and text_color("#440154") == "#ffffff"


# ------------------------------------------------------------------ 15. bad input, named
def test_bad_input_gets_a_lens_error_naming_the_argument(bert_acts):
    projection = toy_projection()
    table = projection.table
    cases = [
        (lambda: TokenPicker(table, label_columns=["nope"]), "label_columns: expected columns of the table"),
        (lambda: coloring_from_values("x", ["a", "b", "c"], n_items=3, kind="continuous"),
         "values: expected numbers .* for kind='continuous'"),
        (lambda: TokenPicker(table).pick([1.7]), "rows: expected integer rows"),
        (lambda: TokenPicker(table).pick(["2"]), "rows: expected integer rows"),
        (lambda: setattr(TokenLink(6), "selected", [[0, 1], [2, 3]]), "selected: expected a flat list of integer rows"),
        (lambda: setattr(TokenLink(6), "picked", [True]), "picked: expected integer rows"),
        (lambda: LinkedScatter(projection, resources="nope"), "resources: expected None or one of"),
        (lambda: LayerCurves([toy_profile(layers=())]), "profiles: expected profiles over at least one layer"),
        (lambda: LayerExplorer(bert_acts, "token", progress=False, geometry=False),
         "labels: expected a label column of the item table \\['upos'\\], received 'token'"),
    ]  # fmt: skip
    for build, message in cases:
        with pytest.raises(lensnb.LensError, match=message):
            build()
    picker = TokenPicker(table)
    picker.pick([np.int64(2), 1])
    assert picker.picked == [2, 1]
    link = TokenLink(6)
    link.selected = [np.int32(3), 1, 3]
    assert link.selected == [1, 3]
    assert re.search("received", str(pytest.raises(lensnb.LensError, TokenPicker(table).pick, [0.5]).value))


def test_the_diverging_palette_is_odd_white_in_the_middle_and_checks_its_steps():
    from lensnb.widgets.colors import diverging_palette

    ramp = diverging_palette(5)
    assert len(ramp) == 5 and ramp[2] == "#ffffff" and ramp[0] == "#0000ff" and ramp[-1] == "#ff0000"
    for steps in (4, 1, 2.0, True):
        with pytest.raises(lensnb.LensError, match="^steps: expected an odd number of colours"):
            diverging_palette(steps)


def test_compare_colours_both_sides_only_by_labels_both_have(bert_acts):
    """The two scatters' colourings are linked: a label B lacks failed to build by default (naming `color`), and
    given other labels it stayed offered in A, where picking it left B coloured by something else."""
    extra = bert_acts.table.assign(chunk=np.where(bert_acts.table["upos"].isna(), None, "NP"))
    a = lensnb.Activations(bert_acts.arrays, bert_acts.layers_by_site, extra, unit=bert_acts.unit,
                           texts=bert_acts.texts, model=bert_acts.model)  # fmt: skip
    explorer = _quiet(lambda: CompareExplorer(a, bert_acts, cka=False, progress=False))
    assert explorer.labels == ["upos"]
    for scatter in (explorer.scatter_a, explorer.scatter_b):
        assert "chunk" not in scatter.color_picker.options and "upos" in scatter.color_picker.options
    assert explorer.scatter_a.color == explorer.scatter_b.color == "upos"
    with pytest.raises(lensnb.LensError, match=r"acts_b: expected activations whose item table has \['chunk'\]"):
        _quiet(lambda: CompareExplorer(a, bert_acts, ["upos", "chunk"], cka=False, progress=False))


def test_a_colouring_added_without_showing_it_leaves_the_shown_one():
    scatter = LinkedScatter(toy_projection(n_items=6, n_layers=3), texts=toy_texts())
    assert scatter.color == "upos"
    scatter.add_coloring("score", np.arange(6.0), show=False)
    assert scatter.color == scatter.color_picker.value == "upos" and "score" in scatter.color_picker.options
    scatter.add_coloring("other score", np.arange(6.0))
    assert scatter.color == scatter.color_picker.value == "other score"
    scatter.keep_colorings(["upos", "score"])  # the shown one goes: the first kept one is shown
    assert list(scatter.color_picker.options) == ["(one colour)", "upos", "score"] and scatter.color == "upos"
    with pytest.raises(lensnb.LensError, match="names: expected a list of colouring names"):
        scatter.keep_colorings("upos")  # a string would keep every name it contains as a substring
