"""The commands' result cache (dse/cache.py): ``dse models``, ``dse graph`` and ``dse hardware`` print
the same with and without it, an edited spec or an edited dse source is a miss, a damaged entry or
an unwritable directory falls back to computing, a bad spec stores nothing.

The commands run in fresh interpreters (``DSE_HOME`` moves the spec directories, which dse reads at
import); each test has its own cache directory. (That a cached result loads no pydantic, numpy or
networkx is tests/test_cli_startup.py's.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dse import cache

ROOT = Path(__file__).resolve().parents[1]


def dse(*args: str, cache_dir: Path, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DSE_CACHE_DIR": str(cache_dir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if home is not None:
        env["DSE_HOME"] = str(home)
    code = f"import sys; sys.argv = {['dse', *args]!r}; from dse.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*")) if cache_dir.is_dir() else []


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A copy of the shipped model and hardware specs, to edit."""
    for name in ("modelspecs", "hwspecs"):
        shutil.copytree(ROOT / name, tmp_path / "home" / name)
    return tmp_path / "home"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: no {old!r} to edit"
    path.write_text(text.replace(old, new, 1))


COMMANDS = [("models",), ("graph", "dlrm_rmc1"), ("graph", "din", "--json", "-b", "4"), ("hardware",), ("hardware", "--json")]


@pytest.mark.parametrize("args", COMMANDS)
def test_the_output_is_the_same_with_and_without_the_cache(tmp_path: Path, args: tuple[str, ...]) -> None:
    # a cache directory below a plain file cannot be created: every run computes
    (tmp_path / "file").write_text("")
    uncached = dse(*args, cache_dir=tmp_path / "file" / "cache")
    assert uncached.returncode == 0, uncached.stderr
    assert entries(tmp_path / "file" / "cache") == []
    first, second = (dse(*args, cache_dir=tmp_path / "cache") for _ in range(2))
    assert len(entries(tmp_path / "cache")) == 1
    assert uncached.stdout == first.stdout == second.stdout
    assert first.stderr == second.stderr == ""


@pytest.mark.parametrize("args,spec,old,new", [
    (("models",), "modelspecs/ncf.yaml", "rows: 140000", "rows: 150000"),
    (("graph", "dlrm_rmc1"), "modelspecs/dlrm_rmc1.yaml", "per_sample: 80", "per_sample: 81"),
    (("hardware",), "hwspecs/skylake.yaml", "tdp_w: 250.0", "tdp_w: 260.0"),
    # the dispatch cost in the hardware list comes from the stack file
    (("hardware",), "hwspecs/stacks/pytorch_eager.yaml", "op_us: 2.09", "op_us: 3.09"),
])
def test_editing_a_spec_changes_the_output(tmp_path: Path, home: Path, args: tuple[str, ...], spec: str, old: str,
                                           new: str) -> None:
    before = dse(*args, cache_dir=tmp_path / "cache", home=home)
    assert before.returncode == 0, before.stderr
    edit(home / spec, old, new)
    after = dse(*args, cache_dir=tmp_path / "cache", home=home)
    assert after.returncode == 0, after.stderr
    assert after.stdout != before.stdout
    assert after.stdout == dse(*args, cache_dir=tmp_path / "other", home=home).stdout
    assert len(entries(tmp_path / "cache")) == 1  # the entry was replaced, not added to


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_entry_is_ignored_and_replaced(tmp_path: Path, damage: str) -> None:
    good = dse("graph", "wnd", cache_dir=tmp_path / "cache")
    [entry] = entries(tmp_path / "cache")
    data = entry.read_bytes()
    entry.write_bytes({"garbage": b"\x80\x05not a pickle", "truncated": data[: len(data) - 40], "empty": b""}[damage])
    again = dse("graph", "wnd", cache_dir=tmp_path / "cache")
    assert (again.returncode, again.stdout, again.stderr) == (0, good.stdout, "")
    assert entry.read_bytes() == data


def test_a_bad_spec_is_one_line_and_stores_nothing(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "modelspecs" / "ncf.yaml").read_text().replace("rows: 140000", "rows: -5"))
    edit(home / "modelspecs" / "ncf.yaml", "rows: 140000", "rows: -5")
    edit(home / "hwspecs" / "skylake.yaml", "tdp_w: 250.0", "tdp_w: -1.0")
    for args, where, named in ((("graph", str(bad)), None, "bad.yaml: tables[0].rows"),
                               (("models",), home, "ncf.yaml: tables[0].rows"), (("hardware",), home, "skylake.yaml: tdp_w")):
        for _ in range(2):  # the second run must fail the same way: nothing was cached
            out = dse(*args, cache_dir=tmp_path / "cache", home=where)
            assert out.returncode == 2 and out.stdout == ""
            assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
            assert named in out.stderr
    assert entries(tmp_path / "cache") == []


