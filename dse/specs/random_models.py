"""Seeded random DLRM model specs: the models nobody measured, for the tests and ``dse validate``.

:func:`random_dlrm` draws one DLRM-shaped :class:`~dse.specs.model.ModelSpec` from a seed: dense
features through a bottom MLP, one to four groups of embedding tables (each group its own number
of tables, rows per table and lookups per sample), a ``concat`` or ``dot`` interaction and a top
MLP ending in one sigmoid output, as in DLRM (Naumov et al. 2019) and the DeepRecSys RMC configs
(FACTS.md section 1). The ranges (:class:`DlrmRanges`) cover RMC1-3 and MLPerf DLRM; the same
seed gives the same spec on every machine (numpy's PCG64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.specs.model import ModelSpec

#: How many random variants the tests and ``dse validate`` check, and the first seed.
RANDOM_VARIANTS = 20
RANDOM_SEED = 0


@dataclass(frozen=True)
class DlrmRanges:
    """Inclusive ranges a random DLRM is drawn from (rows are drawn log-uniformly)."""

    table_groups: tuple[int, int] = (1, 4)
    tables_per_group: tuple[int, int] = (1, 8)
    rows: tuple[int, int] = (1_000, 10_000_000)
    dims: tuple[int, ...] = (16, 32, 64, 128)
    lookups: tuple[int, int] = (1, 120)
    dense_features: tuple[int, int] = (13, 2560)
    bottom_layers: tuple[int, int] = (1, 4)
    top_layers: tuple[int, int] = (1, 4)
    widths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)


def _draw(rng: np.random.Generator, lo_hi: tuple[int, int]) -> int:
    return int(rng.integers(lo_hi[0], lo_hi[1] + 1))


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[int, int]) -> int:
    lo, hi = np.log(lo_hi[0]), np.log(lo_hi[1])
    return int(round(float(np.exp(rng.uniform(lo, hi)))))


def _mlp_widths(rng: np.random.Generator, ranges: DlrmRanges, depth: tuple[int, int]) -> list[int]:
    """Hidden widths of an MLP, non-increasing as in DLRM's funnels."""
    widths = sorted((int(rng.choice(ranges.widths)) for _ in range(_draw(rng, depth))), reverse=True)
    return widths


def random_dlrm(seed: int, ranges: DlrmRanges = DlrmRanges(), max_rows: int | None = None) -> ModelSpec:
    """One random DLRM spec named ``dlrm_random_<seed>``.

    ``max_rows`` caps every table's rows (the structure, FLOPs per item and launches are
    unchanged; a small cap keeps a PyTorch build of the spec cheap).
    """
    rng = np.random.default_rng(seed)
    dim = int(rng.choice(ranges.dims))
    interaction = "dot" if rng.random() < 0.5 else "concat"
    tables, lookups = [], []
    for g in range(_draw(rng, ranges.table_groups)):
        rows = [_log_uniform(rng, ranges.rows) for _ in range(_draw(rng, ranges.tables_per_group))]
        if max_rows is not None:
            rows = [min(r, max_rows) for r in rows]
        tables.append({"name": f"emb{g}", "rows": rows, "dim": dim})
        lookups.append({"name": f"sparse{g}", "table": f"emb{g}", "per_sample": _draw(rng, ranges.lookups)})
    # the bottom MLP ends at the embedding dim (a dot interaction needs equal dims; DLRM does it
    # for concat too)
    bottom = [*_mlp_widths(rng, ranges, (ranges.bottom_layers[0] - 1, ranges.bottom_layers[1] - 1)), dim]
    top = [*_mlp_widths(rng, ranges, (ranges.top_layers[0] - 1, ranges.top_layers[1] - 1)), 1]
    data = {
        "name": f"dlrm_random_{seed}",
        "description": f"random DLRM (dse.specs.random_models, seed {seed})",
        "source": "drawn by dse.specs.random_models.random_dlrm",
        "dense_features": _draw(rng, ranges.dense_features),
        "tables": tables,
        "lookups": lookups,
        "blocks": [
            {"kind": "mlp", "name": "bottom", "input": "dense", "layers": bottom, "final": "relu"},
            {"kind": "interaction", "name": "interact", "op": interaction, "inputs": ["bottom", *(lk["name"] for lk in lookups)]},
            {"kind": "mlp", "name": "top", "input": "interact", "layers": top, "final": "sigmoid"},
        ],
        "outputs": ["top"],
    }
    return ModelSpec.model_validate(data)


def random_dlrms(n: int = RANDOM_VARIANTS, seed: int = RANDOM_SEED, max_rows: int | None = None) -> list[ModelSpec]:
    """``n`` random DLRM specs from seeds ``seed``, ``seed + 1``, ..."""
    return [random_dlrm(seed + i, max_rows=max_rows) for i in range(n)]
