"""Brown et al. 2023: representation dissimilarity across layers and between models (CKA, stitching).

Three measures, each as a layer x layer map:

- **CKA within a model** (linear; biased and debiased estimators) on the same tokens at
  every layer: the paper's block structure, and how the two estimators differ.
- **CKA between two related models** on the same tokens.
- **Model stitching** between them: model A's residual stream at layer i through a
  trained affine stitch into model B at the matching layer, both frozen, trained on B's
  own loss; the penalty is the stitched loss minus B's loss on held-out texts, in both
  directions (A -> B and B -> A), and their asymmetry.

With the hub, the two models are the paper's Pythia-70m and Pythia-160m (same tokenizer,
causal-LM loss; layers matched by relative depth). Offline, they are two related models
built from the embedded all-MiniLM-L6-v2 here: the same pre-trained body with a
sentiment head trained on top of it (body frozen), and the whole model fine-tuned on
the same SST-2 sentences; the stitching loss is then the sentiment classification loss.

References
----------
Brown, Godfrey, Konz, Tu & Kvinge 2023, "Understanding the Inner Workings of Language
Models Through Representation Dissimilarity", EMNLP. Kornblith et al. 2019 (CKA); Bansal, Nakkiran &
Barak 2021 (stitching).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

import lensnb
from lensnb import geometry as geo
from lensnb.data import read_conllu, read_sst2
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.results import LayerMatrix
from lensnb.geometry.stitching import StitchingAsymmetry, stitching_asymmetry
from lensnb.papers.report import Curve, PaperReport
from lensnb.papers.settings import RunSettings, check_instance, choose_model, run_settings

__all__ = [
    "PAPER", "RelatedModels", "block_structure", "build_report", "cka_between", "cka_maps", "load_sentences",
    "pair_table", "related_models", "reproduce", "same_depth_similarity", "stitch_both_ways", "stitch_init",
]  # fmt: skip

PAPER = {
    "title": "Understanding the Inner Workings of Language Models Through Representation Dissimilarity",
    "citation": "Brown, Godfrey, Konz, Tu & Kvinge, EMNLP 2023",
    "model": "EleutherAI/pythia-70m",
    "extra_models": ("EleutherAI/pythia-160m",),
    "convention": "layer 0 = embeddings, l = output of block l (Hugging Face hidden_states); CKA maps: rows and "
    "columns are these layers; between models of different depth, layers are matched by relative depth",
}
#: The paper's claims (results are figures; papers.md marks the details [unverified]).
PAPER_CLAIMS = pd.DataFrame(
    {
        "paper": [
            "block structure in layer x layer CKA of Pythia models, changing with width and depth; one model anomalous",
            "GeLU -> SoLU stitching costs little, SoLU -> GeLU costs more (1-4 layer, 512-wide pairs)",
            "dissimilarity separates models that generalise (HANS) where in-distribution accuracy cannot",
        ],
    },
    index=pd.Index(["CKA maps", "stitching asymmetry", "generalisation"], name="result"),
)


def load_sentences(settings: RunSettings) -> tuple[list[str], list[str], np.ndarray]:
    """Sentences for CKA (UD EWT dev, 300 in full mode) and labelled sentences for stitching (SST-2, 1,000).

    Returns
    -------
    cka_texts : list of str
    stitch_texts : list of str
        SST-2 training sentences of at least 6 words, each once, seeded sample.
    stitch_labels : ndarray of int64, shape (len(stitch_texts),)
    """
    ewt = read_conllu(settings.data_file("ud_english_ewt/en_ewt-ud-dev.conllu"))
    cka_texts = [ex.resolved_text() for ex in ewt if len(ex.words) >= 5][: settings.size(300, 30)]
    sst = read_sst2(settings.data_file("sst2/alps_train.tsv", "sst2/SST-2/train.tsv"))
    order = np.random.default_rng(settings.seed).permutation(len(sst))
    texts, labels, seen = [], [], set()
    for i in order:
        text = sst[i].resolved_text()
        if len(sst[i].words) >= 6 and text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(int(sst[i].meta["label"]))
        if len(texts) == settings.size(1000, 48):
            break
    return cka_texts, texts, np.asarray(labels, dtype=np.int64)


@dataclass(frozen=True)
class RelatedModels:
    """Two related models with heads, for CKA and stitching.

    Attributes
    ----------
    a, b : LensModel
    names : (str, str)
        Short names for tables.
    loss : str
        The stitching loss ("causal-lm" or "classification").
    note : str
        How they were obtained.
    """

    a: lensnb.LensModel
    b: lensnb.LensModel
    names: tuple[str, str]
    loss: str
    note: str


def related_models(choice: str | None, texts: list[str], labels: np.ndarray, settings: RunSettings) -> RelatedModels:
    """The paper's Pythia pair when it can be loaded, else a pre-trained and a fine-tuned MiniLM.

    The fine-tuned pair: A is the embedded body, frozen, with a sentiment head trained
    on ``texts`` (1 epoch, learning rate 1e-3, head only); B is the embedded model
    fine-tuned end to end on the same texts (1 epoch, learning rate 5e-5). Both share
    the tokenizer and the classes, so each can be the other's stitching target.
    """
    from lensnb.fine_tune import fine_tune_classifier

    if choice in (None, "auto"):
        # the embedded fallback is an encoder (masked LM); it is set aside below for the fine-tuned pair
        first = choose_model("auto", PAPER["model"], task="causal-lm", embedded_options={"task": "masked-lm"})
        if first.is_paper_model:
            second = lensnb.load_model(PAPER["extra_models"][0], task="causal-lm")
            return RelatedModels(first.model, second, ("pythia-70m", "pythia-160m"), "causal-lm",
                                 "the paper's Pythia-70m and Pythia-160m (same tokenizer; causal-LM loss)")  # fmt: skip
    elif choice != "embedded":
        raise LensError.bad_argument("model", choice, "'auto' or 'embedded' (this reproduction picks its own pair)")
    head_only = lensnb.load_model(task="sequence-classification", num_labels=2)
    body = head_only.base_model
    frozen = [p for p in body.parameters() if p.requires_grad]
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        fine_tune_classifier(head_only, texts, labels, epochs=1, learning_rate=1e-3, batch_size=32, max_length=64,
                             seed=settings.seed, progress=settings.progress)  # fmt: skip
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)
    tuned = lensnb.load_model(task="sequence-classification", num_labels=2)
    fine_tune_classifier(tuned, texts, labels, epochs=1, learning_rate=5e-5, batch_size=32, max_length=64,
                         seed=settings.seed, progress=settings.progress)  # fmt: skip
    return RelatedModels(
        head_only, tuned, ("pre-trained", "fine-tuned"), "classification",
        f"the embedded all-MiniLM-L6-v2 twice: pre-trained (body frozen, a sentiment head trained on {len(texts)} "
        "SST-2 sentences) and fine-tuned end to end on the same sentences (1 epoch)",
    )  # fmt: skip


def _tokens(model: lensnb.LensModel, texts: list[str], settings: RunSettings) -> lensnb.Activations:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lensnb.extract(model, texts, progress=settings.progress).drop_special()


def cka_maps(model: lensnb.LensModel, texts: list[str], settings: RunSettings) -> tuple[LayerMatrix, LayerMatrix]:
    """Linear CKA between every pair of the model's layers, on its non-special tokens: (biased, debiased)."""
    tokens = _tokens(model, texts, settings)
    biased = geo.cka_matrix(tokens, progress=False)
    debiased = geo.cka_matrix(tokens, debiased=True, progress=False)
    return biased, debiased


