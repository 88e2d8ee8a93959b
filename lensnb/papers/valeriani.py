"""Valeriani et al. 2023: the geometry of hidden representations, on a text model.

Per layer, on one mean-pooled vector per sentence: the TwoNN intrinsic dimension
(fraction 0.98, bootstrap error bars, and its value at smaller scales), the overlap of
each layer's k = 30 neighbourhoods with the next layer's, and with the labels
(unweighted mean, as the paper). Then the paper's unsupervised rule, tested on the data:
"the label overlap peaks at the ID minimum that follows the first ID peak", and which
shape a text model shows: the paper's (protein and image transformers: an early peak, a
long low plateau where the semantic information sits) or the one Cheng et al. 2024
report for language models (a high-ID peak in the intermediate layers).

Data: SemEval-2010 Task 8 sentences with the type of the relation between their two
marked nominals (10 classes; 5,000 sentences in full mode). The paper's own
models take proteins (ESM-2) and images (iGPT); the text model that stands in for them
when it can be downloaded is Pythia-160m (a decoder, like iGPT), else the embedded
all-MiniLM-L6-v2.

References
----------
Valeriani, Doimo, Cuturello, Laio, Ansuini & Cazzaniga 2023, "The geometry of hidden
representations of large transformer models", NeurIPS. Cheng, Doimo et al. 2024,
"Emergence of a high-dimensional abstraction phase in language transformers".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import lensnb
from lensnb import geometry as geo
from lensnb.activations import Activations
from lensnb.data import read_semeval2010
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.results import LayerMatrix, LayerProfile
from lensnb.papers.report import Curve, PaperReport
from lensnb.papers.settings import ModelChoice, RunSettings, check_instance, choose_model, run_settings

__all__ = [
    "PAPER", "ValerianiGeometry", "build_report", "duplicates_note", "geometry", "layer_table", "load_sentences",
    "reproduce", "rule",
    "sentence_vectors",
]  # fmt: skip

PAPER = {
    "title": "The geometry of hidden representations of large transformer models",
    "citation": "Valeriani, Doimo, Cuturello, Laio, Ansuini & Cazzaniga, NeurIPS 2023",
    "model": "EleutherAI/pythia-160m",
    "convention": "layer 0 = embeddings, l = output of block l (Hugging Face hidden_states); relative depth = "
    "layer / number of blocks (the paper plots layer index / number of layers)",
}
#: Read off the authors' plots (papers.md): relative depth of the features of the ID profile.
PAPER_SHAPES = pd.DataFrame(
    {
        "first ID peak (relative depth)": ["~0.14", "0.22-0.30"],
        "ID at the first peak": ["~32 (3B)", "25-31"],
        "low-ID plateau / minimum (relative depth)": ["0.45-0.85 (ID ~5)", "local minimum ID ~21-22"],
        "label overlap peak": ["~0.8 on the low-ID plateau", "middle layer: 0.196 / 0.28 / 0.357 (S/M/L)"],
    },
    index=pd.Index(["ESM-2 (proteins)", "iGPT (images)"], name="paper"),
)


def load_sentences(settings: RunSettings) -> tuple[list[str], np.ndarray]:
    """SemEval-2010 Task 8 sentences and their relation type (10 classes, direction dropped).

    Every sentence is its own text (SST-2's training split, by contrast, holds each
    sentence together with its sub-phrases, whose near-copies set the smallest
    neighbour distances and pull TwoNN down to an ID of 2-3). The first N of a seeded
    shuffle of the training and test files together (10,717 sentences).
    """
    folder = settings.data_file("semeval2010_task8", "SemEval2010_task8_all_data")
    examples = read_semeval2010(folder, "train") + read_semeval2010(folder, "test")
    order = np.random.default_rng(settings.seed).permutation(len(examples))
    n = min(len(examples), settings.size(5000, 400))
    chosen = [examples[i] for i in order[:n]]
    return [ex.resolved_text() for ex in chosen], np.array([ex.meta["relation_type"] for ex in chosen])


def sentence_vectors(model: lensnb.LensModel, texts: list[str], settings: RunSettings) -> Activations:
    """One vector per sentence and layer: the mean over its tokens of the layer-normed residual stream.

    Post-LayerNorm encoders (BERT, MiniLM) already return normalised states. For
    pre-LayerNorm decoders each token vector is standardised (zero mean, unit variance
    over its dimensions, LayerNorm without its learned scale) before pooling, except the
    last layer, which Hugging Face returns after the final norm.
    """
    acts = lensnb.extract(model, texts, progress=settings.progress)
    if model.is_decoder:
        values = np.asarray(acts.values, dtype=np.float32).copy()
        last = values.shape[0] - 1
        centred = values[:last] - values[:last].mean(axis=-1, keepdims=True)
        values[:last] = centred / np.sqrt((centred**2).mean(axis=-1, keepdims=True) + 1e-5)
        acts = Activations({acts.sites[0]: values}, acts.layers_by_site, acts.table, texts=acts.texts,
                           model=acts.model)  # fmt: skip
    return acts.pool_texts("mean")


@dataclass(frozen=True)
class ValerianiGeometry:
    """The three profiles of the paper, and the ID at smaller scales.

    Attributes
    ----------
    intrinsic_dimension : LayerProfile
        TwoNN (fraction 0.98) on all points, bootstrap standard deviation as error.
    overlap : LayerMatrix
        Layer x layer neighbourhood overlap (k = 30).
    label_overlap : LayerProfile
        Fraction of each point's k = 30 neighbours with its label, unweighted mean.
    scales : DataFrame
        ID per layer on N, N/2, N/4 and N/8 points (mean of 4 random subsets).
    """

    intrinsic_dimension: LayerProfile
    overlap: LayerMatrix
    label_overlap: LayerProfile
    scales: pd.DataFrame

    @property
    def next_layer_overlap(self) -> np.ndarray:
        """Overlap of each layer with the next (NaN for the last)."""
        return np.r_[np.diag(np.asarray(self.overlap.values), 1), np.nan]


def geometry(vectors: Activations, labels: np.ndarray, settings: RunSettings, k: int = 30) -> ValerianiGeometry:
    """The paper's profiles on ``vectors`` (one per sentence), with one neighbour search per layer."""
    if len(vectors) != len(labels):
        raise LensError.bad_argument("labels", f"{len(labels)} labels", f"{len(vectors)}, one per sentence")
    cache = geo.NeighborCache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate sentences are counted in the profile's details
        profile = geo.geometry_profile(vectors, labels, k=k, fraction=0.98, bootstrap=100, seed=settings.seed,
                                       cache=cache, progress=settings.progress)  # fmt: skip
        rows = {}
        for decimation in (2, 4, 8):
            scaled = geo.intrinsic_dimension(vectors, fraction=0.98, decimation=decimation, repeats=4,
                                             seed=settings.seed, progress=False)  # fmt: skip
            rows[f"N/{decimation}"] = scaled.values
    scales = pd.DataFrame({"N": profile.intrinsic_dimension.values, **rows},
                          index=pd.Index(vectors.layers, name="layer"))  # fmt: skip
    return ValerianiGeometry(profile.intrinsic_dimension, profile.overlap, profile.label_overlap, scales)


