"""``dse nmp``: what RecNMP DIMMs buy a model, over a grid of ranks and RankCache sizes.

The table is computed by :func:`dse.cost.nmp_points.nmp_points`; this module parses the options
and prints it."""

from __future__ import annotations

from typing import Optional

import typer

from dse.commands import (MAX_PREDICT_BATCH, check_range, handle_errors, parse_int_list, print_json,
                          rich_console, rich_table)
from dse.errors import DseError
from dse.settings import MAX_ENGINES, RECNMP_LOCALITY


#: Most ranks per channel ``dse nmp`` tabulates (DDR4 allows 8 per DIMM and 2 DIMMs per channel;
#: a hypothetical 1024 is far beyond any slot count).
MAX_RANKS = 1024


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


def register(app: typer.Typer) -> None:
    @app.command("nmp")
    @handle_errors
    def nmp_cmd(
        model: str = typer.Argument(..., help="Model name in modelspecs/ or a path to a YAML spec."),
        ranks: str = typer.Option("1,2,4,8", "--ranks", help="Ranks working in parallel per channel (DIMMs x ranks per DIMM)."),
        cache_kb: str = typer.Option("0,8,32,128", "--cache-kb", help="RankCache per rank, KB."),
        locality: str = typer.Option(RECNMP_LOCALITY, "--locality",
                                     help="Embedding index stream: uniform | zipf:ALPHA | file:PATH (default: RecNMP's traces)."),
        batch: int = typer.Option(256, "--batch", "-b", help="Items per inference."),
        engines: Optional[int] = typer.Option(None, "--engines", help="Co-located engines (default: one per core)."),
        platform: str = typer.Option("skylake_recnmp", "--platform", help="NMP platform: name in hwspecs/ or a YAML path."),
        overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override a platform field, e.g. nmp.psum_tags=32."),
        stack: Optional[str] = typer.Option(None, "--stack", help="Software stack: name in hwspecs/stacks/ or a YAML path (default: the platform's)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """SparseLengthsSum and end-to-end speedup of RecNMP DIMMs over the same host, per point."""
        from dse.commands.serve import check_locality
        from dse.cost.nmp_points import nmp_points

        check_locality(locality)
        if batch > MAX_PREDICT_BATCH:  # nmp_points names a batch below 1
            raise DseError(f"--batch: {batch} is above the limit of {MAX_PREDICT_BATCH}")
        check_range(engines, "--engines", 1, MAX_ENGINES, "the most engines a configuration may have")
        result = nmp_points(
            model,
            platform,
            parse_int_list(ranks, "--ranks", MAX_RANKS),
            _float_list(cache_kb, "--cache-kb"),
            locality,
            batch,
            engines,
            [*(overrides or []), *([f"stack={stack}"] if stack else [])],
        )
        if as_json:
            print_json(result)
            return
        table = rich_table(
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
        rich_console(120).print(table)
