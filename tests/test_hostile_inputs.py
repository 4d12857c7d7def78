"""Hostile inputs (issue #16): every bad input gets one clear line and exit status 2.

A table of (command, arguments, expected message fragment) over every command and every kind of
file the CLI reads (model, hardware and study specs, size and locality files, traces, costs,
measured CSVs, results tables), plus one row per numeric field of a shipped hwspec for each of
infinity, NaN, a negative number, an overflowing literal and a value of absurd magnitude. Each
case must be refused with ``error: <one line>`` naming the field or the option, with no traceback,
in a few seconds, and a refused sweep must leave no files. The expected fragments are written
by hand from the rule each case breaks (docs/errors.md), not copied from the output.
"""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dse.cli import app
from dse.paths import HWSPECS_DIR, MODELSPECS_DIR
from dse.specs.fieldpath import numeric_leaves

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "data" / "measured"

STUDY = """name: h
models: [{model}]
platform: {platform}
optimizer: {{method: analytic}}
objectives: [max_qps]
axes:
{axes}
workload: {workload}
"""


def study_text(axes: str = "  - path: compute.cores\n    values: [8, 16]", workload: str = "{sla_ms: 5}",
               model: str = "ncf", platform: str = "skylake") -> str:
    return STUDY.format(model=model, platform=platform, axes=axes, workload=workload)


def _files(d: Path) -> dict[str, str]:
    """Every hostile file, by the placeholder its cases use."""
    f: dict[str, str] = {}

    def put(name: str, content: str | bytes) -> None:
        path = d / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        f[name.split(".")[0]] = str(path)

    put("binary.dat", bytes(range(256)) * 8)
    put("binary_yaml.yaml", b"\xff\xfe\x00name: x\n")
    skylake = (HWSPECS_DIR / "skylake.yaml").read_text()
    put("dup_hw.yaml", skylake + "\ntdp_w: 100.0\n")
    put("inf_hw.yaml", skylake.replace("\n  clock_ghz: 2.0", "\n  clock_ghz: .inf", 1))
    put("list_hw.yaml", "- 1\n- 2\n")
    ncf = (MODELSPECS_DIR / "ncf.yaml").read_text()
    put("dup_model.yaml", ncf + "\nname: ncf2\n")
    raw = yaml.safe_load(ncf)
    raw["tables"][0]["rows"] = 10**30
    put("huge_rows.yaml", yaml.safe_dump(raw))
    put("bad_model.yaml", "name: bad\ntables: 3\nblocks: []\noutputs: []\n")
    put("empty.yaml", "")
    put("neg_sizes.txt", "100\n-5\n20\n")
    put("empty_sizes.txt", "\n")
    put("equal_trace.csv", "arrival_s,size\n" + "1.0,100\n" * 200)
    put("neg_trace.csv", "arrival_s,size\n" + "".join(f"{i * 0.01},{-5 if i == 7 else 100}\n" for i in range(200)))
    put("text_trace.csv", "arrival_s,size\n" + "".join(f"{i * 0.01},{'abc' if i == 7 else 100}\n" for i in range(200)))
    put("nan_trace.csv", "arrival_s,size\n" + "".join(f"{'nan' if i == 3 else i * 0.01},100\n" for i in range(200)))
    put("short_trace.csv", "arrival_s,size\n0,10\n0.1,20\n")
    put("cols_trace.csv", "time,n\n0,1\n")
    put("nan_costs.json", '{"jitter": NaN}')
    put("inf_costs.json", '{"colocation": Infinity}')
    put("dup_costs.json", '{"jitter": 0.1, "jitter": 0.2}')
    put("neg_costs.json", '{"query_overhead_s": -1}')
    put("unknown_costs.json", '{"bogus": 1}')
    put("list_costs.json", "[1, 2]")
    put("bad_costs.json", "{jitter: ")
    put("str_costs.json", '{"jitter": "high"}')
    put("locality_neg.csv", "count\n5\n-3\n")
    put("locality_text.csv", "count\nabc\n")
    put("locality_empty.csv", "# nothing\n")
    micro = (MEASURED / "ci_cpu_micro.csv").read_bytes()
    put("micro_copy.csv", micro)
    put("micro_nan.csv", micro.decode().splitlines()[0] + "\n" + ",".join(["nan"] * len(micro.decode().splitlines()[0].split(","))) + "\n")
    f["micro"] = str(MEASURED / "ci_cpu_micro.csv")
    f["missing"] = str(d / "does_not_exist.csv")
    return f