def duplicates_note(profile: LayerProfile) -> str:
    """How many duplicate points each layer's TwoNN fit left out (the count is per layer, never summed)."""
    check_instance(
        profile, LayerProfile, "profile", "the LayerProfile of a TwoNN fit (ValerianiGeometry.intrinsic_dimension)"
    )
    counts = np.asarray(profile.details.get("duplicates", np.zeros(len(profile.layers))), dtype=np.int64)
    low, high = (int(counts.min()), int(counts.max())) if counts.size else (0, 0)
    amount = f"{low}" if low == high else f"{low} to {high} (by layer)"
    return (
        f"{amount} duplicate points per layer (repeats of identical sentences) were left out of the TwoNN fits: "
        "each distinct sentence counts once."
    )


def rule(found: ValerianiGeometry) -> dict[str, Any]:
    """The paper's rule on this run: where are the first ID peak, the minimum after it, the label-overlap peak?

    Returns
    -------
    dict
        ``first_peak`` (the first layer whose ID exceeds both neighbours, or the global
        maximum when none does: then the rule is read from the maximum), ``minimum_after_peak`` (the layer of lowest ID after
        it, None if the peak is the last layer), ``label_peak`` (argmax of the label
        overlap), ``holds`` (label_peak == minimum_after_peak), ``within_one_layer``,
        ``cheng_shape`` (the ID maximum lies strictly inside the network, as for
        language models) and the relative depths of each.
    """
    check_instance(found, ValerianiGeometry, "found", "a ValerianiGeometry (from valeriani.geometry)")
    ids = np.asarray(found.intrinsic_dimension.values, dtype=np.float64)
    layers = list(found.intrinsic_dimension.layers)
    overlap = np.asarray(found.label_overlap.values, dtype=np.float64)
    peaks = [i for i in range(1, len(ids) - 1) if ids[i] > ids[i - 1] and ids[i] > ids[i + 1]]
    first = peaks[0] if peaks else int(np.argmax(ids))
    after = None if first == len(ids) - 1 else first + 1 + int(np.argmin(ids[first + 1 :]))
    label_peak = int(np.argmax(overlap))
    depth = max(layers) or 1
    return {
        "first_peak": layers[first], "first_peak_depth": layers[first] / depth, "first_peak_id": float(ids[first]),
        "minimum_after_peak": None if after is None else layers[after],
        "minimum_depth": None if after is None else layers[after] / depth,
        "minimum_id": None if after is None else float(ids[after]),
        "label_peak": layers[label_peak], "label_peak_depth": layers[label_peak] / depth,
        "label_peak_value": float(overlap[label_peak]),
        "holds": after is not None and label_peak == after,
        "within_one_layer": after is not None and abs(label_peak - after) <= 1,
        "cheng_shape": 0 < int(np.argmax(ids)) < len(ids) - 1,
        "id_maximum": layers[int(np.argmax(ids))],
    }  # fmt: skip


