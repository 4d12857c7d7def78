"""``dse models`` and ``dse graph``: model specs and their operator graphs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from dse.commands import MAX_PREDICT_BATCH, handle_errors, print_json, rich_console, rich_table
from dse.errors import DseError
from dse.paths import MODELSPECS_DIR, resolve_spec, spec_files

# The graph layer loads inside the commands that use it, and they keep its plain-Python OpGraph:
# numpy and networkx are not needed to list operators; what they derive from the spec files is
# cached (dse/cache.py), so that an unchanged spec is not validated again (start-up time).
if TYPE_CHECKING:
    from dse.graph import OpGraph


def _si(value: float, unit: str = "") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}".rstrip()


def register(app: typer.Typer) -> None:
    @app.command("models")
    @handle_errors
    def models_cmd() -> None:
        """List the shipped model specs with their size."""
        from dse.cache import cached  # hashlib and pickle: not for ``dse --help``

        files = spec_files(MODELSPECS_DIR)
        table = rich_table("model", "description", "tables", "table memory", "FLOPs/item")
        for row in cached("models", files, lambda: model_rows(files)):
            table.add_row(row["model"], row["description"], str(row["tables"]), _si(row["table_bytes"], "B"), _si(row["flops"]))
        rich_console(120).print(table)

    @app.command("graph")
    @handle_errors
    def graph_cmd(
        model: str = typer.Argument(..., help="Model name in modelspecs/ or a path to a YAML spec."),
        batch: int = typer.Option(1, "--batch", "-b", help="Batch size (items) for the costs."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        dot: Optional[Path] = typer.Option(None, "--dot", help="Also write the graph in Graphviz DOT format."),
    ) -> None:
        """Print the operator graph of MODEL with per-operator FLOPs and bytes at --batch."""
        from dse.cache import cached
        from dse.graph import load_ops, ordered_ops, totals

        if batch <= 0:
            raise DseError(f"--batch: {batch} must be positive")
        if batch > MAX_PREDICT_BATCH:
            raise DseError(f"--batch: {batch} is above the limit of {MAX_PREDICT_BATCH}")
        path = resolve_spec(model, MODELSPECS_DIR, "model")
        # the lowered OpGraph is plain Python: read back, it needs neither pydantic nor the schemas
        graph = cached("graph", [path], lambda: load_ops(path))
        ops = ordered_ops(graph)
        if dot is not None:
            _write_dot(graph, dot)
        if as_json:
            print_json(
                {
                    "model": graph.graph["model"],
                    "batch": batch,
                    "ops": [op.as_dict(batch) for op in ops],
                    "totals": totals(graph, batch),
                }
            )
            return
        table = rich_table("op", "kind", "FLOPs", "streamed", "gathered", "table", title=f"{graph.graph['model']} at batch {batch}")
        for op in ops:
            table.add_row(
                op.name,
                op.kind.value,
                _si(float(op.flops(batch))),
                _si(float(op.streamed_bytes(batch)), "B"),
                _si(float(op.gathered_bytes(batch)), "B"),
                _si(op.table_bytes, "B") if op.table_bytes else "",
            )
        t = totals(graph, batch)
        table.add_row(
            "total", "", _si(t["flops"]), _si(t["streamed_bytes"], "B"), _si(t["gathered_bytes"], "B"), _si(t["table_bytes"], "B"),
            style="bold",
        )
        rich_console(120).print(table)


def model_rows(files: list[Path]) -> list[dict[str, Any]]:
    """``dse models``'s row of each model spec in ``files``: name, description, tables, table bytes
    and FLOPs per item (plain Python, so that the cached rows load without the spec schemas)."""
    from dse.graph import lower_ops, totals
    from dse.specs.model import load_model_spec

    rows = []
    for path in files:
        spec = load_model_spec(path)
        t = totals(lower_ops(spec), 1)
        rows.append({
            "model": path.stem, "description": spec.description, "tables": sum(tab.n_tables for tab in spec.tables),
            "table_bytes": t["table_bytes"], "flops": t["flops"],
        })
    return rows


def _write_dot(graph: OpGraph, path: Path) -> None:
    lines = [f'digraph "{graph.graph["model"]}" {{', "  rankdir=TB;"]
    for name in graph.nodes:
        op = graph.nodes[name]["op"]
        lines.append(f'  "{name}" [label="{name}\\n{op.kind.value}"];')
    for src, dst in graph.edges:
        lines.append(f'  "{src}" -> "{dst}";')
    lines.append("}")
    try:
        path.write_text("\n".join(lines) + "\n")
    except OSError as exc:
        raise DseError(f"--dot: cannot write {path} ({exc.strerror})") from None
