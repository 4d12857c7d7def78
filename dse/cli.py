"""The ``dse`` command line: a thin typer app; every command calls into the library.

Commands live in ``dse/commands/<group>.py``, each with a ``register(app)`` function, so that a
new command group is one file plus its name in the import and in ``COMMAND_GROUPS``.
"""

from __future__ import annotations

import typer

from dse.commands import calibrate, hardware, models, nmp, optimize, report, serve, stacks, sweep

app = typer.Typer(
    name="dse",
    help="Analytical performance model and design-space exploration for recommendation inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Command groups in the order of ``dse --help``.
COMMAND_GROUPS = [models, sweep, serve, report, nmp, hardware, stacks, optimize, calibrate]

for _group in COMMAND_GROUPS:
    _group.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