def layer_table(found: ValerianiGeometry) -> pd.DataFrame:
    """One row per layer: relative depth, ID and error, overlap with the next layer, label overlap."""
    layers = found.intrinsic_dimension.layers
    return pd.DataFrame({
        "relative depth": np.asarray(layers) / (max(layers) or 1),
        "ID (TwoNN, N)": found.intrinsic_dimension.values,
        "+/-": found.intrinsic_dimension.errors,
        "ID at N/8": found.scales["N/8"].to_numpy(),
        "overlap with next layer": found.next_layer_overlap,
        "label overlap": found.label_overlap.values,
    }, index=pd.Index(layers, name="layer"))  # fmt: skip


@checks_flags
def reproduce(
    *, model: str | None = "auto", quick: bool | None = None, data_dir: Any = None, seed: int = 0,
    progress: bool = True,
) -> PaperReport:  # fmt: skip
    """The whole reproduction: sentences, vectors, profiles, the rule, the report."""
    settings = run_settings(quick=quick, data_dir=data_dir, seed=seed, progress=progress)
    chosen = choose_model(model, PAPER["model"])
    texts, labels = load_sentences(settings)
    vectors = sentence_vectors(chosen.model, texts, settings)
    return build_report(chosen, settings, texts, labels, geometry(vectors, labels, settings))