def _studies(d: Path, f: dict[str, str]) -> None:
    """Hostile study files (each under the placeholder ``study_<name>``)."""
    studies = {
        "range": study_text("  - path: compute.clock_ghz\n    range: {start: 1, stop: 1e9, step: 1}"),
        "tinystep": study_text("  - path: compute.clock_ghz\n    range: {start: 1, stop: 2, step: 1.0e-300}"),
        "logrange": study_text("  - path: compute.clock_ghz\n    logrange: {start: 1, stop: 2, num: 100000000}"),
        "grid": study_text("  - path: compute.cores\n    range: {start: 1, stop: 4000, step: 1}\n"
                           "  - path: compute.clock_ghz\n    range: {start: 1, stop: 4, step: 0.001}"),
        "random_n": study_text("  - path: compute.cores\n    values: [8, 16]").replace(
            "objectives:", "combine: {random: {n: 100000000}}\nobjectives:"),
        "workers": study_text(workload="{sla_ms: 5, workers: 1000000}"),
        "workers0": study_text(workload="{sla_ms: 5, workers: 0}"),
        "cores": study_text("  - path: compute.cores\n    values: [1000000000]"),
        "clock": study_text("  - path: compute.clock_ghz\n    values: [1.0e-300]"),
        "clock_inf": study_text("  - path: compute.clock_ghz\n    values: [.inf]"),
        "tdp_nan": study_text("  - path: tdp_w\n    values: [.nan]"),
        "nmp": study_text("  - path: nmp.rank_cache_kb\n    values: [8, 32]"),
        "host_link": study_text("  - path: host_link.h2d_gbs\n    values: [8, 32]"),
        "bad_model": study_text(model=f["bad_model"]),
        "huge_rows": study_text(model=f["huge_rows"]),
        "dup_model": study_text(model=f["dup_model"]),
        "bad_platform": study_text("  - path: platform\n    values: [skylake, " + f["inf_hw"] + "]"),
        "bad_base": study_text(platform=f["dup_hw"]),
        "dup": study_text() + "workload: {sla_ms: 6}\n",
        "sla_nan": study_text(workload="{sla_ms: .nan}"),
        "sla_neg": study_text(workload="{sla_ms: -1}"),
        "sla_inf": study_text(workload="{sla_ms: .inf}"),
        "seed": study_text(workload="{sla_ms: 5, seed: -1}"),
        "sizes_bin": study_text(workload="{sla_ms: 5, sizes: 'file:" + f["binary"] + "'}"),
        "locality_bin": study_text(workload="{sla_ms: 5, locality: 'file:" + f["binary"] + "'}"),
        "locality_axis": study_text("  - path: workload.locality\n    values: [uniform, 'zipf:-2']"),
        "queries": study_text().replace("{method: analytic}", "{method: des, queries: 1000000000}"),
        "batches": study_text().replace("{method: analytic}", "{method: analytic, batches: [0, 8]}"),
        "batch_axis": study_text("  - path: optimizer.baseline_batch\n    values: [32, 100000]"),
        "workers_axis": study_text("  - path: workload.workers\n    values: [4, 1000000]"),
        "cost_inf": study_text() + "cost: {skylake: .inf}\n",
        "list": "- 1\n- 2\n",
        "unknown_field": study_text() + "bogus: 1\n",
    }
    for name, text in studies.items():
        path = d / f"study_{name}.yaml"
        path.write_text(text)
        f[f"study_{name}"] = str(path)
    f["study_binary"] = f["binary_yaml"]
    f["study_empty"] = f["empty"]


