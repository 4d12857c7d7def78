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
    # click's plain help: rich's costs about 0.2 s of start-up (imports and layout) for the same text
    rich_markup_mode=None,
    # the help uses the terminal's width up to 120 columns (click's default stops at 80)
    context_settings={"max_content_width": 120},
)

#: Command groups in the order of ``dse --help``.
COMMAND_GROUPS = [models, sweep, serve, report, nmp, hardware, stacks, optimize, calibrate]

for _group in COMMAND_GROUPS:
    _group.register(app)


def main() -> None:
    """The ``dse`` entry point: the typer app, with click's own usage errors (an unknown option,
    ``-b abc``) as one ``error:`` line and exit status 2 like every other bad input."""
    import sys

    try:  # typer 0.2x runs a vendored copy of click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # pragma: no cover - typer on the public click
        from click.exceptions import ClickException, NoArgsIsHelpError

    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()  # ``dse`` alone prints the help
        raise SystemExit(0) from None
    except ClickException as exc:
        message = " ".join(exc.format_message().split())
        command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "dse"
        sys.stderr.write(f"error: {message} (try '{command} --help')\n")
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