def build_report(
    chosen: ModelChoice, settings: RunSettings, texts: list[str], labels: np.ndarray, found: ValerianiGeometry
) -> PaperReport:
    """The report of a run: paper vs ours, the per-layer table, the curves and the claims."""
    verdict = rule(found)
    report = PaperReport(
        "valeriani", PAPER["title"], PAPER["citation"], model=chosen.note,
        data=f"{len(texts)} SemEval-2010 Task 8 sentences (seeded sample), labels: relation type ({len(set(labels))} "
        "classes, direction dropped); one vector per sentence (mean over its tokens)", convention=PAPER["convention"], settings=settings.describe(),
    )  # fmt: skip
    report.add_table("per layer (ours)", layer_table(found))
    ours = pd.DataFrame(
        {
            "first ID peak (relative depth)": [f"{verdict['first_peak_depth']:.2f} (layer {verdict['first_peak']})"],
            "ID at the first peak": [f"{verdict['first_peak_id']:.1f}"],
            "low-ID plateau / minimum (relative depth)": [
                "none after the peak" if verdict["minimum_after_peak"] is None else
                f"{verdict['minimum_depth']:.2f} (layer {verdict['minimum_after_peak']}, ID {verdict['minimum_id']:.1f})"
            ],
            "label overlap peak": [f"{verdict['label_peak_value']:.3f} at {verdict['label_peak_depth']:.2f} "
                                   f"(layer {verdict['label_peak']})"],
        },
        index=pd.Index([f"ours: {chosen.name}, SemEval relations"], name="paper"),
    )  # fmt: skip
    report.add_table("paper vs ours: the shape of the profiles", pd.concat([PAPER_SHAPES, ours]))
    report.add_table("ID at smaller scales (fewer points)", found.scales)
    layers = list(found.intrinsic_dimension.layers)
    report.curves.append(Curve("intrinsic dimension (TwoNN, fraction 0.98)", {
        "N": (layers, found.intrinsic_dimension.values, found.intrinsic_dimension.errors),
        "N/8": (layers, found.scales["N/8"].to_numpy(), None),
    }, y_label="ID"))  # fmt: skip
    report.curves.append(Curve("neighbourhood overlap (k = 30)", {
        "with the next layer": (layers, found.next_layer_overlap, None),
        "with the labels": (layers, found.label_overlap.values, None),
    }, y_label="overlap"))  # fmt: skip
    interior = verdict["first_peak"] not in (min(layers), max(layers))
    report.add_claim(
        "The ID profile rises to an early peak, then falls to lower values",
        interior and verdict["minimum_id"] is not None and verdict["minimum_id"] < verdict["first_peak_id"],
        (f"first peak at layer {verdict['first_peak']} (ID {verdict['first_peak_id']:.1f})" if interior else
         f"no peak inside the network: the ID is highest at layer {verdict['first_peak']} "
         f"({verdict['first_peak_id']:.1f})")
        + ("" if verdict["minimum_after_peak"] is None else
           f", lowest after it at layer {verdict['minimum_after_peak']} ({verdict['minimum_id']:.1f})"),
    )  # fmt: skip
    overlap = dict(zip(layers, np.asarray(found.label_overlap.values, dtype=float)))
    at_minimum = overlap.get(verdict["minimum_after_peak"], float("nan"))
    report.add_claim(
        "The label overlap peaks at the ID minimum after the first peak (the unsupervised rule)", verdict["holds"],
        f"label overlap peaks at layer {verdict['label_peak']} ({verdict['label_peak_value']:.3f}); at the ID "
        f"minimum after the {'first peak' if interior else 'maximum'} (layer {verdict['minimum_after_peak']}) it is "
        f"{at_minimum:.3f}" + (", one layer apart" if verdict["within_one_layer"] and not verdict["holds"] else ""),
    )  # fmt: skip
    report.add_claim(
        "A language model shows Cheng et al.'s shape instead: the ID maximum in the intermediate layers",
        verdict["cheng_shape"], f"the ID maximum is at layer {verdict['id_maximum']} of 0..{max(layers)}",
    )  # fmt: skip
    report.notes += [
        "The paper's models read proteins and images; a text model stands in, so only the shapes compare.",
        "Error bars: standard deviation of the TwoNN fit over 100 bootstrap resamples of the points' ratios. "
        "The paper's decimation protocol (1/32 of the points, 4 repeats) needs far more points than 5,000 "
        "sentences; the table 'ID at smaller scales' shows how the ID moves with N.",
        "SST-2, the first choice for a labelled text set, was left out: its training split holds every sentence "
        "with its sub-phrases, and on those near-copies TwoNN gave IDs of 2-3 at every layer (SemEval: 25-40).",
        duplicates_note(found.intrinsic_dimension),
    ]
    return report
