"""Skean et al. 2025, "Layer by Layer": per-layer metrics, and intermediate layers as embeddings.

Two parts, as in the paper:

1. **Layer metrics** on real prompts (UD English EWT sentences): prompt entropy, dataset
   entropy and curvature from each prompt's token matrix (mean-centred over its
   tokens, rows scaled to unit L2 norm, as the paper), and the augmentation-invariance
   metrics InfoNCE, LiDAR and DiME between each prompt and typo-style augmented copies
   (:func:`lensnb.geometry.augment_text`). The paper's reference points: BERT-base's
   prompt entropy is high and flat (0.78-0.87), Pythia's dips to a deep valley at
   mid-depth; which does the model here resemble?
2. **Intermediate layers as embeddings**: for a few real sentence tasks (SST-2
   sentiment, SemEval-2010 relation type at sentence level, UD tense and subject
   number), one mean-pooled vector per text and layer and a linear probe trained and
   tested per layer on a fixed split. Does an intermediate layer beat the last? The
   paper: averaged over 32 MTEB tasks, Pythia-410m peaks at layer 17 (51.9) against 46.8
   at its last layer, Pythia-160m at layer 8 (47.0) against 43.5.

The paper's model here is Pythia-160m (the paper gives its numbers beside
Pythia-410m's): its float32 weights take 0.65 GB, where Pythia-410m's 1.6 GB and the
activations would not fit in mybinder.org's 2 GB. Offline the embedded
all-MiniLM-L6-v2 (a 6-layer BERT, fine-tuned for mean-pooled sentence embeddings)
stands in.

References
----------
Skean, Arefin, Zhao, Patel, Naghiyev, LeCun & Shwartz-Ziv 2025, "Layer by Layer:
Uncovering Hidden Representations in Language Models", ICML, arXiv:2502.02013.
Muennighoff et al. 2023, "MTEB: Massive Text Embedding Benchmark", EACL.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

import lensnb
from lensnb import geometry as geo
from lensnb.data import read_conllu, read_semeval2010, read_sst2, subject_number, tense
from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.geometry.results import LayerProfile
from lensnb.papers.report import Curve, PaperReport
from lensnb.papers.settings import ModelChoice, RunSettings, check_instance, choose_model, run_settings
from lensnb.probing import LinearProbe, Split, probe_layers

__all__ = [
    "PAPER", "PAPER_SCORES", "PAPER_ENTROPY", "LayerMetrics", "Task", "TaskScores", "average_scores",
    "best_layer_table", "build_report", "entropy_shape", "entropy_table", "extract_prompts", "layer_metrics", "load_prompts", "load_tasks",
    "metric_correlations", "metric_table", "reproduce", "score_task", "scores_by_layer", "task_table",
    "text_vectors",
]  # fmt: skip

PAPER = {
    "title": "Layer by Layer: Uncovering Hidden Representations in Language Models",
    "citation": "Skean, Arefin, Zhao, Patel, Naghiyev, LeCun & Shwartz-Ziv, ICML 2025",
    "model": "EleutherAI/pythia-160m",
    "convention": "layer 0 = embeddings, l = output of block l (Hugging Face hidden_states), as the paper counts; "
    "relative depth = layer / number of blocks",
}
#: The paper's MTEB averages [code]: best layer and its average score vs the last layer's (32 tasks).
PAPER_SCORES = pd.DataFrame(
    {
        "best layer": [17, 8], "blocks": [24, 12], "relative depth": [17 / 24, 8 / 12],
        "best layer score": [51.9, 47.0], "last layer score": [46.8, 43.5], "gain": [5.1, 3.5],
    },
    index=pd.Index(["paper: Pythia-410m, 32 MTEB tasks", "paper: Pythia-160m, 32 MTEB tasks"], name="model"),
)  # fmt: skip
#: The paper's prompt-entropy reference points.
PAPER_ENTROPY = pd.DataFrame(
    {
        "range over layers": ["0.78-0.87", "(read off the paper's figure)"],
        "shape": ["high and flat", "deep mid-depth valley"],
    },
    index=pd.Index(["paper: BERT-base", "paper: Pythia"], name="model"),
)
#: A profile whose values span at most this much is "flat" (BERT-base spans 0.78-0.87: 0.09).
FLAT_RANGE = 0.1
#: "High at every layer": the lowest value is at least this (BERT-base's lowest: 0.78).
HIGH_ENTROPY = 0.7
#: A "valley": the lowest intermediate layer sits at least this far below both ends.
VALLEY_DEPTH = 0.1
_CHUNK = 1000  # texts extracted at once before pooling (bounds the token-level memory)


# ---------------------------------------------------------------------------------- data
def _ud(settings: RunSettings, split: str) -> list:
    return read_conllu(settings.data_file(f"ud_english_ewt/en_ewt-ud-{split}.conllu"))


def load_prompts(settings: RunSettings, *, min_words: int = 10, max_words: int = 50) -> list[str]:
    """Real prompts for the layer metrics: UD English EWT dev and test sentences of 10-50 words.

    A seeded sample of 1,000 (80 in quick mode). Every prompt has enough tokens for a
    prompt entropy (N >= 2) and a curvature (N >= 3).
    """
    sentences = [e.text or " ".join(e.words) for split in ("dev", "test") for e in _ud(settings, split)
                 if min_words <= len(e.words) <= max_words]  # fmt: skip
    sentences = list(dict.fromkeys(sentences))
    order = np.random.default_rng(settings.seed).permutation(len(sentences))
    return [sentences[i] for i in order[: settings.size(1000, 80)]]


@dataclass(frozen=True)
class Task:
    """A sentence classification task with a fixed split.

    Attributes
    ----------
    name : str
    texts : list of str, length n
    labels : ndarray, shape (n,)
    train, dev, test : ndarray of int64
        Rows. ``dev`` is a seeded 20% of the training data, used only to choose a layer;
        the probes scored on ``test`` are trained on ``train`` (which includes ``dev``).
    source : str
        Where the texts and the split come from.
    """

    name: str
    texts: list[str]
    labels: np.ndarray
    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray
    source: str

    def describe(self) -> str:
        return (f"{self.name}: {len(self.train)} train / {len(self.test)} test texts, "
                f"{len(np.unique(self.labels))} classes ({self.source})")  # fmt: skip


def _task(name, train, test, source, settings: RunSettings, n_train: int, n_test: int) -> Task:
    """Subsample (seeded) the two parts, and draw dev rows out of train."""
    rng = np.random.default_rng(settings.seed)
    train = [train[i] for i in np.sort(rng.permutation(len(train))[:n_train])]
    test = [test[i] for i in np.sort(rng.permutation(len(test))[:n_test])]
    texts = [t for t, _ in train] + [t for t, _ in test]
    labels = np.array([label for _, label in train] + [label for _, label in test])
    dev = np.sort(rng.permutation(len(train))[: max(1, len(train) // 5)]).astype(np.int64)
    return Task(name, texts, labels, np.arange(len(train), dtype=np.int64), dev,
                np.arange(len(train), len(texts), dtype=np.int64), source)  # fmt: skip


def load_tasks(settings: RunSettings) -> dict[str, Task]:
    """The four tasks, each with the data's own train / test split.

    - ``sst2``: sentiment (2 classes); train: SST-2 training sentences of at least 10
      words (the training file also holds short sub-phrases), test: the 872 sentences of
      GLUE's dev set;
    - ``semeval_relation``: SemEval-2010 Task 8 relation type (10 classes, direction
      dropped) of the whole sentence, mean-pooled (no entity markers): train / test files;
    - ``tense`` and ``subject_number``: SentEval-style tasks derived from UD English EWT
      (:func:`lensnb.data.tense`, :func:`lensnb.data.subject_number`): train file for
      training, dev + test files for testing.

    Sizes: at most 4,000 training and 2,000 test texts per task (quick mode: 200 and 120).
    """
    n_train, n_test = settings.size(4000, 200), settings.size(2000, 120)
    tasks: dict[str, Task] = {}

    def joined(example) -> str:
        return example.text or " ".join(example.words)

    sst_train = read_sst2(settings.data_file("sst2/SST-2/train.tsv", "sst2/alps_train.tsv"))
    sst_test = read_sst2(settings.data_file("sst2/SST-2/dev.tsv", "sst2/alps_test.tsv"))
    test_texts = {joined(e) for e in sst_test}
    train = list({joined(e): e.meta["label"] for e in sst_train if len(e.words) >= 10
                  and joined(e) not in test_texts}.items())  # fmt: skip
    tasks["sst2"] = _task("sst2", train, [(joined(e), e.meta["label"]) for e in sst_test],
                          "SST-2: training sentences of >= 10 words / GLUE dev", settings, n_train, n_test)  # fmt: skip
    folder = settings.data_file("semeval2010_task8", "SemEval2010_task8_all_data")
    parts = [[(e.resolved_text(), e.meta["relation_type"]) for e in read_semeval2010(folder, split)]
             for split in ("train", "test")]  # fmt: skip
    tasks["semeval_relation"] = _task("semeval_relation", *parts, "SemEval-2010 Task 8: train / test files",
                                      settings, n_train, n_test)  # fmt: skip
    ud_train, ud_test = _ud(settings, "train"), _ud(settings, "dev") + _ud(settings, "test")
    for name, derive in (("tense", tense), ("subject_number", subject_number)):
        train, test = ([(joined(e), e.meta["label"]) for e in derive(part)] for part in (ud_train, ud_test))
        tasks[name] = _task(name, train, test, "UD English EWT: train / dev + test files", settings, n_train, n_test)
    return tasks


# ---------------------------------------------------------------------------- extraction
def extract_prompts(model: lensnb.LensModel, prompts: list[str], settings: RunSettings) -> lensnb.Activations:
    """Token-level states of every prompt at every layer (the input of the per-prompt metrics)."""
    return lensnb.extract(model, prompts, progress=settings.progress)


def text_vectors(
    model: lensnb.LensModel, texts: list[str], settings: RunSettings, *, desc: str = "texts"
) -> np.ndarray:
    """One vector per text and layer: the mean of all its token states (special tokens included).

    Mean pooling over the attention mask, as MTEB's (and sentence-transformers') mean
    pooling, and as the core's augmentation metrics pool a token-level view. Texts are
    extracted 1,000 at a time and pooled at once, so the token-level states of a large
    task never sit in memory together.

    Returns
    -------
    ndarray of float32, shape (n_layers, n_texts, dim)
        Layers 0 (embeddings) .. L.
    """
    if not texts:
        raise LensError.bad_argument("texts", texts, "a non-empty list of strings")
    parts = []
    starts = range(0, len(texts), _CHUNK)
    for start in tqdm(starts, desc=f"vectors: {desc}", disable=not settings.progress or len(starts) < 2):
        acts = lensnb.extract(model, texts[start : start + _CHUNK], progress=settings.progress and len(starts) < 2)
        pooled = acts.pool_texts("mean", include_special=True)
        if not np.array_equal(pooled.table["text_id"].to_numpy(), np.arange(len(pooled))):
            raise LensError(f"text_vectors: the pooled texts came back out of order ({desc}).")
        parts.append(np.asarray(pooled.values, dtype=np.float32))
    return np.concatenate(parts, axis=1)


# ------------------------------------------------------------------------- layer metrics
@dataclass(frozen=True)
class LayerMetrics:
    """The paper's six per-layer metrics on one set of prompts.

    Attributes
    ----------
    prompt_entropy, dataset_entropy, curvature : LayerProfile
        From the token matrices (prompt entropy and curvature with the standard deviation
        over prompts as error).
    infonce, lidar, dime : LayerProfile
        Augmentation invariance: InfoNCE (lower = more invariant) and DiME between each
        prompt and one augmented copy; LiDAR over the original and all augmented copies.
    n_views : int
        Augmented copies made.
    """

    prompt_entropy: LayerProfile
    dataset_entropy: LayerProfile
    curvature: LayerProfile
    infonce: LayerProfile
    lidar: LayerProfile
    dime: LayerProfile
    n_views: int

    def profiles(self) -> dict[str, LayerProfile]:
        """Title -> profile, in the paper's order."""
        return {
            "prompt entropy": self.prompt_entropy, "dataset entropy": self.dataset_entropy,
            "curvature (radians)": self.curvature, "InfoNCE loss (lower = more invariant)": self.infonce,
            "LiDAR": self.lidar, "DiME": self.dime,
        }  # fmt: skip


