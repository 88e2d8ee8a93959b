"""van Aken et al. 2019: how a BERT fine-tuned for question answering reads a question, layer by layer.

Three views of the same models, the pre-trained one and the one fine-tuned for SQuAD:

1. **The hidden states of one QA example**, projected to 2-D per layer and coloured by
   role (question, supporting fact, gold answer, predicted answer, other), with two
   measures that put the paper's four phases into numbers over many examples: how much
   closer the question's tokens are to the supporting fact's than to the rest of the
   context (the "matching" phase), and how much the answer's tokens stand apart from
   the rest of the context (the "answer extraction" phase).
2. **Probing tasks per layer** (linear probes on mean-pooled spans): NEL (entity type of
   a span; CoNLL-2003 stands in for OntoNotes), COREF (GAP: does the pronoun refer to
   the name?), REL (SemEval-2010 Task 8 relation), QUES (question type; see
   :func:`question_type`) and SUP (is this context sentence a supporting fact?, on the
   full SQuAD input), for both models.
3. **A wrongly answered example**, layer by layer, beside the correctly answered ones.

Models: with the hub, a BERT-base fine-tuned on SQuAD 1.1 and the pre-trained BERT-base.
Offline: the embedded all-MiniLM-L6-v2 and the same model with a span head trained here
on the training articles of SQuAD dev (split by article; the train split is not
available offline), with :func:`lensnb.question_answering.fine_tune_qa`.

Where this differs from the authors' code (bvanaken/explain-BERT-QA):

- **The hidden states are read from one segment**, ``[CLS] question context [SEP]``
  (token type 0 throughout), the input of every probing task here; the authors'
  visualisation reads them from the prediction pass on the pair input ``[CLS] question
  [SEP] context [SEP]`` (types 0 and 1). On the pre-trained MiniLM a context token's
  state under the two has a mean cosine of 0.965-0.988 per layer, and the matching
  measure is up to 23% lower on the pair input in layers 4-5.
- **Colours**: a token of the gold answer shows as ``answer`` even when the model
  predicted it; ``predicted answer`` marks the predicted tokens outside the gold answer.
  The authors colour the prediction over everything and have no gold-answer colour.
- **SUP** keeps the paragraphs of a single sentence (2.5% of SQuAD dev questions, one
  positive pair each); the authors' processor skips them.
- **QUES** has 5 coarse classes on masked SQuAD questions (:func:`question_type`); the
  authors probed TREC's fine-grained labels (about 50) on TREC's questions.
- **REL** uses the 19 directed relations, as jiant's converter (which the authors ran)
  keeps them; **SQuAD scores** take the best over every gold answer, as the official
  script (:func:`lensnb.question_answering.squad_scores`).

References
----------
van Aken, Winter, Löser & Gers 2019, "How Does BERT Answer Questions? A Layer-Wise
Analysis of Transformer Representations", CIKM.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import lensnb
from lensnb.activations import Activations
from lensnb.checkpoint import model_identity
from lensnb.data import read_conll2003, read_gap, read_semeval2010, read_squad
from lensnb.errors import LensError
from lensnb.examples import Example
from lensnb.fine_tune import OPTIMIZER, data_digest
from lensnb.flags import checks_flags
from lensnb.papers.report import Curve, PaperReport
from lensnb.papers.settings import RunSettings, check_instance, choose_model, run_settings
from lensnb.papers.trained_models import TrainedModelCache
from lensnb.question_answering import Answer, QAItem, answer_questions, fine_tune_qa, qa_items, squad_scores

__all__ = [
    "PAPER", "QAModels", "SquadSplit", "build_report", "load_squad", "phase_measures", "probe_models",
    "probing_tasks", "qa_models", "question_type", "reproduce", "role_view", "wrong_answers",
]  # fmt: skip

PAPER = {
    "title": "How Does BERT Answer Questions? A Layer-Wise Analysis of Transformer Representations",
    "citation": "van Aken, Winter, Löser & Gers, CIKM 2019",
    "model": "csarron/bert-base-uncased-squad-v1",
    "extra_models": ("bert-base-uncased",),
    "convention": "layer 0 = embeddings, l = output of block l (Hugging Face hidden_states); the paper's phases "
    "for BERT-base are given in its layers 0-12 on the same convention",
}
#: The four phases the authors describe for BERT-base (from their demo; papers.md).
PAPER_PHASES = pd.DataFrame(
    {
        "BERT-base layers": ["0-3", "3-6", "6-9", "9-12"],
        "relative depth": ["0.00-0.25", "0.25-0.50", "0.50-0.75", "0.75-1.00"],
        "what the tokens do": ["topical / word clusters", "entity-relation clusters",
                               "supporting facts matched with the question", "answer extraction"],
    },
    index=pd.Index(["1", "2", "3", "4"], name="phase"),
)  # fmt: skip
ROLE_NAMES = ("question", "supporting", "answer", "predicted answer", "other")
MAX_TOKENS = 384


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class SquadSplit:
    """SQuAD v1.1 dev split by article: QA items to train a head on, examples and items to test.

    ``held_out`` holds every (short) example of the held-out articles, in a seeded order
    whose first ``len(test)`` are the test examples: the probing tasks draw their SQuAD
    questions and sentences from it, never from the articles the offline QA head trains on.
    """

    train: list[QAItem]
    test_examples: list[Example]
    test: list[QAItem]
    held_out: list[Example] = field(default_factory=list)


def load_squad(settings: RunSettings) -> SquadSplit:
    """SQuAD dev questions, split by article (80% of the articles to train, seeded), short contexts only."""
    examples = read_squad(settings.data_file("squad_v1.1/dev-v1.1.json", "squad_v1.1"))
    titles = sorted({ex.meta["title"] for ex in examples})
    order = np.random.default_rng(settings.seed).permutation(len(titles))
    train_titles = {titles[i] for i in order[: int(0.8 * len(titles))]}
    short = [ex for ex in examples if len(ex.words) <= 200]  # one window of 384 tokens holds them whole
    train_examples = [ex for ex in short if ex.meta["title"] in train_titles]
    test_examples = [ex for ex in short if ex.meta["title"] not in train_titles]
    rng = np.random.default_rng(settings.seed + 1)
    train_examples = [train_examples[i] for i in rng.permutation(len(train_examples))[: settings.size(2000, 32)]]
    held_out = [test_examples[i] for i in rng.permutation(len(test_examples))]
    test_examples = held_out[: settings.size(300, 12)]
    return SquadSplit(qa_items(train_examples), test_examples, qa_items(test_examples), held_out)


# ----------------------------------------------------------------------------- models
@dataclass(frozen=True)
class QAModels:
    """The pre-trained model and the one fine-tuned for QA (a span head), with how they were obtained."""

    pretrained: lensnb.LensModel
    finetuned: lensnb.LensModel
    names: tuple[str, str]
    note: str


def qa_models(
    choice: str | None, train: list[QAItem], settings: RunSettings, cache_dir: str | Path | None = None
) -> QAModels:
    """The paper's pair when it can be loaded, else a pre-trained model and a QA head trained on it here.

    ``choice``: "auto" (the paper's BERT-base and its SQuAD fine-tuned copy, else the
    embedded MiniLM), "embedded", the paper's own model name, or another model's name or
    folder. Another model is taken as the *pre-trained* side: a QA head is trained on it
    here, as on the embedded model, so that the comparison is always between two
    different sets of weights. (Loading the named model twice, once with a QA head, would
    compare a model with itself wherever the checkpoint already carries a trained head.)

    The head (and body) train for 3 epochs on ``train`` (learning rate 1e-4 with warm-up
    and linear decay, batch 16, windows of 384 tokens; quick mode: 1 epoch at 5e-5). On
    1,000 of these questions, 1 epoch at 1e-4 reached F1 0.14 on held-out articles, 3
    epochs 0.40 (measured when weight decay still reached biases and norm weights too: it
    moved them by at most 1e-6 of their value a step); the paper's BERT-base, trained on
    all of SQuAD train, reached 88.
    The result is saved under ``cache_dir`` (default ``~/.cache/lensnb/heads``, see
    :class:`~lensnb.papers.trained_models.TrainedModelCache`), keyed by the base model, the
    settings and the data, and reused.
    """
    if choice in (None, "auto", "embedded", PAPER["model"]):
        chosen = choose_model(choice, PAPER["model"], task="question-answering")
        if chosen.is_paper_model:
            base = lensnb.load_model(PAPER["extra_models"][0])
            return QAModels(base, chosen.model, ("pre-trained", "fine-tuned on SQuAD"), chosen.note)
        base_name, note = None, chosen.note
    elif isinstance(choice, str) and choice:
        base_name, note = choice, f"{choice} (chosen, as the pre-trained model)"
    else:
        raise LensError.bad_argument("model", choice, "'auto', 'embedded', or a model name or folder")
    if not train:
        raise LensError.bad_argument("train", train, "at least one SQuAD question to train the QA head on")
    options = dict(epochs=settings.size(3, 1), learning_rate=settings.size(1e-4, 5e-5), batch_size=settings.size(16, 8),
                   max_length=settings.size(384, 256), stride=settings.size(128, 64))  # fmt: skip
    base = lensnb.load_model(base_name)
    options["max_length"] = min(options["max_length"], base.max_length or options["max_length"])
    options["stride"] = min(options["stride"], options["max_length"] // 2 - 1)
    spec = {**options, "model": base.name, "revision": base.revision, "seed": settings.seed, "optimizer": OPTIMIZER,
            "weights": model_identity(base.model, base.name)["weights"],
            "data": data_digest([(i.question, i.context, i.answer, i.answer_start) for i in train])}  # fmt: skip
    cache = TrainedModelCache("van_aken-qa-head", spec, root=cache_dir)
    found = cache.load(task="question-answering")
    if found is not None:
        tuned, how = found[0], f"reused from {cache.folder}"
    else:
        tuned = lensnb.load_model(base_name, task="question-answering")
        report = fine_tune_qa(tuned, train, seed=settings.seed, progress=settings.progress,
                              checkpoint=cache.checkpoint("qa"), **options)  # fmt: skip
        cache.save(
            tuned, steps=report.steps, final_loss=float(report.losses[-10:].mean()) if len(report.losses) else None
        )
        how = f"trained here and saved in {cache.folder}"
    return QAModels(
        base, tuned, ("pre-trained", "QA head"),
        f"{note}; a span head trained on it for {options['epochs']} epoch(s) at lr {options['learning_rate']:g} "
        f"on {len(train)} SQuAD dev questions of the training articles ({how})",
    )  # fmt: skip


# ----------------------------------------------------------------------------- the example view
def _extract(model: lensnb.LensModel, examples: list[Example], settings: RunSettings) -> Activations:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQuAD words the tokenizer merges are reported, not needed here
        return lensnb.extract(model, examples, label_piece="all", max_length=_limit(model), overflow="truncate",
                              progress=settings.progress)  # fmt: skip


def _limit(model: lensnb.LensModel) -> int:
    """The QA window, or the model's own limit when it is shorter."""
    return min(MAX_TOKENS, model.max_length or MAX_TOKENS)


