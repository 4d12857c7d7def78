"""Gathers when a harness cycles a few pre-generated batches (a property of the software stack).

DeepRecSys's scripts generate ``--num_batches 4`` batches once and run them over and over
(FACTS.md section 6); ``dse measure``'s warm runs (``cold=0``) repeat one batch. The rows a call
looks up are then not fresh draws from the whole table: every inference reads again the rows the
N batches of the cycle touch, so what competes for the caches is the cycle's working set, not the
tables. The stack says how many batches the harness cycles (``inputs.cycled_batches``; 0: fresh
indices every inference, the uniform-residency model of :mod:`dse.cost.gather`).

With N cycled batches of b items, a table of R rows looked up ``k`` times per item holds

    D(b) = R (1 - exp(-N k b / R))           distinct rows (uniform draws)

and the working set an inference reads again is every table's ``D · row_bytes`` plus the weights
of the net (:func:`working_set_bytes`). :func:`dse.cost.gather.gather_time` takes it as
``working_set``: a row's cache residency follows the working set (the same capacity-proportional
rule as uniform indices over the tables: level i holds ``min(1, C_i / W)``) instead of the tables;
the translation terms do not change on the CPU (the D rows of a table lie on about D distinct
pages, as many as fresh rows, far beyond the TLB: ci_cpu's warm runs keep their page-walk cost),
and the per-call translation wait of a GPU (``gather.tlb_call_us``, fitted as the H200's cold
minus warm runs) is not paid.

Limits: the cycle's rows are reused in the order they were drawn, so a strict LRU cache smaller
than the working set would hit nothing, where capacity-proportional residency gives ``C / W``
(real last-level caches are not strict LRU); activations are left out of the working set.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from dse.errors import DseError
from dse.graph.ops import Op
from dse.specs.hardware import Platform


def distinct_rows(table_rows: ArrayLike, draws: ArrayLike) -> np.ndarray:
    """Expected distinct rows among ``draws`` uniform draws from ``table_rows`` rows."""
    r = np.maximum(np.asarray(table_rows, dtype=float), 1.0)
    return r * -np.expm1(-np.asarray(draws, dtype=float) / r)


def table_rows(op: Op) -> float:
    """Rows of ``op``'s table (0 for an op without one)."""
    if op.row_bytes <= 0 or op.table_bytes <= 0:
        return 0.0
    return float(op.shape.get("rows") or op.table_bytes / op.row_bytes)


def cycled_rows(op: Op, batch: ArrayLike, cycled_batches: int) -> np.ndarray:
    """Distinct rows of ``op``'s table that ``cycled_batches`` batches of ``batch`` items touch."""
    return distinct_rows(table_rows(op), cycled_batches * np.asarray(op.rows_touched(batch), dtype=float))


def working_set_bytes(ops: list[Op], batch: ArrayLike, cycled_batches: int) -> np.ndarray:
    """Bytes one inference reads again on the next one, at each batch size: the rows the cycle
    touches in every table plus the net's weights."""
    b = np.asarray(batch, dtype=float)
    total = np.full_like(b, float(sum(op.weight_bytes for op in ops)))
    for op in ops:
        if op.rows_per_item > 0 and op.table_bytes > 0:
            total = total + cycled_rows(op, b, cycled_batches) * op.row_bytes
    return total


def with_cycled_batches(platform: Platform, batches: int) -> Platform:
    """``platform`` with its stack feeding ``batches`` pre-generated batches over and over (0:
    fresh indices every inference, a harness's cold runs; 1: the same batch every repetition, its
    warm runs, whose rows stay where the previous call left them and whose GPU calls pay no
    per-call translation wait). The platform itself when its stack already does so."""
    software = platform.software
    if software is None:
        raise DseError(f"{platform.name}: no software stack bound, so the inputs it is fed cannot be set")
    if software.inputs.cycled_batches == batches:
        return platform
    inputs = software.inputs.model_copy(update={"cycled_batches": int(batches)})
    return platform.model_copy(update={"software": software.model_copy(update={"inputs": inputs})})
