"""``dse nmp``: what RecNMP DIMMs buy a model, over a grid of ranks and RankCache sizes."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from dse.commands import handle_errors, parse_int_list, print_json
from dse.errors import DseError


def _float_list(text: str, option: str) -> list[float]:
    """``"0,8,32,128"`` -> floats >= 0; anything else is a one-line DseError."""
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise DseError(f"{option}: '{part}' is not a number") from None
        if not value >= 0 or value == float("inf"):
            raise DseError(f"{option}: {part} must be a finite number >= 0")
        values.append(value)
    return values


def _rank_split(ranks: int, per_dimm: int) -> tuple[int, int]:
    """Ranks working in parallel per channel -> (DIMMs per channel, ranks per DIMM), keeping the
    platform's ranks per DIMM where it divides (8 = 4 DIMMs x 2 ranks, the paper's setting)."""
    if ranks <= per_dimm:
        return 1, ranks
    if ranks % per_dimm:
        raise DseError(f"--ranks: {ranks} is not a multiple of the platform's {per_dimm} ranks per DIMM")
    return ranks // per_dimm, per_dimm


def nmp_points(
    model: str,
    platform: str = "skylake_recnmp",
    ranks: list[int] | None = None,
    cache_kb: list[float] | None = None,
    locality: str | None = None,
    batch: int = 256,
    engines: int | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """The ``dse nmp`` table as a dict: for every (ranks, cache) point, the SparseLengthsSum
    memory-latency speedup (dse.cost.nmp.sls_speedup: host channels and CPU caches against the NMP
    DIMMs, same memory system and locality), the end-to-end latency speedup of one inference of
    ``batch`` items over the same host without NMP (the cost model's normal path, ``engines``
    engines busy), and the RankCache hit rate."""
    from dse.cost.model import predict_latency
    from dse.cost.nmp import sls_speedup
    from dse.cost.share import MIB, engines_per_socket
    from dse.graph import load_graph, ordered_ops
    from dse.graph.ops import OpKind
    from dse.specs.hardware import load_platform

    if batch < 1:
        raise DseError(f"--batch: {batch} must be positive")
    graph = load_graph(model)
    ops = ordered_ops(graph)
    bags = [op for op in ops if op.kind is OpKind.EMBEDDING_BAG]
    if not bags:
        raise DseError(f"{graph.graph['model']}: no embedding_bag (SparseLengthsSum) operators to run near memory")
    base = load_platform(platform, overrides)
    if base.nmp is None or base.memory is None:
        raise DseError(f"{platform}: not an NMP platform (it needs nmp: and memory: sections; try skylake_recnmp)")
    n_engines = base.compute.engine_slots if engines is None else int(engines)
    if n_engines < 1:
        raise DseError(f"--engines: {n_engines} must be at least 1")
    ranks = ranks or [1, 2, 4, 8]
    cache_kb = cache_kb if cache_kb is not None else [0.0, 8.0, 32.0, 128.0]
    loc = locality or base.nmp.locality

    points = []
    for r in ranks:
        dimms, per_dimm = _rank_split(r, base.memory.ranks_per_dimm)
        for kb in cache_kb:
            sets = list(overrides or []) + [
                f"memory.dimms_per_channel={dimms}",
                f"memory.ranks_per_dimm={per_dimm}",
                f"nmp.rank_cache_kb={kb}",
                f"nmp.locality={loc}",
                f"nmp.sls_in_flight={len(bags)}",
                "nmp.enabled=true",
                "kind=nmp",
            ]
            near = load_platform(platform, sets)
            host = load_platform(platform, sets[:-2] + ["nmp.enabled=false", "kind=cpu"])
            e = engines_per_socket(near, n_engines)
            cpu_cache = sum(
                c.size_mib * MIB * (1 if c.shared else e * near.compute.engine_cores) for c in near.caches
            )
            sls = sls_speedup(ops, near.memory, near.nmp, batch, e, cpu_cache)
            t_host = predict_latency(graph, host, batch, n_engines).latency_s
            t_near = predict_latency(graph, near, batch, n_engines).latency_s
            points.append(
                {
                    "ranks": r,
                    "cache_kb": kb,
                    "locality": loc,
                    "sls_speedup": sls["sls_speedup"],
                    "latency_speedup": t_host / t_near,
                    "hit_rate": sls["hit_rate"],
                    "dimms_per_channel": dimms,
                    "ranks_per_dimm": per_dimm,
                    "cpu_hit_rate": sls["cpu_hit_rate"],
                    "host_latency_ms": t_host * 1e3,
                    "nmp_latency_ms": t_near * 1e3,
                    "memory_energy_saving": sls["energy_saving"],
                    "host_memory_energy_uj_per_item": sls["host_energy_j"] / batch * 1e6,
                    "nmp_memory_energy_uj_per_item": sls["nmp_energy_j"] / batch * 1e6,
                }
            )
    return {
        "model": graph.graph["model"],
        "platform": base.name,
        "batch": batch,
        "engines": n_engines,
        "channels": base.memory.channels,
        "points": points,
    }


def register(app: typer.Typer) -> None:
    @app.command("nmp")
    @handle_errors
    def nmp_cmd(
        model: str = typer.Argument(..., help="Model name in modelspecs/ or a path to a YAML spec."),
        ranks: str = typer.Option("1,2,4,8", "--ranks", help="Ranks working in parallel per channel (DIMMs x ranks per DIMM)."),
        cache_kb: str = typer.Option("0,8,32,128", "--cache-kb", help="RankCache per rank, KB."),
        locality: Optional[str] = typer.Option(None, "--locality", help="uniform | zipf:ALPHA | file:PATH (default: the platform's)."),
        batch: int = typer.Option(256, "--batch", "-b", help="Items per inference."),
        engines: Optional[int] = typer.Option(None, "--engines", help="Co-located engines (default: one per core)."),
        platform: str = typer.Option("skylake_recnmp", "--platform", help="NMP platform: name in hwspecs/ or a YAML path."),
        overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override a platform field, e.g. nmp.psum_tags=32."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """SparseLengthsSum and end-to-end speedup of RecNMP DIMMs over the same host, per point."""
        from dse.cost.locality import parse_locality

        if locality is not None:
            try:
                parse_locality(locality)
            except DseError as exc:
                raise DseError(f"--locality: {exc}") from None
        result = nmp_points(
            model,
            platform,
            parse_int_list(ranks, "--ranks"),
            _float_list(cache_kb, "--cache-kb"),
            locality,
            batch,
            engines,
            overrides,
        )
        if as_json:
            print_json(result)
            return
        table = Table(
            "ranks", "DIMMs x ranks", "cache KB", "RankCache hits", "CPU hits", "SLS speedup", "latency speedup",
            "energy saving",
            title=f"{result['model']} on {result['platform']}: batch {result['batch']}, {result['engines']} engines, "
            f"{result['channels']} channels",
        )
        for p in result["points"]:
            table.add_row(
                str(p["ranks"]),
                f"{p['dimms_per_channel']} x {p['ranks_per_dimm']}",
                f"{p['cache_kb']:g}",
                f"{p['hit_rate']:.1%}",
                f"{p['cpu_hit_rate']:.1%}",
                f"{p['sls_speedup']:.2f}x",
                f"{p['latency_speedup']:.2f}x",
                f"{p['memory_energy_saving']:.0%}",
            )
        Console(width=120).print(table)
