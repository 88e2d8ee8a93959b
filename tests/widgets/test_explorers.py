"""The composed explorers on tiny models: computed once, then only columns swap; relevance views escape."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import lensnb
from lensnb.relevance import explain
from lensnb.widgets import CompareExplorer, LayerExplorer, RelevanceExplorer, RelevanceView, probe_correctness
from lensnb.widgets.compare_explorer import matched_items
from tests.widgets.conftest import PatchSpy, bokeh_selects, browser_sets


@pytest.fixture(scope="module")
def explorer(bert_acts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LayerExplorer(bert_acts, "upos", progress=False)


def test_layer_explorer_computes_everything_up_front(explorer, bert_acts):
    n_words = int((~bert_acts.tokens["special"]).sum())
    assert len(explorer.items) == n_words and explorer.projection.coordinates.shape == (3, n_words, 2)
    names = [p.name for p in explorer.curves.profiles]
    assert names == ["probe_accuracy", "intrinsic_dimension_twonn", "neighborhood_overlap_next", "label_overlap"]
    assert explorer.scatter.color == "upos" and "probe on upos: correct?" in explorer.scatter.colorings
    assert explorer.slider.slider.options[0][0] == "embeddings"
    # the probe's per-layer numbers travel with its curve (to_pandas has them)
    probe_table = explorer.curves.profiles[0].to_pandas()
    assert {"majority_baseline", "ci_low", "ci_high", "macro_f1"} <= set(probe_table.columns)


def test_moving_the_slider_moves_every_view_and_swaps_only_columns(explorer, monkeypatch):
    from lensnb import geometry

    monkeypatch.setattr(geometry, "project", lambda *a, **k: pytest.fail("a control recomputed a projection"))
    spy = PatchSpy(explorer.scatter.bokeh)
    browser_sets(explorer.slider.slider, index=2)
    assert explorer.layer == 2 and explorer.scatter.layer == 2 and explorer.curves.layer == 2
    assert "(layer 2)" in explorer.status.value
    assert all(e["kind"] != "ColumnDataChanged" or set(e["cols"]) <= {"x", "y", "color", "group"} for e in spy.events)
    bokeh_selects(explorer.curves.bokeh, explorer.curves._hit_sources[0], [1])  # a click on a curve
    assert explorer.layer == 1 and explorer.slider.layer == 1 and explorer.scatter.layer == 1


def test_selection_and_picks_reach_the_status_and_the_picker(explorer):
    bokeh_selects(explorer.scatter.bokeh, explorer.scatter.plot.points, [0, 1, 2])
    assert explorer.link.selected == [0, 1, 2] and "3 selected" in explorer.status.value
    assert len(explorer.selected_tokens) == 3
    browser_sets(explorer.picker.match, index=1)  # exact
    browser_sets(explorer.picker.query, value="the")
    explorer.picker.pick_all_button.click()
    assert explorer.link.picked == explorer.picker.hits and len(explorer.link.picked) >= 10
    assert {item.lower() for item in explorer.scatter.plot.picked.data["item"]} == {"the"}  # as in the text
    assert f"{len(explorer.link.picked)} picked" in explorer.status.value


def test_probe_correctness_matches_probe_items_to_scatter_items(explorer):
    coloring = explorer.scatter.colorings["probe on upos: correct?"]
    assert coloring.per_layer and coloring.values.shape == (3, len(explorer.items))
    tested = coloring.values[0] != "not tested"
    assert tested.any() and set(coloring.values[0][tested]) <= {"correct", "wrong"}
    # only first pieces of words carry a label, so continuation pieces are never tested
    continuation = ~explorer.items.table["first_piece"].to_numpy(dtype=bool)
    assert not tested[continuation].any()
    with pytest.raises(lensnb.LensError, match="profile: expected a LayerProfile from probe_layers"):
        probe_correctness(explorer.curves.profiles[1], explorer.items.table, explorer.items.layers)


def test_layer_explorer_exports_and_refuses_bad_input(explorer, bert_acts):
    page = explorer.to_html(resources="cdn")
    assert page.count("Bokeh.embed.embed_item") == 2 and "layer explorer" in page
    with pytest.raises(lensnb.LensError, match="labels: expected a column of the item table"):
        LayerExplorer(bert_acts, "pos", progress=False)
    with pytest.raises(lensnb.LensError, match="acts: expected Activations"):
        LayerExplorer(np.zeros((3, 10, 4)), progress=False)
    for k in (-1, 0, 2.5, True):  # -1 was raised to 2 without a word
        with pytest.raises(lensnb.LensError, match="k: expected a positive number of neighbours"):
            LayerExplorer(bert_acts, k=k, progress=False)
    with pytest.raises(lensnb.LensError, match="acts_b: expected Activations"):
        CompareExplorer(bert_acts, "x", progress=False)


def test_compare_explorer_matches_words_across_tokenizers(bert_acts, gpt2_acts):
    a, b, unit = matched_items(bert_acts.drop_special(), gpt2_acts.drop_special())
    assert unit == "word" and len(a) == len(b)
    assert a.table[["text_id", "word_index"]].equals(b.table[["text_id", "word_index"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comparison = CompareExplorer(bert_acts, gpt2_acts, "upos", names=("bert", "gpt2"), progress=False)
    assert comparison.unit == "word" and comparison.heatmap.matrix.values.shape == (3, 3)
    bokeh_selects(comparison.scatter_a.bokeh, comparison.scatter_a.plot.points, [2, 5])
    assert list(comparison.scatter_b.plot.points.selected.indices) == [2, 5] and "2 selected" in comparison.status.value
    comparison.layer_a = 2  # the same relative depth on the other model
    assert comparison.layer_b == 2 and comparison.scatter_b.layer == 2
    cell = [i for i in range(9) if comparison.heatmap.cells.data["layer_a"][i] == 0
            and comparison.heatmap.cells.data["layer_b"][i] == 1][0]  # fmt: skip
    bokeh_selects(comparison.heatmap.bokeh, comparison.heatmap.cells, [cell])
    assert (comparison.layer_a, comparison.layer_b) == (0, 1)
    assert (comparison.scatter_a.layer, comparison.scatter_b.layer) == (0, 1)


def test_compare_explorer_keeps_tokens_when_the_tokenizers_agree(bert_acts):
    a, b, unit = matched_items(bert_acts.drop_special(), bert_acts.drop_special())
    assert unit == "token" and len(a) == len(bert_acts.drop_special())


# ------------------------------------------------------------------ relevance
HOSTILE = "<script>alert(1)</script> the keys <img src=x onerror=alert(2)>"


def start_tags(page: str) -> list[str]:
    """The elements a browser's HTML parser would build from ``page``."""
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

    parser = Tags()
    parser.feed(page)
    return parser.tags