def test_a_stack_outside_the_stacks_directory_is_not_cached(tmp_path: Path, home: Path) -> None:
    """The hardware list is keyed on hwspecs/ and hwspecs/stacks/: a hwspec that binds a stack file
    elsewhere is listed every time from the files."""
    outside = tmp_path / "my_stack.yaml"
    shutil.copy(home / "hwspecs" / "stacks" / "pytorch_eager.yaml", outside)
    edit(home / "hwspecs" / "skylake.yaml", "stack: pytorch_eager", f"stack: {outside}")
    first = dse("hardware", cache_dir=tmp_path / "cache", home=home)
    assert first.returncode == 0, first.stderr
    assert entries(tmp_path / "cache") == []
    edit(outside, "op_us: 2.86", "op_us: 3.86")  # skylake's own dispatch cost
    assert dse("hardware", cache_dir=tmp_path / "cache", home=home).stdout != first.stdout


def test_a_stack_named_relative_to_the_working_directory_is_not_cached(tmp_path: Path, home: Path) -> None:
    """``stack: hwspecs/stacks/pytorch_eager.yaml`` is found from the project's directory only:
    a list cached there would be printed elsewhere, where the files give an error."""
    edit(home / "hwspecs" / "skylake.yaml", "stack: pytorch_eager", "stack: hwspecs/stacks/pytorch_eager.yaml")
    env = {**os.environ, "DSE_CACHE_DIR": str(tmp_path / "cache"), "DSE_HOME": str(home)}
    code = "import sys; sys.argv = ['dse', 'hardware']; from dse.cli import main; main()"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=home)
    assert there.returncode == 0, there.stderr
    assert entries(tmp_path / "cache") == []
    elsewhere = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert elsewhere.returncode == 2 and "no such stack file" in elsewhere.stderr


class TestCached:
    """:func:`dse.cache.cached` itself, in this process."""

    @pytest.fixture(autouse=True)
    def _isolated(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
        (tmp_path / "input.txt").write_text("1")
        self.input = tmp_path / "input.txt"
        self.calls = 0

    def compute(self, value: object = None) -> object:
        self.calls += 1
        return value if value is not None else {"read": self.input.read_text()}

    def test_a_hit_does_not_compute(self) -> None:
        assert cache.cached("t", [self.input], self.compute) == {"read": "1"}
        assert cache.cached("t", [self.input], self.compute) == {"read": "1"}
        assert self.calls == 1
        self.input.write_text("2")
        assert cache.cached("t", [self.input], self.compute) == {"read": "2"} and self.calls == 2

    def test_editing_dse_source_is_a_miss(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        package = tmp_path / "package"
        package.mkdir()
        (package / "module.py").write_text("X = 1\n")
        monkeypatch.setattr(cache, "PACKAGE_DIR", package)
        cache.source_fingerprint.cache_clear()
        try:
            cache.cached("t", [self.input], self.compute)
            cache.cached("t", [self.input], self.compute)
            assert self.calls == 1
            (package / "module.py").write_text("X = 2\n")
            cache.source_fingerprint.cache_clear()  # a new process computes it again
            cache.cached("t", [self.input], self.compute)
            assert self.calls == 2
        finally:
            cache.source_fingerprint.cache_clear()

    def test_an_unpicklable_value_is_returned_and_not_stored(self, tmp_path: Path) -> None:
        value = [lambda: None]
        assert cache.cached("t", [self.input], lambda: self.compute(value)) is value
        assert cache.cached("t", [self.input], lambda: self.compute(value)) is value
        assert self.calls == 2 and entries(tmp_path / "cache") == []  # no temporary file left either

    def test_an_error_stores_nothing(self, tmp_path: Path) -> None:
        def fail() -> None:
            raise ValueError("bad spec")

        with pytest.raises(ValueError):
            cache.cached("t", [self.input], fail)
        assert entries(tmp_path / "cache") == []

    def test_a_directory_that_cannot_be_written_computes(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "file").write_text("")  # (mode bits would not stop root)
        monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "file" / "cache"))
        assert cache.cached("t", [self.input], self.compute) == {"read": "1"}
        assert cache.cached("t", [self.input], self.compute) == {"read": "1"}
        assert self.calls == 2

    def test_a_missing_input_computes(self, tmp_path: Path) -> None:
        assert cache.cached("t", [tmp_path / "gone.yaml"], lambda: self.compute("x")) == "x"
        assert entries(tmp_path / "cache") == []

    def test_an_entry_others_may_write_is_not_read(self, tmp_path: Path) -> None:
        """A pickle runs code when loaded: a directory or entry that another user may write is a
        miss (and the directory the cache creates is the user's alone)."""
        cache.cached("t", [self.input], self.compute)
        directory = tmp_path / "cache"
        assert directory.stat().st_mode & 0o077 == 0
        directory.chmod(0o777)
        cache.cached("t", [self.input], self.compute)
        assert self.calls == 2
        directory.chmod(0o700)
        cache.cached("t", [self.input], self.compute)
        assert self.calls == 2  # rewritten by the miss above, read again now
        for entry in directory.iterdir():
            entry.chmod(0o666)
        cache.cached("t", [self.input], self.compute)
        assert self.calls == 3

    def test_where(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        assert cache.cache_dir() == tmp_path / "cache"
        monkeypatch.delenv("DSE_CACHE_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache.cache_dir() == tmp_path / "xdg" / "dse"
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        assert cache.cache_dir() == tmp_path / "home" / ".cache" / "dse"