def layer_metrics(
    model: lensnb.LensModel, prompts: list[str], settings: RunSettings, *, acts: lensnb.Activations | None = None
) -> LayerMetrics:
    """All six metrics of the paper, layer by layer, on ``prompts``.

    Prompt entropy (alpha = 1, normalised by log(min(N, D))), dataset entropy and
    curvature come from the prompts' token matrices, each mean-centred and row-normalised
    (:mod:`lensnb.geometry.layer_metrics`). For augmentation invariance, each prompt gets
    augmented copies (:func:`lensnb.geometry.augment_text`, seeds ``seed + 1 ..``): 8 in
    full mode, 2 in quick mode; every view is mean-pooled over all its tokens.

    The measures run with one BLAS thread: their matrices are small (one prompt's tokens,
    or at most a few thousand prompts), and on a busy 2-core machine two BLAS threads
    waiting on each other made prompt entropy 40x slower (80 prompts: 23 s against 0.5 s).

    Parameters
    ----------
    model : LensModel
    prompts : list of str
    settings : RunSettings
    acts : Activations, optional
        The prompts' token-level states, if already extracted (:func:`extract_prompts`).

    References
    ----------
    Skean et al. 2025, Sec. 3 (Eq. 1, curvature, augmentation invariance).
    """
    if acts is None:
        acts = extract_prompts(model, prompts, settings)
    progress = settings.progress
    n_views = settings.size(8, 2)
    original = np.asarray(acts.pool_texts("mean", include_special=True).values, dtype=np.float32)
    views = [text_vectors(model, geo.augment_text(prompts, seed=settings.seed + v + 1), settings,
                          desc=f"augmented copy {v + 1}") for v in range(n_views)]  # fmt: skip
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")  # prompts too short for a measure are counted in its params
        entropy = geo.prompt_entropy(acts, progress=progress)
        dataset = geo.dataset_entropy(acts, progress=progress)
        bend = geo.curvature(acts, progress=progress)
        invariance = {
            metric: geo.augmentation_invariance(original, views if metric == "lidar" else views[0], metric=metric,
                                                seed=settings.seed, progress=progress)
            for metric in ("infonce", "lidar", "dime")
        }  # fmt: skip
    return LayerMetrics(entropy, dataset, bend, invariance["infonce"], invariance["lidar"], invariance["dime"], n_views)


