"""Query workloads: Poisson arrivals and query-size distributions, or a replayed trace.

A query asks to rank ``n`` candidate items. Sizes come from a spec string:

``lognormal:MU,SIGMA``  ``n = round(exp(N(MU, SIGMA)))`` (DeepRecSys default ``lognormal:5.1,0.2``)
``normal:MEAN,SD``      ``n = round(N(MEAN, SD))``
``fixed:N``             every query has ``N`` items
``file:PATH``           sampled uniformly from a text file with one size per line
``heavytail``           a named stand-in for the production distribution (``NAMED_SIZES``)

and every size is clipped to ``[1, max_size]`` (default 1024), as in the public DeepRecSys scripts.

**``heavytail``** is ``lognormal:4.65,1.0``. DeepRecSys's findings use query sizes observed in
production; that distribution was never published, only described as heavy-tailed (many small
queries and a long tail of large ones; FACTS.md section 2). The public scripts' default,
``lognormal:5.1,0.2``, is narrow (mean 166.9, sd 34, 99th percentile 261), so no query is large.
``heavytail`` keeps that mean (166.7 after clipping) with five times the log-spread: median 105,
quartiles 53 and 205, 90th percentile 377, 99th 1024; 1.1% of queries sit at the 1024 cap, and
the 18.6% of queries with 256 items or more carry 53% of all items. Assumptions: lognormal shape
(the simplest heavy-tailed law with a mean and a median; not fitted to any trace), sigma = 1
chosen as "heavy" (coefficient of variation 1.3 before clipping, against 0.2), the same
clipping as every spec. It is a documented stand-in, not a measurement: the optimiser's findings
are checked against sigma 0.8-1.2 as well (docs/optimizer.md).
Arrivals are a Poisson process: exponential gaps (not the integer-millisecond counts of the public
code, FACTS section 1). A trace CSV (``arrival_s,size`` columns) replays measured arrivals and sizes.

Everything is drawn from a seeded :class:`numpy.random.Generator`. Arrivals are built as
``cumsum(Exp(1)) / qps`` so that two workloads with the same seed and different rates are the same
queries on a compressed time axis (common random numbers): the simulated latency of every query is
then monotone in the rate, which keeps load sweeps and the capacity search smooth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.errors import DseError
from dse.special import normal_cdf
from dse.settings import MAX_QUERIES

#: Largest query size of the DeepRecSys scripts.
DEFAULT_MAX_SIZE = 1024
#: The size distribution of the public scripts (mean about 167 items).
DEFAULT_SIZES = "lognormal:5.1,0.2"
#: Named size specs (a name alone, no colon) and the spec each stands for (module doc).
NAMED_SIZES = {"heavytail": "lognormal:4.65,1.0"}


@dataclass(frozen=True)
class SizeDistribution:
    """A distribution of query sizes (items per query) on ``1..max_size``.

    ``kind`` is ``lognormal``, ``normal``, ``fixed`` or ``empirical`` (from ``file:`` or a trace);
    ``params`` are its numbers (for ``empirical``, the observed sizes).
    """

    kind: str
    params: tuple[float, ...]
    max_size: int = DEFAULT_MAX_SIZE
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` sizes as int64, rounded and clipped to ``[1, max_size]``."""
        if self.kind == "lognormal":
            raw = rng.lognormal(self.params[0], self.params[1], n)
        elif self.kind == "normal":
            raw = rng.normal(self.params[0], self.params[1], n)
        elif self.kind == "fixed":
            raw = np.full(n, self.params[0])
        else:
            values = np.asarray(self.params, dtype=float)
            raw = values[rng.integers(0, values.size, n)]
        return np.clip(np.rint(raw), 1, self.max_size).astype(np.int64)

    def pmf(self) -> np.ndarray:
        """Probabilities of sizes ``0..max_size`` (index = size; index 0 is always 0).

        Exact for the rounding and clipping of :meth:`sample`: ``P(n) = F(n + 1/2) - F(n - 1/2)``
        with the tails lumped on 1 and ``max_size``.
        """
        m = self.max_size
        out = np.zeros(m + 1)
        if self.kind in ("lognormal", "normal"):
            edges = np.arange(1, m) + 0.5  # boundaries between n and n+1 for n = 1..m-1
            if self.kind == "lognormal":
                cdf = normal_cdf((np.log(edges) - self.params[0]) / self.params[1])
            else:
                cdf = normal_cdf((edges - self.params[0]) / self.params[1])
            cdf = np.concatenate([[0.0], cdf, [1.0]])
            out[1:] = np.diff(cdf)
        else:
            values = np.clip(np.rint(np.asarray(self.params, dtype=float)), 1, m).astype(int)
            out += np.bincount(values, minlength=m + 1)[: m + 1]
            out /= out.sum()
        return out

    def mean(self) -> float:
        p = self.pmf()
        return float(np.dot(np.arange(p.size), p))