def _results(d: Path, f: dict[str, str]) -> None:
    """A real (small) sweep's results, and corrupted copies of it."""
    good = d / "good"
    (d / "tiny.yaml").write_text(study_text())
    res = runner.invoke(app, ["sweep", str(d / "tiny.yaml"), "--out", str(good), "--workers", "1", "--no-report"])
    assert res.exit_code == 0, res.output
    f["good"] = str(good)

    def variant(name: str) -> Path:
        out = d / name
        shutil.copytree(good, out)
        return out

    bad_pq = variant("bad_parquet")
    (bad_pq / "results.parquet").write_bytes(b"garbage, not parquet")
    bad_csv = variant("bad_csv")
    (bad_csv / "results.parquet").unlink()
    (bad_csv / "results.csv").write_bytes(b"\xff\xfe\x00\x01bad")
    cols = variant("cols_csv")
    (cols / "results.parquet").unlink()
    (cols / "results.csv").write_text("a,b\n1,2\n")
    text = variant("text_csv")
    (text / "results.parquet").unlink()
    (text / "results.csv").write_text("model,platform,accelerator,max_qps,speedup\nncf,skylake,,fast,1.0\n")
    inf = variant("inf_csv")
    (inf / "results.parquet").unlink()
    (inf / "results.csv").write_text("model,platform,accelerator,max_qps,speedup\nncf,skylake,,inf,1.0\n")
    empty = variant("empty_csv")
    (empty / "results.parquet").unlink()
    (empty / "results.csv").write_text("")
    dup = variant("dup_study")
    (dup / "study.yaml").write_text("name: a\nname: b\n")
    gz = variant("gz_parquet")
    (gz / "results.parquet").write_bytes(gzip.compress(b"PAR1 not really"))
    (d / "no_results").mkdir()
    for name in ("bad_parquet", "bad_csv", "cols_csv", "text_csv", "inf_csv", "empty_csv", "dup_study", "gz_parquet",
                 "no_results"):
        f[name] = str(d / name)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("hostile")
    f = _files(d)
    _studies(d, f)
    _results(d, f)
    return f


SERVE = ["serve", "ncf", "skylake", "--qps", "100", "-b", "64", "--method", "analytic"]
CAPACITY = ["capacity", "ncf", "skylake", "--sla-ms", "5", "-b", "64", "--method", "analytic"]
OPTIMIZE = ["optimize", "ncf", "skylake", "--sla-ms", "5", "--no-grid"]
PREDICT = ["predict", "ncf", "skylake", "-b", "1"]
NMP = ["nmp", "dlrm_rmc1", "--ranks", "2", "--cache-kb", "8"]
CALIBRATE = ["calibrate", "--hw", "ci_cpu"]