def metric_table(metrics: LayerMetrics) -> pd.DataFrame:
    """One row per layer: relative depth and the six metrics (with the spread over prompts)."""
    layers = metrics.prompt_entropy.layers
    return pd.DataFrame({
        "relative depth": np.asarray(layers) / (max(layers) or 1),
        "prompt entropy": metrics.prompt_entropy.values, "+/- (prompts)": metrics.prompt_entropy.errors,
        "dataset entropy": metrics.dataset_entropy.values,
        "curvature (rad)": metrics.curvature.values,
        "InfoNCE": metrics.infonce.values, "LiDAR": metrics.lidar.values, "DiME": metrics.dime.values,
    }, index=pd.Index(layers, name="layer"))  # fmt: skip


def entropy_shape(profile: LayerProfile) -> dict[str, Any]:
    """The shape of a prompt-entropy profile, next to the paper's two reference points.

    What tells the paper's two models apart is the valley: BERT-base stays high at every
    layer (0.78-0.87), Pythia dips deep at mid-depth. A profile resembles BERT-base when
    its lowest value is at least :data:`HIGH_ENTROPY` and it has no valley, Pythia when
    its lowest intermediate layer lies at least :data:`VALLEY_DEPTH` below both ends.

    Returns
    -------
    dict
        ``low``, ``high`` (range over layers), ``spread`` (high - low), ``minimum_layer``
        (the lowest intermediate layer, or None with fewer than 3 layers), ``valley`` (how
        far it lies below the lower of the two ends), ``high_everywhere``, ``flat``
        (spread <= :data:`FLAT_RANGE`, BERT-base's spread being 0.09), ``has_valley`` and
        ``resembles``: "BERT-base (high, no valley)", "Pythia (mid-depth valley)" or "neither".
    """
    check_instance(profile, LayerProfile, "profile", "a LayerProfile of prompt entropy (geometry.prompt_entropy)")
    values = np.asarray(profile.values, dtype=np.float64)
    layers = list(profile.layers)
    if len(values) < 1 or not np.isfinite(values).all():
        raise LensError.bad_argument("profile", profile, "a prompt-entropy profile with finite values")
    low, high = float(values.min()), float(values.max())
    if len(values) >= 3:
        inner = 1 + int(np.argmin(values[1:-1]))
        minimum_layer, valley = layers[inner], float(min(values[0], values[-1]) - values[inner])
    else:
        minimum_layer, valley = None, 0.0
    has_valley = valley >= VALLEY_DEPTH
    high_everywhere = low >= HIGH_ENTROPY
    resembles = ("Pythia (mid-depth valley)" if has_valley else
                 "BERT-base (high, no valley)" if high_everywhere else "neither")  # fmt: skip
    return {"low": low, "high": high, "spread": high - low, "minimum_layer": minimum_layer, "valley": valley,
            "high_everywhere": high_everywhere, "flat": high - low <= FLAT_RANGE, "has_valley": has_valley,
            "resembles": resembles}  # fmt: skip


