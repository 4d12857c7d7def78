"""One forward pass on an asynchronous device: the host issues, the device runs behind it.

A framework on a GPU (a stack with ``dispatch.overlap: true``) returns from a kernel launch
before the kernel has run; the host goes on launching while the device works through its stream
in order. With ``h`` the time the host has issued everything so far and ``e`` the time the device
has finished everything so far, step ``n`` (host issue ``i_n``, device time ``d_n``) gives::

    h_n = h_{n-1} + i_n
    e_n = max(e_{n-1}, h_n) + d_n          (the kernel starts when launched and the stream is free)

A *blocking* step (a copy from pageable host memory, a synchronisation) makes both wait for the
device: ``h_n = e_n = max(h_{n-1}, e_{n-1}) + i_n + d_n``. The pass ends at ``max(h_N, e_N)``.

An operator that is a chain of ``k`` kernels (``launches``, a recurrent layer's time steps)
is ``k`` equal steps, unrolled in closed form: ``e' = max(e + d, h + i/k + d, h + i + d/k)``.

So the device hides the launches issued while it is busy (a long GEMM early in the pass hides the
launches of the lookups after it), and a short pass costs its launches, while a single operator
costs ``issue + device``: its launch comes before its kernel, and nothing earlier hides it. With
the per-inference cost as the last host step (entry and the final synchronisation, issue ``S``,
no device time), one operator alone costs ``i + max(d, S)``: the GPU microbenchmark rows' shape.

:func:`critical_path` also says how much each step lengthened the pass (``max(h_n, e_n) -
max(h_{n-1}, e_{n-1})`` >= 0): a breakdown that adds up to the total, in which a launch hidden
behind earlier device work costs nothing. Source: the CUDA programming guide's asynchronous
execution of kernel launches within one stream. Limits: one stream (no concurrent kernels); a
launch never blocks (no launch queue limit: PyTorch passes issue a few hundred launches at most,
far below the driver's queue depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Step:
    """One step of a pass: host seconds to issue it, device seconds to run it (arrays of one
    shape, e.g. one value per batch size), whether the host waits for the device, and in how many
    equal launches it is issued (an operator that is a chain of kernels, e.g. a GRU's time steps:
    its launches and kernels interleave)."""

    issue: np.ndarray
    device: np.ndarray
    blocking: bool = False
    launches: int = 1


def critical_path(steps: list[Step]) -> list[np.ndarray]:
    """Seconds by which each step lengthened the pass (>= 0, same shape as its arrays); their
    sum is the pass's time ``max(h_N, e_N)``."""
    if not steps:
        return []
    shape = np.broadcast_shapes(*(np.shape(s.issue) for s in steps), *(np.shape(s.device) for s in steps))
    host = np.zeros(shape)
    device = np.zeros(shape)
    done = np.zeros(shape)
    out = []
    for step in steps:
        if step.blocking:
            host = device = np.maximum(host, device) + step.issue + step.device
        else:
            # k equal launches (i, d) from (h, e): e' = max(e + k d, h + i + k d, h + k i + d),
            # the recurrence unrolled (k = 1: max(e, h + i) + d)
            k = max(1, int(step.launches))
            first, last = step.issue / k, step.device / k
            device = np.maximum(np.maximum(device, host + first) + step.device, host + step.issue + last)
            host = host + step.issue
        now = np.maximum(host, device)
        out.append(now - done)
        done = now
    return out