#: (arguments, expected fragment of the one error line). ``{name}`` is a file of the fixture.
CASES: list[tuple[list[str], str]] = [
    # -- dse report: results files and options
    (["report", "{bad_parquet}"], "results.parquet: cannot read the results table"),
    (["report", "{gz_parquet}"], "results.parquet: cannot read the results table"),
    (["report", "{bad_csv}"], "results.csv: not a text file"),
    (["report", "{cols_csv}"], "lacks column"),
    (["report", "{text_csv}"], "'max_qps' holds non-numbers"),
    (["report", "{inf_csv}"], "'max_qps' holds an infinite value"),
    (["report", "{empty_csv}"], "results.csv: cannot read the results table"),
    (["report", "{dup_study}"], "duplicate key 'name'"),
    (["report", "{no_results}"], "no results.parquet or results.csv"),
    (["report", "{good}", "--x", "compute.cores", "--y", "compute.cores"], "--y: 'compute.cores' is also --x"),
    (["report", "{good}", "--top", "-1"], "--top: -1 must be at least 1"),
    (["report", "{good}", "--top", "0"], "--top: 0 must be at least 1"),
    (["report", "{good}", "--x", "bogus"], "--x: 'bogus' is not a varied axis"),
    # -- dse serve: options
    ([*SERVE, "--seed", "-1"], "--seed"),
    ([*SERVE, "--queries", "1000000000"], "--queries: should be less than or equal to 10000000"),
    ([*SERVE, "--queries", "10"], "--queries: should be greater than or equal to 1000"),
    ([*SERVE, "--workers", "1000000"], "--workers: 1000000 must be between 1 and 4096"),
    ([*SERVE, "--workers", "0"], "--workers: 0 must be between 1 and 4096"),
    ([*SERVE, "--workers", "-3"], "--workers"),
    ([*SERVE[:3], "--qps", "inf", *SERVE[5:]], "--qps: inf"),
    ([*SERVE[:3], "--qps", "nan", *SERVE[5:]], "--qps: nan"),
    ([*SERVE[:3], "--qps", "-5", *SERVE[5:]], "--qps: -5"),
    ([*SERVE[:3], "--qps", "0", *SERVE[5:]], "--qps: 0"),
    ([*SERVE[:3], "--qps", "1e400", *SERVE[5:]], "--qps: inf"),
    ([*SERVE[:5], "-b", "0", *SERVE[7:]], "--batch: 0"),
    ([*SERVE[:5], "-b", "100000", *SERVE[7:]], "--batch: 100000 must be between 1 and 1024"),
    ([*SERVE, "-Q", "0", "--accel", "h200"], "--threshold: 0"),
    ([*SERVE, "-Q", "5000", "--accel", "h200"], "--threshold: 5000"),
    ([*SERVE, "--method", "magic"], "--method"),
    ([*SERVE, "--sizes", "file:{binary}"], "not a text file (invalid UTF-8)"),
    ([*SERVE, "--sizes", "file:{missing}"], "cannot read"),
    ([*SERVE, "--sizes", "file:{neg_sizes}"], "entry 2 '-5' must be >= 1"),
    ([*SERVE, "--sizes", "file:{empty_sizes}"], "no sizes in the file"),
    ([*SERVE, "--sizes", "lognormal:nan,1"], "parameters must be finite"),
    ([*SERVE, "--sizes", "lognormal:inf,1"], "parameters must be finite"),
    ([*SERVE, "--sizes", "lognormal:5"], "lognormal takes 2 parameters"),
    ([*SERVE, "--sizes", "lognormal:5,-1"], "the spread (-1) must be > 0"),
    ([*SERVE, "--sizes", "fixed:0"], "fixed size must be a positive integer"),
    ([*SERVE, "--sizes", "fixed:1.5"], "fixed size must be a positive integer"),
    ([*SERVE, "--sizes", "pareto:1,2"], "unknown distribution 'pareto'"),
    ([*SERVE, "--sizes", "normal:-100,1"], "almost every query would be clipped"),
    ([*SERVE, "--sizes", ""], "--sizes"),
    ([*SERVE, "--locality", "file:{binary}"], "--locality: locality file"),
    ([*SERVE, "--locality", "file:{missing}"], "cannot read"),
    ([*SERVE, "--locality", "file:{locality_neg}"], "must be a finite number >= 0"),
    ([*SERVE, "--locality", "file:{locality_text}"], "'abc' is not a number"),
    ([*SERVE, "--locality", "file:{locality_empty}"], "empty"),
    ([*SERVE, "--locality", "zipf:-1"], "--locality"),
    ([*SERVE, "--locality", "zipf:nan"], "--locality"),
    ([*SERVE, "--locality", "pareto"], "--locality: locality 'pareto'"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{equal_trace}"], "every arrival_s is the same"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{neg_trace}"], "size must be >= 0 items (query 8 has -5)"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{text_trace}"], "arrival_s and size must be numbers"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{nan_trace}"], "must be finite numbers"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{short_trace}"], "at least 100 queries"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{cols_trace}"], "trace needs columns arrival_s and size"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{binary}"], "cannot read trace"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{missing}"], "cannot read trace"),
    (["serve", "ncf", "skylake", "-b", "64", "--trace", "{equal_trace}", "--method", "analytic"], "use --method des"),
    (["serve", "ncf", "skylake", "-b", "64"], "--qps is required"),
    ([*SERVE, "--costs", "{binary}"], "--costs: {binary} is not a text file"),
    ([*SERVE, "--costs", "{nan_costs}"], "NaN is not a number JSON allows"),
    ([*SERVE, "--costs", "{inf_costs}"], "Infinity is not a number JSON allows"),
    ([*SERVE, "--costs", "{dup_costs}"], "duplicate key 'jitter'"),
    ([*SERVE, "--costs", "{neg_costs}"], "query_overhead_s: -1.0 must be a finite number >= 0"),
    ([*SERVE, "--costs", "{unknown_costs}"], "unknown field 'bogus'"),
    ([*SERVE, "--costs", "{list_costs}"], "must hold a JSON object"),
    ([*SERVE, "--costs", "{bad_costs}"], "is not JSON"),
    ([*SERVE, "--costs", "{str_costs}"], "jitter must be a number"),
    ([*SERVE, "--costs", "{missing}"], "--costs: cannot read"),
    ([*SERVE, "--jitter", "-1"], "jitter: -1.0 must be a finite number >= 0"),
    ([*SERVE, "--jitter", "nan"], "jitter: nan must be a finite number"),
    ([*SERVE, "--colocation", "inf"], "colocation: inf must be a finite number"),
    ([*SERVE, "--query-overhead-ms", "-1"], "query_overhead_s"),
    ([*SERVE, "--subbatch-overhead-ms", "1e400"], "subbatch_overhead_s: inf"),
    # -- spec files given to any command
    (["serve", "{bad_model}", "skylake", "--qps", "100", "-b", "64"], "tables"),
    (["serve", "{dup_model}", "skylake", "--qps", "100", "-b", "64"], "duplicate key 'name'"),
    (["serve", "ncf", "{binary_yaml}", "--qps", "100", "-b", "64"], "not a text file (invalid UTF-8)"),
    (["serve", "ncf", "{dup_hw}", "--qps", "100", "-b", "64"], "duplicate key 'tdp_w'"),
    (["serve", "ncf", "{inf_hw}", "--qps", "100", "-b", "64"], "compute.clock_ghz: should be a finite number"),
    (["serve", "ncf", "{list_hw}", "--qps", "100", "-b", "64"], "expected a mapping"),
    (["serve", "ncf", "{empty}", "--qps", "100", "-b", "64"], "file is empty"),
    (["serve", "no_such_model", "skylake", "--qps", "100", "-b", "64"], "no_such_model"),
    (["serve", "ncf", "no_such_hw", "--qps", "100", "-b", "64"], "no_such_hw"),
    (["graph", "{huge_rows}"], "rows: should be less than or equal to 1000000000000"),
    (["graph", "{dup_model}"], "duplicate key 'name'"),
    (["graph", "{binary_yaml}"], "not a text file"),
    (["graph", "ncf", "-b", "0"], "--batch: 0 must be positive"),
    (["graph", "ncf", "-b", "1000000000000000000000000000000"], "--batch: 1000000000000000000000000000000 is above"),
    (["hardware", "{dup_hw}"], "duplicate key 'tdp_w'"),
    (["hardware", "{inf_hw}"], "should be a finite number"),
    (["hardware", "{binary_yaml}"], "not a text file"),
    # -- dse capacity
    ([*CAPACITY[:3], "--sla-ms", "-1", *CAPACITY[5:]], "--sla-ms: -1"),
    ([*CAPACITY[:3], "--sla-ms", "nan", *CAPACITY[5:]], "--sla-ms: nan"),
    ([*CAPACITY[:3], "--sla-ms", "inf", *CAPACITY[5:]], "--sla-ms: inf"),
    ([*CAPACITY[:3], "--sla-ms", "0", *CAPACITY[5:]], "--sla-ms: 0"),
    ([*CAPACITY, "--workers", "1000000"], "--workers: 1000000 must be between 1 and 4096"),
    ([*CAPACITY, "--queries", "1000000000"], "--queries"),
    ([*CAPACITY, "--seed", "-7"], "--seed"),
    ([*CAPACITY, "--sizes", "file:{binary}"], "not a text file"),
    # -- dse optimize
    ([*OPTIMIZE, "--workers", "1000000"], "--workers: 1000000 must be between 1 and 4096"),
    ([*OPTIMIZE, "--workers", "0"], "--workers: 0"),
    ([*OPTIMIZE, "--batches", "0,8"], "--batches: 0 must be positive"),
    ([*OPTIMIZE, "--batches", "8,8"], "duplicate entries"),
    ([*OPTIMIZE, "--batches", "5000"], "--batches: should be less than or equal to 1024"),
    ([*OPTIMIZE, "--batches", "a,b"], "--batches: 'a' is not an integer"),
    ([*OPTIMIZE, "--thresholds", "-1"], "--thresholds: -1 must be positive"),
    ([*OPTIMIZE, "--baseline-batch", "0"], "--baseline-batch"),
    ([*OPTIMIZE, "--baseline-batch", "4096"], "--baseline-batch"),
    ([*OPTIMIZE, "--stop-tol", "1"], "--stop-tol"),
    ([*OPTIMIZE, "--stop-tol", "nan"], "--stop-tol: should be a finite number"),
    ([*OPTIMIZE, "--queries", "5"], "--queries"),
    ([*OPTIMIZE, "--queries", "1000000000"], "--queries"),
    ([*OPTIMIZE, "--method", "exact"], "--method"),
    ([*OPTIMIZE[:3], "--sla-ms", "nan", *OPTIMIZE[5:]], "--sla-ms: nan"),
    ([*OPTIMIZE, "--seed", "-1"], "--seed"),
    ([*OPTIMIZE, "--costs", "{nan_costs}"], "NaN is not a number JSON allows"),
    # -- dse predict / hardware: --set overrides
    ([*PREDICT, "--engines", "1000000"], "--engines: 1000000 must be between 1 and 4096"),
    ([*PREDICT, "--engines", "0"], "--engines: 0"),
    (["predict", "ncf", "skylake", "-b", "0"], "--batch: 0 must be positive"),
    (["predict", "ncf", "skylake", "-b", "x"], "--batch: 'x' is not an integer"),
    (["predict", "ncf", "skylake", "-b", "10000000"], "--batch: 10000000 is above the limit"),
    ([*PREDICT, "--top", "-1"], "--top: -1"),
    ([*PREDICT, "--set", "tdp_w=1e400"], "tdp_w: should be a finite number"),
    ([*PREDICT, "--set", "compute.clock_ghz=1e-300"], "compute.clock_ghz: should be greater than or equal to 0.01"),
    ([*PREDICT, "--set", "compute.clock_ghz=.inf"], "compute.clock_ghz"),
    ([*PREDICT, "--set", "compute.cores=1000000000"], "compute.cores: should be less than or equal to 4096"),
    ([*PREDICT, "--set", "compute.sockets=64", "--set", "compute.cores=4096"], "4096 engines"),
    ([*PREDICT, "--set", "nmp.rank_cache_kb=32"], "no nmp: section"),
    ([*PREDICT, "--set", "host_link.h2d_gbs=10"], "no host_link: section"),
    ([*PREDICT, "--set", "bogus.field=1"], "bogus"),
    ([*PREDICT, "--set", "compute.clock_ghz=fast"], "compute.clock_ghz: expected a number"),
    ([*PREDICT, "--set", "compute.clock_ghz"], "expected path.to.field=value"),
    ([*PREDICT, "--set", "caches[9].size_mib=1"], "caches"),
    ([*PREDICT, "--set", "dram.peak_bandwidth_gbs=1e-30"], "dram.peak_bandwidth_gbs"),
    ([*PREDICT, "--set", "dram.peak_bandwidth_gbs=1e30"], "dram.peak_bandwidth_gbs"),
    ([*PREDICT, "--set", "compute.gemm.peak_fraction=2"], "compute.gemm.peak_fraction"),
    ([*PREDICT, "--set", "idle_w=1000"], "idle_w"),
    ([*PREDICT, "--set", "dispatch.per_kind_us.fc=.inf"], "dispatch.per_kind_us.fc"),
    (["hardware", "skylake", "--set", "tdp_w=1e400"], "tdp_w: should be a finite number"),
    (["hardware", "skylake", "--set", "nmp.rank_cache_kb=32"], "no nmp: section"),
    # -- dse nmp
    ([*NMP, "--engines", "1000000"], "--engines: 1000000 must be between 1 and 4096"),
    (["nmp", "dlrm_rmc1", "--ranks", "100000000"], "--ranks: 100000000 is above the limit of 1024"),
    ([*NMP, "--batch", "100000000"], "--batch: 100000000 is above the limit"),
    ([*NMP[:4], "--cache-kb", "nan"], "--cache-kb: nan must be a finite number"),
    ([*NMP, "--set", "nmp.psum_tags=1e400"], "nmp.psum_tags"),
    ([*NMP, "--locality", "file:{binary}"], "not a text file"),
    ([*NMP, "--platform", "skylake"], "not an NMP platform"),
    # -- dse calibrate: measured files
    ([*CALIBRATE, "{micro}", "{micro}"], "is given twice"),
    ([*CALIBRATE, "{micro}", "{micro_copy}"], "has the same contents as"),
    ([*CALIBRATE, "{binary}"], "not a readable CSV"),
    ([*CALIBRATE, "{missing}"], "no such file"),
    ([*CALIBRATE, "{micro_nan}"], "micro_nan.csv: line 2: unknown microbenchmark kind(s) nan"),
    ([*CALIBRATE, "{micro}", "--model-weight", "2"], "--model-weight: 2.0 must lie in [0, 1]"),
    ([*CALIBRATE, "{micro}", "--model-weight", "nan"], "--model-weight: nan"),
    ([*CALIBRATE, "{micro}", "--rows", "hot"], "--rows: 'hot' is not one of auto, cold, warm, both"),
    ([*CALIBRATE, "{micro}", "--warm", "--rows", "both"], "--warm: fits the warm rows only, but --rows says 'both'"),
    (["calibrate", "--hw", "{dup_hw}", "{micro}"], "duplicate key 'tdp_w'"),
    # -- dse sweep: options and studies (a refused sweep leaves no files: test_refused_sweep_leaves_no_files)
    (["sweep", "{study_range}"], "1e+09 levels exceed the limit of 10000"),
    (["sweep", "{study_range}", "--limit", "5"], "1e+09 levels exceed the limit of 10000"),
    (["sweep", "{study_tinystep}"], "levels exceed the limit"),
    (["sweep", "{study_logrange}"], "levels exceed the limit"),
    (["sweep", "{study_grid}"], "over the limit of 1000000"),
    (["sweep", "{study_random_n}"], "combine.n: should be less than or equal to 1000000"),
    (["sweep", "{study_workers}"], "workload.workers: should be less than or equal to 4096"),
    (["sweep", "{study_workers0}"], "workload.workers: should be greater than 0"),
    (["sweep", "{study_cores}"], "compute.cores: should be less than or equal to 4096"),
    (["sweep", "{study_clock}"], "compute.clock_ghz: should be greater than or equal to 0.01"),
    (["sweep", "{study_clock_inf}"], "not finite"),
    (["sweep", "{study_tdp_nan}"], "not finite"),
    (["sweep", "{study_nmp}"], "no nmp: section"),
    (["sweep", "{study_host_link}"], "no host_link: section"),
    (["sweep", "{study_bad_model}"], "models[0]"),
    (["sweep", "{study_huge_rows}"], "rows: should be less than or equal to 1000000000000"),
    (["sweep", "{study_dup_model}"], "duplicate key 'name'"),
    (["sweep", "{study_bad_platform}"], "axes[0].values[1]"),
    (["sweep", "{study_bad_base}"], "duplicate key 'tdp_w'"),
    (["sweep", "{study_dup}"], "duplicate key 'workload'"),
    (["sweep", "{study_sla_nan}"], "workload.sla_ms"),
    (["sweep", "{study_sla_neg}"], "workload.sla_ms"),
    (["sweep", "{study_sla_inf}"], "workload.sla_ms"),
    (["sweep", "{study_seed}"], "workload.seed"),
    (["sweep", "{study_sizes_bin}"], "not a text file"),
    (["sweep", "{study_locality_bin}"], "not a text file"),
    (["sweep", "{study_locality_axis}"], "axes[0].values[1]"),
    (["sweep", "{study_queries}"], "optimizer.queries: should be less than or equal to 10000000"),
    (["sweep", "{study_batches}"], "optimizer.batches[0]"),
    (["sweep", "{study_batch_axis}"], "less than or equal to 1024"),
    (["sweep", "{study_workers_axis}"], "less than or equal to 4096"),
    (["sweep", "{study_cost_inf}"], "cost.skylake"),
    (["sweep", "{study_list}"], "expected a mapping"),
    (["sweep", "{study_unknown_field}"], "unknown field"),
    (["sweep", "{study_binary}"], "not a text file"),
    (["sweep", "{study_empty}"], "file is empty"),
    (["sweep", "no_such_study"], "no_such_study"),
    (["sweep", "{study_cores}", "--limit", "0"], "--limit: 0 must be at least 1"),
    (["sweep", "{study_cores}", "--workers", "0"], "--workers: 0 must be at least 1"),
    (["sweep", "{study_cores}", "--dask", "nonsense"], "--dask: expected 'local' or a scheduler address"),
    (["sweep", "{study_cores}", "--evaluator", "nomodule"], "evaluator 'nomodule'"),
]