# ------------------------------------------------------------------------- task scores
@dataclass(frozen=True)
class TaskScores:
    """A linear probe per layer on one task.

    Attributes
    ----------
    task : str
    test : LayerProfile
        Test accuracy per layer (probe trained on train), bootstrap interval over the test
        texts; ``details["bootstrap"]`` (n_layers, n_resamples) uses the same resamples at
        every layer, so differences between layers are paired.
    dev : LayerProfile
        Accuracy on the dev rows of a probe trained on the rest of train (to choose a layer).
    chosen_layer : int
        The layer with the best dev accuracy.
    difference : ndarray, shape (n_resamples,)
        Test accuracy at the chosen layer minus at the last, per bootstrap resample.
    """

    task: str
    test: LayerProfile
    dev: LayerProfile
    chosen_layer: int
    difference: np.ndarray = field(repr=False)

    @property
    def layers(self) -> tuple[int, ...]:
        return self.test.layers

    def at(self, layer: int) -> float:
        return float(self.test.values[self.layers.index(layer)])

    @property
    def last_layer(self) -> int:
        return self.layers[-1]

    @property
    def best_test_layer(self) -> int:
        return self.layers[int(np.argmax(self.test.values))]

    @property
    def difference_interval(self) -> tuple[float, float]:
        low, high = np.percentile(self.difference, [2.5, 97.5])
        return float(low), float(high)

    @property
    def verdict(self) -> str:
        """ "beats the last", "ties", "worse than the last" or "the last layer is chosen"."""
        if self.chosen_layer == self.last_layer:
            return "the last layer is chosen"
        low, high = self.difference_interval
        return "beats the last" if low > 0 else "worse than the last" if high < 0 else "ties"


