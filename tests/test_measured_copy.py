"""The repository's copy of the measured data (data/measured) is the shared data, byte for byte."""

import pytest

from dse.paths import BUNDLED_MEASURED_DIR, SHARED_MEASURED_DIR

#: Our own measurements of the CI machine kind: only in the repository, not in ../shared.
OWN = [
    "ci_cpu_alloc.csv", "ci_cpu_alloc_env.json", "ci_cpu_gather_ramp.csv", "ci_cpu_gather_ramp_env.json",
    "ci_cpu_batchlist.csv", "ci_cpu_batchlist_env.json", "ci_cpu_stack.csv", "ci_cpu_stack_env.json",
]
BUNDLED = sorted(p.name for p in BUNDLED_MEASURED_DIR.iterdir() if p.name not in OWN)


def test_bundled_copy_has_every_small_file():
    assert BUNDLED == [
        "ci_cpu_env.json", "ci_cpu_micro.csv", "ci_cpu_models.csv",
        "h200_env.json", "h200_micro.csv", "h200_models.csv", "h200_models_rmc2_rmc3.csv",
        "h200_serving_wnd_summary.csv",
    ]
    assert all((BUNDLED_MEASURED_DIR / name).is_file() for name in OWN)


@pytest.mark.skipif(not SHARED_MEASURED_DIR.is_dir(), reason="no ../shared beside the checkout")
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_copy_equals_shared(name):
    assert (BUNDLED_MEASURED_DIR / name).read_bytes() == (SHARED_MEASURED_DIR / name).read_bytes()


def test_measured_dir_falls_back_to_the_copy(monkeypatch, tmp_path):
    import dse.paths as paths

    monkeypatch.delenv("DSE_MEASURED", raising=False)
    monkeypatch.setattr(paths, "SHARED_MEASURED_DIR", tmp_path / "missing")
    assert paths.default_measured_dir() == BUNDLED_MEASURED_DIR
    monkeypatch.setenv("DSE_MEASURED", str(tmp_path))
    assert paths.default_measured_dir() == tmp_path
