"""The LRP propagation rules of Chefer, Gur & Wolf (2021), as pure tensor functions.

Two rule sets exist. ``"ours"`` is the paper's (conservative: relevance that enters a
rule leaves it, summed); ``"baseline"`` is the set the paper ran its LRP baselines with
(partial LRP, full LRP), which differs in two places: Linear uses separate denominators
for the positive and the negative part (so relevance can double at every Linear) and the
residual Add is not renormalised.

Every function takes the forward tensors a rule needs and the relevance ``R`` of the
rule's output, and returns the relevance of its input(s). Shapes are those of the
forward tensors; leading dimensions (batch, heads, tokens) broadcast.

References
----------
Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
Visualization", CVPR, Sec. 3.1 (Eqs. 1-8) and the authors' ``layers_ours.py`` /
``layers_lrp.py``; Bach et al. 2015 (LRP-alpha-beta).
"""

from __future__ import annotations

import torch

__all__ = ["RULE_SETS", "EPSILON", "safe_divide", "linear_relevance", "add_relevance", "matmul_relevance"]

RULE_SETS = ("ours", "baseline")
EPSILON = 1e-9


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / (denominator + 1e-9)``, and 0 where ``denominator == 0``.

    The 1e-9 is added whatever the sign of the denominator (as the reference does);
    where that sum is exactly 0 another 1e-9 is added so nothing divides by zero.
    """
    shifted = denominator + EPSILON
    # a denominator of exactly -1e-9 is rare: on the CPU one read skips the masked fill;
    # on an accelerator that read would wait for the device, so the fill always runs
    if shifted.device.type != "cpu" or not bool(shifted.all()):
        shifted.masked_fill_(shifted == 0, EPSILON)
    out = numerator / shifted
    return out.masked_fill_(denominator == 0, 0.0)


def linear_relevance(
    x: torch.Tensor,
    weight: torch.Tensor,
    relevance: torch.Tensor,
    *,
    rules: str = "ours",
    x_times_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """LRP-alpha1-beta0 through ``y = x W^T + b`` (the bias takes no relevance).

    Parameters
    ----------
    x : Tensor, shape (..., in_features)
        The Linear's input.
    weight : Tensor, shape (out_features, in_features)
    relevance : Tensor, shape (..., out_features)
        Relevance of the output.
    rules : {"ours", "baseline"}
        ``"ours"``: one denominator ``Z = x+ W+^T + x- W-^T``, conservative.
        ``"baseline"``: ``Z1 = x+ W+^T`` and ``Z2 = x- W-^T`` each receive all of ``R``.
    x_times_weight : Tensor, shape (..., out_features), optional
        ``x W^T`` without bias if already known (the forward output minus the bias);
        saves one matrix product for ``rules="ours"``.

    Returns
    -------
    Tensor, shape (..., in_features)

    Notes
    -----
    For ``"ours"`` the rule is evaluated through the identities
    ``x+ W+^T + x- W-^T = (x W^T + |x| |W|^T) / 2`` and
    ``x+ (S W+) + x- (S W-) = (x (S W) + |x| (S |W|)) / 2``, equal in exact
    arithmetic to the reference's four products and one product cheaper (two when
    ``x_times_weight`` is given). Where ``Z`` is tiny against ``|x| |W|^T`` the
    difference form loses relative precision that the reference's sum of
    non-negative parts keeps: use float64 for exact comparisons (algorithms guide 1.4).
    """
    if rules == "ours":
        absolute_weight = weight.abs()
        absolute_x = x.abs()
        z = absolute_x @ absolute_weight.T
        z += x @ weight.T if x_times_weight is None else x_times_weight
        # z = 2 Z >= 0, so z + 2e-9 never vanishes; S = R / (Z + 1e-9) = 2 R / (z + 2e-9), 0 where Z == 0.
        # The factor 2 of S and the 1/2 of the identity cancel; both are powers of two, so leaving them
        # out changes no bit of the result.
        vanishing = z == 0
        half_s = torch.div(relevance, z.add_(2 * EPSILON)).masked_fill_(vanishing, 0.0)
        both = half_s @ torch.cat([weight, absolute_weight], dim=1)  # S W and S |W| in one product
        width = weight.shape[1]
        out = both[..., :width].mul_(x)
        return out.addcmul_(both[..., width:], absolute_x)
    if rules == "baseline":
        positive_weight, negative_weight = weight.clamp(min=0), weight.clamp(max=0)
        positive_x, negative_x = x.clamp(min=0), x.clamp(max=0)
        s1 = safe_divide(relevance, positive_x @ positive_weight.T)
        s2 = safe_divide(relevance, negative_x @ negative_weight.T)
        return positive_x * (s1 @ positive_weight) + negative_x * (s2 @ negative_weight)
    raise ValueError(f"rules: expected one of {RULE_SETS}, received {rules!r}")


def add_relevance(
    x0: torch.Tensor, x1: torch.Tensor, relevance: torch.Tensor, *, rules: str = "ours"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relevance through ``y = x0 + x1`` (residual connections, embedding sums).

    Parameters
    ----------
    x0, x1 : Tensor, shape (batch, ...)
    relevance : Tensor, shape (batch, ...)
    rules : {"ours", "baseline"}
        ``"ours"`` renormalises so that branch ``a`` carries
        ``|sum a| / (|sum a| + |sum b|)`` of ``sum R``, per example (the reference sums
        over the batch too, which only works for one example at a time); ``"baseline"``
        returns the plain ratio split.

    Returns
    -------
    (Tensor, Tensor), each shaped like ``x0``
    """
    s = safe_divide(relevance, x0 + x1)
    a, b = x0 * s, x1 * s
    if rules == "baseline":
        return a, b
    dims = tuple(range(1, relevance.dim()))
    a_sum, b_sum = a.sum(dim=dims, keepdim=True), b.sum(dim=dims, keepdim=True)
    total = relevance.sum(dim=dims, keepdim=True)
    a_fraction = safe_divide(a_sum.abs(), a_sum.abs() + b_sum.abs())
    b_fraction = safe_divide(b_sum.abs(), a_sum.abs() + b_sum.abs())
    a.mul_(safe_divide(a_fraction * total, a_sum))
    b.mul_(safe_divide(b_fraction * total, b_sum))
    return a, b


def matmul_relevance(
    a: torch.Tensor, b: torch.Tensor, relevance: torch.Tensor, *, product: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relevance through ``Z = a @ b`` for two activations, each half (both rule sets).

    Parameters
    ----------
    a : Tensor, shape (..., n, k)
    b : Tensor, shape (..., k, m)
    relevance : Tensor, shape (..., n, m)
    product : Tensor, shape (..., n, m), optional
        ``a @ b`` if already known (the forward's attention context).

    Returns
    -------
    (Tensor of shape (..., n, k), Tensor of shape (..., k, m))
        ``a * (S b^T) / 2`` and ``b * (a^T S) / 2`` with ``S = R / Z``.
    """
    if product is None:
        product = a @ b
    s = safe_divide(relevance, product)
    relevance_a = (s @ b.transpose(-1, -2)).mul_(a).mul_(0.5)
    relevance_b = (a.transpose(-1, -2) @ s).mul_(b).mul_(0.5)
    return relevance_a, relevance_b