def score_task(vectors: np.ndarray, task: Task, settings: RunSettings) -> TaskScores:
    """Linear probes on every layer's text vectors: dev accuracy to choose a layer, test accuracy to score it.

    :class:`~lensnb.probing.LinearProbe` (multinomial logistic regression, standardised
    features, C = 1), deterministic; 1,000 bootstrap resamples of the test texts (200 in
    quick mode), the same at every layer.

    Parameters
    ----------
    vectors : ndarray, shape (n_layers, n_texts, dim)
        From :func:`text_vectors` on ``task.texts``.
    task : Task
    settings : RunSettings

    Returns
    -------
    TaskScores
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 3 or vectors.shape[1] != len(task.texts):
        raise LensError.bad_argument("vectors", vectors, f"shape (n_layers, {len(task.texts)}, dim), one per text")
    empty = np.zeros(0, dtype=np.int64)
    fit_rows = np.setdiff1d(task.train, task.dev)
    options = {"probe": LinearProbe(), "seeds": (settings.seed,), "progress": settings.progress}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # L-BFGS convergence notes on near-separable layers
        dev = probe_layers(vectors, task.labels, splits=Split(fit_rows, empty, task.dev), **options)
        test = probe_layers(vectors, task.labels, splits=Split(task.train, empty, task.test),
                            bootstrap=settings.size(1000, 200), **options)  # fmt: skip
    layers = test.layers
    chosen = layers[int(np.argmax(dev.values))]
    boot = np.asarray(test.details["bootstrap"])
    difference = boot[layers.index(chosen)] - boot[-1]
    return TaskScores(task.name, test, dev, chosen, difference)


def average_scores(scores: dict[str, TaskScores]) -> LayerProfile:
    """The test accuracy averaged over tasks, per layer, as the paper averages its MTEB scores.

    The interval is the 2.5-97.5 percentile of the average over the tasks' (independent)
    bootstrap resamples; ``details["bootstrap"]`` keeps the averaged resamples.
    """
    check_instance(scores, Mapping, "scores", "a mapping of task -> TaskScores")
    if not scores:
        raise LensError.bad_argument("scores", scores, "at least one task's scores")
    first = next(iter(scores.values()))
    if any(s.layers != first.layers for s in scores.values()):
        raise LensError.bad_argument("scores", list(scores), "tasks scored on the same layers")
    values = np.mean([s.test.values for s in scores.values()], axis=0)
    boot = np.mean([np.asarray(s.test.details["bootstrap"]) for s in scores.values()], axis=0)
    low, high = np.percentile(boot, [2.5, 97.5], axis=1)
    return LayerProfile("average_accuracy", first.layers, values, boot.std(axis=1, ddof=1),
                        {"tasks": list(scores), "errors": "bootstrap"}, None, "text",
                        {"ci_low": low, "ci_high": high, "bootstrap": boot})  # fmt: skip


def task_table(scores: dict[str, TaskScores], tasks: dict[str, Task] | None = None) -> pd.DataFrame:
    """Per task: majority baseline, the dev-chosen layer vs the last on test, the paired difference."""
    rows = {}
    for name, s in scores.items():
        low, high = s.difference_interval
        position = s.layers.index(s.chosen_layer)
        rows[name] = {
            "train / test": "" if tasks is None else f"{len(tasks[name].train)} / {len(tasks[name].test)}",
            "majority": float(s.test.details["majority_baseline"]),
            "chosen layer (dev)": s.chosen_layer,
            "chosen: test acc": s.at(s.chosen_layer),
            "chosen 95% CI": f"[{s.test.details['ci_low'][position]:.3f}, {s.test.details['ci_high'][position]:.3f}]",
            "last layer": s.last_layer,
            "last: test acc": s.at(s.last_layer),
            "last 95% CI": f"[{s.test.details['ci_low'][-1]:.3f}, {s.test.details['ci_high'][-1]:.3f}]",
            "chosen - last": s.at(s.chosen_layer) - s.at(s.last_layer),
            "difference 95% CI": f"[{low:+.3f}, {high:+.3f}]",
            "verdict": s.verdict,
            "best layer on test": s.best_test_layer,
            "best: test acc": s.at(s.best_test_layer),
        }  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("task")


def scores_by_layer(scores: dict[str, TaskScores], average: LayerProfile) -> pd.DataFrame:
    """Test accuracy per layer (rows) and task (columns), with the average."""
    frame = pd.DataFrame({name: s.test.values for name, s in scores.items()},
                         index=pd.Index(average.layers, name="layer"))  # fmt: skip
    frame["average"] = average.values
    return frame


def metric_correlations(metrics: LayerMetrics, average: LayerProfile) -> pd.DataFrame:
    """Spearman correlation, across layers, of each metric with the average task accuracy."""
    from scipy.stats import spearmanr

    rows = {}
    for title, profile in metrics.profiles().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a constant profile has no rank correlation: NaN
            rho = spearmanr(profile.values, average.values).statistic if len(profile.values) > 2 else np.nan
        rows[title] = {"Spearman rho with the average accuracy": float(rho)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def entropy_table(shape: dict[str, Any], name: str) -> pd.DataFrame:
    """The paper's prompt-entropy reference points and ours (from :func:`entropy_shape`), one row each."""
    ours = pd.DataFrame({
        "range over layers": [f"{shape['low']:.2f}-{shape['high']:.2f}"],
        "shape": [f"lowest intermediate layer {shape['minimum_layer']}, {shape['valley']:+.2f} below the lower end; "
                  f"resembles {shape['resembles']}"],
    }, index=pd.Index([f"ours: {name}"], name="model"))  # fmt: skip
    return pd.concat([PAPER_ENTROPY, ours])


