"""The one exception type the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class DseError(Exception):
    """A user-facing error: bad input, unknown name, impossible value.

    The message is a single line that names the file and the field where possible,
    e.g. ``modelspecs/foo.yaml: tables[0].rows: must be > 0``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split("\n")))


class SpecError(DseError):
    """A spec file (model, hardware, study) is malformed or inconsistent."""
