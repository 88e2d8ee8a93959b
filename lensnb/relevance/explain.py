"""``explain``: several relevance methods and targets over the same texts, in one call.

What a relevance view or a comparison table needs, computed once, up front, with one
progress bar. Each result is an ordinary :class:`~lensnb.relevance.Relevance`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from lensnb.errors import LensError
from lensnb.flags import checks_flags
from lensnb.relevance.attention_methods import (
    AttentionRollout,
    FullLRP,
    GradCAMAttention,
    PartialLRP,
    RawAttention,
    TransformerAttribution,
)
from lensnb.relevance.base import RelevanceMethod
from lensnb.relevance.gradient_methods import AttnLRP, InputXGradient, IntegratedGradients
from lensnb.relevance.result import Relevance

__all__ = ["explain", "METHODS", "DEFAULT_METHODS"]

METHODS: dict[str, type[RelevanceMethod]] = {
    cls.name: cls
    for cls in (
        TransformerAttribution,
        AttnLRP,
        AttentionRollout,
        RawAttention,
        GradCAMAttention,
        PartialLRP,
        FullLRP,
        InputXGradient,
        IntegratedGradients,
    )  # fmt: skip
}
#: Chefer et al.'s method, AttnLRP and the two baselines a reader compares them with first.
DEFAULT_METHODS = ("transformer_attribution", "attnlrp", "attention_rollout", "raw_attention", "input_x_gradient")


@checks_flags
def explain(
    model: Any,
    inputs: Any,
    *,
    methods: Sequence[str | RelevanceMethod] = DEFAULT_METHODS,
    targets: Sequence[Any] = (None,),
    layers: bool = True,
    progress: bool = True,
    **options: Any,
) -> list[Relevance]:
    """Relevance of every method for every target, over the same inputs.

    Parameters
    ----------
    model : LensModel or (model, tokenizer)
        A sequence classifier or a causal language model.
    inputs : str, sequence of str, or sequence of Example
    methods : sequence of str or RelevanceMethod
        Method names (keys of :data:`METHODS`) or configured method objects. With the
        default list, the methods that cannot explain this model (the LRP methods
        follow the paper's [CLS]-classifier set-up) are left out; named explicitly, they
        raise.
    targets : sequence
        Each a ``target`` of ``attribute`` (None: the predicted class or token).
    layers : bool
        Keep per-layer relevance for the methods that define it.
    progress : bool
        One progress bar over all (method, target) runs.
    **options
        Passed to every method built from a name (``batch_size``, ``overflow``...).

    Returns
    -------
    list of Relevance
        In the order method by method, target by target.
    """
    from tqdm.auto import tqdm

    defaults = methods is DEFAULT_METHODS
    if isinstance(methods, (str, RelevanceMethod)):
        methods = [methods]
    if isinstance(methods, bytes) or not isinstance(methods, Sequence) or not methods:
        raise LensError.bad_argument("methods", methods, "at least one method name or RelevanceMethod")
    if not isinstance(targets, Sequence) or isinstance(targets, str) or not targets:
        raise LensError.bad_argument("targets", targets, "a non-empty list of targets (None: the predicted one)")
    built: list[RelevanceMethod] = []
    skipped: list[LensError] = []
    for method in methods:
        if isinstance(method, RelevanceMethod):
            built.append(method)
            continue
        if not isinstance(method, str) or method not in METHODS:
            raise LensError.bad_argument("methods", method, f"one of {sorted(METHODS)} or a RelevanceMethod")
        accepted = _option_names(METHODS[method])
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise LensError.bad_argument(
                ", ".join(unknown), {name: options[name] for name in unknown}, f"options of {method}: {sorted(accepted)}"
            )  # fmt: skip
        try:
            built.append(METHODS[method](model, progress=False, **options))
        except LensError as error:
            if not defaults:
                raise
            skipped.append(error)  # a default the model cannot take
    if not built:  # no default could be built: the model or the options are at fault, not the list
        raise skipped[0]
    results = []
    with tqdm(total=len(built) * len(targets), desc="explain", unit="run", disable=not progress) as bar:
        for method in built:
            for target in targets:
                bar.set_postfix_str(f"{method.name}, target {target}")
                results.append(method.attribute(inputs, target=target, layers=layers and method.supports_layers))
                bar.update(1)
    return results


def _option_names(method: type) -> set[str]:
    """The keyword options a method class takes: its own, and the base class's it passes on."""
    names: set[str] = set()
    for cls in (method, RelevanceMethod):
        parameters = inspect.signature(cls.__init__).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break  # it passes nothing on
    return names - {"self", "model", "progress"}