def cka_between(related: RelatedModels, texts: list[str], settings: RunSettings) -> LayerMatrix:
    """Linear CKA between A's layers (rows) and B's layers (columns) on the same tokens."""
    a, b = _tokens(related.a, texts, settings), _tokens(related.b, texts, settings)
    if not a.table["token_id"].equals(b.table["token_id"]):
        raise LensError.bad_argument("related", related.names, "two models with the same tokenizer")
    import dataclasses

    return dataclasses.replace(geo.cka_matrix(a, b, progress=False), models=related.names)


def matched_layers(related: RelatedModels, settings: RunSettings) -> tuple[list[int], list[int]]:
    """Layers of A and the layers of B at the same relative depth (all of A's in full mode, 3 in quick mode)."""
    n_a, n_b = related.a.n_layers, related.b.n_layers
    layers_a = list(range(n_a + 1)) if not settings.quick else sorted({0, n_a // 2, n_a})
    return layers_a, [round(layer * n_b / n_a) for layer in layers_a]


def stitch_both_ways(
    related: RelatedModels, texts: list[str], labels: np.ndarray, settings: RunSettings
) -> StitchingAsymmetry:
    """Affine stitches A -> B and B -> A at matched layers, trained on the target's own loss.

    Full mode: 200 Adam steps (learning rate 1e-3, batch 8) per stitch, stitched into the
    residual stream; 20% of the texts held out for the penalties. Quick mode: 5 steps.
    The stitch starts at the identity when the two models are equally wide (the offline
    pair), and at the least-squares fit of B's states on A's otherwise (Pythia-70m is
    512 wide, Pythia-160m 768), as algorithms.md 3.2 prescribes.
    """
    layers_a, layers_b = matched_layers(related, settings)
    return stitching_asymmetry(
        related.a, related.b, texts, layers_a=layers_a, layers_b=layers_b, pairs="diagonal",
        labels=labels if related.loss == "classification" else None, steps=settings.size(200, 5),
        init=stitch_init(related), max_length=64, seed=settings.seed, progress=settings.progress,
    )  # fmt: skip


def stitch_init(related: RelatedModels) -> str:
    """``"identity"`` between models of one width, ``"least_squares"`` between different widths."""
    check_instance(related, RelatedModels, "related", "a RelatedModels pair (from brown.related_models)")
    return "identity" if related.a.hidden_size == related.b.hidden_size else "least_squares"


def same_depth_similarity(between: LayerMatrix) -> tuple[list[int], np.ndarray]:
    """CKA between each of A's layers and B's layer at the same relative depth.

    Returns
    -------
    layers_a : list of int
        A's layers (the rows of ``between``).
    values : ndarray of float64, shape (len(layers_a),)
        ``between`` at (layer i of A, layer round(i * L_B / L_A) of B): the diagonal when
        the models are equally deep.
    """
    check_instance(between, LayerMatrix, "between", "a LayerMatrix of CKA between two models")
    layers_a, layers_b = list(between.layers_a), list(between.layers_b)
    depth_a, depth_b = max(layers_a), max(layers_b)
    if depth_a < 1 or depth_b < 1:
        raise LensError.bad_argument("between", between, "CKA over at least two layers of each model")
    values = []
    for row, layer in enumerate(layers_a):
        matched = round(layer * depth_b / depth_a)
        if matched not in layers_b:
            raise LensError.bad_argument(
                "between", between, f"a column for layer {matched} of B (the match of A's layer {layer})"
            )
        values.append(float(between.values[row, layers_b.index(matched)]))
    return layers_a, np.asarray(values, dtype=np.float64)


def _spearman(x: Any, y: Any) -> float:
    """Spearman's rank correlation; 0 when either side is constant (no order to follow)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.ptp(x) <= 1e-12 or np.ptp(y) <= 1e-12:
        return 0.0
    return float(spearmanr(x, y).statistic)


def block_structure(matrix: LayerMatrix) -> dict[str, float]:
    """How a within-model similarity map falls off the diagonal.

    Returns
    -------
    dict
        ``by_distance``: mean similarity of layer pairs d apart (d = 1..L) as a list;
        ``spearman``: rank correlation of that mean with d (-1: falls steadily); the mean
        off-diagonal similarity.
    """
    check_instance(matrix, LayerMatrix, "matrix", "a LayerMatrix (e.g. from geometry.cka_matrix)")
    values = np.asarray(matrix.values, dtype=np.float64)
    n = values.shape[0]
    if values.shape != (n, n) or n < 3:
        raise LensError.bad_argument("matrix", matrix, "a square layer x layer map of at least 3 layers")
    by_distance = [float(np.mean(np.diag(values, d))) for d in range(1, n)]
    rho = _spearman(np.arange(1, n), by_distance)
    return {"by_distance": by_distance, "spearman": rho, "off_diagonal": float(values[~np.eye(n, dtype=bool)].mean())}


def pair_table(asym: StitchingAsymmetry, names: tuple[str, str]) -> pd.DataFrame:
    """One row per matched pair of layers: the penalty each way and their difference (A -> B minus B -> A)."""
    a_to_b = np.diag(np.asarray(asym.a_to_b.values))
    b_to_a = np.diag(np.asarray(asym.b_to_a.values))
    return pd.DataFrame({
        f"layer of {names[0]}": asym.a_to_b.layers_a, f"layer of {names[1]}": asym.a_to_b.layers_b,
        f"{names[0]} -> {names[1]}": a_to_b, f"{names[1]} -> {names[0]}": b_to_a, "difference": a_to_b - b_to_a,
    })  # fmt: skip


def build_report(
    chosen: str, settings: RunSettings, related: RelatedModels, maps: tuple[LayerMatrix, LayerMatrix],
    between: LayerMatrix, asym: StitchingAsymmetry, n_cka_texts: int, n_stitch_texts: int,
) -> PaperReport:  # fmt: skip
    """The report: the maps' structure, CKA between the models, the stitching table and the claims."""
    biased, debiased = maps
    structure, structure_debiased = block_structure(biased), block_structure(debiased)
    report = PaperReport(
        "brown", PAPER["title"], PAPER["citation"], model=related.note,
        data=f"CKA on the non-special tokens of {n_cka_texts} UD EWT dev sentences; stitching on {n_stitch_texts} "
        "SST-2 sentences (20% held out for the penalties)", convention=PAPER["convention"],
        settings={**settings.describe(), "model_choice": chosen},
    )  # fmt: skip
    report.add_table("the paper's results (figures)", PAPER_CLAIMS)
    layers = list(biased.layers_a)
    report.add_table(f"linear CKA within {related.a.name} (biased)", biased.to_pandas())
    report.add_table(f"linear CKA within {related.a.name} (debiased)", debiased.to_pandas())
    report.add_table(f"linear CKA between {related.names[0]} (rows) and {related.names[1]} (columns)",
                     between.to_pandas())  # fmt: skip
    pairs = pair_table(asym, related.names)
    report.add_table(f"stitching penalty (held-out {related.loss} loss, nats), both directions", pairs)
    report.curves.append(Curve("mean CKA of layer pairs d apart (within the model)", {
        "biased": (list(range(1, len(layers))), structure["by_distance"], None),
        "debiased": (list(range(1, len(layers))), structure_debiased["by_distance"], None),
    }, x_label="distance between layers", y_label="CKA"))  # fmt: skip
    same_depth_layers, diagonal = same_depth_similarity(between)
    report.curves.append(Curve(f"CKA between {related.names[0]} and {related.names[1]}, same relative depth",
                               {"linear CKA": (same_depth_layers, diagonal, None)}, x_label=f"layer of "
                               f"{related.names[0]}", y_label="CKA"))  # fmt: skip
    report.curves.append(Curve("stitching penalty by layer of A", {
        f"{related.names[0]} -> {related.names[1]}": (list(asym.a_to_b.layers_a), pairs.iloc[:, 2].to_numpy(), None),
        f"{related.names[1]} -> {related.names[0]}": (list(asym.a_to_b.layers_a), pairs.iloc[:, 3].to_numpy(), None),
    }, x_label="layer of A", y_label="penalty (nats)"))  # fmt: skip

    report.add_claim(
        "Layer x layer CKA has a block structure: similarity falls with the distance between layers",
        structure["spearman"] <= -0.8,
        "mean biased CKA at distance 1.." + str(len(layers) - 1) + ": "
        + ", ".join(f"{v:.2f}" for v in structure["by_distance"]) + f" (Spearman {structure['spearman']:.2f})",
    )  # fmt: skip
    rho = _spearman(np.asarray(biased.values).ravel(), np.asarray(debiased.values).ravel())
    report.add_claim(
        "The debiased estimator gives lower similarities with the same structure",
        structure_debiased["off_diagonal"] < structure["off_diagonal"] and rho >= 0.8,
        f"mean off-diagonal CKA {structure['off_diagonal']:.3f} biased vs {structure_debiased['off_diagonal']:.3f} "
        f"debiased; rank correlation of the two maps {rho:.2f}",
    )  # fmt: skip
    falls = _spearman(np.arange(len(diagonal)), diagonal)
    report.add_claim(
        f"{related.names[0]} and {related.names[1]} differ more in later layers",
        falls <= -0.5 and diagonal[0] - diagonal[-1] > 0.01,
        "CKA at the same relative depth: " + ", ".join(f"{v:.3f}" for v in diagonal)
        + f" (Spearman with depth {falls:.2f})",
    )  # fmt: skip
    difference = pairs["difference"].to_numpy()
    consistent = max(np.mean(difference > 0), np.mean(difference < 0))
    report.add_claim(
        "Stitching is asymmetric: one direction costs more than the other",
        bool(consistent >= 0.8 and np.mean(np.abs(difference)) > 0.01),
        f"{related.names[0]} -> {related.names[1]} minus the reverse, by layer: "
        + ", ".join(f"{v:+.3f}" for v in difference) + f"; the sign agrees on {consistent:.0%} of the layers",
    )  # fmt: skip
    report.add_claim("GeLU -> SoLU stitching costs little, SoLU -> GeLU more", None,
                     "no SoLU model loads in transformers (the paper's pairs are TransformerLens checkpoints)")  # fmt: skip
    report.add_claim("Dissimilarity separates models that generalise (HANS) from those that do not", None,
                     "needs a family of MNLI models and HANS, not available offline")  # fmt: skip
    report.notes += [
        "CKA is computed in feature space (linear kernel), on every non-special token, float64.",
        f"Stitching: an affine map ({stitch_init(related).replace('_', '-')} initialisation) into the residual "
        f"stream of the target, {asym.a_to_b.params['steps']} Adam steps; the penalty is the held-out loss of the "
        "stitched model minus the "
        "target's own loss.",
        "Between models of different depth, layer i of A is compared with layer round(i * L_B / L_A) of B.",
    ]
    return report


@checks_flags
def reproduce(
    *, model: str | None = "auto", quick: bool | None = None, data_dir: Any = None, seed: int = 0,
    progress: bool = True,
) -> PaperReport:  # fmt: skip
    """The whole reproduction: the models, the CKA maps, CKA between models, stitching, the report."""
    settings = run_settings(quick=quick, data_dir=data_dir, seed=seed, progress=progress)
    cka_texts, stitch_texts, labels = load_sentences(settings)
    related = related_models(model, stitch_texts, labels, settings)
    maps = cka_maps(related.a, cka_texts, settings)
    between = cka_between(related, cka_texts, settings)
    asym = stitch_both_ways(related, stitch_texts, labels, settings)
    return build_report(str(model), settings, related, maps, between, asym, len(cka_texts), len(stitch_texts))
