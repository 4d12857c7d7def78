"""Hardware platform specs (``hwspecs/*.yaml``): a pydantic schema split by resource.

A :class:`Platform` describes what one *engine* (a single-threaded CPU worker, or a whole GPU)
can do, and what the engines of a machine share:

- ``compute``: cores (SMs on a GPU), clock, SIMD lanes and FMA units -> peak FLOP/s, with a
  size-dependent GEMM efficiency curve (small GEMMs do not reach peak);
- ``caches``: the cache hierarchy, nearest first (size, bandwidth, random-line time);
- ``dram``: main memory (DDR, GDDR or HBM): peak and attainable bandwidth, latency, outstanding
  misses per engine;
- ``gather``: the irregular-access terms of embedding lookups (per-row cost, ramp-up of
  memory-level parallelism, TLB reach);
- ``stack``: the software stack it runs by default (``hwspecs/stacks/``); loading the platform
  fills ``dispatch`` (fixed cost per framework operator, kernel launch on a GPU) and ``software``
  (input feeding, threads, serving costs) from it (dse/specs/stack.py);
- ``allocator``: page faults of tensors the allocator maps fresh on every call (CPU; off by default);
- ``host_link``: the host<->device link of an accelerator;
- ``tdp_w`` / ``idle_w``: power, for efficiency figures;
- ``memory``: optional DDR topology (channels, DIMMs, ranks, timing), used by the NMP model.

Units are in the field names (``_ghz``, ``_gbs`` = 1e9 bytes/s, ``_mib`` = 2**20 bytes, ``_ns``,
``_us``, ``_w``). Every number in a YAML file carries its source: ``sources`` maps a dotted field
path, or a section prefix covering all fields below it, to where the number comes from
(datasheet, paper, measured, fitted, assumed). :func:`load_platform` rejects files with an
uncovered number; :meth:`Platform.source_of` answers for any field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from dse.errors import DseError, SpecError
from dse.paths import HWSPECS_DIR, list_specs, resolve_spec
from dse.settings import MAX_ENGINES
from dse.specs.fieldpath import FieldPathError, exists, is_within, parse_path, null_section, numeric_leaves, source_of
from dse.specs.loading import load_yaml, validate_spec
from dse.specs.memory import MemorySpec, NmpSpec
from dse.specs.stack import Dispatch, Software, load_stack, resolve_stack
from dse.specs.overrides import apply_overrides
from dse.specs.ranges import Bounded


class _Strict(Bounded):
    """Unknown fields refused; numbers finite and within :mod:`dse.specs.ranges`."""


class GemmEfficiency(_Strict):
    """Fraction of peak FLOP/s a GEMM reaches, as a function of its size.

    ``eff(m, F) = peak_fraction / (1 + m_half / m + flops_half / F)`` where ``m`` is the number
    of rows of the activation operand (the batch, or batch × steps for sequence ops) and ``F`` the
    FLOPs of one call. ``m_half`` captures register-tile under-use of skinny GEMMs (CPU);
    ``flops_half`` the work needed to fill every SM with tiles (GPU). ``pack_passes``: extra passes
    over the weights that a BLAS GEMM makes when m > 1 (it packs the weight panels; a GEMV at
    m = 1 reads them once). ``pack_rows``: the rows m at which those passes are paid in full; they
    grow linearly from none at m = 1 (1: in full at every m > 1).
    """

    peak_fraction: float = Field(1.0, gt=0.0, le=1.0)
    m_half: NonNegativeFloat = 0.0
    flops_half: NonNegativeFloat = 0.0
    pack_passes: NonNegativeFloat = 0.0
    pack_rows: float = Field(1.0, ge=1.0, le=4096.0, description="activation rows (m) from which the packing passes are paid in full")


class Compute(_Strict):
    """Processing resources. On a GPU ``cores`` are SMs and ``simd_lanes`` the FP32 cores per SM."""

    cores: PositiveInt = Field(le=MAX_ENGINES, description="cores per socket (CPU) or SMs (GPU)")
    sockets: PositiveInt = Field(1, le=64)
    clock_ghz: float = Field(ge=0.01, le=100.0, description="10 MHz .. 100 GHz")
    simd_lanes: PositiveInt = Field(le=65536, description="FP32 lanes per FMA unit (AVX2 8, AVX-512 16; GPU: FP32 cores per SM)")
    fma_units: PositiveInt = Field(1, le=64, description="FMA pipes per core (a GPU's lanes already count them: 1)")
    engine_cores: PositiveInt = Field(1, description="cores one engine uses: 1 for a single-threaded CPU worker, all SMs for a GPU")
    gemm: GemmEfficiency = Field(default_factory=GemmEfficiency)
    vector_efficiency: float = Field(0.5, gt=0.0, le=1.0, description="fraction of peak reached by non-GEMM arithmetic")

    @property
    def core_peak_flops(self) -> float:
        """Peak FP32 FLOP/s of one core (an FMA counts 2)."""
        return self.clock_ghz * 1e9 * self.simd_lanes * 2.0 * self.fma_units

    @property
    def peak_flops(self) -> float:
        """Peak FP32 FLOP/s of the whole machine."""
        return self.core_peak_flops * self.cores * self.sockets

    @property
    def engine_slots(self) -> int:
        """How many engines the machine runs without time-sharing cores."""
        return max(1, (self.cores * self.sockets) // self.engine_cores)


class CacheLevel(_Strict):
    """One cache level. ``shared``: shared by the cores of a socket (LLC, GPU L2), else private."""

    name: str
    size_mib: PositiveFloat
    shared: bool = False
    bandwidth_gbs: PositiveFloat = Field(description="sustained streaming read bandwidth of one engine from this level")
    line_ns: PositiveFloat = Field(description="time per random cache line served by this level for one engine (latency / overlap)")


class Dram(_Strict):
    """Main memory (DDR on CPUs, GDDR/HBM on GPUs), per socket."""

    peak_bandwidth_gbs: PositiveFloat = Field(description="per socket, datasheet (channels x transfer rate x width)")
    stream_efficiency: float = Field(0.8, gt=0.0, le=1.0, description="fraction of peak reached by all cores streaming")
    random_efficiency: float = Field(0.5, gt=0.0, le=1.0, description="fraction of peak reached by random line fetches")
    engine_bandwidth_gbs: PositiveFloat = Field(description="streaming bandwidth one engine reaches alone")
    latency_ns: PositiveFloat = Field(description="load-to-use latency of a random access")
    outstanding_misses: PositiveFloat = Field(description="misses one engine keeps in flight (memory-level parallelism)")
    line_bytes: PositiveInt = 64

    @property
    def stream_bandwidth(self) -> float:
        """Attainable streaming bandwidth of one socket, bytes/s."""
        return self.peak_bandwidth_gbs * 1e9 * self.stream_efficiency

    @property
    def random_bandwidth(self) -> float:
        """Attainable bandwidth of one socket for random line fetches, bytes/s."""
        return self.peak_bandwidth_gbs * 1e9 * self.random_efficiency


class Gather(_Strict):
    """Irregular-access terms of embedding lookups (SparseLengthsSum / EmbeddingBag)."""

    row_overhead_ns: NonNegativeFloat = Field(0.0, description="fixed time per looked-up row (index load, loop, pooling issue)")
    ramp_rows: NonNegativeFloat = Field(0.0, description="rows per call at which half the outstanding misses are in use")
    tlb_reach_mib: PositiveFloat = Field(1024.0, description="address range the TLBs cover; beyond it rows pay a page walk")
    tlb_miss_ns: NonNegativeFloat = Field(0.0, description="extra time of a row access whose translation misses")
    walk_line_ns: NonNegativeFloat = Field(
        0.0,
        description=(
            "CPU: time per page-table line a call first touches on a table whose page table the model's other "
            "tables evicted from the caches (8 entries per 64 B line); a call of R rows on a table of P such lines "
            "touches P (1 - exp(-R / P)) of them (dse/cost/gather.py)"
        ),
    )
    page_kib: PositiveFloat = Field(4.0, description="page size of the embedding tables, KiB (walk_line_ns)")
    tlb_call_us: NonNegativeFloat = Field(
        0.0,
        description=(
            "fixed time per embedding call on a table larger than the TLB reach whose translations the model's "
            "other tables evicted, scaled like tlb_miss_ns: fresh random indices start page walks that overlap "
            "each other but not the call (GPU)"
        ),
    )


class Allocator(_Strict):
    """Fresh pages of large per-call tensors (CPU): eager frameworks allocate every intermediate on
    every call, and the allocator maps a tensor above ``fresh_threshold_mib`` fresh each time
    (glibc: mmap threshold, adaptive up to 32 MiB), so each of its pages faults and is zeroed on
    first touch. ``page_fault_ns_per_kib`` = 0 switches the term off (GPUs: caching allocator)."""

    page_fault_ns_per_kib: NonNegativeFloat = Field(0.0, description="fault + zeroing time per KiB of freshly mapped memory, ns")
    fresh_threshold_mib: PositiveFloat = Field(32.0, description="tensors larger than this are mapped fresh on every call")


class HostLink(_Strict):
    """Host<->device link of an accelerator (PCIe, NVLink-C2C)."""

    h2d_gbs: PositiveFloat
    d2h_gbs: PositiveFloat
    latency_us: NonNegativeFloat = Field(description="fixed cost per copy (call, synchronisation), microseconds")
    setup_us: NonNegativeFloat = Field(
        0.0, description="once per pass that copies, and by every copy timed alone: the first copy after the link was idle, microseconds"
    )
    host_clock_ghz: PositiveFloat | None = Field(
        None, description="clock of the host CPU that feeds the device (scales the software stack's host-side costs)"
    )


class Platform(_Strict):
    """A hardware platform. See the module docstring for the sections and their units."""

    name: str
    kind: Literal["cpu", "gpu", "nmp"]
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    compute: Compute
    caches: list[CacheLevel] = Field(default_factory=list)
    dram: Dram
    gather: Gather = Field(default_factory=Gather)
    stack: str = Field("pytorch_eager", description="default software stack: a name in hwspecs/stacks/ or a path")
    dispatch: Dispatch | None = None  # filled from the stack by load_platform (never in a hwspec file)
    software: Software | None = None  # the rest of the stack, resolved for this platform
    allocator: Allocator = Field(default_factory=Allocator)
    host_link: HostLink | None = None
    tdp_w: PositiveFloat
    idle_w: NonNegativeFloat
    memory: MemorySpec | None = None
    nmp: NmpSpec | None = None  # RecNMP DIMMs (dse/cost/nmp.py); needs ``memory``

    @model_validator(mode="after")
    def _nmp_needs_memory(self) -> "Platform":
        if self.kind == "nmp" and (self.nmp is None or self.memory is None):
            raise ValueError("kind nmp needs both an nmp: section and a memory: section (channels, DIMMs, ranks)")
        if self.nmp is not None:
            if self.memory is None:
                raise ValueError("nmp: needs a memory: section (channels, DIMMs, ranks) to run in")
            try:
                self.nmp.check_against(self.memory)
            except DseError as exc:
                raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _consistent(self) -> "Platform":
        if self.kind == "gpu" and self.host_link is None:
            raise ValueError("host_link: required for a gpu platform (inputs cross the host link)")
        if self.idle_w > self.tdp_w:
            raise ValueError(f"idle_w: {self.idle_w} W exceeds tdp_w {self.tdp_w} W")
        if self.compute.engine_cores > self.compute.cores * self.compute.sockets:
            raise ValueError("compute.engine_cores: more cores than the machine has")
        if self.compute.engine_slots > MAX_ENGINES:
            raise ValueError(f"compute: {self.compute.engine_slots} engines (cores x sockets / engine_cores) exceed "
                             f"the limit of {MAX_ENGINES} engines a configuration may have")
        names = [c.name for c in self.caches]
        if len(set(names)) != len(names):
            raise ValueError("caches: duplicate level names")
        return self

    @property
    def is_accelerator(self) -> bool:
        """True when the model runs behind a host link (inputs and outputs are copied)."""
        return self.kind == "gpu"

    def source_of(self, path: str) -> str:
        """Where the number at ``path`` (``compute.clock_ghz``) comes from: longest matching entry."""
        return source_of(self.sources, path)


def check_sources(data: dict[str, Any], path: Path | str) -> None:
    """Every number in a spec file must be covered by a ``sources`` entry naming a real field."""
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        raise SpecError(f"{path}: sources: should be a mapping of field path -> source")
    body = {k: v for k, v in data.items() if k != "sources"}
    for key in sources:
        if not exists(body, str(key)):
            raise SpecError(f"{path}: sources: '{key}' names no field of this file")
    for leaf in numeric_leaves(body):
        if not any(is_within(leaf, str(k)) for k in sources):
            raise SpecError(f"{path}: {leaf}: no source given (add '{leaf}' or its section to sources:)")


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it (shorter messages)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def list_platforms() -> list[str]:
    """Names of the shipped hardware specs."""
    return list_specs(HWSPECS_DIR)


#: Fields a hwspec file must not set: they come from its software stack.
STACK_FIELDS = ("dispatch", "software")


def load_platform(name_or_path: str, overrides: list[str] | None = None, stack: str | None = None) -> Platform:
    """Load a platform by shipped name (``skylake``) or YAML path, bind its software stack (its
    own ``stack:``, or ``stack`` when given), then apply ``--set`` overrides.

    Overrides reach hardware fields (``compute.cores=4``), the stack's name (``stack=NAME``),
    the stack's fields (``stack.feed.blob_us=3``) and the bound dispatch costs
    (``dispatch.op_us=2``). Errors (malformed YAML, unknown field, wrong type, negative value,
    missing source, bad override, unknown stack) are one-line :class:`~dse.errors.SpecError`
    naming the file and the field. Each overridden field is recorded in ``sources`` as
    ``override (--set path=value)``.
    """
    path = _shown(resolve_spec(str(name_or_path), HWSPECS_DIR, "hardware"))
    raw = load_yaml(path)
    if isinstance(raw, dict):
        for key in STACK_FIELDS:
            if key in raw:
                raise SpecError(
                    f"{path}: {key}: framework costs belong to the software stack (hwspecs/stacks/); name one with 'stack:'"
                )
    platform = validate_spec(Platform, raw, path)  # schema first: a typo is named as such
    check_sources(raw, path)
    return override_platform(platform.model_dump(mode="python"), list(overrides or []), path, stack)


def check_used(dump: dict[str, Any], overrides: list[str], path: Path | str) -> None:
    """Refuse an override below a section the platform does not have (``nmp.rank_cache_kb`` on a
    platform without ``nmp:``): no part of the model reads it, so the number would change nothing."""
    for assignment in overrides:
        field = assignment.partition("=")[0].strip()
        section = null_section(dump, field)
        if section is not None:
            raise SpecError(f"{path}: {field}: this platform has no {section}: section, so no part of the "
                            f"model uses {field} (add the section to the hwspec to model it)")




def _split(overrides: list[str]) -> tuple[list[str], list[str], list[str]]:
    """``--set`` assignments split into hardware, stack (``stack.`` removed) and dispatch ones."""
    hw, st, disp = [], [], []
    for assignment in overrides:
        field = assignment.partition("=")[0].strip()
        if field.startswith("stack."):
            st.append(assignment.strip()[len("stack."):])
        elif field == "dispatch" or field.startswith("dispatch.") or field.startswith("dispatch["):
            disp.append(assignment)
        else:
            hw.append(assignment)
    return hw, st, disp


def _recorded(data: dict[str, Any], overrides: list[str], path: str) -> dict[str, Any]:
    data = apply_overrides(data, overrides, path)
    for assignment in overrides:
        field, _, value = assignment.partition("=")
        data["sources"][field.strip()] = f"override (--set {field.strip()}={value.strip()})"
    return data


def _touched(overrides: list[str], dump: dict[str, Any]) -> set[str] | None:
    """The top-level fields ``overrides`` assign below, or None when one is not a field of
    ``dump`` or not a valid path (the complete dump then names the problem)."""
    touched = set()
    for assignment in overrides:
        try:
            head = parse_path(assignment.partition("=")[0].strip())[0]
        except FieldPathError:
            return None
        if head not in dump:
            return None
        touched.add(head)
    return touched


def _with_overrides(data: dict[str, Any], overrides: list[str], path: str, base: Platform | None) -> dict[str, Any]:
    """``data`` with ``overrides`` applied and recorded in its sources. With ``base`` (the
    validated platform ``data`` was dumped from), the sections no override touches are ``base``'s
    own validated objects, which the schema accepts as they are: a sweep re-validates only the
    sections its axes change (and the platform's cross-section checks), not the whole platform."""
    touched = _touched(overrides, data) if base is not None else None
    if touched is None:
        return _recorded(data, overrides, path)
    reused = {k for k, v in data.items() if k not in touched and k != "sources" and isinstance(v, (dict, list))
              and isinstance(getattr(base, k, None), (BaseModel, list))}
    out = _recorded({k: v for k, v in data.items() if k not in reused}, overrides, path)
    return {k: getattr(base, k) if k in reused else out[k] for k in data}


def override_platform(
    dump: dict[str, Any], overrides: list[str], path: Path | str, stack: str | None = None,
    base: Platform | None = None,
) -> Platform:
    """The platform whose complete dump is ``dump`` with ``--set`` ``overrides`` applied and its
    stack (``stack``, else its ``stack`` field) bound; ``dump`` is left unchanged. Errors name
    ``path`` (the spec file, or the stack file for a stack field) and the field. ``base``: the
    validated platform ``dump`` came from (faster: untouched sections are not validated again)."""
    for assignment in overrides:
        field = assignment.partition("=")[0].strip()
        if field == "software" or field.startswith("software."):
            raise SpecError(f"{path}: {field}: the software fields come from the stack; set "
                            f"stack.{field[len('software.'):] or '<field>'} (or choose one with --stack)")
    hw, st, disp = _split(overrides)
    check_used(dump, hw, path)
    data = {**dump, "dispatch": None, "software": None}
    data["sources"] = {k: v for k, v in dump.get("sources", {}).items() if not is_within(k, "dispatch")}
    where = f"{path} (with --set)" if overrides else str(path)
    platform = validate_spec(Platform, _with_overrides(data, hw, str(path), base), where)
    try:
        platform = bind_stack(platform, stack or platform.stack, st, Path(path).parent)
    except SpecError:
        raise  # already names the stack file and its field
    except DseError as exc:  # no such stack: name who asked for it
        raise SpecError(f"{path}: {'--stack' if stack else 'stack'}: {exc}") from None
    if not disp:
        return platform
    return validate_spec(Platform, _recorded(platform.model_dump(mode="python"), disp, str(path)), where)


def bind_stack(platform: Platform, stack: str, overrides: list[str] | None = None, base_dir: Path | None = None) -> Platform:
    """``platform`` with the dispatch costs and :class:`Software` of ``stack`` (a name or a path,
    relative paths also looked up beside the hwspec in ``base_dir``) resolved for it. The
    platform's ``sources`` name the stack's source of each borrowed number."""
    spec = load_stack(stack, overrides, base_dir)
    device = "gpu" if platform.kind == "gpu" else "cpu"
    link = platform.host_link
    clock = platform.compute.clock_ghz if device == "cpu" else (link.host_clock_ghz if link else None)
    dispatch, software, borrowed = _resolved(spec, platform.name, device, clock)
    sources = {k: v for k, v in platform.sources.items() if not is_within(k, "dispatch")}
    sources.update(borrowed)
    return platform.model_copy(update={"stack": stack, "dispatch": dispatch, "software": software, "sources": sources})


def _resolved(spec, name: str, device: str, clock: float | None) -> tuple[Dispatch, Software, dict[str, str]]:  # noqa: ANN001
    """:func:`resolve_stack` and the sources of the borrowed dispatch numbers, memoised per stack
    object (a sweep binds the same stack to every platform it builds; the stack files' own cache
    returns the same object while the file is unchanged). Read-only."""
    key = (id(spec), name, device, clock)
    hit = _RESOLVED.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    dispatch, software = resolve_stack(spec, name, device, clock)
    section = software.sources["dispatch"]
    reference = (spec.cpu if device == "cpu" else spec.gpu).reference_clock_ghz
    factor = (reference or 0) / clock if (clock and section == f"{device}.dispatch") else 1.0
    note = f" (scaled by clock {reference}/{clock} GHz)" if factor not in (0.0, 1.0) else ""
    borrowed: dict[str, str] = {}
    for key_, text in spec.sources.items():
        if is_within(key_, section):
            borrowed["dispatch" + key_[len(section):]] = f"stack {spec.name}: {text}{note}"
        elif is_within(section, key_):
            borrowed["dispatch"] = f"stack {spec.name}: {text}{note}"
    if len(_RESOLVED) >= 256:
        _RESOLVED.clear()
    _RESOLVED[key] = (spec, (dispatch, software, borrowed))
    return dispatch, software, borrowed


_RESOLVED: dict[tuple, tuple] = {}