def parse_sizes(spec: str, max_size: int = DEFAULT_MAX_SIZE) -> SizeDistribution:
    """Parse a size spec string (see the module doc); a malformed one is a one-line DseError."""
    if max_size < 1:
        raise DseError(f"max size {max_size} must be >= 1")
    text = str(spec).strip()
    if text.lower() in NAMED_SIZES:
        named = parse_sizes(NAMED_SIZES[text.lower()], max_size)
        return SizeDistribution(named.kind, named.params, named.max_size, text.lower())
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if not sep or not rest.strip():
        raise DseError(
            f"--sizes '{spec}': expected lognormal:MU,SIGMA, normal:MEAN,SD, fixed:N, file:PATH"
            f" or a name ({', '.join(NAMED_SIZES)})"
        )
    if kind == "file":
        return SizeDistribution("empirical", tuple(_read_size_file(Path(rest.strip()))), max_size, text)
    if kind not in ("lognormal", "normal", "fixed"):
        raise DseError(f"--sizes '{spec}': unknown distribution '{kind}' (lognormal, normal, fixed, file)")
    try:
        values = tuple(float(v) for v in rest.split(","))
    except ValueError:
        raise DseError(f"--sizes '{spec}': parameters must be numbers") from None
    if not all(np.isfinite(values)):
        raise DseError(f"--sizes '{spec}': parameters must be finite")
    want = 1 if kind == "fixed" else 2
    if len(values) != want:
        raise DseError(f"--sizes '{spec}': {kind} takes {want} parameter{'s' if want > 1 else ''}")
    if kind == "fixed" and (values[0] < 1 or values[0] != int(values[0])):
        raise DseError(f"--sizes '{spec}': fixed size must be a positive integer")
    if kind in ("lognormal", "normal") and values[1] <= 0:
        raise DseError(f"--sizes '{spec}': the spread ({values[1]:g}) must be > 0")
    if kind == "normal" and values[0] + 8 * values[1] < 0.5:
        raise DseError(f"--sizes '{spec}': almost every query would be clipped to size 1")
    return SizeDistribution(kind, values, max_size, text)


