"""Attention maps to token relevance: rollout as a row vector, and the last-layer readouts.

Rollout multiplies the row-normalised maps ``M_b = (Abar_b + I) / rowsum`` from the last
block down to a start block and reads one row (the token the head reads: [CLS]). Only
that row is needed, so it propagates a row vector, ``v <- v M_b``: O(L T^2) per input
instead of the O(L T^3) of multiplying T x T matrices, and the relevance at every
residual-stream level falls out on the way.

Padding (right) never takes part: padded keys have zero attention, padded queries are
never reached from the read row, and minima, means and min-max scalings run over real
tokens only, so a padded batch gives exactly what one-by-one calls give.

References
----------
Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers" (rollout);
Chefer, Gur & Wolf 2021, Eq. 13 and the authors' ``compute_rollout_attention``.
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["rollout_row", "gradient_weighted_maps", "head_mean_maps", "last_layer_row", "gradcam_row"]


def gradient_weighted_maps(gradients: torch.Tensor, attention_relevance: torch.Tensor) -> torch.Tensor:
    """``Abar = mean over heads(clamp(grad_A * R_A, min=0))``: (batch, H, T, T) -> (batch, T, T)."""
    return gradients.mul(attention_relevance).clamp_(min=0).mean(dim=1)


def head_mean_maps(attention: torch.Tensor) -> torch.Tensor:
    """Mean over heads: (batch, H, T, T) -> (batch, T, T)."""
    return attention.mean(dim=1)


def rollout_row(
    maps: dict[int, torch.Tensor], read: torch.Tensor, valid: torch.Tensor, n_blocks: int
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Row ``read`` of ``M_{L-1} ... M_s`` for the blocks in ``maps``.

    Parameters
    ----------
    maps : dict of int to Tensor (batch, T, T)
        ``Abar_b`` of each block from the start block to the last (0-based).
    read : Tensor of int64, shape (batch,)
        The row read (0: [CLS]).
    valid : Tensor of bool, shape (batch, T)
        Real tokens.
    n_blocks : int
        L.

    Returns
    -------
    row : Tensor, shape (batch, T)
        The rolled-out row (zero on padding).
    levels : dict of int to Tensor (batch, T)
        The row at every residual-stream level reached: level L is the one-hot of
        ``read``, level b is after multiplying ``M_b``.
    """
    some = next(iter(maps.values()))
    batch, tokens = some.shape[0], some.shape[-1]
    row = torch.zeros(batch, tokens, dtype=some.dtype, device=some.device)
    row[torch.arange(batch), read] = 1.0
    levels = {n_blocks: row}
    mask = valid.to(some.dtype)
    for block in sorted(maps, reverse=True):
        abar = maps[block] * mask[:, None, :]  # padded keys carry nothing (they already have A = 0)
        row_sums = abar.sum(-1) + 1.0  # + the identity's 1
        scaled = row / row_sums
        row = torch.bmm(scaled.unsqueeze(1), abar).squeeze(1) + scaled
        levels[block] = row
    return row, levels


def last_layer_row(maps: torch.Tensor, read: torch.Tensor) -> torch.Tensor:
    """Row ``read`` of a (batch, T, T) map, shape (batch, T)."""
    return maps[torch.arange(maps.shape[0]), read]


def gradcam_row(
    attention: torch.Tensor, gradients: torch.Tensor, read: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """GradCAM on the last layer's attention, row ``read``, as the paper ran it.

    ``w_h = mean_ij grad_A_h``; ``cam = clamp(mean_h(A_h * w_h), min=0)``; min-max over
    the whole (real) T x T map; ``cam[read, read] = 0``. Where the cam is <= 0
    everywhere the reference divides 0 by 0 (NaN); here that input gets zeros and a
    warning.

    Parameters
    ----------
    attention, gradients : Tensor, shape (batch, H, T, T)
    read : Tensor of int64, shape (batch,)
    valid : Tensor of bool, shape (batch, T)

    Returns
    -------
    Tensor, shape (batch, T)
    """
    pair = (valid[:, :, None] & valid[:, None, :]).to(attention.dtype)  # (B, T, T)
    count = pair.sum(dim=(1, 2))
    weights = (gradients * pair[:, None]).sum(dim=(2, 3)) / count[:, None]  # (B, H)
    cam = (attention * weights[:, :, None, None]).mean(dim=1).clamp(min=0)  # (B, T, T)
    big = torch.finfo(cam.dtype).max
    low = torch.where(pair.bool(), cam, torch.full_like(cam, big)).amin(dim=(1, 2))
    high = torch.where(pair.bool(), cam, torch.full_like(cam, -big)).amax(dim=(1, 2))
    span = high - low
    flat = span <= 0
    if bool(flat.any()):
        warnings.warn(
            f"GradCAM: the cam is constant (<= 0 everywhere after the clamp) for {int(flat.sum())} input(s); "
            "their relevance is all zeros (the reference returns NaN here).",
            RuntimeWarning,
            stacklevel=3,
        )
    safe_span = torch.where(flat, torch.ones_like(span), span)
    cam = (cam - low[:, None, None]) / safe_span[:, None, None]
    cam = torch.where(flat[:, None, None], torch.zeros_like(cam), cam) * pair
    rows = torch.arange(cam.shape[0])
    cam[rows, read, read] = 0.0
    return cam[rows, read]