def _roles(acts: Activations, examples: list[Example], answers: list[Answer] | None) -> np.ndarray:
    """Each token's role; a token of the model's answer becomes ``"predicted answer"`` unless it is
    one of the gold answer's (``"answer"`` wins: see the module's notes on the authors' colours)."""
    table = acts.tokens
    roles = table["role"].fillna("other").astype(object).to_numpy().copy()
    if answers is not None:
        for k, (example, answer) in enumerate(zip(examples, answers)):
            if not answer.text:
                continue
            offset = len(example.text) - len(qa_items([example])[0].context)
            rows = np.flatnonzero(table["text_id"].to_numpy() == k)
            starts, ends = table["char_start"].to_numpy()[rows], table["char_end"].to_numpy()[rows]
            inside = (starts >= offset + answer.start) & (ends <= offset + answer.end) & (ends > starts)
            for row in rows[inside]:
                roles[row] = "answer" if roles[row] == "answer" else "predicted answer"
    return roles


def role_view(model: lensnb.LensModel, example: Example, answer: Answer | None, settings: RunSettings) -> Activations:
    """One QA example's token states (special tokens dropped) with a ``role`` column for colouring."""
    acts = _extract(model, [example], settings)
    acts.table["role"] = _roles(acts, [example], None if answer is None else [answer])
    return acts.drop_special()