def _read_size_file(path: Path) -> list[float]:
    try:
        lines = path.read_text(encoding="utf-8").split()
    except OSError as exc:
        raise DseError(f"--sizes file:{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise DseError(f"--sizes file:{path}: not a text file (invalid UTF-8)") from None
    if len(lines) > MAX_QUERIES:
        raise DseError(f"--sizes file:{path}: {len(lines)} sizes exceed the limit of {MAX_QUERIES}")
    sizes = []
    for i, token in enumerate(lines):
        try:
            value = float(token)
        except ValueError:
            raise DseError(f"--sizes file:{path}: entry {i + 1} '{token}' is not a number") from None
        if not np.isfinite(value) or value < 1:
            raise DseError(f"--sizes file:{path}: entry {i + 1} '{token}' must be >= 1")
        sizes.append(value)
    if not sizes:
        raise DseError(f"--sizes file:{path}: no sizes in the file")
    return sizes


@dataclass(frozen=True)
class Workload:
    """Queries in arrival order: ``arrivals`` (seconds, non-decreasing) and ``sizes`` (items).

    ``gaps`` holds the unit-rate exponential draws behind Poisson arrivals (``None`` for a trace);
    :meth:`at_rate` rescales them to another rate with everything else unchanged.
    """

    arrivals: np.ndarray
    sizes: np.ndarray
    sizes_dist: SizeDistribution | None = None
    qps: float | None = None
    unit_times: np.ndarray | None = None
    seed: int | None = None

    def __len__(self) -> int:
        return int(self.sizes.size)

    @property
    def duration(self) -> float:
        return float(self.arrivals[-1] - self.arrivals[0]) if self.arrivals.size > 1 else 0.0

    @property
    def offered_qps(self) -> float:
        """The rate of this workload (the nominal rate for Poisson, the measured one for a trace)."""
        if self.qps is not None:
            return self.qps
        n = self.arrivals.size
        return (n - 1) / self.duration if n > 1 and self.duration > 0 else float("nan")

    def at_rate(self, qps: float) -> "Workload":
        """The same queries arriving at ``qps`` (common random numbers); only for Poisson workloads."""
        if self.unit_times is None:
            raise DseError("a replayed trace has fixed arrival times; it cannot be run at another rate")
        _check_qps(qps)
        return Workload(self.unit_times / qps, self.sizes, self.sizes_dist, float(qps), self.unit_times, self.seed)


def _check_qps(qps: float) -> None:
    if not np.isfinite(qps) or qps <= 0:
        raise DseError(f"--qps: {qps} must be a positive number")


def poisson_workload(
    qps: float,
    n_queries: int,
    sizes: SizeDistribution | str = DEFAULT_SIZES,
    seed: int = 0,
    max_size: int = DEFAULT_MAX_SIZE,
) -> Workload:
    """``n_queries`` Poisson arrivals at ``qps`` with sizes from ``sizes`` (a spec or a distribution)."""
    _check_qps(qps)
    if not 1 <= int(n_queries) <= MAX_QUERIES:
        raise DseError(f"--queries: {n_queries} must be between 1 and {MAX_QUERIES} (memory: about 300 bytes per query)")
    dist = parse_sizes(sizes, max_size) if isinstance(sizes, str) else sizes
    rng = np.random.default_rng(seed)
    unit = np.cumsum(rng.exponential(1.0, int(n_queries)))
    sizes_arr = dist.sample(rng, int(n_queries))
    return Workload(unit / qps, sizes_arr, dist, float(qps), unit, seed)


def load_trace(path: str | Path, max_size: int = DEFAULT_MAX_SIZE) -> Workload:
    """Replay a CSV trace with columns ``arrival_s`` (seconds) and ``size`` (items); other columns
    are ignored. Rows are sorted by arrival; times are shifted to start at 0."""
    import pandas as pd

    p = Path(path)
    try:
        df = pd.read_csv(p)
    except (OSError, ValueError) as exc:
        raise DseError(f"{p}: cannot read trace ({exc})") from None
    missing = [c for c in ("arrival_s", "size") if c not in df.columns]
    if missing:
        raise DseError(f"{p}: trace needs columns arrival_s and size (missing: {', '.join(missing)})")
    return trace_workload(df["arrival_s"].to_numpy(), df["size"].to_numpy(), max_size, str(p))


def trace_workload(
    arrivals: np.ndarray, sizes: np.ndarray, max_size: int = DEFAULT_MAX_SIZE, source: str = "trace"
) -> Workload:
    """A workload from given arrival times and sizes (sorted by arrival, sizes clipped)."""
    try:
        a = np.asarray(arrivals, dtype=float)
        s = np.asarray(sizes, dtype=float)
    except (TypeError, ValueError):
        raise DseError(f"{source}: arrival_s and size must be numbers") from None
    if a.size == 0 or a.shape != s.shape:
        raise DseError(f"{source}: a trace needs one size per arrival and at least one query")
    if a.size > MAX_QUERIES:
        raise DseError(f"{source}: {a.size} queries exceed the limit of {MAX_QUERIES} simulated queries")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(s))):
        raise DseError(f"{source}: arrival_s and size must be finite numbers")
    if np.any(s < 0):  # 0 is clipped to 1 like every size spec; a negative size is a broken trace
        row = int(np.argmax(s < 0))
        raise DseError(f"{source}: size must be >= 0 items (query {row + 1} has {s[row]:g})")
    if a.size > 1 and np.ptp(a) <= 0:
        raise DseError(f"{source}: every arrival_s is the same; a trace needs arrivals spread over time")
    order = np.argsort(a, kind="stable")
    a = a[order] - a[order][0]
    sz = np.clip(np.rint(s[order]), 1, max_size).astype(np.int64)
    dist = SizeDistribution("empirical", tuple(sz.astype(float)), max_size, f"trace:{source}")
    return Workload(a, sz, dist)
