"""``path.to.field=value`` overrides: generic on nested dicts, and on hardware specs."""

import pytest

from dse.errors import SpecError
from dse.specs.hardware import load_platform
from dse.specs.fieldpath import parse_path
from dse.specs.overrides import apply_overrides, parse_value

DATA = {"a": {"b": [{"c": 1}, {"c": 2.5}], "name": "x", "on": False, "opt": None}, "n": 3}


def test_parse_path():
    assert parse_path("a.b[0].c") == ["a", "b", 0, "c"]
    assert parse_path("caches[1].size_mib") == ["caches", 1, "size_mib"]
    assert parse_path("m[0][1]") == ["m", 0, 1]
    for bad in ["", "a..b", ".a", "a[x]", "a b"]:
        with pytest.raises(ValueError):
            parse_path(bad) if bad != "a b" else parse_path(" a")


@pytest.mark.parametrize(
    "text, value",
    [("3", 3), ("2.5", 2.5), ("1e9", 1e9), ("true", True), ("null", None), ("abc", "abc"), ("[1, 2]", [1, 2])],
)
def test_values_are_yaml_scalars(text, value):
    assert parse_value(text) == value


@pytest.mark.parametrize(
    "text",
    ["0", "7", "-1", "+5", "010", "00", "-0", "0.5", ".5", "5.", "+.5", "007.5", "1e9", "1E9", "1e-9", "1.5e3",
     "1.5e+3", "-1.5e-3", "0e0", "01e5", "1_000", "0x1f", "1:30", "123456789012345678901", "1.2.3", "e5", ".", "+",
     "1e", ".inf", "nan", "true", "~"],
)
def test_plain_numbers_skip_yaml_but_read_as_yaml_does(text):
    # parse_value reads plain decimal numbers without the YAML parser; the answer (value and type)
    # must be what the YAML route gives
    import yaml

    from dse.specs.loading import parse_yaml

    try:
        expected = parse_yaml(text)
    except yaml.YAMLError:
        expected = text
    if isinstance(expected, str) and expected.strip() and not expected.strip().isalpha():
        try:
            expected = float(expected)
        except ValueError:
            pass
    got = parse_value(text)
    assert type(got) is type(expected) and (got == expected or got != got and expected != expected)


def test_apply_nested_and_list_index_without_touching_the_input():
    out = apply_overrides(DATA, ["a.b[1].c=7", "n=4", "a.name=y", "a.on=true"], "f.yaml")
    assert out["a"]["b"][1]["c"] == 7 and out["n"] == 4 and out["a"]["name"] == "y" and out["a"]["on"] is True
    assert DATA["a"]["b"][1]["c"] == 2.5 and DATA["n"] == 3


def test_later_override_wins_and_null_section_is_filled():
    out = apply_overrides(DATA, ["n=5", "n=6", "a.opt.x=1"], "f.yaml")
    assert out["n"] == 6 and out["a"]["opt"] == {"x": 1}


@pytest.mark.parametrize(
    "assignment, expected",
    [
        ("a.q=1", "f.yaml: a.q: unknown field 'q'"),
        ("a.nme=1", "did you mean 'name'?"),
        ("a.b[5].c=1", "f.yaml: a.b[5].c: index [5] out of range"),
        ("n.x=1", "f.yaml: n.x: n is a single value"),
        ("n=abc", "f.yaml: n: expected a number, got 'abc'"),
        ("a.on=3", "f.yaml: a.on: expected true or false"),
        ("a=1", "f.yaml: a: is a section"),
        ("a.b=1", "f.yaml: a.b: is a list"),
        ("n", "expected path.to.field=value"),
        ("a..b=1", "malformed path"),
        ("a.opt.x[0]=1", "f.yaml: a.opt.x[0]: a.opt.x is not a list, cannot index [0]"),  # was a KeyError
    ],
)
def test_bad_overrides_are_one_line_errors_naming_file_and_field(assignment, expected):
    with pytest.raises(SpecError) as err:
        apply_overrides(DATA, [assignment], "f.yaml")
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_platform_override_changes_the_value_and_records_its_source():
    p = load_platform("skylake", ["dram.peak_bandwidth_gbs=200", "caches[2].size_mib=64", "gather.ramp_rows=1e3"])
    assert p.dram.peak_bandwidth_gbs == 200.0
    assert p.caches[2].size_mib == 64.0
    assert p.gather.ramp_rows == 1000.0
    assert p.source_of("dram.peak_bandwidth_gbs") == "override (--set dram.peak_bandwidth_gbs=200)"
    assert load_platform("skylake").dram.peak_bandwidth_gbs == 128.0  # the file is untouched


def test_platform_override_can_set_an_absent_optional_section():
    p = load_platform("skylake", ["memory.channels=6"])
    assert p.memory is not None and p.memory.channels == 6


@pytest.mark.parametrize(
    "assignment, expected",
    [
        ("compute.cores=-4", "skylake.yaml (with --set): compute.cores"),
        ("dram.latency_ns=0", "dram.latency_ns"),
        ("compute.turbo=3", "compute.turbo: unknown field 'turbo'"),
        ("compute.cores=many", "compute.cores: expected a number"),
        ("caches[9].size_mib=1", "index [9] out of range"),
        ("kind=tpu", "kind"),
    ],
)
def test_bad_platform_overrides_name_file_and_field(assignment, expected):
    with pytest.raises(SpecError) as err:
        load_platform("skylake", [assignment])
    msg = str(err.value)
    assert "skylake.yaml" in msg and expected in msg and "\n" not in msg
