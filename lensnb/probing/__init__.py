"""Probing across layers: probes, sweeps over layers, controls, scalar mix, span clustering, agreement."""

from __future__ import annotations