def phase_measures(model: lensnb.LensModel, examples: list[Example], settings: RunSettings) -> pd.DataFrame:
    """Per layer, over QA examples: question-to-supporting-fact matching and answer separation.

    ``matching``: mean cosine similarity of question tokens with supporting-fact tokens
    minus that with the other context tokens. ``answer separation``: mean cosine
    similarity among the answer's tokens minus that between answer tokens and the other
    context tokens. Both averaged over the examples that have the roles involved.

    Returns
    -------
    DataFrame
        Index: layer; columns ``matching`` and ``answer separation`` (with ``_sd`` over examples).
    """
    acts = _extract(model, examples, settings)
    table = acts.tokens
    roles = table["role"].fillna("other").to_numpy()
    special = table["special"].to_numpy(dtype=bool)
    text_ids = table["text_id"].to_numpy()
    values = np.asarray(acts.values, dtype=np.float64)
    values = values / np.maximum(np.linalg.norm(values, axis=-1, keepdims=True), 1e-12)
    matching = np.full((len(acts.layers), len(examples)), np.nan)
    separation = np.full_like(matching, np.nan)
    for k in range(len(examples)):
        rows = np.flatnonzero((text_ids == k) & ~special)
        role = roles[rows]
        q, sup, ans, other = (rows[role == r] for r in ("question", "supporting", "answer", "other"))
        for position in range(len(acts.layers)):
            v = values[position]
            if len(q) and len(sup) and len(other):
                matching[position, k] = (v[q] @ v[sup].T).mean() - (v[q] @ v[other].T).mean()
            if len(ans) > 1 and len(other):
                within = v[ans] @ v[ans].T
                pairs = within[~np.eye(len(ans), dtype=bool)].mean()
                separation[position, k] = pairs - (v[ans] @ v[other].T).mean()
    return pd.DataFrame({
        "matching": np.nanmean(matching, axis=1), "matching_sd": np.nanstd(matching, axis=1),
        "answer separation": np.nanmean(separation, axis=1), "answer separation_sd": np.nanstd(separation, axis=1),
    }, index=pd.Index(acts.layers, name="layer"))  # fmt: skip


