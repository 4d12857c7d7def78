"""Bad model specs: each gives exit status 2 and one line on stderr naming the file and the field.

Every case writes a spec to ``tmp_path`` and runs ``dse graph PATH`` through the CLI. The message
must name the file, the field (as the user wrote it: ``blocks[0].layers[1]``, never pydantic's
union or validator tags) and say what is wrong, with no traceback.
"""

import copy
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from dse.cli import app
from dse.errors import SpecError
from dse.specs.model import load_model_spec

# pydantic internals that must never reach the user
JARGON = ["Traceback", "function-after", "function-before", "constrained-int", "tagged-union", "list[", "Value error",
          "Input should", ".mlp.", ".interaction.", ".attention.", ".gru.", "validation error", "pydantic"]  # fmt: skip


def base_spec() -> dict:
    """A small valid DLRM-like spec."""
    return {
        "name": "tiny",
        "dense_features": 16,
        "tables": [{"name": "emb", "rows": 100, "dim": 8, "count": 2}],
        "lookups": [{"name": "sparse", "table": "emb", "per_sample": 3}],
        "blocks": [
            {"kind": "mlp", "name": "bottom", "input": "dense", "layers": [8]},
            {"kind": "interaction", "name": "cat", "op": "concat", "inputs": ["bottom", "sparse"]},
            {"kind": "mlp", "name": "top", "input": "cat", "layers": [4, 1], "final": "sigmoid"},
        ],
        "outputs": ["top"],
    }


def seq_spec() -> dict:
    """A small valid DIN/DIEN-like spec with a behaviour sequence."""
    return {
        "name": "seq",
        "tables": [{"name": "items", "rows": 1000, "dim": 8}],
        "lookups": [
            {"name": "cand", "table": "items", "per_sample": 1},
            {"name": "hist", "table": "items", "per_sample": 20, "pooling": "none"},
        ],
        "blocks": [
            {"kind": "gru", "name": "g", "input": "hist", "hidden": 8},
            {"kind": "attention", "name": "att", "query": "cand", "keys": "g", "mlp": [4]},
            {"kind": "interaction", "name": "x", "op": "concat", "inputs": ["cand", "att"]},
            {"kind": "mlp", "name": "top", "input": "x", "layers": [2], "final": "softmax"},
        ],
        "outputs": ["top"],
    }


def base_yaml() -> str:
    return yaml.safe_dump(base_spec(), sort_keys=False)


def mutate(fn, spec=base_spec):
    def build():
        data = copy.deepcopy(spec())
        fn(data)
        return yaml.safe_dump(data, sort_keys=False)

    return build


