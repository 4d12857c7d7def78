"""The allocator page-fault term (dse/cost/alloc.py), computed by hand."""

import numpy as np

from dse.cost.alloc import alloc_time
from dse.graph import ops
from dse.specs.hardware import Platform, load_platform


def _with(rate, threshold):
    d = load_platform("skylake").model_dump(mode="python")
    d["allocator"] = {"page_fault_ns_per_kib": rate, "fresh_threshold_mib": threshold}
    return Platform.model_validate(d)


def test_term_by_hand():
    op = ops.fc("fc", 16, 1024, 4)  # output 4096 B per item
    plat = _with(250.0, 16.0)
    # batch 4096: 16 MiB, not above the threshold; batch 8192: 32 MiB = 32768 KiB x 250 ns = 8.192 ms
    t = alloc_time(op, plat, [4096, 8192])
    assert t[0] == 0.0
    assert np.isclose(t[1], 32768 * 250e-9)


def test_term_is_off_by_default():
    op = ops.fc("fc", 16, 1024, 4)
    assert alloc_time(op, load_platform("skylake"), [1e6])[0] == 0.0