def wrong_answers(answers: list[Answer], items: list[QAItem]) -> np.ndarray:
    """Indices of the items answered with no word of the gold answer (token F1 = 0)."""
    scores = squad_scores(answers, items)["per_item"]["f1"]
    return np.flatnonzero(scores == 0)


# ----------------------------------------------------------------------------- probing
_WH = [  # (pattern at the start of the question, TREC-style coarse class)
    (r"^(how (many|much|long|old|far|large|big|tall|often))\b", "NUM"),
    (r"^(when|what year|which year|what date|what time|what percentage)\b", "NUM"),
    (r"^(who|whom|whose)\b", "HUM"),
    (r"^where\b", "LOC"),
    (r"^(why|how)\b", "DESC"),
    (r"^(what|which)\b", "ENTY"),
]


def question_type(question: str) -> tuple[str, str] | None:
    """The question's coarse TREC-style class from its wh-phrase, and the question with that phrase masked.

    The class is read off the wh-phrase (who -> HUM, where -> LOC, when / how many -> NUM,
    why / how -> DESC, what / which -> ENTY); the phrase is then replaced by ``[MASK]``,
    so a probe has to find the type in the rest of the question (with the phrase in, any
    layer reads it off the first token). None for questions with no leading wh-phrase.
    """
    check_instance(question, str, "question", "a question (str)")
    lowered = question.strip().lower()
    for pattern, label in _WH:
        found = re.match(pattern, lowered)
        if found:
            return label, "[MASK]" + question.strip()[found.end() :]
    return None