def setitem(path, value):
    """Mutation setting data[path[0]][path[1]]... = value."""

    def fn(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return fn


def delitem(path):
    def fn(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return fn


def append(path, value):
    def fn(data):
        target = data
        for key in path:
            target = target[key]
        target.append(value)

    return fn


def both(*fns):
    def fn(data):
        for f in fns:
            f(data)

    return fn


# (id, spec text builder, field the message must name, words the message must contain)
CASES = [
    ("malformed_yaml", lambda: "name: tiny\nblocks: [\n", None, ["malformed YAML", "line 3"]),
    ("malformed_yaml_indent", lambda: "name: tiny\n  blocks: 1\n bad\n", None, ["malformed YAML", "line"]),
    ("empty_file", lambda: "", None, ["empty"]),
    ("comments_only", lambda: "# nothing here\n", None, ["empty"]),
    ("top_level_list", lambda: "- name: tiny\n- blocks: []\n", None, ["mapping", "list"]),
    ("top_level_scalar", lambda: "just words\n", None, ["mapping", "string"]),
    ("unknown_top_level_key", mutate(setitem(["blokcs"], [])), "blokcs", ["unknown field", "did you mean 'blocks'"]),
    ("unknown_key_in_block", mutate(setitem(["blocks", 0, "layer"], [8])), "blocks[0].layer", ["unknown field", "layers"]),
    ("unknown_key_in_table", mutate(setitem(["tables", 0, "width"], 8)), "tables[0].width", ["unknown field", "dim"]),
    ("unknown_key_in_lookup", mutate(setitem(["lookups", 0, "pool"], "sum")), "lookups[0].pool", ["unknown field", "pooling"]),
    ("rows_zero", mutate(setitem(["tables", 0, "rows"], 0)), "tables[0].rows", ["greater than 0", "got 0"]),
    ("rows_negative_in_list", mutate(setitem(["tables", 0, "rows"], [100, -5])), "tables[0].rows[1]", ["greater than 0"]),
    ("dim_negative", mutate(setitem(["tables", 0, "dim"], -1)), "tables[0].dim", ["greater than 0", "got -1"]),
    ("per_sample_zero", mutate(setitem(["lookups", 0, "per_sample"], 0)), "lookups[0].per_sample", ["greater than 0"]),
    ("layer_width_zero", mutate(setitem(["blocks", 0, "layers"], [8, 0])), "blocks[0].layers[1]", ["greater than 0"]),
    ("rows_string", mutate(setitem(["tables", 0, "rows"], "many")), "tables[0].rows", ["integer", "'many'"]),
    ("rows_yaml_boolean", lambda: base_yaml().replace("rows: 100", "rows: yes"), "tables[0].rows", ["number", "true"]),
    ("layers_string", mutate(setitem(["blocks", 2, "layers"], "4-1")), "blocks[2].layers", ["list"]),
    ("precision_3", mutate(setitem(["precision_bytes"], 3)), "precision_bytes", ["1, 2, 4 or 8", "got 3"]),
    ("irregularity_above_1", mutate(setitem(["lookups", 0, "irregularity"], 1.5)), "lookups[0].irregularity", ["1"]),
    ("bad_final_activation", mutate(setitem(["blocks", 2, "final"], "tanh")), "blocks[2].final", ["'sigmoid'", "'tanh'"]),
    ("bad_name", mutate(setitem(["blocks", 0, "name"], "bottom-mlp")), "blocks[0].name", ["letters, digits"]),
    ("unknown_block_kind", mutate(setitem(["blocks", 0, "kind"], "conv")), "blocks[0].kind", ["unknown kind 'conv'", "mlp"]),
    ("missing_block_kind", mutate(delitem(["blocks", 0, "kind"])), "blocks[0].kind", ["missing"]),
    ("missing_block_input", mutate(delitem(["blocks", 2, "input"])), "blocks[2].input", ["missing"]),
    ("missing_blocks", mutate(delitem(["blocks"])), "blocks", ["missing"]),
    ("empty_blocks", mutate(both(setitem(["blocks"], []))), "blocks", ["at least 1"]),
    ("dangling_block_input", mutate(setitem(["blocks", 0, "input"], "dens")), "blocks[0].input",
     ["unknown input 'dens'", "did you mean 'dense'"]),
    ("forward_reference", mutate(setitem(["blocks", 1, "inputs"], ["top", "sparse"])), "blocks[1].inputs[0]",
     ["unknown input 'top'"]),
    ("dense_without_dense_features", mutate(setitem(["dense_features"], 0)), "blocks[0].input", ["dense_features"]),
    ("dangling_lookup_table", mutate(setitem(["lookups", 0, "table"], "embs")), "lookups[0].table", ["unknown table 'embs'"]),
    ("duplicate_block_name", mutate(setitem(["blocks", 1, "name"], "bottom")), "blocks[1].name", ["already defined"]),
    ("block_named_like_lookup", mutate(setitem(["blocks", 0, "name"], "sparse")), "blocks[0].name", ["already defined by lookups[0]"]),
    ("lookup_named_dense", mutate(setitem(["lookups", 0, "name"], "dense")), "lookups[0].name", ["already defined"]),
    ("duplicate_table_name", mutate(append(["tables"], {"name": "emb", "rows": 5, "dim": 8})), "tables[1].name", ["duplicate"]),
    ("dot_mismatched_dims", mutate(both(setitem(["blocks", 1, "op"], "dot"), setitem(["blocks", 0, "layers"], [4]))),
     "blocks[1].inputs", ["'bottom' has dim 4", "'sparse' has dim 8"]),
    ("elementwise_shape_mismatch", mutate(setitem(["blocks", 1], {"kind": "elementwise", "name": "cat", "op": "add",
     "inputs": ["bottom", "sparse"]})), "blocks[1].inputs", ["equal shapes", "1x8", "2x8"]),
    ("attention_keys_not_sequence", mutate(setitem(["blocks", 1, "keys"], "cand"), seq_spec), "blocks[1].keys",
     ["must be a sequence"]),
    ("attention_query_is_sequence", mutate(setitem(["blocks", 1, "query"], "hist"), seq_spec), "blocks[1].query",
     ["single vector"]),
    ("gru_on_vector", mutate(setitem(["blocks", 0, "input"], "cand"), seq_spec), "blocks[0].input", ["must be a sequence"]),
    ("mlp_on_sequence", mutate(setitem(["blocks", 3, "input"], "g"), seq_spec), "blocks[3].input", ["sequence"]),
    ("unpooled_lookup_on_table_group", mutate(setitem(["lookups", 0, "pooling"], "none")), "lookups[0].pooling",
     ["single table", "group of 2"]),
    ("unused_block", mutate(append(["blocks"], {"kind": "mlp", "name": "extra", "input": "cat", "layers": [3]})),
     "blocks[3]", ["'extra'", "neither used nor an output"]),
    ("unused_table", mutate(append(["tables"], {"name": "spare", "rows": 5, "dim": 8})), "tables[1]", ["never looked up"]),
    ("unused_lookup", mutate(append(["lookups"], {"name": "spare", "table": "emb", "per_sample": 1})), "lookups[1]",
     ["neither used nor an output"]),
    ("unused_dense_features", mutate(setitem(["dense_features"], 16), seq_spec), "dense_features", ["never used"]),
    ("unknown_output", mutate(setitem(["outputs"], ["tpo"])), "outputs[0]", ["unknown tensor 'tpo'", "did you mean 'top'"]),
    ("duplicate_output", mutate(setitem(["outputs"], ["top", "top"])), "outputs[1]", ["twice"]),
    ("rows_list_vs_count", mutate(setitem(["tables", 0, "rows"], [100, 200, 300])), "tables[0].count",
     ["2 does not match the 3 entries of rows"]),
    ("rows_list_empty", mutate(setitem(["tables", 0, "rows"], [])), "tables[0].rows", ["empty"]),
    ("bilinear_with_mlp", mutate(setitem(["blocks", 1, "score"], "bilinear"), seq_spec), "blocks[1].mlp", ["score: mlp"]),
]  # fmt: skip


def runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into output by default
    except TypeError:
        return CliRunner()


def assert_one_line_error(result, path: str, field: str | None, words: list[str]) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    err = result.stderr
    assert result.stdout == ""
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    line = err.strip()
    assert line.startswith(f"error: {path}: "), line
    if field is not None:
        assert f"{path}: {field}: " in line, f"field {field!r} not named in: {line}"
    for word in words:
        assert word in line, f"{word!r} not in: {line}"
    for jargon in JARGON:
        assert jargon not in line, f"pydantic jargon {jargon!r} in: {line}"
    return line


def test_base_specs_are_valid(tmp_path):
    for builder in (base_spec, seq_spec):
        path = tmp_path / f"{builder.__name__}.yaml"
        path.write_text(yaml.safe_dump(builder(), sort_keys=False))
        result = runner().invoke(app, ["graph", str(path), "--json"])
        assert result.exit_code == 0, result.output


def test_at_least_twelve_kinds():
    assert len({c[0] for c in CASES}) == len(CASES) >= 12


@pytest.mark.parametrize("case_id, build, field, words", CASES, ids=[c[0] for c in CASES])
def test_bad_spec(tmp_path, case_id, build, field, words):
    path = tmp_path / f"{case_id}.yaml"
    path.write_text(build())
    result = runner().invoke(app, ["graph", str(path)])
    assert_one_line_error(result, str(path), field, words)
    # the library raises the same message as a SpecError
    with pytest.raises(SpecError):
        load_model_spec(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"name: \xff\xfe\x00bad\n")
    result = runner().invoke(app, ["graph", str(path)])
    assert_one_line_error(result, str(path), None, ["UTF-8"])


def test_nonexistent_file(tmp_path):
    path = tmp_path / "missing.yaml"
    result = runner().invoke(app, ["graph", str(path)])
    assert_one_line_error(result, str(path), None, ["no such model file"])


def test_unknown_model_name():
    result = runner().invoke(app, ["graph", "dlrm_rmc9"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert result.stderr.count("\n") == 1
    assert "unknown model 'dlrm_rmc9'" in line and "dlrm_rmc1" in line and "Traceback" not in line


def test_more_errors_are_counted(tmp_path):
    data = base_spec()
    data["tables"][0]["rows"] = 0
    data["lookups"][0]["per_sample"] = 0
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(data))
    result = runner().invoke(app, ["graph", str(path)])
    # rows is a union (one number or a list): its two member errors count as one problem
    line = assert_one_line_error(result, str(path), "tables[0].rows", ["(and 1 more error)"])
    assert "errors)" not in line


def test_console_script_prints_no_traceback(tmp_path):
    """The real entry point: stderr is one line, exit status 2."""
    path = tmp_path / "bad.yaml"
    data = base_spec()
    data["blocks"][0]["kind"] = "conv"
    path.write_text(yaml.safe_dump(data))
    proc = subprocess.run(
        [sys.executable, "-c", "from dse.cli import app; app()", "graph", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{path}: blocks[0].kind: unknown kind 'conv'" in proc.stderr
