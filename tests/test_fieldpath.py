"""Dotted field paths (dse/specs/fieldpath.py): parsing, reading, writing, existence, leaves."""

import copy

import pytest

from dse.specs import fieldpath as fp

DATA = {"a": {"b": [{"c": 1}, {"c": 2.5}], "name": "x", "on": False, "opt": None}, "n": 3, "e": []}


@pytest.mark.parametrize("text", ["a.b[0].c", "caches[1].size_mib", "m[0][1]", "x", "a[-1]"])
def test_render_inverts_parse(text):
    assert fp.render_path(fp.parse_path(text)) == text


@pytest.mark.parametrize("bad", ["", " a", "a..b", ".a", "a[x]", "[0]"])
def test_malformed_paths(bad):
    with pytest.raises(fp.FieldPathError):
        fp.parse_path(bad)
    assert not fp.exists(DATA, bad)


def test_get_and_get_number():
    assert fp.get(DATA, "a.b[1].c") == 2.5
    assert fp.get(DATA, "a.b[-1].c") == 2.5
    assert fp.get(DATA, ["a", "name"]) == "x"
    assert fp.get_number(DATA, "n") == 3.0 and isinstance(fp.get_number(DATA, "n"), float)


@pytest.mark.parametrize(
    "path, message",
    [
        ("a.q", "unknown field 'q' (known: b, name, on, opt)"),
        ("a.nme", "unknown field 'nme' (did you mean 'name'? known: b, name, on, opt)"),
        ("a.b[5].c", "index [5] out of range (a.b has 2 entries)"),
        ("n.x", "n is a single value, it has no field 'x'"),
        ("a.name[0]", "a.name is not a list, cannot index [0]"),
        ("zz", "unknown field 'zz'"),
    ],
)
def test_errors_say_where_and_why(path, message):
    with pytest.raises(fp.FieldPathError) as err:
        fp.get(DATA, path)
    assert message in str(err.value)
    assert not fp.exists(DATA, path)


def test_set_value_needs_an_existing_field_unless_create():
    data = copy.deepcopy(DATA)
    fp.set_value(data, "a.b[0].c", 9)
    assert data["a"]["b"][0]["c"] == 9
    with pytest.raises(fp.FieldPathError):
        fp.set_value(data, "a.new", 1)
    fp.set_value(data, "x.y.z", 1, create=True)
    fp.set_value(data, "a.opt.k", 2, create=True)
    assert data["x"] == {"y": {"z": 1}} and data["a"]["opt"] == {"k": 2}


def test_locate_null_fill_opens_only_null_sections():
    data = copy.deepcopy(DATA)
    container, key = fp.locate(data, fp.parse_path("a.opt.x"), fill="null")
    assert container is data["a"]["opt"] == {} and key == "x"
    with pytest.raises(fp.FieldPathError, match="unknown field 'missing'"):
        fp.locate(data, fp.parse_path("a.missing.x"), fill="null")
    # a list index below a filled section is an error, not a KeyError
    with pytest.raises(fp.FieldPathError, match="not a list"):
        fp.locate(copy.deepcopy(DATA), fp.parse_path("a.opt.x[0]"), fill="null")


def test_exists_and_null_sections():
    assert fp.exists(DATA, "a.b[1].c") and fp.exists(DATA, "a.opt")
    assert not fp.exists(DATA, "a.opt.x")
    assert fp.exists(DATA, "a.opt.x", null_is_open=True)
    assert not fp.exists(DATA, "a.q", null_is_open=True)


def test_leaves_and_numbers():
    assert fp.leaves(DATA) == [
        ("a.b[0].c", 1), ("a.b[1].c", 2.5), ("a.name", "x"), ("a.on", False), ("a.opt", None), ("n", 3),
    ]  # fmt: skip
    assert fp.numeric_leaves(DATA) == ["a.b[0].c", "a.b[1].c", "n"]
    assert fp.is_number(1) and fp.is_number(2.5) and not fp.is_number(True) and not fp.is_number("1")


def test_is_within():
    assert fp.is_within("compute.gemm.m_half", "compute")
    assert fp.is_within("caches[1].size_mib", "caches")
    assert fp.is_within("dram", "dram")
    assert not fp.is_within("dram_x", "dram") and not fp.is_within("compute", "compute.gemm")
