"""Without torch, ``dse measure`` says in one line how to install it and exits non-zero."""

from __future__ import annotations

import builtins

from typer.testing import CliRunner

from dse.cli import app


def test_measure_without_torch(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    r = CliRunner().invoke(app, ["measure", "ncf"])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0
    assert "pip install -e '.[measure]'" in r.output
