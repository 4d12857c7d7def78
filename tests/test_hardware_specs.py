"""Shipped hardware specs: they load, every number has a source, peaks match the datasheets."""

from pathlib import Path

import pytest
import yaml

from dse.errors import DseError, SpecError
from dse.paths import HWSPECS_DIR
from dse.specs.hardware import Platform, check_sources, list_platforms, load_platform

REQUIRED = ["haswell", "broadwell", "skylake", "gtx1080ti", "h100", "h200", "h200_host", "ci_cpu"]


def test_required_specs_are_shipped():
    assert set(REQUIRED) <= set(list_platforms())


@pytest.mark.parametrize("name", list_platforms())
def test_every_spec_loads_and_every_number_has_a_source(name):
    raw = yaml.safe_load((HWSPECS_DIR / f"{name}.yaml").read_text())
    check_sources(raw, name)  # raises on an uncovered number
    platform = load_platform(name)
    assert platform.name == name
    assert platform.source_of("compute.clock_ghz") != "schema default"
    assert platform.source_of("dram.peak_bandwidth_gbs") != "schema default"


@pytest.mark.parametrize("name", ["h200", "h200_host", "ci_cpu"])
def test_measured_platforms_say_where_their_fits_come_from(name):
    platform = load_platform(name)
    fitted = [text for text in platform.sources.values() if "fitted" in text]
    assert fitted, "fitted numbers must say so"
    assert any("micro" in text for text in fitted)


@pytest.mark.parametrize(
    "name, per_socket_gflops",
    [("haswell", 960.0), ("broadwell", 1075.2), ("skylake", 2560.0)],  # FACTS.md section 3
)
def test_cpu_peaks_match_facts(name, per_socket_gflops):
    c = load_platform(name).compute
    assert c.sockets == 2
    assert c.peak_flops / c.sockets / 1e9 == pytest.approx(per_socket_gflops, rel=1e-3)


@pytest.mark.parametrize("name, tflops", [("gtx1080ti", 11.3), ("h100", 66.9), ("h200", 66.9)])
def test_gpu_peaks_match_facts(name, tflops):
    p = load_platform(name)
    assert p.kind == "gpu" and p.host_link is not None
    assert p.compute.peak_flops / 1e12 == pytest.approx(tflops, rel=0.01)


def test_gpu_memory_and_link_figures():
    assert load_platform("h200").dram.peak_bandwidth_gbs == 4800.0
    assert load_platform("h100").dram.peak_bandwidth_gbs == 3350.0
    assert load_platform("gtx1080ti").host_link.h2d_gbs == pytest.approx(12.0)
    for name in list_platforms():
        p = load_platform(name)
        assert 0 <= p.idle_w <= p.tdp_w


def _write(tmp_path: Path, data: dict, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _base() -> dict:
    return yaml.safe_load((HWSPECS_DIR / "skylake.yaml").read_text())


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["compute"].update(clokc_ghz=2.0), "compute.clokc_ghz: unknown field (did you mean 'clock_ghz'?"),
        (lambda d: d["compute"].update(cores="many"), "compute.cores"),
        (lambda d: d["dram"].update(peak_bandwidth_gbs=-5.0), "dram.peak_bandwidth_gbs"),
        (lambda d: d["caches"][1].update(size_mib=0), "caches[1].size_mib"),
        (lambda d: d.update(kind="tpu"), "kind"),
        (lambda d: d.update(dispatch={"op_us": 3.0}), "dispatch: framework costs belong to the software stack"),
        (lambda d: d.update(stack="pytorch_eagr"), "stack: unknown stack 'pytorch_eagr'"),
        (lambda d: d.update(idle_w=1000.0), "idle_w"),
        (lambda d: d["sources"].pop("compute.clock_ghz"), "compute.clock_ghz: no source given"),
        (lambda d: d["sources"].update({"compute.turbo_ghz": "x"}), "sources: 'compute.turbo_ghz' names no field"),
    ],
)
def test_bad_specs_fail_with_one_line_naming_file_and_field(tmp_path, mutate, expected):
    data = _base()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_platform(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(path)
    assert expected in msg


def test_gpu_without_host_link_is_rejected(tmp_path):
    data = yaml.safe_load((HWSPECS_DIR / "h200.yaml").read_text())
    del data["host_link"]
    data["sources"] = {k: v for k, v in data["sources"].items() if not k.startswith("host_link")}
    with pytest.raises(SpecError, match="host_link: required"):
        load_platform(_write(tmp_path, data))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DseError, match="unknown hardware 'epyc'.*skylake"):
        load_platform("epyc")


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncompute: [1, 2\n")
    with pytest.raises(SpecError, match="broken.yaml: malformed YAML at line"):
        load_platform(str(path))


def test_source_of_uses_the_longest_matching_entry():
    p = load_platform("broadwell")
    assert "Ramulator" in p.source_of("memory.timing.CL")
    assert p.source_of("compute.gemm.m_half").startswith("assumed")
    assert p.source_of("name") == "schema default"


def test_platform_schema_forbids_extra_fields():
    data = load_platform("ci_cpu").model_dump()
    data["turbo"] = True
    with pytest.raises(Exception):
        Platform.model_validate(data)