def best_layer_table(average: LayerProfile, name: str) -> pd.DataFrame:
    """The paper's best-layer-vs-last numbers and ours (average accuracy in %, best layer picked on test)."""
    values = np.asarray(average.values, dtype=np.float64)
    layers = list(average.layers)
    best, depth = int(np.argmax(values)), max(layers) or 1
    ours = pd.DataFrame({
        "best layer": [layers[best]], "blocks": [depth], "relative depth": [layers[best] / depth],
        "best layer score": [100 * values[best]], "last layer score": [100 * values[-1]],
        "gain": [100 * (values[best] - values[-1])],
    }, index=pd.Index([f"ours: {name} (accuracy %)"], name="model"))  # fmt: skip
    return pd.concat([PAPER_SCORES, ours])


# ---------------------------------------------------------------------------- the run
@checks_flags
def reproduce(
    *, model: str | None = "auto", quick: bool | None = None, data_dir: Any = None, seed: int = 0,
    progress: bool = True,
) -> PaperReport:  # fmt: skip
    """The whole reproduction: prompts and metrics, tasks and probes, the report."""
    settings = run_settings(quick=quick, data_dir=data_dir, seed=seed, progress=progress)
    chosen = choose_model(model, PAPER["model"])
    prompts = load_prompts(settings)
    metrics = layer_metrics(chosen.model, prompts, settings)
    tasks = load_tasks(settings)
    scores = {name: score_task(text_vectors(chosen.model, task.texts, settings, desc=name), task, settings)
              for name, task in tasks.items()}  # fmt: skip
    return build_report(chosen, settings, prompts, metrics, tasks, scores)