def invoke(args: list[str], files: dict[str, str], tmp_path: Path):
    argv = [a.format(**files) for a in args]
    if argv[0] == "sweep" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    if argv[0] == "report" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "report.html")]
    start = time.perf_counter()
    result = runner.invoke(app, argv)
    return argv, result, time.perf_counter() - start


def assert_refused(argv: list[str], result, fragment: str) -> None:
    """Exit 2, no traceback, one ``error:`` line that holds ``fragment``."""
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code == 2, f"{argv}: exit {result.exit_code}\n{output}\n{result.exception!r}"
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(a)[:80] for a, _ in CASES])
def test_refused_with_one_line(args, fragment, files, tmp_path):
    argv, result, seconds = invoke(args, files, tmp_path)
    assert_refused(argv, result, fragment.format(**files))
    assert seconds < 10, f"{argv} took {seconds:.1f} s to refuse"
    if argv[0] == "sweep":
        assert not (tmp_path / "out").exists(), f"{argv}: a refused sweep left {list((tmp_path / 'out').iterdir())}"
    if argv[0] == "report":
        assert not (tmp_path / "report.html").exists()


# -- every numeric field of a shipped hwspec, broken five ways ------------------------------


def _hw_fields() -> list[str]:
    from dse.specs.hardware import load_platform

    dump = load_platform("skylake").model_dump(mode="python")
    dump.pop("sources")
    software = dump.pop("software")  # the stack resolved for the platform: reached as stack.<field>
    stack_fields = [f"stack.{path}" for path in numeric_leaves(software)]
    return numeric_leaves(dump) + stack_fields


