"""Subject-verb agreement: a probe per layer on the masked verb, and the model's own choice of form.

Three views of the same items (a sentence, the index of its verb, the right and the wrong
form, the number of attractors between subject and verb):

(a) :func:`masked_verb_states` + :func:`agreement_probe` (Jawahar et al. 2019): the verb is
    replaced by the mask token; a probe on that position's state at each layer predicts
    singular vs plural; accuracy by number of attractors.
(b) :func:`lm_agreement` with ``method="masked"`` (Goldberg 2019): no probe; the masked LM's
    logits for the two forms at the mask are compared.
(c) :func:`lm_agreement` with ``method="next_token"``: a decoder's next-token logits for the
    two forms given the words before the verb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from lensnb.activations import Activations
from lensnb.errors import LensError
from lensnb.examples import Example, Span
from lensnb.flags import checks_flags
from lensnb.geometry.results import LayerProfile
from lensnb.models import LensModel
from lensnb.probing.controls import _column_or_array, check_probe, labelled_stack, resolve_train

__all__ = [
    "AgreementItem",
    "AgreementScores",
    "as_agreement_items",
    "verb_number",
    "masked_verb_states",
    "agreement_probe",
    "lm_agreement",
]

METHODS = ("auto", "masked", "next_token")
_FIELDS = ("verb_index", "right", "wrong", "attractors", "number")
_IRREGULAR = {"is": "singular", "are": "plural", "was": "singular", "were": "plural", "has": "singular",
              "have": "plural", "does": "singular", "do": "plural"}  # fmt: skip


@dataclass(frozen=True)
class AgreementItem:
    """One agreement item.

    Attributes
    ----------
    words : tuple of str
        The sentence, one word per entry (the verb included, in any form).
    verb_index : int
        Position of the verb in ``words``.
    right, wrong : str
        The verb form that agrees with the subject, and the one that does not.
    attractors : int
        Nouns of the other number between subject and verb (Linzen et al. 2016).
    number : {"singular", "plural"} or None
        Number of the right form; None: inferred by :func:`verb_number`.
    """

    words: tuple[str, ...]
    verb_index: int
    right: str
    wrong: str
    attractors: int = 0
    number: str | None = None


@dataclass(frozen=True)
class AgreementScores:
    """The model's choice between the right and the wrong verb form.

    Attributes
    ----------
    method : {"masked", "next_token"}
    accuracy : float
        Share of scored items where the right form's logit is higher (ties count as
        wrong); NaN when nothing was scored.
    by_attractors : DataFrame
        One row per attractor count: ``attractors``, ``n`` (scored), ``correct``,
        ``accuracy``, ``skipped``.
    table : DataFrame
        One row per item: ``attractors``, ``right``, ``wrong``, ``right_id``,
        ``wrong_id``, ``right_logit``, ``wrong_logit``, ``correct`` and ``skipped``
        (the reason, or None when scored).
    skipped : dict of str to int
        Items not scored, by reason (a form that is not a single token, an input that
        is too long, no words before the verb).
    params : dict
    model : str
    """

    method: str
    accuracy: float
    by_attractors: pd.DataFrame
    table: pd.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None

    @property
    def n_scored(self) -> int:
        return int(self.table["skipped"].isna().sum())

    @property
    def n_skipped(self) -> int:
        return int(sum(self.skipped.values()))

    def __repr__(self) -> str:
        return (
            f"AgreementScores({self.method}; accuracy {self.accuracy:.3f} on {self.n_scored} items, "
            f"{self.n_skipped} skipped {self.skipped}; model {self.model!r})"
        )


def verb_number(right: str, wrong: str) -> str | None:
    """Number of the right form from the pair: is/are, was/were, has/have, does/do, or -s / -es / -ies.

    Returns ``"singular"``, ``"plural"`` or None when the pair does not tell.
    """
    r, w = right.lower(), wrong.lower()
    if r in _IRREGULAR and w in _IRREGULAR and _IRREGULAR[r] != _IRREGULAR[w]:
        return _IRREGULAR[r]
    if _third_person(r, w):
        return "singular"
    if _third_person(w, r):
        return "plural"
    return None


def _third_person(s_form: str, bare: str) -> bool:
    return s_form in (bare + "s", bare + "es") or (bare.endswith("y") and s_form == bare[:-1] + "ies")


def as_agreement_items(items: Any) -> list[AgreementItem]:
    """Validate items given as AgreementItem, Example (fields in ``meta``) or mappings.

    An :class:`lensnb.Example` gives ``words`` and ``meta`` with ``verb_index``,
    ``right``, ``wrong``, optionally ``attractors`` (default 0) and ``number``; the
    examples of :func:`lensnb.data.read_linzen_agreement` (verb as the one span,
    ``n_attractors``, ``"sing"`` / ``"plur"``) are taken as they are. A mapping has the
    fields of :class:`AgreementItem`.
    """
    if isinstance(items, (str, Mapping, AgreementItem, Example)) or not isinstance(items, Sequence) or not items:
        raise LensError.bad_argument("items", items, "a non-empty list of AgreementItem, Example or mappings")
    out = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if isinstance(item, AgreementItem):
            fields = dict(item.__dict__)
        elif isinstance(item, Example):
            fields = _example_fields(item)
        elif isinstance(item, Mapping):
            unknown = set(item) - set(_FIELDS) - {"words"}
            if unknown:
                raise LensError.bad_argument(where, sorted(item), f"a mapping with the fields of AgreementItem {('words',) + _FIELDS}")  # fmt: skip
            fields = dict(item)
        else:
            raise LensError.bad_argument(where, item, "an AgreementItem, an Example with meta, or a mapping")
        out.append(_checked(fields, where))
    return out


_READER_NUMBERS = {"sing": "singular", "plur": "plural"}


def _example_fields(example: Example) -> dict[str, Any]:
    """An Example's agreement fields; also the layout of :func:`lensnb.data.read_linzen_agreement`.

    That reader keeps the verb as the example's one span, the number as ``"sing"`` /
    ``"plur"`` and the count of attractors as ``n_attractors``.
    """
    meta = dict(example.meta)
    fields = {"words": example.words, **{k: meta[k] for k in meta if k in _FIELDS}}
    if "attractors" not in fields and "n_attractors" in meta:
        fields["attractors"] = meta["n_attractors"]
    if fields.get("number") in _READER_NUMBERS:
        fields["number"] = _READER_NUMBERS[fields["number"]]
    if "verb_index" not in fields and len(example.spans) == 1 and example.spans[0].end == example.spans[0].start + 1:
        fields["verb_index"] = example.spans[0].start
    return fields


def _checked(fields: dict[str, Any], where: str) -> AgreementItem:
    missing = [name for name in ("words", "verb_index", "right", "wrong") if name not in fields]
    if missing:
        raise LensError.bad_argument(where, sorted(fields), f"the fields words, verb_index, right and wrong (missing {missing})")  # fmt: skip
    words = fields["words"]
    if isinstance(words, str) or not isinstance(words, Sequence) or not words or not all(
        isinstance(w, str) and w.strip() and w == w.strip() for w in words
    ):  # fmt: skip
        raise LensError.bad_argument(f"{where}.words", words, "a non-empty list of words without spaces")
    verb = fields["verb_index"]
    if not isinstance(verb, (int, np.integer)) or isinstance(verb, bool) or not 0 <= verb < len(words):
        raise LensError.bad_argument(f"{where}.verb_index", verb, f"an index into the {len(words)} words")
    right, wrong = fields["right"], fields["wrong"]
    for name, form in (("right", right), ("wrong", wrong)):
        if not isinstance(form, str) or not form.strip() or form != form.strip() or " " in form:
            raise LensError.bad_argument(f"{where}.{name}", form, "one word, without spaces")
    if right == wrong:
        raise LensError.bad_argument(f"{where}.wrong", wrong, f"a form other than the right one ({right!r})")
    attractors = fields.get("attractors", 0)
    if not isinstance(attractors, (int, np.integer)) or isinstance(attractors, bool) or attractors < 0:
        raise LensError.bad_argument(f"{where}.attractors", attractors, "a non-negative integer")
    number = fields.get("number")
    if number is not None and number not in ("singular", "plural"):
        raise LensError.bad_argument(f"{where}.number", number, "'singular', 'plural' or None")
    return AgreementItem(tuple(words), int(verb), right, wrong, int(attractors), number)


@checks_flags
def masked_verb_states(
    model: LensModel,
    items: Any,
    *,
    layers: Sequence[int] | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> Activations:
    """Every layer's state at the mask token that replaces each item's verb.

    Parameters
    ----------
    model : LensModel
        A model whose tokenizer has a mask token (any head).
    items : list of AgreementItem, Example or mapping
        See :func:`as_agreement_items`.
    layers : sequence of int, optional
        Default all (0 = embeddings).
    batch_size : int
    progress : bool

    Returns
    -------
    Activations
        unit ``"span"``, one row per item, values (layer, n_items, dim); the table has
        the span columns and ``attractors``, ``number`` (from the item or
        :func:`verb_number`; None when unknown), ``right``, ``wrong``.

    References
    ----------
    Jawahar, Sagot & Seddah (2019), ACL, Sec. 4.3 (the verb replaced by [MASK]).
    """
    from lensnb.extract import extract

    checked = as_agreement_items(items)
    mask = getattr(model.tokenizer, "mask_token", None) if isinstance(model, LensModel) else None
    if mask is None:
        raise LensError.bad_argument("model", model, "a LensModel whose tokenizer has a mask token (a masked LM)")
    examples = [
        Example(words=[mask if i == item.verb_index else w for i, w in enumerate(item.words)],
                spans=[Span(item.verb_index, item.verb_index + 1, "verb")])
        for item in checked
    ]  # fmt: skip
    states = extract(model, examples, layers=layers, batch_size=batch_size, progress=progress).pool_spans("first")
    table = states.table.copy()
    if len(table) != len(checked):
        raise LensError(f"masked_verb_states: {len(checked)} items gave {len(table)} verb states.")
    table["attractors"] = [item.attractors for item in checked]
    table["number"] = [item.number or verb_number(item.right, item.wrong) for item in checked]
    table["right"] = [item.right for item in checked]
    table["wrong"] = [item.wrong for item in checked]
    return Activations(states.arrays, states.layers_by_site, table, unit="span", texts=states.texts, model=states.model)


@checks_flags
def agreement_probe(
    data: Any,
    labels: Any = "number",
    attractors: Any = "attractors",
    *,
    probe: Any = None,
    layers: Sequence[int] | int | None = None,
    train: Any = None,
    test_size: float = 0.2,
    seed: int = 0,
    site: str | None = None,
    progress: bool = True,
) -> LayerProfile:
    """Probe accuracy per layer on the masked verb's number, overall and by attractor count.

    Parameters
    ----------
    data : Activations or array (layer, item, dim)
        From :func:`masked_verb_states`, or the verb-position states themselves.
    labels : str or array of shape (n_items,)
        Column of the table (default ``"number"``) or the numbers; items without one are
        left out.
    attractors : str or array of int, shape (n_items,)
        Column of the table (default ``"attractors"``) or the counts.
    probe : scikit-learn classifier, optional
        Default :class:`lensnb.probing.estimators.LinearProbe` (:func:`lensnb.probing.controls.default_probe`);
        cloned for every layer.
    layers, train, test_size, seed, site, progress
        As in :func:`lensnb.probing.controls.control_task_selectivity`.

    Returns
    -------
    LayerProfile
        name ``"agreement_probe_accuracy"``, values (n_layers,) = test accuracy; errors:
        binomial standard error sqrt(p (1 - p) / n_test). ``details``: ``attractors``
        (n_bins,) the counts present among test items, ``accuracy_by_attractors`` and
        ``error_by_attractors`` (n_layers, n_bins), ``n_by_attractors`` (n_bins,),
        ``majority`` and ``majority_by_attractors`` (the majority-class baseline),
        ``test_items`` (n_test,) the test items' rows in the profile's ``table`` and
        ``predictions`` (n_layers, n_test) each layer's predicted label for them, so
        that the items a layer gets wrong can be read, e.g.
        ``table.iloc[test_items].assign(predicted=predictions[layer])``.

    References
    ----------
    Jawahar, Sagot & Seddah (2019), ACL, Sec. 4.3 and Table 3 (accuracy by attractors,
    layer by layer); Linzen, Dupoux & Goldberg (2016) for the items.
    """
    from sklearn.base import clone
    from tqdm.auto import tqdm

    probe = check_probe(probe)
    stack, codes, classes, keep = labelled_stack(data, labels, layers, site, None)
    counts = _column_or_array(attractors, "attractors", stack, keep)
    if not np.issubdtype(np.asarray(counts).dtype, np.integer) or np.any(np.asarray(counts) < 0):
        raise LensError.bad_argument("attractors", counts, "non-negative integer counts")
    counts = np.asarray(counts, dtype=np.int64)
    mask, split = resolve_train(train, keep, stack, test_size, seed)
    test = ~mask
    bins = np.unique(counts[test])
    majority = codes[test] == np.bincount(codes[mask]).argmax()
    by_bin = [counts[test] == b for b in bins]
    accuracy, by_attractors = [], []
    predictions = np.empty((len(stack.layers), int(test.sum())), dtype=np.int64)
    for position in tqdm(range(len(stack.layers)), desc="agreement probe", disable=not progress):
        x = stack.matrix(position)
        predictions[position] = clone(probe).fit(x[mask], codes[mask]).predict(x[test])
        hits = predictions[position] == codes[test]
        accuracy.append(hits.mean())
        by_attractors.append([hits[b].mean() for b in by_bin])
    accuracy, by_attractors = np.asarray(accuracy), np.asarray(by_attractors).reshape(len(stack.layers), len(bins))
    n_bin = np.asarray([b.sum() for b in by_bin])
    details = {
        "attractors": bins, "accuracy_by_attractors": by_attractors,
        "error_by_attractors": np.sqrt(by_attractors * (1 - by_attractors) / n_bin),
        "n_by_attractors": n_bin, "majority": float(majority.mean()),
        "majority_by_attractors": np.asarray([majority[b].mean() for b in by_bin]), "classes": classes,
        "test_items": np.flatnonzero(test), "predictions": classes[predictions],
    }  # fmt: skip
    n_test = int(test.sum())
    params = dict(probe=repr(probe), split=split, test_size=test_size, seed=seed, n_train=int(mask.sum()),
                  n_test=n_test, n_missing_labels=int((~keep).sum()), error="binomial standard error")  # fmt: skip
    errors = np.sqrt(accuracy * (1 - accuracy) / n_test)
    return LayerProfile(
        "agreement_probe_accuracy", stack.layers, accuracy, errors, params, stack.table, stack.unit, details
    )


@checks_flags
def lm_agreement(
    model: LensModel,
    items: Any,
    *,
    method: str = "auto",
    batch_size: int = 16,
    progress: bool = True,
) -> AgreementScores:
    """Does the model prefer the right verb form? Logits of the two forms, no probe.

    Parameters
    ----------
    model : LensModel
        With a language-modelling head: ``load_model(..., task="masked-lm")`` for
        ``"masked"``, ``task="causal-lm"`` for ``"next_token"``.
    items : list of AgreementItem, Example or mapping
        See :func:`as_agreement_items`.
    method : {"auto", "masked", "next_token"}
        ``"masked"`` (Goldberg 2019): the verb is replaced by the mask token in the
        whole sentence and the logits at the mask compared. ``"next_token"``: the
        logits after the words before the verb (for decoders). ``"auto"``: next_token
        for decoders, masked otherwise.
    batch_size : int
    progress : bool

    Returns
    -------
    AgreementScores
        Both forms must be single tokens in context (a form split into pieces cannot
        be scored by one logit): other items are skipped, counted by reason.

    References
    ----------
    Goldberg (2019), "Assessing BERT's Syntactic Abilities", arXiv:1901.05287 (masked
    comparison; items whose forms are not in the vocabulary are left out); Linzen,
    Dupoux & Goldberg (2016) for the next-token comparison of LSTMs.
    """
    from tqdm.auto import tqdm

    if not isinstance(model, LensModel):
        raise LensError.bad_argument("model", model, "a LensModel from lensnb.load_model(..., task='masked-lm')")
    if method not in METHODS:
        raise LensError.bad_argument("method", method, f"one of {METHODS}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise LensError.bad_argument("batch_size", batch_size, "a positive integer")
    checked = as_agreement_items(items)
    method = ("next_token" if model.is_decoder else "masked") if method == "auto" else method
    prepare = _prepare_masked if method == "masked" else _prepare_next_token
    if method == "masked" and getattr(model.tokenizer, "mask_token_id", None) is None:
        raise LensError.bad_argument("model", model.name, "a masked LM (its tokenizer has no mask token)",
                                     "Use method='next_token' for a decoder.")  # fmt: skip
    limit = model.max_length
    prepared = [prepare(model.tokenizer, item, limit) for item in checked]
    rows = [i for i, p in enumerate(prepared) if isinstance(p, tuple)]
    right_logit = np.full(len(checked), np.nan)
    wrong_logit = np.full(len(checked), np.nan)
    batches = [rows[s : s + batch_size] for s in range(0, len(rows), batch_size)]
    for batch in tqdm(batches, desc="agreement", disable=not progress):
        logits = _logits_at(model, [prepared[i][0] for i in batch], [prepared[i][1] for i in batch])
        for j, i in enumerate(batch):
            right_logit[i] = float(logits[j, prepared[i][2]])
            wrong_logit[i] = float(logits[j, prepared[i][3]])
    table = pd.DataFrame({
        "attractors": [item.attractors for item in checked],
        "right": [item.right for item in checked],
        "wrong": [item.wrong for item in checked],
        "right_id": [p[2] if isinstance(p, tuple) else -1 for p in prepared],
        "wrong_id": [p[3] if isinstance(p, tuple) else -1 for p in prepared],
        "right_logit": right_logit,
        "wrong_logit": wrong_logit,
        "correct": right_logit > wrong_logit,
        "skipped": [None if isinstance(p, tuple) else p for p in prepared],
    })  # fmt: skip
    scored = table["skipped"].isna()
    counted = pd.DataFrame({"attractors": table["attractors"], "n": scored, "correct": table["correct"] & scored,
                            "skipped": ~scored})  # fmt: skip
    by_attractors = counted.groupby("attractors", as_index=False).sum().astype("int64")
    by_attractors["accuracy"] = by_attractors["correct"] / by_attractors["n"].where(by_attractors["n"] > 0)
    skipped = {str(k): int(v) for k, v in table["skipped"].dropna().value_counts().items()}
    accuracy = float(table["correct"][scored].mean()) if scored.any() else float("nan")
    params = dict(method=method, batch_size=batch_size, n_items=len(checked), ties="count as wrong")
    return AgreementScores(method, accuracy, by_attractors, table, skipped, params, model.name)


# ---------------------------------------------------------------------- tokenization and scoring
def _single_token(tokenizer: Any, words: Sequence[str], index: int, form: str) -> int | None:
    """Id of ``form`` as the one token covering it in the sentence ``words`` (with ``form`` at ``index``)."""
    text_words = list(words)
    text_words[index] = form
    start = sum(len(w) + 1 for w in text_words[:index])
    end = start + len(form)
    encoded = tokenizer(" ".join(text_words), add_special_tokens=False, return_offsets_mapping=True)
    covering = [
        (t, s, e) for t, (s, e) in zip(encoded["input_ids"], encoded["offset_mapping"]) if s < end and e > start
    ]
    if len(covering) != 1 or covering[0][1] > start or covering[0][2] < end:
        return None
    return int(covering[0][0])


def _prepare_masked(tokenizer: Any, item: AgreementItem, limit: int | None) -> tuple | str:
    """(input ids, mask position, right id, wrong id), or the reason the item is skipped."""
    right = _single_token(tokenizer, item.words, item.verb_index, item.right)
    wrong = _single_token(tokenizer, item.words, item.verb_index, item.wrong)
    if right is None or wrong is None:
        return "right form is not one token" if right is None else "wrong form is not one token"
    words = list(item.words)
    words[item.verb_index] = tokenizer.mask_token
    ids = tokenizer(" ".join(words), add_special_tokens=True)["input_ids"]
    where = [i for i, t in enumerate(ids) if t == tokenizer.mask_token_id]
    if len(where) != 1:
        return "mask token not found once in the sentence"
    if limit is not None and len(ids) > limit:
        return "longer than the model's limit"
    return ids, where[0], right, wrong


def _prepare_next_token(tokenizer: Any, item: AgreementItem, limit: int | None) -> tuple | str:
    if item.verb_index == 0:
        return "no words before the verb"
    prefix_text = " ".join(item.words[: item.verb_index])
    prefix = _without_trailing_specials(tokenizer, prefix_text)
    if not prefix:
        return "no tokens before the verb"
    chosen = []
    for form in (item.right, item.wrong):
        full = _without_trailing_specials(tokenizer, f"{prefix_text} {form}")
        chosen.append(full[-1] if len(full) == len(prefix) + 1 and full[: len(prefix)] == prefix else None)
    if chosen[0] is None or chosen[1] is None:
        return "right form is not one token" if chosen[0] is None else "wrong form is not one token"
    if limit is not None and len(prefix) > limit:
        return "longer than the model's limit"
    return prefix, len(prefix) - 1, chosen[0], chosen[1]


def _without_trailing_specials(tokenizer: Any, text: str) -> list[int]:
    encoded = tokenizer(text, add_special_tokens=True, return_special_tokens_mask=True)
    ids, special = list(encoded["input_ids"]), list(encoded["special_tokens_mask"])
    while ids and special[-1]:
        ids.pop()
        special.pop()
    return ids


def _logits_at(model: LensModel, inputs: list[list[int]], positions: list[int]) -> np.ndarray:
    """Logits over the vocabulary at one position of each input, shape (n_inputs, vocab)."""
    longest = max(len(ids) for ids in inputs)
    pad = model.padding_id
    input_ids = torch.full((len(inputs), longest), pad, dtype=torch.long)
    attention = torch.zeros((len(inputs), longest), dtype=torch.long)
    for row, ids in enumerate(inputs):  # right padding: each input's own positions are unchanged
        input_ids[row, : len(ids)] = torch.as_tensor(ids)
        attention[row, : len(ids)] = 1
    with torch.inference_mode():
        output = model.model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device))
    logits = getattr(output, "logits", None)
    vocab = getattr(model.model.config, "vocab_size", None)
    if logits is None or logits.ndim != 3 or (vocab is not None and logits.shape[-1] != vocab):
        raise LensError.bad_argument(
            "model", model.name, "a model with a language-modelling head (logits over the vocabulary)",
            "Load it with lensnb.load_model(name, task='masked-lm') or task='causal-lm'.",
        )  # fmt: skip
    return logits[torch.arange(len(inputs)), torch.as_tensor(positions)].float().cpu().numpy()
