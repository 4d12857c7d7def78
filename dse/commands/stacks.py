"""``dse stacks``: the software stacks (framework and harness costs) in hwspecs/stacks/."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import typer

from dse.commands import handle_errors, print_json, rich_console, rich_table

# The spec layer (pydantic models, YAML) loads inside the command (start-up time of every command).
if TYPE_CHECKING:
    from dse.specs.stack import Stack


def stack_summary(s: "Stack") -> dict[str, Any]:
    """The headline numbers of a stack (JSON-ready)."""
    return {
        "name": s.name,
        "description": s.description,
        "cpu_op_us": s.cpu.dispatch.op_us,
        "gpu_op_us": s.gpu.dispatch.op_us,
        "feed_blob_us": s.feed.blob_us,
        "feed_element_ns": s.feed.element_ns,
        "gemm_threads": s.gemm.threads,
        "query_overhead_ms": s.serving.query_overhead_ms,
        "machines": sorted(s.platforms),
    }


def register(app: typer.Typer) -> None:
    @app.command("stacks")
    @handle_errors
    def stacks_cmd(
        name: Optional[str] = typer.Argument(None, help="Show one stack (shipped name or YAML path) in full."),
        overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override a field: path.to.field=value (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List the software stacks in hwspecs/stacks/, or show one with the source of every number."""
        from dse.specs.fieldpath import is_number, leaves
        from dse.specs.stack import list_stacks, load_stack

        if name is None:
            stacks = [load_stack(n) for n in list_stacks()]
            if as_json:
                print_json({"stacks": [stack_summary(s) for s in stacks]})
                return
            table = rich_table("name", "CPU op us", "GPU op us", "blob us", "element ns", "GEMM threads", "query ms", "measured on", "description")
            for s in stacks:
                d = stack_summary(s)
                table.add_row(
                    d["name"], f"{d['cpu_op_us']:.2f}", f"{d['gpu_op_us']:.2f}", f"{d['feed_blob_us']:.1f}",
                    f"{d['feed_element_ns']:.0f}", str(d["gemm_threads"]), f"{d['query_overhead_ms']:.2f}",
                    ", ".join(d["machines"]) or "-", d["description"],
                )
            rich_console(180).print(table)
            return
        s = load_stack(name, [o for o in overrides or []])
        if as_json:
            print_json({"summary": stack_summary(s), "spec": s.model_dump(mode="json")})
            return
        table = rich_table("field", "value", "source", title=f"{s.name}: {s.description}")
        for path, value in leaves(s.model_dump(mode="json", exclude={"sources"})):
            table.add_row(path, str(value), s.source_of(path) if (is_number(value) or isinstance(value, (bool, str))) else "")
        rich_console(200).print(table)