HW_FIELDS = _hw_fields()
#: value -> why every numeric hardware field refuses it
BROKEN = {".inf": "finite", ".nan": "finite", "-1": "", "1e400": "finite", "1e-300": ""}


@pytest.mark.parametrize("field", HW_FIELDS)
@pytest.mark.parametrize("value", list(BROKEN))
def test_every_hardware_field_refuses_broken_numbers(field, value):
    result = runner.invoke(app, ["hardware", "skylake", "--set", f"{field}={value}", "--json"])
    assert_refused(["hardware", field, value], result, field.split("[")[0].split(".")[0])
    assert BROKEN[value] in result.output or value in ("-1", "1e-300")


def test_table_size():
    """The issue asks for at least 200 cases."""
    assert len(CASES) + len(HW_FIELDS) * len(BROKEN) >= 200


def test_json_output_never_holds_nan_or_infinity(capsys):
    """print_json: NaN and infinities (Python floats, numpy scalars and arrays) become null, and
    the mapping that held one says why."""
    import json
    import math

    import numpy as np

    from dse.commands import print_json

    print_json({"p95_s": math.inf, "x": [1.0, math.nan], "y": np.float32("nan"), "z": np.array([2.0, -np.inf]),
                "inner": {"a": -math.inf, "b": 1}})
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    out = json.loads(text)
    assert out["p95_s"] is None and out["x"] == [1.0, None] and out["y"] is None and out["z"] == [2.0, None]
    assert out["null_reasons"] == {"p95_s": "infinite", "y": "not a number"}
    assert out["inner"] == {"a": None, "b": 1, "null_reasons": {"a": "-infinite"}}


def test_yaml_exponent_numbers_in_axis_values_are_numbers():
    """YAML 1.1 reads 1e-3 as text; an axis level written so is the number (as in --set)."""
    from dse.specs.study import Axis

    assert Axis(path="workload.sla_ms", values=["1e-3", 5, "2.5E+1"]).levels() == [1e-3, 5, 25.0]
    assert Axis(path="workload.sizes", values=["fixed:1", "heavytail"]).levels() == ["fixed:1", "heavytail"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["predict", "ncf"], "Missing argument 'hw'"),
        (["--bogus"], "No such option: --bogus"),
        (["serve", "wnd", "h200_host", "--batch", "x", "--qps", "10"], "Invalid value for '--batch'"),
    ],
)
def test_usage_errors_of_the_entry_point_are_one_line(args, fragment):
    """click's own usage errors (missing argument, unknown option, a value of the wrong type) go
    through the same one-line ``error:`` rule as every other bad input, exit status 2."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
