"""The numba-compiled FIFO kernel of :mod:`dse.serve.des` (imported only when a simulation with
more than one engine runs: loading numba costs about 0.5 s, which every process that imports the
serving model for the analytical method, e.g. each sweep worker, would otherwise pay).

Importing this module raises ``ImportError`` when numba is missing; :mod:`dse.serve.des` then
falls back to its ``heapq`` loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def fifo_numba(arrive, service, servers, finish):  # pragma: no cover - compiled
    """Kiefer-Wolfowitz recursion over a binary min-heap of server-free times (seconds); writes
    the completion time of job ``k`` to ``finish[k]``."""
    free = np.full(servers, -np.inf)
    for k in range(arrive.size):
        t0 = free[0]
        ak = arrive[k]
        f = (ak if ak > t0 else t0) + service[k]
        finish[k] = f
        # replace the root of the min-heap with f and sift down
        i = 0
        while True:
            c = 2 * i + 1
            if c >= servers:
                break
            if c + 1 < servers and free[c + 1] < free[c]:
                c += 1
            if free[c] < f:
                free[i] = free[c]
                i = c
            else:
                break
        free[i] = f
