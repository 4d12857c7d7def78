"""An on-disk cache of results derived from input files, so that the quick commands (``dse models``,
``dse graph``, ``dse hardware``) answer without validating their specs again (issue #17: pydantic and
the spec schemas cost about 0.3 s of a 0.3 s start-up target).

A result is stored under a *slot* (what it is, for which files: one file per slot, overwritten when
an input changes, so the cache does not grow with edits) together with its *key*: a hash of the
contents of every input file, of dse's own source (editing the code invalidates every entry) and of
the Python version. A result is reused only when the stored key equals the current one.

The cache is an optimisation and never an error: an unreadable directory, a corrupt or truncated
file, a value that cannot be pickled all fall back to computing. Nothing is stored when the
computation raises (a spec that fails validation gives its usual one-line error every time).

Where: ``$DSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dse``, else ``~/.cache/dse``. What is stored is
plain Python (the callers keep pydantic, numpy and networkx objects out of it, so that reading it
back imports none of them); it is a pickle, which runs code when loaded, so the directory is
created for the user alone (mode 0700), and an entry is read only where the user owns it and its
directory and no one else may write them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: dse's own source: its contents are part of every key.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Bumped when the file layout below changes.
FORMAT = b"dse-cache 1\n"


def cache_dir() -> Path:
    """``$DSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dse``, else ``~/.cache/dse``."""
    if os.environ.get("DSE_CACHE_DIR"):
        return Path(os.environ["DSE_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "dse"
    return Path.home() / ".cache" / "dse"


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> bytes:
    """SHA-256 of every ``.py`` file of the package (names and contents; about 5 ms)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.digest()


def _key(kind: str, inputs: list[Path]) -> bytes:
    """Hex SHA-256 of ``kind``, the Python version, dse's source and every input's path and contents."""
    digest = hashlib.sha256(FORMAT + kind.encode() + b"\0" + sys.version.encode() + b"\0")
    digest.update(source_fingerprint())
    for path in inputs:
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest().encode()


def _slot(kind: str, inputs: list[Path]) -> Path:
    """The file of ``kind`` for these input paths (not their contents: one file per slot)."""
    names = "\0".join(map(str, inputs))
    return cache_dir() / f"{kind}-{hashlib.sha256(names.encode()).hexdigest()[:20]}.pickle"


_MISSING = object()


def _trusted(path: Path) -> bool:
    """Whether ``path`` belongs to this user and no one else may write it (a pickle runs code when
    read: an entry planted in a shared directory must not be loaded). True where the system has
    no user ids."""
    if not hasattr(os, "getuid"):
        return True
    st = os.stat(path)
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _read(slot: Path, key: bytes) -> Any:
    """The value stored in ``slot`` under ``key``, else ``_MISSING`` (absent, stale, unreadable,
    or in a directory or file that another user owns or may write)."""
    try:
        if not (_trusted(slot.parent) and _trusted(slot)):
            return _MISSING
        with open(slot, "rb") as f:
            if f.readline() != FORMAT or f.readline() != key + b"\n":
                return _MISSING
            return pickle.load(f)
    except Exception:  # noqa: BLE001 - a damaged entry is a miss, whatever unpickling it raised
        return _MISSING


def _write(slot: Path, key: bytes, value: Any) -> None:
    """Store ``value`` in ``slot`` atomically (a temporary file, then a rename); failures are ignored."""
    temporary = slot.with_name(f".{slot.name}.{os.getpid()}.tmp")
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        slot.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(temporary, "wb") as f:
            f.write(FORMAT + key + b"\n" + payload)
        os.replace(temporary, slot)
    except Exception:  # noqa: BLE001 - read-only directory, full disk, a value pickle refuses
        try:
            temporary.unlink()
        except OSError:
            pass


def cached(kind: str, inputs: Iterable[Path], compute: Callable[[], T], storable: Callable[[T], bool] | None = None) -> T:
    """``compute()``, or its result stored by an earlier call with the same ``kind`` and the same
    contents of ``inputs`` (every file the result depends on) under the same dse source.

    ``storable(value)`` may refuse to store a result (it read a file not among ``inputs``).
    Exceptions of ``compute`` propagate and store nothing.
    """
    try:
        files = [path.resolve() for path in inputs]
        key = _key(kind, files)
        slot = _slot(kind, files)
    except (OSError, RuntimeError):  # an input vanished (compute names it), or no home directory
        return compute()
    value = _read(slot, key)
    if value is _MISSING:
        value = compute()
        if storable is None or storable(value):
            _write(slot, key, value)
    return value
