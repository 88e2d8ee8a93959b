"""Tenney et al. 2019 (ICLR) and Tenney, Das & Pavlick 2019 (ACL): edge probing, the classical NLP pipeline.

Edge probing (ICLR): a frozen encoder's token states; for each labelled span (or span
pair) a small classifier reads the span's pieces (per-side projection to 256,
self-attentive pooling, an MLP, sigmoid outputs, micro-F1), here
:class:`lensnb.probing.EdgeProbe`. Each task is probed on every layer, on the lexical
layer alone ("lexical"), on the top layer concatenated with the lexical layer ("cat",
as the authors' code builds it: ``torch.cat([h_top, h_lex])``) and on a learned scalar
mix of all layers ("mix"). The pipeline (ACL): cumulative probes on a scalar mix of
layers 0..l for every l give the gain Delta_l of each layer and the expected layer
E_Delta[l] (with a bootstrap interval over the test texts); the mix over all layers gives
the centre of gravity of its weights. The claim: the layers where the information
appears follow the order of the classical pipeline, POS < constituents <
entities/dependencies < SRL < coreference/relations.

Tasks and data (OntoNotes, on which most of the paper's tasks are built, is licensed;
these stand in): POS and dependency arcs from UD English EWT (arcs as (dependent, head)
span pairs labelled with the relation as written, the root as a self-arc, as the
authors' conversion does), constituent labelling from the Penn Treebank sample (every
non-terminal span; unary chains merged into one multi-label span), entities from
CoNLL-2003, relations from SemEval-2010 Task 8 (19 directed labels), coreference from
GAP (pronoun-name pairs, coreferent or not) and Winograd from WSC273. SRL and SPR have
no offline data and are not run.

Layers: lensnb's layer 0 is Hugging Face's ``hidden_states[0]`` (word + position +
token-type embeddings, LayerNorm), l the output of block l. The authors' BERT "layer 0"
(their lexical baseline, and the first layer of their mix) is LayerNorm(word embeddings)
without position or segment embeddings. Here "lexical", the lexical half of "cat" and
the first layer of every mix are lensnb's layer 0; the authors' variant is probed
alone too ("lexical, Tenney's definition") when the model has BERT-style embeddings.

References
----------
Tenney, Xia, Chen, Wang, Poliak, McCoy, Kim, Van Durme, Bowman, Das & Pavlick 2019, "What
do you learn from context? Probing for sentence structure in contextualized word
representations", ICLR (Table 2; appendix A, the probe). Tenney, Das & Pavlick 2019, "BERT
Rediscovers the Classical NLP Pipeline", ACL (Eq. 1-3, Figure 1).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import lensnb
from lensnb.activations import Activations
from lensnb.data import read_conll2003, read_conllu, read_gap, read_ptb, read_semeval2010, read_wsc
from lensnb.errors import LensError
from lensnb.examples import Example, Span, SpanPair
from lensnb.flags import checks_flags
from lensnb.geometry.results import LayerProfile
from lensnb.papers.report import Curve, PaperReport
from lensnb.papers.settings import ModelChoice, RunSettings, choose_model, run_settings
from lensnb.probing import EdgeProbe, ProbingTask, probe_layers, probing_data, span_pair_task, span_task
from lensnb.probing.edge import EdgeNetwork, edge_micro_f1  # the EdgeProbe network, reused under a scalar mix
from lensnb.probing.probe_training import (
    TrainingLog,
    generator_from,
    predict_in_chunks,
    torch_threads,
    train_minibatch,
)
from lensnb.probing.scalar_mix import centre_of_gravity, expected_layer
from lensnb.probing.splits import Split, split_by_group

__all__ = [
    "PAPER", "PAPER_LAYERS", "PAPER_TABLE2", "PIPELINE", "TASKS", "Corpus", "MixEdgeFit", "TaskResult",
    "bootstrap_micro_f1", "build_report", "conll_corpus", "extract_corpus", "fit_mix_edge_probe", "gap_corpus",
    "layers_table", "lexical_states", "load_corpora", "micro_f1", "pipeline_order", "probe_all", "probe_settings",
    "probe_task", "ptb_corpus", "reproduce", "scores_table", "semeval_corpus", "ud_corpus", "wsc_corpus",
]  # fmt: skip

PAPER = {
    "title": "What do you learn from context? (edge probing) and BERT Rediscovers the Classical NLP Pipeline",
    "citation": "Tenney, Xia, Chen, Wang, Poliak, McCoy, Kim, Van Durme, Bowman, Das & Pavlick, ICLR 2019; "
    "Tenney, Das & Pavlick, ACL 2019",
    "model": "bert-base-uncased",
    "convention": "lensnb: layer 0 = Hugging Face hidden_states[0] (word + position + token-type embeddings, "
    "LayerNorm), l = output of block l; 'lexical' = layer 0 alone, 'cat' = [top layer; layer 0], 'mix' = scalar "
    "mix of layers 0..L, 'E[layer]' = expected layer of cumulative mixes over 0..l. The papers' BERT layer 0 is "
    "LayerNorm(word embeddings) without positions (reported separately as 'lexical, Tenney's definition'); their "
    "layers run 0..12 (base) / 0..24 (large)",
}
#: The tasks run here, in the order of the tables (the pipeline claim orders them by PIPELINE; Winograd is outside it).
TASKS = ("POS", "constituents", "dependencies", "entities", "relations", "coreference", "Winograd")
#: The ACL paper's pipeline, in order; tasks of one group are not ordered among themselves.
PIPELINE = (("POS",), ("constituents",), ("entities", "dependencies"), ("SRL",), ("coreference", "relations"))
#: ICLR Table 2, BERT-base, micro-F1 x 100 (validation split) [authors' code]: lexical / cat / mix, and the data.
PAPER_TABLE2 = pd.DataFrame(
    [("POS", "OntoNotes", 88.3, 96.8, 96.5), ("constituents", "OntoNotes", 66.9, 83.5, 86.6),
     ("dependencies", "UD EWT", 80.2, 93.4, 95.4), ("entities", "OntoNotes", 89.7, 95.9, 96.0),
     ("SRL", "OntoNotes", 74.0, 89.0, 90.9), ("coreference", "OntoNotes", 75.8, 89.2, 90.5),
     ("SPR1", "SPR1", 76.7, 83.3, 84.0), ("SPR2", "SPR2", 80.4, 82.6, 82.8), ("Winograd", "DPR", 53.9, 54.9, 55.9),
     ("relations", "SemEval-2010", 57.5, 79.5, 83.2)],
    columns=["task", "paper data", "paper lexical", "paper cat", "paper mix"],
).set_index("task")  # fmt: skip
#: Paper macro average over all ten tasks (lexical / cat / mix).
PAPER_MACRO = (69.4, 81.5, 83.1)
#: ACL: expected layer of BERT-base and BERT-large, centre of gravity of BERT-large [authors' code].
PAPER_LAYERS = pd.DataFrame(
    [("POS", 1.76, 3.39, 11.68), ("constituents", 2.38, 3.79, 13.06), ("dependencies", 2.52, 5.69, 13.75),
     ("entities", 2.42, 4.64, 13.16), ("SRL", 2.59, 6.54, 13.63), ("coreference", 3.62, 9.47, 15.80),
     ("SPR1", 4.29, 9.93, 12.72), ("relations", 4.16, 9.40, 12.83)],
    columns=["task", "paper base E[layer]", "paper large E[layer]", "paper large CoG"],
).set_index("task")  # fmt: skip
FRACTIONS = (0.7, 0.1, 0.2)  # train / dev / test, by text
SITE = "resid_post"


# ----------------------------------------------------------------------------- data


@dataclass
class Corpus:
    """Examples read once and the edge-probing tasks on them.

    Attributes
    ----------
    name : str
    source : str
        The dataset and how the examples were chosen.
    examples : list of Example
    tasks : dict of str to ProbingTask
        Task name (one of :data:`TASKS`) -> what is probed (``pool="self_attentive"``,
        multi-hot labels: Tenney's sigmoid outputs and micro-F1).
    """

    name: str
    source: str
    examples: list[Example]
    tasks: dict[str, ProbingTask]


def _sample(examples: list, n: int, seed: int) -> list:
    order = np.random.default_rng(seed).permutation(len(examples))
    return [examples[i] for i in np.sort(order[: min(n, len(examples))])]


def _edge(level: str, name: str) -> ProbingTask:
    make = span_task if level == "span" else span_pair_task
    return make("label", pool="self_attentive", multilabel=True, name=name)


def ud_corpus(settings: RunSettings) -> Corpus:
    """UD EWT sentences: POS (one-word spans labelled with UPOS) and dependency arcs (dependent, head).

    Full mode samples the training file, quick mode the (smaller, faster to read) dev file.
    """
    part = "dev" if settings.quick else "train"
    path = settings.data_file(f"ud_english_ewt/en_ewt-ud-{part}.conllu", f"en_ewt-ud-{part}.conllu")
    examples = []
    for ex in _sample(read_conllu(path), settings.size(500, 12), settings.seed):
        words = range(len(ex.words))
        heads, deprels = ex.labels["head"], ex.labels["deprel"]
        examples.append(Example(
            words=list(ex.words), labels={"upos": list(ex.labels["upos"])}, text=ex.text, meta=dict(ex.meta),
            spans=[Span(i, i + 1, ex.labels["upos"][i]) for i in words],
            span_pairs=[SpanPair(Span(i, i + 1), Span(h, h + 1) if h >= 0 else Span(i, i + 1), deprels[i])
                        for i, h in zip(words, heads)],
        ))  # fmt: skip
    source = f"UD English EWT {part}, {len(examples)} sentences (seeded sample)"
    return Corpus("UD EWT", source, examples, {"POS": _edge("span", "POS"),
                                                "dependencies": _edge("span_pair", "dependencies")})  # fmt: skip


def ptb_corpus(settings: RunSettings) -> Corpus:
    """Penn Treebank sample trees: every non-terminal span labelled (unary chains merged, multi-label).

    Full mode samples all 199 files; quick mode the first 10.
    """
    path = settings.data_file("ptb_sample_nltk/treebank/combined", "ptb_sample_nltk/treebank", "treebank/combined")
    files = sorted(path.rglob("*.mrg"))[: settings.size(10**6, 10)] if path.is_dir() else [path]
    trees = [ex for file in files for ex in read_ptb(file, merge_unary=True)]
    examples = _sample(trees, settings.size(450, 10), settings.seed)
    source = f"Penn Treebank WSJ sample (NLTK), {len(examples)} trees (seeded sample)"
    return Corpus("PTB", source, examples, {"constituents": _edge("span", "constituents")})


def conll_corpus(settings: RunSettings) -> Corpus:
    """CoNLL-2003 sentences with at least one entity (train; dev in quick mode): the type of each gold entity."""
    part = "dev" if settings.quick else "train"
    names = (part, "valid") if part == "dev" else (part,)  # the downloaded zip names its dev split valid.txt
    path = settings.data_file(*(f"conll2003/{sub}{name}.txt" for name in names for sub in ("", "conll2003/")))
    pool = [ex for ex in read_conll2003(path) if ex.spans]
    examples = _sample(pool, settings.size(3600, 25), settings.seed)
    source = f"CoNLL-2003 {part}, {len(examples)} sentences with entities (seeded sample)"
    return Corpus("CoNLL-2003", source, examples, {"entities": _edge("span", "entities")})


def semeval_corpus(settings: RunSettings) -> Corpus:
    """SemEval-2010 Task 8 sentences (train; test in quick mode): the directed relation (19 labels) of (e1, e2)."""
    folder = settings.data_file("semeval2010_task8", "SemEval2010_task8_all_data")
    part = "test" if settings.quick else "train"
    # the nominals as whole white-space tokens, attached punctuation and clitics included: the authors' converter
    examples = _sample(read_semeval2010(folder, part, nominals="tokens"), settings.size(8000, 60), settings.seed)
    source = f"SemEval-2010 Task 8 {part}, {len(examples)} sentences (seeded sample)"
    return Corpus("SemEval-2010", source, examples, {"relations": _edge("span_pair", "relations")})


def gap_corpus(settings: RunSettings) -> Corpus:
    """GAP snippets (the three files pooled; validation only in quick mode): (pronoun, name) pairs, coreferent or not."""
    folder = settings.data_file("gap")
    parts = ("validation",) if settings.quick else ("development", "test", "validation")
    pool = [ex for split in parts for ex in read_gap(folder, split)]
    examples = _sample(pool, settings.size(3000, 30), settings.seed)
    source = f"GAP, {len(examples)} snippets (seeded sample of {' + '.join(parts)})"
    return Corpus("GAP", source, examples, {"coreference": _edge("span_pair", "coreference")})


def wsc_corpus(settings: RunSettings) -> Corpus:
    """WSC273 schemas: (pronoun, candidate) pairs labelled with whether the candidate is the referent."""
    path = settings.data_file("wsc273")
    pool = [ex for ex in read_wsc(path) if ex.meta["wsc273"]]
    examples = _sample(pool, settings.size(273, 40), settings.seed)
    source = f"WSC273, {len(examples)} schemas"
    return Corpus("WSC273", source, examples, {"Winograd": _edge("span_pair", "Winograd")})


def load_corpora(settings: RunSettings) -> list[Corpus]:
    """The six corpora and their seven tasks (sizes: :func:`reproduce`'s docstring)."""
    return [ud_corpus(settings), ptb_corpus(settings), conll_corpus(settings), semeval_corpus(settings),
            gap_corpus(settings), wsc_corpus(settings)]  # fmt: skip


def extract_corpus(model: lensnb.LensModel, corpus: Corpus, settings: RunSettings) -> Activations:
    """Token states of every layer, stored as float16 (the probes read them as float32).

    Words that get no word piece of their own (UD splits ``cannot`` into ``can`` + ``not``)
    drop out of the tasks later, with a count in the results. The forward passes use half
    the cores' threads: on the 2-core machine this was written on, with other work
    running, one thread extracted 600 SemEval sentences in 8-13 s and two in 42 s.
    """
    with warnings.catch_warnings(), torch_threads(max(1, (os.cpu_count() or 2) // 2)):
        warnings.simplefilter("ignore")
        return lensnb.extract(model, corpus.examples, dtype="float16", progress=settings.progress)


def lexical_states(model: lensnb.LensModel, acts: Activations) -> Activations | None:
    """Tenney et al.'s BERT lexical layer: LayerNorm(word embedding) of each token, no position embedding.

    Returns
    -------
    Activations or None
        One layer (numbered 0), shape (1, n_tokens, dim), with ``acts``' tables; None when
        the model has no BERT-style ``embeddings.word_embeddings`` and ``embeddings.LayerNorm``.
    """
    embeddings = getattr(model.base_model, "embeddings", None)
    words, norm = getattr(embeddings, "word_embeddings", None), getattr(embeddings, "LayerNorm", None)
    if words is None or norm is None:
        return None
    ids = torch.from_numpy(np.array(acts.tokens["token_id"].to_numpy(), dtype=np.int64))
    with torch.no_grad():  # ids on the embeddings' device (a model on a GPU), the states back on the CPU
        states = norm(words(ids.to(words.weight.device))).float().cpu().numpy()
    return Activations({SITE: states[None]}, {SITE: (0,)}, acts.table, texts=acts.texts, spans=acts.spans,
                       span_pairs=acts.span_pairs, model=acts.model)  # fmt: skip


# ----------------------------------------------------------------------------- the scalar-mix edge probe


class _MixEdgeModule(torch.nn.Module):
    """h_t = gamma * sum_l softmax(w)_l h_{l,t} (Tenney, Das & Pavlick Eq. 1), then EdgeProbe's network.

    Only the token rows the batch's spans cover are mixed; spans are renumbered into them
    (each span's rows are consecutive and all present, so they stay consecutive).
    """

    def __init__(self, n_layers: int, edge: torch.nn.Module, rate_factor: float = 1.0):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_layers))  # uniform weights at the start, as AllenNLP's
        self.gamma = torch.nn.Parameter(torch.ones(()))
        self.edge = edge
        self.rate_factor = float(rate_factor)  # w = rate_factor * logits: Adam then moves w rate_factor x faster

    def weights(self) -> torch.Tensor:
        """softmax(w), shape (n_layers,)."""
        return torch.softmax(self.rate_factor * self.logits, 0)

    def forward(self, stack: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        starts, ends = spans[:, 0::2], spans[:, 1::2]  # (B, sides)
        lengths = (ends - starts).reshape(-1)
        first = torch.cumsum(lengths, 0) - lengths
        rows = torch.repeat_interleave(starts.reshape(-1) - first, lengths) + torch.arange(int(lengths.sum()))
        rows = torch.unique(rows)  # sorted
        mixed = self.gamma * torch.einsum("l,lnd->nd", self.weights(), stack[:, rows])
        local = torch.searchsorted(rows, starts.contiguous())
        return self.edge(mixed, torch.stack([local, local + (ends - starts)], dim=2).reshape(len(spans), -1))


@dataclass
class MixEdgeFit:
    """A scalar-mix edge probe, trained.

    Attributes
    ----------
    weights : ndarray, shape (n_layers,)
        softmax(w), the mixing weights s_l.
    gamma : float
    n_epochs : int
    module : torch.nn.Module
    log : TrainingLog
        The training loop's record (validations, learning rates, why it stopped).
    """

    weights: np.ndarray
    gamma: float
    n_epochs: int
    module: torch.nn.Module = field(repr=False)
    log: TrainingLog | None = field(default=None, repr=False)

    def predict(self, stack: np.ndarray, spans: np.ndarray) -> np.ndarray:
        """Multi-hot predictions (n_items, n_classes): logits >= 0."""
        tokens, rows = torch.from_numpy(np.asarray(stack, dtype=np.float32)), torch.from_numpy(spans)
        logits = predict_in_chunks(lambda r: self.module(tokens, rows[r]), len(rows), 1024)
        return (logits >= 0).numpy().astype(np.int64)


def fit_mix_edge_probe(
    stack: np.ndarray, y: np.ndarray, spans: np.ndarray, split: Split, *, params: dict[str, Any], seed: int = 0,
    groups: np.ndarray | None = None,
) -> MixEdgeFit:  # fmt: skip
    """Train EdgeProbe's network (self-attentive pooling) on a learned scalar mix of the layers of ``stack``.

    Parameters
    ----------
    stack : array, shape (n_layers, n_tokens, dim)
        Token states of the layers mixed, the rows ``spans`` point into.
    y : array of 0/1, shape (n_items, n_classes)
    spans : int array, shape (n_items, 2) or (n_items, 4)
        ``[start, end)`` token rows of each side.
    split : Split
        Training items, and the dev items for early stopping.
    params : dict
        From :func:`probe_settings` (learning rate, epochs, patience...).
    seed : int
    groups : array, shape (n_items,), optional
        The text of each item: a step then takes ``params["batch_size"]`` texts with all
        their items, as jiant batches sentences; None: that many items.

    Returns
    -------
    MixEdgeFit

    Notes
    -----
    Trained as :class:`lensnb.probing.EdgeProbe` is, after jiant's trainer: Adam with
    AMSGrad, gradients clipped to norm ``params["max_grad_norm"]``, the dev micro-F1
    watched (best weights kept), ``ReduceLROnPlateau`` with ``params["lr_patience"]``,
    a stop at the ``params["patience"] + 1``-th validation without a new best or when
    the rate falls below ``params["min_lr"]``.

    References
    ----------
    Tenney, Das & Pavlick 2019, Eq. 1 (the mix); Tenney et al. 2019, appendix A (the probe).
    The mixing parameters are trained with the probe, at ``params["mix_learning_rate"]``.
    """
    stack = np.asarray(stack, dtype=np.float32)
    y, spans = np.asarray(y), np.asarray(spans, dtype=np.int64)
    if stack.ndim != 3 or y.ndim != 2 or len(y) != len(spans) or spans.shape[1] not in (2, 4):
        raise LensError.bad_argument("stack, y, spans", (stack.shape, y.shape, spans.shape),
                                     "(n_layers, n_tokens, dim), (n_items, n_classes), (n_items, 2 or 4)")  # fmt: skip
    if spans.min() < 0 or spans[:, 1::2].max() > stack.shape[1]:
        raise LensError.bad_argument("spans", spans, f"token rows within the stack's {stack.shape[1]} tokens")
    train_groups = None
    if groups is not None:
        keys = np.asarray(groups)
        if keys.shape != (len(spans),):
            raise LensError.bad_argument("groups", keys, f"one text key per item, shape ({len(spans)},)")
        train_groups = np.unique(keys[split.train], return_inverse=True)[1].reshape(-1)
    generator = generator_from(seed)
    edge = EdgeNetwork(spans.shape[1] // 2, stack.shape[2], 256, 256, y.shape[1], "self_attentive",
                       params["dropout"], generator, torch.float32)  # fmt: skip
    edge.dropout.generator = generator
    module = _MixEdgeModule(len(stack), edge, params["mix_learning_rate"] / params["learning_rate"])
    tokens, rows, target = torch.from_numpy(stack), torch.from_numpy(spans), torch.from_numpy(y.astype(np.float32))
    train, dev = torch.from_numpy(split.train), torch.from_numpy(split.dev)

    def batch_loss(batch: torch.Tensor) -> torch.Tensor:
        items = train[batch]
        return F.binary_cross_entropy_with_logits(module(tokens, rows[items]), target[items])

    def validation_metric() -> float:
        logits = predict_in_chunks(lambda r: module(tokens, rows[dev[r]]), len(dev), 1024)
        return edge_micro_f1(logits, target[dev])

    log = train_minibatch(
        module, batch_loss, len(train), validation_metric=validation_metric if len(dev) else None,
        generator=generator, learning_rate=params["learning_rate"], batch_size=params["batch_size"],
        max_epochs=params["max_epochs"], patience=params["patience"] + 1, monitor="micro_f1", maximize=True,
        lr_patience=params["lr_patience"], lr_factor=params["lr_factor"], lr_threshold=params["lr_threshold"],
        min_lr=params["min_lr"], amsgrad=params["amsgrad"], max_grad_norm=params["max_grad_norm"],
        groups=train_groups,
    )  # fmt: skip
    edge.dropout.generator = None
    weights = module.weights().detach().numpy().astype(np.float64)
    return MixEdgeFit(weights, float(module.gamma.detach()), log.n_epochs, module, log)


# ----------------------------------------------------------------------------- probing one task


def probe_settings(settings: RunSettings) -> dict[str, Any]:
    """The probes' training settings (full / quick mode).

    Tenney et al. (jiant's ``edgeprobe_bert.conf`` and ``defaults.conf``): Adam (AMSGrad),
    learning rate 1e-4, batches of 32 sentences, dropout 0.3, gradients clipped to norm
    5, the rate halved at the 6th validation without improvement of the dev micro-F1
    (``lr_patience`` 5) and training stopped at the 21st (``patience`` 20) or below a rate
    of 1e-6, validating every 100 (SemEval) to 1,000 (OntoNotes) steps on training sets
    of 10^4-10^5 sentences. Here the training sets are a few hundred to a few thousand
    sentences and a validation comes once per epoch (tens to ~100 steps), so the rate is
    1e-3 and the patiences shorter, counted as jiant counts them: ``lr_patience`` 2
    (halved at the 3rd epoch without improvement), ``patience`` 5 (stopped at the 6th),
    at most 30 epochs. Batches are 32 texts with all their items (the probes get each
    item's text), so a UD POS epoch is about 11 steps instead of about 175 with batches of
    32 spans; on the embedded model's layers 1 and 4 the POS test micro-F1 was 91.6 and
    91.1 batching by text, 91.2 and 92.2 batching by span. The scalar-mix weights move 10x
    faster (``mix_learning_rate`` 1e-2): at the probe's rate they stayed near uniform
    within those few thousand steps, and the mix of all layers scored below the best
    single layer (UD POS, embedded model, batches of spans and the dev loss watched:
    90.8 vs 92.7; at 1e-2: 92.6, its weight peaking on layer 2).
    """
    return {
        "learning_rate": 1e-3, "mix_learning_rate": 1e-2, "batch_size": 32, "dropout": 0.3,
        "max_epochs": settings.size(30, 3), "patience": 5, "lr_patience": 2, "lr_factor": 0.5, "lr_threshold": 1e-4,
        "min_lr": 1e-6, "amsgrad": True, "max_grad_norm": 5.0, "bootstrap": settings.size(1000, 50),
    }  # fmt: skip


def _edge_probe(params: dict[str, Any], seed: int) -> EdgeProbe:
    return EdgeProbe(learning_rate=params["learning_rate"], batch_size=params["batch_size"], dropout=params["dropout"],
                     max_epochs=params["max_epochs"], patience=params["patience"], lr_patience=params["lr_patience"],
                     lr_factor=params["lr_factor"], lr_threshold=params["lr_threshold"], min_lr=params["min_lr"],
                     amsgrad=params["amsgrad"], max_grad_norm=params["max_grad_norm"], monitor="micro_f1",
                     random_state=seed)  # fmt: skip


def _fit_predict_edge(X: np.ndarray, y: np.ndarray, spans: np.ndarray, split: Split, params, seed,
                      groups: np.ndarray) -> np.ndarray:  # fmt: skip
    probe = _edge_probe(params, seed).fit(X, y[split.train], spans=spans[split.train], groups=groups[split.train],
                                          eval_set=(X, y[split.dev], spans[split.dev]))  # fmt: skip
    return probe.predict(X, spans=spans[split.test])


def micro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Micro-F1 of multi-hot predictions (0 when there is nothing to find nor predicted)."""
    truth = _multi_hot(truth, "truth")
    predicted = _multi_hot(predicted, "predicted", truth.shape)
    tp = int((truth & predicted).sum())
    denominator = 2 * tp + int(((1 - truth) & predicted).sum()) + int((truth & (1 - predicted)).sum())
    return 2 * tp / denominator if denominator else 0.0


def _multi_hot(values: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``values`` as an int64 array of 0/1 (bools accepted), of ``shape`` when given."""
    array = np.asarray(values)
    expected = "a 0/1 (multi-hot) array" + (f" of shape {shape}" if shape is not None else "")
    if array.dtype.kind not in "biu" or (shape is not None and array.shape != shape):
        raise LensError.bad_argument(name, values, expected)
    array = array.astype(np.int64)
    if array.size and not np.isin(array, (0, 1)).all():
        raise LensError.bad_argument(name, values, expected)
    return array


def bootstrap_micro_f1(
    truth: np.ndarray, predictions: list[np.ndarray], groups: np.ndarray, n: int, seed: int = 0
) -> np.ndarray:
    """Micro-F1 of each model's predictions on ``n`` resamples of the test texts (a cluster bootstrap).

    Parameters
    ----------
    truth : array of 0/1, shape (n_items, n_classes)
    predictions : list of arrays like ``truth``, one per model
    groups : array, shape (n_items,)
        The text of each item; texts are drawn with replacement, the same draws for every model.
    n : int
    seed : int

    Returns
    -------
    ndarray, shape (n, n_models)
    """
    truth = _multi_hot(truth, "truth")
    predictions = [_multi_hot(p, f"predictions[{i}]", truth.shape) for i, p in enumerate(predictions)]
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise LensError.bad_argument("n", n, "a positive number of resamples")
    if np.asarray(groups).shape != truth.shape[:1] or not len(truth):
        raise LensError.bad_argument("groups", groups, f"one text id per item ({len(truth)}, at least one)")
    _, group_of = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(group_of.max()) + 1
    counts = np.random.default_rng([seed, 7]).multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n)
    weights = counts[:, group_of].astype(np.float64)  # (n, n_items)
    out = np.zeros((n, len(predictions)))
    for m, predicted in enumerate(predictions):
        predicted = np.asarray(predicted, dtype=np.int64)
        tp, fp = weights @ (truth & predicted).sum(1), weights @ ((1 - truth) & predicted).sum(1)
        fn = weights @ (truth & (1 - predicted)).sum(1)
        out[:, m] = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(n), where=(2 * tp + fp + fn) > 0)
    return out


@dataclass
class TaskResult:
    """Everything measured on one task.

    Attributes
    ----------
    name, source : str
    n_items, n_classes, n_dropped : int
        Items probed, label classes, items left out (a word without a word piece of its own).
    split_sizes : dict
    per_layer : LayerProfile
        EdgeProbe micro-F1 on each layer alone (``probe_layers``; bootstrap 95% interval
        over test texts in ``details["ci_low"/"ci_high"]``, majority baseline).
    cumulative : LayerProfile
        Micro-F1 of the mix over layers 0..l for each l (l = 0: the layer-0 EdgeProbe);
        ``details``: ``delta``, ``expected_layer``, ``expected_layer_interval`` (95%),
        ``expected_layer_bootstrap``, ``ci_low``/``ci_high``, ``weights`` (n_layers,
        n_layers; row l: the mix over 0..l, NaN beyond).
    mix_weights : LayerProfile
        Mixing weights s_l of the mix over all layers; ``details["centre_of_gravity"]``.
    cat : float
        Micro-F1 of EdgeProbe on [top layer; layer 0].
    lexical_tenney : float or None
        Micro-F1 on LayerNorm(word embeddings) (None: the model has no such layer).
    seconds : float
    """

    name: str
    source: str
    n_items: int
    n_classes: int
    n_dropped: int
    split_sizes: dict[str, int]
    per_layer: LayerProfile
    cumulative: LayerProfile
    mix_weights: LayerProfile
    cat: float
    lexical_tenney: float | None
    seconds: float = 0.0

    @property
    def lexical(self) -> float:
        return float(self.per_layer.values[0])

    @property
    def mix(self) -> float:
        return float(self.cumulative.values[-1])

    @property
    def expected_layer(self) -> float:
        return float(self.cumulative.details["expected_layer"])

    @property
    def interval(self) -> tuple[float, float]:
        low, high = self.cumulative.details["expected_layer_interval"]
        return float(low), float(high)

    @property
    def centre_of_gravity(self) -> float:
        return float(self.mix_weights.details["centre_of_gravity"])


def probe_task(
    acts: Activations, name: str, task: ProbingTask, settings: RunSettings, *, source: str = "",
    lexical: Activations | None = None,
) -> TaskResult:  # fmt: skip
    """Edge probes on one task: every layer, cat, Tenney's lexical layer, cumulative mixes over 0..l.

    One split by text (70/10/20, seeded) serves every probe, so the cumulative scores are
    paired on the same test items for the bootstrap of the expected layer. Runs on one torch
    thread (predictions included): the probes' small batches run faster so, above all when
    other work shares the cores.

    Parameters
    ----------
    acts : Activations
        Token-level states of layers 0..L (:func:`extract_corpus`), with the task's spans or
        span pairs.
    name : str
    task : ProbingTask
        ``pool="self_attentive"``, multi-hot labels (see :class:`Corpus`).
    settings : RunSettings
        Quick or full (:func:`probe_settings`), and the seed of the split and the probes.
    source : str
        The data, for the tables.
    lexical : Activations, optional
        :func:`lexical_states` of ``acts`` (one layer): probed for ``lexical_tenney``.

    Returns
    -------
    TaskResult
        Per-layer profile (n_layers,), cumulative profile (n_layers,) with the expected
        layer and its interval, mixing weights (n_layers,) with their centre of gravity,
        the cat and lexical scores.

    References
    ----------
    Tenney et al. 2019 (ICLR), Table 2 (lexical / cat / mix); Tenney, Das & Pavlick 2019
    (ACL), Eq. 2-3 (centre of gravity, cumulative scoring and the expected layer).
    """
    with torch_threads(1):
        return _probe_task(acts, name, task, settings, source, lexical)


def _probe_task(acts, name, task, settings, source, lexical) -> TaskResult:
    start = time.perf_counter()
    params = probe_settings(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # items whose words have no word piece of their own are counted below
        data = probing_data(acts, task)
        frame = acts.span_pairs if task.level == "span_pair" else acts.spans
        split = split_by_group(data.groups, FRACTIONS, seed=settings.seed)
        per_layer = probe_layers(acts, task, probe=_edge_probe(params, settings.seed), splits=split,
                                 seeds=(settings.seed,), bootstrap=params["bootstrap"], progress=False)  # fmt: skip
        lexical_score = None
        if lexical is not None:
            lex = probing_data(lexical, task)
            lexical_score = micro_f1(data.y[split.test], _fit_predict_edge(lex.features(0), lex.y, lex.spans, split,
                                                                           params, settings.seed, lex.groups))  # fmt: skip
    layers = tuple(data.layers)
    stack = np.stack([data.features(layer) for layer in layers])  # (n_layers, n_rows, dim)
    y, spans, truth = data.y, data.spans, data.y[split.test]
    cat_predictions = _fit_predict_edge(np.concatenate([stack[-1], stack[0]], axis=1), y, spans, split, params,
                                        settings.seed, data.groups)  # fmt: skip
    predictions = [np.asarray(per_layer.details["predictions"][0])]  # l = 0: layer 0 alone
    weights = np.full((len(layers), len(layers)), np.nan)
    weights[0, 0] = 1.0
    fits = []
    for top in range(1, len(layers)):
        fit = fit_mix_edge_probe(
            stack[: top + 1], y, spans, split, params=params, seed=settings.seed, groups=data.groups
        )
        predictions.append(fit.predict(stack[: top + 1], spans[split.test]))
        weights[top, : top + 1] = fit.weights
        fits.append(fit)
    scores = np.array([micro_f1(truth, p) for p in predictions])
    resampled = bootstrap_micro_f1(truth, predictions, data.groups[split.test], params["bootstrap"], settings.seed)
    samples = np.asarray(expected_layer(resampled, layers))
    finite = samples[np.isfinite(samples)]
    interval = np.percentile(finite, [2.5, 97.5]) if len(finite) > 1 else np.array([np.nan, np.nan])
    low, high = np.percentile(resampled, [2.5, 97.5], axis=0)
    cumulative = LayerProfile(
        "cumulative_micro_f1", layers, scores, resampled.std(axis=0, ddof=1), {"task": task.describe(), **params},
        None, data.unit, {"delta": np.r_[np.nan, np.diff(scores)], "expected_layer": expected_layer(scores, layers),
                          "expected_layer_interval": interval, "expected_layer_bootstrap": samples,
                          "ci_low": low, "ci_high": high, "weights": weights},
    )  # fmt: skip
    cog = centre_of_gravity(weights[-1], layers)
    mix_weights = LayerProfile("scalar_mix_weights", layers, weights[-1].copy(), None, {"task": task.describe()},
                               None, data.unit, {"centre_of_gravity": cog, "gamma": fits[-1].gamma if fits else 1.0})  # fmt: skip
    return TaskResult(
        name, source, data.n_items, len(data.classes), int(len(frame) - data.n_items), split.sizes(), per_layer,
        cumulative, mix_weights, micro_f1(truth, cat_predictions), lexical_score, time.perf_counter() - start,
    )  # fmt: skip


def probe_all(model: lensnb.LensModel, corpora: list[Corpus], settings: RunSettings) -> dict[str, TaskResult]:
    """Extract each corpus once and probe each of its tasks (:func:`probe_task`).

    Returns
    -------
    dict of str to TaskResult
        In :data:`TASKS` order (the tasks the corpora hold).
    """
    from tqdm.auto import tqdm

    results: dict[str, TaskResult] = {}
    bar = tqdm(total=sum(len(c.tasks) for c in corpora), desc="edge probing", disable=not settings.progress)
    with bar:
        for corpus in corpora:
            acts = extract_corpus(model, corpus, settings)
            lexical = lexical_states(model, acts)
            for name, task in corpus.tasks.items():
                bar.set_postfix_str(name)
                results[name] = probe_task(acts, name, task, settings, source=corpus.source, lexical=lexical)
                bar.update(1)
            del acts, lexical
    return {name: results[name] for name in TASKS if name in results}


# ----------------------------------------------------------------------------- tables and verdicts


def scores_table(results: dict[str, TaskResult]) -> pd.DataFrame:
    """ICLR Table 2 (BERT-base) beside ours: lexical / cat / mix micro-F1 x 100, one row per task.

    Rows without offline data (SRL, SPR1, SPR2) keep the paper's numbers and empty ours.
    One macro average is over the tasks run here, for the paper and for us alike; the
    last row is the paper's own, over all ten tasks.
    """
    rows = []
    for task in PAPER_TABLE2.index:
        found = results.get(task)
        rows.append({
            "ours lexical": np.nan if found is None else 100 * found.lexical,
            "ours cat": np.nan if found is None else 100 * found.cat,
            "ours mix": np.nan if found is None else 100 * found.mix,
            "ours lexical (Tenney's def.)": np.nan if found is None or found.lexical_tenney is None
            else 100 * found.lexical_tenney,
            "ours best layer": np.nan if found is None else 100 * float(np.max(found.per_layer.values)),
            "ours majority": np.nan if found is None else 100 * float(found.per_layer.details["majority_baseline"]),
            "ours data": "not run (no offline data)" if found is None else found.source.split(",")[0],
        })  # fmt: skip
    table = pd.concat([PAPER_TABLE2, pd.DataFrame(rows, index=PAPER_TABLE2.index)], axis=1)
    run = [t for t in PAPER_TABLE2.index if t in results]
    if run:
        macro = table.loc[run].mean(numeric_only=True)
        macro_row = pd.DataFrame([{**macro.to_dict(), "paper data": f"mean of the {len(run)} tasks run here",
                                   "ours data": ""}], index=["macro average (tasks run here)"])  # fmt: skip
        table = pd.concat([table, macro_row])
    paper_macro = pd.DataFrame([dict(zip(["paper lexical", "paper cat", "paper mix"], PAPER_MACRO),
                                     **{"paper data": "mean of all 10 tasks", "ours data": ""})],
                               index=["macro average (paper, all tasks)"])  # fmt: skip
    table = pd.concat([table, paper_macro])
    table.index.name = "task"
    return table


def layers_table(results: dict[str, TaskResult]) -> pd.DataFrame:
    """ACL expected layers and centres of gravity beside ours, in absolute layers and as a fraction of depth."""
    rows = {}
    for task in [t for group in PIPELINE for t in group] + ["SPR1", "Winograd"]:
        paper = PAPER_LAYERS.loc[task] if task in PAPER_LAYERS.index else None
        found = results.get(task)
        depth = None if found is None else max(found.cumulative.layers)
        rows[task] = {
            "paper base E[layer]": np.nan if paper is None else paper["paper base E[layer]"],
            "paper base E/12": np.nan if paper is None else paper["paper base E[layer]"] / 12,
            "paper large E[layer]": np.nan if paper is None else paper["paper large E[layer]"],
            "paper large CoG": np.nan if paper is None else paper["paper large CoG"],
            "ours E[layer]": np.nan if found is None else found.expected_layer,
            "ours 95% low": np.nan if found is None else found.interval[0],
            "ours 95% high": np.nan if found is None else found.interval[1],
            "ours E/L": np.nan if found is None else found.expected_layer / depth,
            "ours CoG": np.nan if found is None else found.centre_of_gravity,
            "ours CoG/L": np.nan if found is None else found.centre_of_gravity / depth,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "task"
    return table


def pipeline_order(results: dict[str, TaskResult]) -> dict[str, Any]:
    """Does the expected layer follow the pipeline POS < constituents < entities/dependencies < coreference/relations?

    Each step compares adjacent groups of :data:`PIPELINE` that were run (SRL is not):
    ``"holds"`` when every task of the earlier group has a lower expected layer than every
    task of the later one and the 95% intervals are apart, ``"tie"`` when the point
    estimates are in order but intervals overlap, ``"reversed"`` otherwise. ``P(earlier <
    later)`` is the share of pairs of bootstrap draws (independent test sets) in order.

    Returns
    -------
    dict
        ``steps`` (a DataFrame, one row per step), ``order_holds`` (every step in order by
        point estimate), ``separated`` (every step holds beyond the intervals), ``ranking``
        (the tasks run, by expected layer).
    """
    groups = [[t for t in group if t in results] for group in PIPELINE]
    groups = [g for g in groups if g]
    rows = []
    for earlier, later in zip(groups, groups[1:]):
        high_early = max(earlier, key=lambda t: results[t].expected_layer)
        low_late = min(later, key=lambda t: results[t].expected_layer)
        a, b = results[high_early], results[low_late]
        in_order = a.expected_layer < b.expected_layer
        apart = a.interval[1] < b.interval[0]
        draws_a = a.cumulative.details["expected_layer_bootstrap"]
        draws_b = b.cumulative.details["expected_layer_bootstrap"]
        probability = float(np.mean(draws_a[:, None] < draws_b[None, :]))
        rows.append({
            "earlier": " / ".join(earlier), "later": " / ".join(later),
            "compared": f"{high_early} {a.expected_layer:.2f} [{a.interval[0]:.2f}, {a.interval[1]:.2f}] vs "
                        f"{low_late} {b.expected_layer:.2f} [{b.interval[0]:.2f}, {b.interval[1]:.2f}]",
            "P(earlier < later)": probability,
            "verdict": "holds" if in_order and apart else "tie" if in_order else "reversed",
        })  # fmt: skip
    steps = pd.DataFrame(rows, columns=["earlier", "later", "compared", "P(earlier < later)", "verdict"])
    ranking = sorted(results, key=lambda t: results[t].expected_layer)
    return {"steps": steps, "order_holds": bool(len(steps)) and bool((steps["verdict"] != "reversed").all()),
            "separated": bool(len(steps)) and bool((steps["verdict"] == "holds").all()), "ranking": ranking}  # fmt: skip


def build_report(chosen: ModelChoice, settings: RunSettings, results: dict[str, TaskResult]) -> PaperReport:
    """The report: paper vs ours (Table 2; expected layers and centres of gravity), curves, claims."""
    if not results:
        raise LensError.bad_argument("results", results, "the results of at least one task (probe_all)")
    params = probe_settings(settings)
    data = "; ".join(f"{name}: {r.source.split(',')[0]}, {r.n_items} items, {r.n_classes} classes "
                     f"(train/dev/test {r.split_sizes['train']}/{r.split_sizes['dev']}/{r.split_sizes['test']})"
                     for name, r in results.items())  # fmt: skip
    report = PaperReport("tenney", PAPER["title"], PAPER["citation"], model=chosen.note, data=data,
                         convention=PAPER["convention"], settings={**settings.describe(), **params})  # fmt: skip
    report.add_table("paper vs ours: ICLR Table 2, BERT-base (micro-F1 x 100)", scores_table(results))
    report.add_table("paper vs ours: ACL expected layer and centre of gravity", layers_table(results))
    order = pipeline_order(results)
    report.add_table("the pipeline order, step by step (expected layer, 95% bootstrap intervals)", order["steps"])
    layers = list(next(iter(results.values())).per_layer.layers)
    report.add_table("per layer: EdgeProbe micro-F1 x 100 on each layer alone", pd.DataFrame(
        {name: 100 * np.asarray(r.per_layer.values) for name, r in results.items()},
        index=pd.Index(layers, name="layer")))  # fmt: skip
    report.add_table("cumulative: micro-F1 x 100 of the mix over layers 0..l", pd.DataFrame(
        {name: 100 * np.asarray(r.cumulative.values) for name, r in results.items()},
        index=pd.Index(layers, name="layers 0..l")))  # fmt: skip
    report.add_table("mixing weights of the mix over all layers", pd.DataFrame(
        {name: np.asarray(r.mix_weights.values) for name, r in results.items()},
        index=pd.Index(layers, name="layer")))  # fmt: skip
    report.curves += [
        Curve("EdgeProbe micro-F1 on each layer alone",
              {n: (layers, r.per_layer.values, r.per_layer.errors) for n, r in results.items()}, y_label="micro-F1"),
        Curve("cumulative mix over layers 0..l",
              {n: (layers, r.cumulative.values, r.cumulative.errors) for n, r in results.items()}, y_label="micro-F1"),
        Curve("scalar-mix weights (all layers)", {n: (layers, r.mix_weights.values, None) for n, r in results.items()},
              y_label="weight"),
    ]  # fmt: skip
    _claims(report, results, order)
    report.notes += [
        "SRL, SPR1 and SPR2 have no offline data (OntoNotes and the SPR sets are not here); their rows keep the "
        "paper's numbers only. OntoNotes POS, constituents, entities and coreference are replaced by UD EWT, the PTB "
        "sample, CoNLL-2003 and GAP; Winograd (DPR in the paper) by WSC273.",
        f"Probes: EdgeProbe (projection 256 per side, self-attentive pooling, MLP 256, dropout 0.3, sigmoid outputs, "
        f"micro-F1), Adam, batch 32, learning rate {params['learning_rate']:g} (paper 1e-4: far smaller training sets "
        f"here), at most {params['max_epochs']} epochs, halve the rate after {params['lr_patience']} epochs without a "
        f"lower dev loss, stop after {params['patience']}. The scalar mix (uniform start, gamma = 1) mixes the token "
        f"states before the projection, as in the authors' code, and is trained with the probe, its weights at "
        f"{params['mix_learning_rate']:g} (at the probe's rate they stayed near uniform in these few thousand steps).",
        "One split by text (70% train / 10% dev for early stopping / 20% test) per task, shared by every probe of the "
        f"task; scores are on the test part (the paper's: the validation split). Intervals: {params['bootstrap']} "
        "bootstrap resamples of the test texts (95% percentile); they cover the test sampling, not training seeds.",
        "Cumulative scoring: score(0..0) is the layer-0 EdgeProbe; for l >= 1 a scalar mix over layers 0..l feeds "
        "the same probe. Delta_l = score(0..l) - score(0..l-1) may be negative; E[layer] = sum_l l Delta_l / "
        "sum_l Delta_l (ACL Eq. 3). CoG = sum_l l s_l of the mix over all layers (ACL Eq. 2).",
        "lensnb's layer 0 contains position embeddings; the papers' lexical layer does not. Column 'lexical "
        "(Tenney's def.)' probes LayerNorm(word embeddings) alone, as the authors' code did for BERT.",
        "The paper's BERT-base has 12 layers, the embedded model 6: compare E/L and CoG/L (fraction of the depth), "
        "and orderings, not absolute layer numbers.",
    ] + [f"{r.name}: {r.n_dropped} item(s) left out (a word with no word piece of its own)"
         for r in results.values() if r.n_dropped] + [
        f"{r.name}: no probe beats the majority baseline by 2 points (best layer {100 * max(r.per_layer.values):.1f}, "
        f"mix {100 * r.mix:.1f}, majority {100 * r.per_layer.details['majority_baseline']:.1f}): its expected layer "
        "and centre of gravity describe noise" for r in results.values()
        if max(max(r.per_layer.values), r.mix, r.cat) < r.per_layer.details["majority_baseline"] + 0.02
    ]  # fmt: skip
    return report


def _claims(report: PaperReport, results: dict[str, TaskResult], order: dict[str, Any]) -> None:
    majority = {n: float(r.per_layer.details["majority_baseline"]) for n, r in results.items()}
    gains = {n: 100 * (r.mix - r.lexical) for n, r in results.items()}
    # scores below the majority baseline carry no information beyond the label prior: count them as the baseline
    above = {n: 100 * (max(r.mix, majority[n]) - max(r.lexical, majority[n])) for n, r in results.items()}
    chance = {n for n, r in results.items() if max(r.mix, r.lexical) <= majority[n]}
    listed = ", ".join(f"{n} {g:+.1f}" + (f" (both below the majority baseline {100 * majority[n]:.1f})"
                                          if n in chance else "") for n, g in gains.items())  # fmt: skip
    report.add_claim("A scalar mix of all layers beats the lexical layer on every task (ICLR Table 2)",
                     all(g > 0 for g in gains.values()), f"mix - lexical, micro-F1 points: {listed}")  # fmt: skip
    syntax = [t for t in ("constituents", "dependencies") if t in gains]
    semantics = [t for t in ("Winograd",) if t in gains]
    if syntax and semantics:
        holds = min(above[t] for t in syntax) > max(above[t] for t in semantics)
        evidence = (f"gain of the mix over the lexical layer, scores below the majority baseline counted as the "
                    f"baseline: {', '.join(f'{t} {above[t]:+.1f}' for t in syntax)} vs "
                    f"{', '.join(f'{t} {above[t]:+.1f} (raw {gains[t]:+.1f})' for t in semantics)}; paper: "
                    "constituents +19.7, dependencies +15.2, SRL +16.9 vs SPR1 +7.3, SPR2 +2.4, Winograd +2.0. "
                    f"SRL and SPR not run; Winograd here is WSC273 ({results['Winograd'].n_items} pairs probed)")  # fmt: skip
    else:
        holds, evidence = None, "needs constituents or dependencies, and Winograd"
    report.add_claim("Context helps syntactic tasks far more than semantic ones (ICLR)", holds, evidence)
    steps = "; ".join(f"{s['earlier']} < {s['later']}: {s['verdict']} ({s['compared']}, P = {s['P(earlier < later)']:.2f})"
                      for _, s in order["steps"].iterrows())  # fmt: skip
    report.add_claim("Expected layers follow the pipeline POS < constituents < entities/dependencies < "
                     "coreference/relations (ACL; SRL not run)", order["order_holds"] if len(order["steps"]) else None,
                     f"{steps}. By expected layer: {' < '.join(order['ranking'])}")  # fmt: skip
    ties = [f"{s['earlier']} / {s['later']}" for _, s in order["steps"].iterrows() if s["verdict"] != "holds"]
    report.add_claim("... and the order is resolved beyond the 95% bootstrap intervals",
                     order["separated"] if len(order["steps"]) else None,
                     "every step apart" if not ties else f"not resolved at: {'; '.join(ties)}")  # fmt: skip
    acl = {n: r for n, r in results.items() if n in PAPER_LAYERS.index}  # the ACL paper's tasks (not Winograd)
    cogs = {n: r.centre_of_gravity for n, r in acl.items()}
    if "POS" in cogs and "coreference" in cogs:
        holds = min(cogs, key=cogs.get) == "POS" and max(cogs, key=cogs.get) == "coreference"
        report.add_claim("The mixing weights' centre of gravity is lowest for POS and highest for coreference "
                         "(ACL, BERT-large: 11.68 and 15.80)", holds,
                         ", ".join(f"{n} {c:.2f}" for n, c in sorted(cogs.items(), key=lambda kv: kv[1])))  # fmt: skip
    if acl:
        report.add_claim("The expected layer lies below the centre of gravity on every task (ACL: the information "
                         "appears early, the mix draws on later layers)",
                         all(r.expected_layer < r.centre_of_gravity for r in acl.values()),
                         ", ".join(f"{n} {r.expected_layer:.2f} vs {r.centre_of_gravity:.2f}" for n, r in acl.items())
                         + " (E vs CoG; the ACL paper's tasks)")  # fmt: skip


@checks_flags
def reproduce(
    *, model: str | None = "auto", quick: bool | None = None, data_dir: Any = None, seed: int = 0,
    progress: bool = True,
) -> PaperReport:  # fmt: skip
    """The whole reproduction: read the corpora, extract, edge-probe every task, report.

    Sizes (full / quick): UD EWT 500 / 12 sentences (POS and dependencies), PTB 450 / 10
    trees, CoNLL-2003 3,600 / 25 sentences, SemEval 8,000 / 60 sentences, GAP 3,000 / 30
    snippets, WSC273 273 / 40 schemas; probes at most 30 / 3 epochs; 1,000 / 50 bootstrap
    resamples. Quick mode reads smaller files (UD and CoNLL dev, SemEval test, GAP
    validation, the first 10 PTB files).
    """
    settings = run_settings(quick=quick, data_dir=data_dir, seed=seed, progress=progress)
    chosen = choose_model(model, PAPER["model"])
    results = probe_all(chosen.model, load_corpora(settings), settings)
    return build_report(chosen, settings, results)
