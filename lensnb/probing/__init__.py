"""Probing across layers: probes, sweeps over layers, controls, scalar mix, span clustering, agreement.

Probes are scikit-learn estimators on one layer's 2-D array (:class:`LinearProbe`,
:class:`MLPProbe`, :class:`EdgeProbe`); :func:`probe_layers` runs one over every layer
of :class:`lensnb.Activations` for a task built with :func:`token_task`,
:func:`span_task`, :func:`span_pair_task` or :func:`text_task`.
"""

from __future__ import annotations

from lensnb.probing.agreement import AgreementItem, agreement_probe, lm_agreement, masked_verb_states
from lensnb.probing.clustering import span_clustering, span_vectors
from lensnb.probing.controls import control_labels, control_task_selectivity
from lensnb.probing.edge import EdgeProbe
from lensnb.probing.estimators import LinearProbe, MLPProbe
from lensnb.probing.features import (
    ProbingData,
    ProbingTask,
    probing_data,
    span_pair_task,
    span_task,
    text_task,
    token_task,
)
from lensnb.probing.mdl import mdl_online, online_codelength
from lensnb.probing.scalar_mix import ScalarMixProbe, cumulative_probing, expected_layer, scalar_mix
from lensnb.probing.splits import Split, split_by_group, split_from_values
from lensnb.probing.sweep import majority_baseline, probe_layers

__all__ = [
    "AgreementItem",
    "EdgeProbe",
    "LinearProbe",
    "MLPProbe",
    "ProbingData",
    "ProbingTask",
    "ScalarMixProbe",
    "Split",
    "agreement_probe",
    "control_labels",
    "control_task_selectivity",
    "cumulative_probing",
    "expected_layer",
    "lm_agreement",
    "majority_baseline",
    "masked_verb_states",
    "mdl_online",
    "online_codelength",
    "probe_layers",
    "probing_data",
    "scalar_mix",
    "span_clustering",
    "span_pair_task",
    "span_task",
    "span_vectors",
    "split_by_group",
    "split_from_values",
    "text_task",
    "token_task",
]