@pytest.fixture(scope="module")
def relevances(tiny_paths):
    classifier = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    texts = ["the keys to the cabinet", HOSTILE]
    return explain(classifier, texts, methods=("transformer_attribution", "attnlrp", "raw_attention"),
                   targets=(None, 0, 1), progress=False)  # fmt: skip


def test_explain_runs_every_method_for_every_target(relevances):
    assert [(r.method, tuple(r.segments["target"])) for r in relevances][:3] == [
        ("transformer_attribution", tuple(relevances[0].segments["predicted"])),
        ("transformer_attribution", (0, 0)), ("transformer_attribution", (1, 1)),
    ]  # fmt: skip
    assert len(relevances) == 9 and relevances[0].layer_scores is not None and relevances[-1].layer_scores is None


def test_relevance_view_switches_method_target_text_and_layer(relevances):
    view = RelevanceView(relevances)
    assert view.method == "transformer_attribution" and view.target in {"predicted", "class 0", "class 1"}
    first = view.text_html.value
    browser_sets(view.target_picker, index=[*view.target_picker.options].index("class 1"))
    assert view.target == "class 1" and "explains class 1" in view.info.value
    browser_sets(view.slider.slider, index=2)  # residual level 1
    assert view.level == 1 and "level 1" in view.info.value and view.text_html.value != first
    browser_sets(view.method_picker, index=2)  # raw attention: no levels
    assert view.method == "raw_attention" and view.level == -1 and view.slider.slider.disabled
    assert len(view.bars.data["piece"]) == len(relevances[0].text(0))


def test_relevance_views_escape_a_hostile_text(relevances):
    explorer = RelevanceExplorer(relevances, words="sum")  # words: the text's own characters, markup included
    browser_sets(explorer.view.text_picker, index=1)
    page = explorer.to_html(resources="cdn")
    markup_only = re.sub(r"<script>.*?</script>", "", page.split("<body>", 1)[1], flags=re.S)  # data stays in JSON
    assert "img" not in start_tags(page) and start_tags(page).count("script") == page.count("</script>")
    for markup in (explorer.view.text_html.value, explorer.comparison.value, markup_only):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup and "&lt;img" in markup
        assert "<img" not in markup and "<script>alert" not in markup
    assert "transformer_attribution" in explorer.comparison.value and "attnlrp" in explorer.comparison.value


def test_relevance_view_refuses_results_over_other_texts(tiny_paths, relevances):
    classifier = lensnb.load_model(tiny_paths["bert"], task="sequence-classification", num_labels=2)
    other = explain(classifier, ["another text"], methods=("raw_attention",), progress=False)
    with pytest.raises(lensnb.LensError, match="relevances: expected results over the same texts"):
        RelevanceView([relevances[0], *other])
    with pytest.raises(lensnb.LensError, match="relevances: expected at least one Relevance"):
        RelevanceView([])


def test_relevance_colours_the_scatter_items_it_explains(relevances):
    from lensnb.widgets import relevance_coloring

    relevance = relevances[0]  # transformer attribution, with per-layer scores
    table = relevance.tokens.iloc[::-1].reset_index(drop=True)  # the scatter's items, in another order
    flat = relevance_coloring(relevance, table)
    assert flat.kind == "continuous" and np.allclose(flat.values, relevance.scores[::-1])
    per_layer = relevance_coloring(relevance, table, layers=(0, 2, 7))
    assert per_layer.per_layer and per_layer.values.shape == (3, len(table))
    assert np.allclose(per_layer.values[1], relevance.layer(2)[::-1]) and np.isnan(per_layer.values[2]).all()
    assert flat.low == -flat.high  # signed: the scale is centred on 0
