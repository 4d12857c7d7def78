"""The operator kinds: the vocabulary shared by the operator graph (``dse/graph/ops.py``) and the
software stacks (``hwspecs/stacks/*.yaml``, :mod:`dse.specs.stack`) that price operators by kind
(``dispatch.per_kind_us``)."""

from __future__ import annotations

from enum import Enum


class OpKind(str, Enum):
    INPUT = "input"
    FC = "fc"
    EMBEDDING_BAG = "embedding_bag"
    EMBEDDING = "embedding"
    INTERACTION = "interaction"
    ELEMENTWISE = "elementwise"
    RELU = "relu"
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    ATTENTION = "attention"
    GRU = "gru"