def build_report(
    chosen: ModelChoice, settings: RunSettings, prompts: list[str], metrics: LayerMetrics, tasks: dict[str, Task],
    scores: dict[str, TaskScores],
) -> PaperReport:  # fmt: skip
    """The report of a run: the metrics, paper vs ours for both parts, the curves and the claims."""
    layers = list(metrics.prompt_entropy.layers)
    depth = max(layers) or 1
    average = average_scores(scores)
    report = PaperReport(
        "skean", PAPER["title"], PAPER["citation"], model=chosen.note,
        data=f"metrics: {len(prompts)} UD English EWT sentences (10-50 words, seeded sample), {metrics.n_views} "
        "augmented copies each; tasks: " + "; ".join(t.describe() for t in tasks.values()),
        convention=PAPER["convention"], settings=settings.describe(),
    )  # fmt: skip
    report.add_table("per-layer metrics (ours)", metric_table(metrics))
    shape = entropy_shape(metrics.prompt_entropy)
    report.add_table("paper vs ours: prompt entropy", entropy_table(shape, chosen.name))
    report.add_table("per task: the layer chosen on dev vs the last layer, on test (ours)", task_table(scores, tasks))
    report.add_table("test accuracy per layer (ours)", scores_by_layer(scores, average))
    best = int(np.argmax(average.values))
    boot = np.asarray(average.details["bootstrap"])
    gain_low, gain_high = np.percentile(boot[best] - boot[-1], [2.5, 97.5])
    report.add_table("paper vs ours: the best layer of the task average vs the last",
                     best_layer_table(average, f"{chosen.name}, {len(scores)} tasks"))  # fmt: skip
    report.add_table("metrics vs the average accuracy across layers (ours)", metric_correlations(metrics, average))
    report.curves.append(Curve("prompt and dataset entropy", {
        "prompt entropy": (layers, metrics.prompt_entropy.values, metrics.prompt_entropy.errors),
        "dataset entropy": (layers, metrics.dataset_entropy.values, None),
        "BERT-base (paper), low": (layers, [0.78] * len(layers), None),
        "BERT-base (paper), high": (layers, [0.87] * len(layers), None),
    }, y_label="normalised entropy"))  # fmt: skip
    report.curves.append(Curve("curvature", {"curvature": (layers, metrics.curvature.values, None)},
                               y_label="radians"))  # fmt: skip
    report.curves.append(Curve("augmentation invariance", {
        "InfoNCE (lower = more invariant)": (layers, metrics.infonce.values, None),
        "LiDAR": (layers, metrics.lidar.values, None), "DiME": (layers, metrics.dime.values, None),
    }))  # fmt: skip
    series = {name: (list(s.layers), s.test.values, s.test.errors) for name, s in scores.items()}
    series["average"] = (list(average.layers), average.values, average.errors)
    report.curves.append(Curve("test accuracy of a linear probe on mean-pooled vectors", series, y_label="accuracy"))

    beating = [n for n, s in scores.items() if s.verdict == "beats the last"]
    report.add_claim(
        "Intermediate layers often beat the last layer as embeddings (per task: the layer chosen on dev, "
        "scored on test, above the last layer with a paired 95% bootstrap interval above 0)",
        2 * len(beating) >= len(scores),
        f"{len(beating)} of {len(scores)} tasks: " + "; ".join(
            f"{n}: layer {s.chosen_layer} {s.at(s.chosen_layer):.3f} vs last {s.at(s.last_layer):.3f} "
            f"({s.verdict}, difference CI [{s.difference_interval[0]:+.3f}, {s.difference_interval[1]:+.3f}])"
            for n, s in scores.items()),
    )  # fmt: skip
    interior = 0 < best < len(layers) - 1
    report.add_claim(
        "Averaged over tasks, an intermediate layer scores above the last (paper: Pythia-410m layer 17 of 24, "
        "51.9 vs 46.8; Pythia-160m layer 8 of 12, 47.0 vs 43.5)",
        interior and gain_low > 0,
        f"best average at layer {layers[best]} of {depth} (relative depth {layers[best] / depth:.2f}): "
        f"{100 * average.values[best]:.1f} vs {100 * average.values[-1]:.1f} at the last layer, gain "
        f"{100 * (average.values[best] - average.values[-1]):+.1f} points (95% CI [{100 * gain_low:+.1f}, "
        f"{100 * gain_high:+.1f}]; the best layer is picked on test, as the paper picks it)",
    )  # fmt: skip
    decoder = chosen.model.is_decoder
    entropy_claim = (
        "Like Pythia, a decoder's prompt entropy dips to a deep valley at mid-depth (BERT-base stays high and "
        "flat, 0.78-0.87)" if decoder else
        "Like BERT-base (0.78-0.87), an encoder's prompt entropy stays high at every layer, with no deep "
        "mid-depth valley as in Pythia"
    )  # fmt: skip
    report.add_claim(
        entropy_claim, shape["has_valley"] if decoder else shape["high_everywhere"] and not shape["has_valley"],
        f"prompt entropy {shape['low']:.3f}-{shape['high']:.3f} over layers {layers[0]}-{layers[-1]} (spread "
        f"{shape['spread']:.3f}; BERT-base's: 0.09); the lowest intermediate layer ({shape['minimum_layer']}) lies "
        f"{shape['valley']:+.3f} below the lower end; resembles {shape['resembles']} (high: >= {HIGH_ENTROPY} "
        f"at every layer; valley: >= {VALLEY_DEPTH} below both ends)",
    )  # fmt: skip
    report.notes += [
        "The paper averages 32 MTEB tasks (classification, clustering, retrieval, STS...); here four sentence "
        "classification tasks stand in, scored by the accuracy of a linear probe (multinomial logistic "
        "regression on standardised features, C = 1) on one mean-pooled vector per text and layer.",
        "Per task the layer is chosen on a dev split (20% of the training texts, probe trained on the rest), "
        "then scored on test by a probe trained on all training texts, so the per-task verdicts do not pick the "
        "winner on the test set. The averaged curve picks its best layer on test, as the paper does.",
        "Intervals: 2.5-97.5 percentiles of bootstrap resamples of the test texts (the same resamples at every "
        "layer, so layer differences are paired); the average's interval resamples each task independently.",
        "Prompts: the paper uses WikiText; here UD English EWT sentences (web text). Special tokens ([CLS], "
        "[SEP]) are kept in the token matrices and in the mean pooling, as in the reference code.",
        f"Augmentation: {metrics.n_views} typo-style copies per prompt (word splits, random and keyboard "
        "character substitutions, in the spirit of the reference's nlpaug pipeline); InfoNCE and DiME compare "
        "each prompt with its first copy, LiDAR uses the prompt and all its copies (the reference: 2 and 16 "
        "augmented copies).",
    ]
    if "minilm" in chosen.name.lower():
        report.notes.append(
            "all-MiniLM-L6-v2 was fine-tuned to give sentence embeddings by mean pooling its last layer, so one "
            "would expect it to favour its last layer, unlike the paper's pre-trained (not fine-tuned) Pythia."
        )
    if not chosen.is_paper_model:
        report.notes.append(
            f"The paper's model was not used ({chosen.note}): compare shapes and orderings, not numbers."
        )
    return report