def probing_tasks(settings: RunSettings, squad: SquadSplit) -> dict[str, tuple[list[Example], Any]]:
    """The five probing tasks: examples and the lensnb task to probe them with."""
    from lensnb.probing.features import span_pair_task, span_task, text_task

    n = settings.size(1000, 60)
    conll = [
        ex
        for ex in read_conll2003(
            settings.data_file("conll2003/train.txt", "conll2003/conll2003/train.txt", "conll2003/train")
        )
        if ex.spans
    ][:n]
    gap = read_gap(settings.data_file("gap/gap-development.tsv"))[: n // 2]
    # the directed relations, as jiant's converter keeps the label line (19 classes; the authors probed with jiant)
    semeval = read_semeval2010(settings.data_file("semeval2010_task8"), "train", directed=True)[:n]
    held_out = squad.held_out or squad.test_examples
    questions = []
    for example in held_out:  # articles the offline QA head never saw
        typed = question_type(example.meta["question"])
        if typed is not None:
            questions.append(Example(words=typed[1].split(), meta={"ques": typed[0]}))
    questions = questions[:n]
    sup = list(held_out[: len(squad.test_examples) + settings.size(200, 8)])
    return {
        "NEL": (conll, span_task("label", pool="mean")),
        "COREF": (gap, span_pair_task("label", pool="mean")),
        "REL": (semeval, span_pair_task("label", pool="mean")),
        "QUES": (questions, text_task("ques", pool="mean")),
        "SUP": (sup, span_pair_task("label", pool="mean")),
    }


def probe_models(models: QAModels, tasks: dict[str, tuple[list[Example], Any]], settings: RunSettings) -> dict:
    """A linear probe per layer, task and model (split 75/15/10 by text, 3 seeds from the run's seed).

    Returns
    -------
    dict of (task, model name) to LayerProfile
    """
    from lensnb.probing.sweep import probe_layers

    seeds = tuple((settings.seed + k) % 2**32 for k in range(3))
    results = {}
    for name, (examples, task) in tasks.items():
        for label, model in zip(models.names, (models.pretrained, models.finetuned)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                acts = lensnb.extract(model, examples, progress=False, max_length=_limit(model), overflow="truncate")
                results[name, label] = probe_layers(acts, task, splits=(0.75, 0.15, 0.10), seeds=seeds,
                                                    progress=settings.progress)  # fmt: skip
    return results


def probing_table(results: dict, names: tuple[str, str]) -> pd.DataFrame:
    """Accuracy per task and layer for both models, and the change fine-tuning made."""
    rows = {}
    for (task, model), profile in results.items():
        for layer, value in zip(profile.layers, profile.values):
            rows.setdefault((task, layer), {})[model] = value
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["task", "layer"])
    frame["change"] = frame[names[1]] - frame[names[0]]
    return frame


# ----------------------------------------------------------------------------- report
def build_report(
    choice: str | None, settings: RunSettings, models: QAModels, squad: SquadSplit, answers: list[Answer],
    phases: dict[str, pd.DataFrame], probes: dict, wrong: dict[str, Any],
) -> PaperReport:  # fmt: skip
    """The report: QA scores, the phases in numbers, the probing tables, the claims."""
    scores = squad_scores(answers, squad.test)
    report = PaperReport(
        "van_aken", PAPER["title"], PAPER["citation"], model=models.note,
        data=f"SQuAD v1.1 dev split by article: {len(squad.train)} training questions, {len(squad.test)} test "
        "questions (contexts of at most 200 words); probing: CoNLL-2003 entities, GAP, SemEval-2010 Task 8, "
        "SQuAD questions (type from the masked wh-phrase) and supporting sentences, both from the held-out "
        "articles only",
        convention=PAPER["convention"], settings={**settings.describe(), "model_choice": choice},
    )  # fmt: skip
    report.add_table("the paper's four phases (BERT-base)", PAPER_PHASES)
    report.add_table("QA on the held-out articles", pd.DataFrame(
        {"exact match": [scores["exact_match"]], "F1": [scores["f1"]], "questions": [len(squad.test)]},
        index=pd.Index([models.names[1]], name="model")))  # fmt: skip
    for label, frame in phases.items():
        report.add_table(f"phases in numbers: {label}", frame)
    table = probing_table(probes, models.names)
    report.add_table("probing accuracy per layer (linear probe, mean of 3 seeds)", table)
    n_layers = max(models.finetuned.n_layers, 1)
    for task in table.index.get_level_values("task").unique():
        part = table.loc[task]
        report.curves.append(Curve(f"{task}: probe accuracy by layer", {
            name: (list(part.index), part[name].to_numpy(), None) for name in models.names
        }, y_label="accuracy"))  # fmt: skip
    tuned = phases[models.names[1]]
    report.curves.append(Curve(f"phases in numbers ({models.names[1]})", {
        "matching (question vs supporting fact)": (list(tuned.index), tuned["matching"].to_numpy(), None),
        "answer separation": (list(tuned.index), tuned["answer separation"].to_numpy(), None),
    }, y_label="cosine difference"))  # fmt: skip

    general = table.loc[["NEL", "COREF", "REL"]]["change"].abs()
    report.add_claim("Fine-tuning for QA barely changes the general tasks (NEL, COREF, REL)",
                     bool(general.max() < 0.05),
                     f"largest change of accuracy at any layer {general.max():.3f}; mean {general.mean():.3f}")  # fmt: skip
    late = [layer for layer in table.loc["SUP"].index if layer >= n_layers / 2]
    gains = {task: float(table.loc[task].loc[late, "change"].mean()) for task in ("QUES", "SUP")}
    report.add_claim("QUES and especially SUP improve with fine-tuning in the middle-to-late layers",
                     gains["SUP"] > 0.01 and gains["SUP"] >= gains["QUES"] - 0.01,
                     f"mean change over layers {late[0]}-{late[-1]}: SUP {gains['SUP']:+.3f}, QUES {gains['QUES']:+.3f}")  # fmt: skip
    falls = {}
    for task in ("NEL", "COREF", "REL", "QUES", "SUP"):
        series = table.loc[task][models.names[1]]
        falls[task] = float(series.iloc[-1] - series.max())
    n_fall = sum(v < -0.01 for v in falls.values())
    report.add_claim("Most probes fall off in the last layers (fine-tuned model)", n_fall >= 3,
                     "last layer minus the best: " + ", ".join(f"{t} {v:+.3f}" for t, v in falls.items()))  # fmt: skip
    separation = tuned["answer separation"].to_numpy()
    top = int(np.nanargmax(separation))
    report.add_claim("Answer tokens separate from the rest only in the last layers",
                     top >= n_layers - 1,
                     "answer separation by layer: " + ", ".join(f"{v:.3f}" for v in separation)
                     + f" (largest at layer {tuned.index[top]})")  # fmt: skip
    matching = tuned["matching"].to_numpy()
    middle = int(np.nanargmax(matching))
    report.add_claim("Question and supporting-fact tokens come together in the middle layers",
                     0 < middle < n_layers, "matching by layer: " + ", ".join(f"{v:.3f}" for v in matching)
                     + f" (largest at layer {tuned.index[middle]})")  # fmt: skip
    if wrong.get("n_wrong", 0) and wrong.get("n_right", 0):
        early = [layer for layer in tuned.index if 0 < layer <= n_layers // 2]
        gap = float(np.mean([wrong["right"][layer] - wrong["wrong"][layer] for layer in early]))
        report.add_claim("Wrong predictions show in the early layers: the supporting fact is not matched with "
                         "the question", gap > 0,
                         f"matching in layers {early[0]}-{early[-1]}, right minus wrong answers: {gap:+.4f} "
                         f"({wrong['n_right']} right, {wrong['n_wrong']} wrong)")  # fmt: skip
    else:
        report.add_claim(
            "Wrong predictions show in the early layers", None, "no wrong (or no right) answers to compare"
        )
    report.notes += [
        "QUES: the question type comes from the wh-phrase, which is then masked; TREC itself is not available offline.",
        "SUP is probed on the full question + context input, as the paper: each context sentence against the question.",
        "Probes are linear on mean-pooled spans (the paper's probes are small MLPs on span representations).",
    ]
    return report


def wrong_answer_matching(model: lensnb.LensModel, squad: SquadSplit, answers: list[Answer],
                          settings: RunSettings) -> dict[str, Any]:  # fmt: skip
    """Matching per layer for the correctly answered test examples and for the wrongly answered ones."""
    wrong = set(wrong_answers(answers, squad.test).tolist())
    right = [k for k in range(len(squad.test)) if k not in wrong]
    out: dict[str, Any] = {"n_wrong": len(wrong), "n_right": len(right)}
    for name, chosen in (("wrong", sorted(wrong)), ("right", right)):
        if chosen:
            frame = phase_measures(model, [squad.test_examples[k] for k in chosen], settings)
            out[name] = frame["matching"].to_dict()
    return out


@checks_flags
def reproduce(
    *, model: str | None = "auto", quick: bool | None = None, data_dir: Any = None, seed: int = 0,
    progress: bool = True,
) -> PaperReport:  # fmt: skip
    """The whole reproduction: the models, QA scores, the phases, the probes, the wrong answers, the report."""
    settings = run_settings(quick=quick, data_dir=data_dir, seed=seed, progress=progress)
    squad = load_squad(settings)
    models = qa_models(model, squad.train, settings)
    answers = answer_questions(models.finetuned, squad.test, progress=progress)
    phases = {name: phase_measures(m, squad.test_examples, settings)
              for name, m in zip(models.names, (models.pretrained, models.finetuned))}  # fmt: skip
    probes = probe_models(models, probing_tasks(settings, squad), settings)
    wrong = wrong_answer_matching(models.finetuned, squad, answers, settings)
    return build_report(model, settings, models, squad, answers, phases, probes, wrong)
