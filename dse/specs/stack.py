"""Software-stack specs (``hwspecs/stacks/*.yaml``): the framework and harness a model runs in.

A hardware spec says what the machine can do; a :class:`Stack` says what the software adds on
top of it, so that comparing two machines can hold the software fixed:

- ``cpu`` / ``gpu``: per-operator dispatch (CPU) or launch (GPU) costs and the fixed cost of one
  forward pass (:class:`Dispatch`). CPU numbers were measured at ``cpu.reference_clock_ghz`` and
  are scaled by ``reference / clock`` of the platform they run on (framework code is
  latency-bound on the core);
- ``platforms``: costs measured on one named machine (``ci_cpu``, ``h200``), used there as they
  are, in place of the scaled generic ones;
- ``feed``: per-inference input feeding, paid in each graph input (``input`` operators): a fixed
  cost per fed tensor (blob), a cost per Python list element converted to an array, a host copy
  of the fed bytes; on a GPU, how many host-to-device copies an input takes (one, one per
  tensor, one per blob), each paying the link's latency;
- ``inputs``: what the harness feeds as embedding indices: ``cycled_batches`` pre-generated
  batches run over and over (their rows stay in the caches, dse/cost/cycled.py), or fresh ones;
- ``gemm``: the threads one FC/GEMM call may use inside an engine, their parallel efficiency and
  the fork/join cost per call; ``embedding_threads``: the threads of one embedding call;
- ``serving``: the serving software's costs (per-query dispatch, per-sub-batch overhead, jitter,
  co-location slowdown), the defaults of ``dse serve``/``capacity``/``optimize`` and sweeps.

Every number carries its source in ``sources`` exactly like a hardware spec (a dotted field path
or a section prefix). :func:`load_stack` validates the file; :func:`resolve_stack` turns a stack
into the :class:`Software` of one platform (clock scaling and per-machine entries applied).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from dse.specs.ranges import Bounded
from dse.errors import SpecError
from dse.paths import STACKS_DIR, list_specs, resolve_spec
from dse.specs import fieldpath
from dse.specs.loading import load_yaml, validate_spec
from dse.specs.opkinds import OpKind
from dse.specs.overrides import apply_overrides


class _Strict(Bounded):
    """A stack section: strict, finite, within the magnitude range of every spec number
    (:mod:`dse.specs.ranges`)."""


class Dispatch(_Strict):
    """Fixed costs that do not depend on the batch: framework dispatch, kernel launch."""

    op_us: NonNegativeFloat = Field(description="per framework dispatch (GPU: kernel launch), microseconds")
    per_kind_us: dict[str, NonNegativeFloat] = Field(default_factory=dict, description="per-kind overrides of op_us")
    step_us: NonNegativeFloat = Field(0.0, description="per sequential step of a recurrent op")
    inference_us: NonNegativeFloat = Field(0.0, description="per forward pass (entry, final synchronisation)")
    overlap: bool = Field(False, description="device runs asynchronously: the host issues a pass ahead of it (dse/cost/stream.py)")
    persistent_max_hidden: NonNegativeInt = Field(
        0,
        description="a GRU with at most this hidden size runs its recurrence as one persistent kernel (cuDNN's PERSIST_STATIC_SMALL_H, dse/cost/recurrent.py): no per-step launches; 0: never",
    )
    persistent_step_us: NonNegativeFloat = Field(
        0.0, description="device time of one time step inside a persistent recurrent kernel besides its FLOPs, microseconds"
    )

    @model_validator(mode="after")
    def _persistent_on_a_device(self) -> "Dispatch":
        if self.persistent_max_hidden and not self.overlap:
            raise ValueError("dispatch.persistent_max_hidden: only an asynchronous device (overlap: true, a GPU) runs cuDNN's persistent kernel")
        return self

    @model_validator(mode="after")
    def _known_kinds(self) -> "Dispatch":
        kinds = {k.value for k in OpKind}
        for key in self.per_kind_us:
            if key not in kinds:
                raise ValueError(f"dispatch.per_kind_us: unknown operator kind '{key}' (known: {', '.join(sorted(kinds))})")
        return self

    def op_seconds(self, kind: OpKind) -> float:
        """Seconds per dispatch of an operator of ``kind``."""
        return self.per_kind_us.get(kind.value, self.op_us) * 1e-6

    def scaled(self, factor: float) -> "Dispatch":
        """These costs with every time multiplied by ``factor`` (clock scaling)."""
        return Dispatch(
            op_us=self.op_us * factor,
            per_kind_us={k: v * factor for k, v in self.per_kind_us.items()},
            step_us=self.step_us * factor,
            inference_us=self.inference_us * factor,
            overlap=self.overlap,
            persistent_max_hidden=self.persistent_max_hidden,
            persistent_step_us=self.persistent_step_us,  # device time: not the host's clock
        )


class EngineCosts(_Strict):
    """Framework costs on one kind of device."""

    reference_clock_ghz: PositiveFloat | None = Field(
        None, description="clock the costs were measured at (CPU); scaled by reference / platform clock; none: not scaled"
    )
    dispatch: Dispatch


class Feed(_Strict):
    """Per-inference input feeding (host side), paid in the graph's ``input`` operators.

    One input operator feeds ``blobs`` tensors and converts ``elements_per_item × b`` Python list
    elements (dse/graph/ops.py ``input_op``); its time is
    ``blobs × blob_us + elements × element_ns + bytes / copy_gbs`` (dse/cost/transfer.py).
    """

    blob_us: NonNegativeFloat = Field(0.0, description="fixed cost per fed tensor (FeedBlob), microseconds")
    element_ns: NonNegativeFloat = Field(0.0, description="per Python list element converted to an array (np.array(list)), ns")
    copy_gbs: PositiveFloat | None = Field(None, description="host memcpy bandwidth of the fed bytes, GB/s; none: inputs not copied")
    host_built_indices: bool = Field(
        False,
        description="GPU: the model code builds index tensors on the host every pass (the dot interaction's tril_indices) and indexes a device tensor with them: each is copied synchronously, so the host waits for the device to drain (dse/cost/transfer.py)",
    )
    h2d_copies: Literal["input", "tensor", "blob"] = Field(
        "input",
        description="GPU: host<->device copies per graph input: one, one per tensor (a 2-D index tensor per table), or one per blob (indices and lengths per table); with tensor or blob every output comes back in its own copy",
    )


class Inputs(_Strict):
    """What the harness feeds as embedding indices (dse/cost/cycled.py)."""

    cycled_batches: NonNegativeInt = Field(
        0, description="the harness cycles this many pre-generated batches (their rows stay cached); 0: fresh indices every inference"
    )


class Threads(_Strict):
    """Threads one operator call uses inside an engine (a multi-threaded BLAS, OpenMP).

    ``t(T) = t(1) / (1 + (T - 1) × parallel_efficiency) + fork_join_us`` (dse/cost/threads.py);
    ``threads: all`` uses every core of the machine not taken by other engines.
    """

    threads: PositiveInt | Literal["all"] = 1
    parallel_efficiency: float = Field(1.0, gt=0.0, le=1.0, description="useful fraction of each added thread")
    fork_join_us: NonNegativeFloat = Field(0.0, description="per call with more than one thread (wake, barrier), microseconds")


class Serving(_Strict):
    """Costs of the serving software around the engines (dse/serve/policy.py ``ServerCosts``)."""

    query_overhead_ms: NonNegativeFloat = Field(0.0, description="fixed delay added to every query (split, enqueue, response)")
    subbatch_overhead_ms: NonNegativeFloat = Field(0.0, description="engine time per sub-batch (dequeue, set-up)")
    accel_overhead_ms: NonNegativeFloat = Field(0.0, description="engine time per accelerator query")
    jitter: NonNegativeFloat = Field(0.0, description="coefficient of variation of service times")
    colocation: NonNegativeFloat = Field(0.0, description="slowdown of curve time with every engine busy (beyond the cost model's)")


class MachineCosts(_Strict):
    """Costs measured on one named machine, used there as they are (no clock scaling)."""

    dispatch: Dispatch | None = None
    serving: Serving | None = None


class Stack(_Strict):
    """A software stack. See the module docstring for the sections and their units."""

    name: str
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    cpu: EngineCosts
    gpu: EngineCosts
    feed: Feed = Field(default_factory=Feed)
    inputs: Inputs = Field(default_factory=Inputs)
    gemm: Threads = Field(default_factory=Threads)
    embedding_threads: PositiveInt = 1
    serving: Serving = Field(default_factory=Serving)
    platforms: dict[str, MachineCosts] = Field(default_factory=dict)

    def source_of(self, path: str) -> str:
        """Where the number at ``path`` (``feed.blob_us``) comes from: longest matching entry."""
        return fieldpath.source_of(self.sources, path)


class Software(_Strict):
    """A stack resolved for one platform: what the cost model and the serving model read.

    ``dispatch`` is not here: it is the platform's ``dispatch`` field, filled from the stack when
    the platform is loaded (so ``--set dispatch.op_us=...`` and calibration reach it).
    """

    stack: str
    feed: Feed = Field(default_factory=Feed)
    inputs: Inputs = Field(default_factory=Inputs)
    gemm: Threads = Field(default_factory=Threads)
    embedding_threads: PositiveInt = 1
    serving: Serving = Field(default_factory=Serving)
    sources: dict[str, str] = Field(default_factory=dict)


def list_stacks() -> list[str]:
    """Names of the shipped software stacks."""
    return list_specs(STACKS_DIR)


def _check_sources(data: dict[str, Any], path: Path | str) -> None:
    from dse.specs.hardware import check_sources  # same rule as hwspecs; hardware imports this module

    check_sources(data, path)


def stack_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """The file of stack ``name_or_path``: a shipped name, a path, or a path relative to the
    directory of the hwspec that names it (``relative_to``)."""
    text = str(name_or_path)
    if relative_to is not None and not Path(text).is_absolute():
        beside = relative_to / text
        if beside.is_file():
            return beside
    return resolve_spec(text, STACKS_DIR, "stack")


def load_stack(name_or_path: str, overrides: list[str] | None = None, relative_to: Path | None = None) -> Stack:
    """Load a stack by shipped name (``caffe2_deeprecsys``) or YAML path, then apply ``--set``
    overrides (paths relative to the stack: ``feed.blob_us=3``). Errors are one-line
    :class:`~dse.errors.SpecError` naming the file and the field."""
    try:  # the file found before (resolving the name is most of the time a sweep spends here)
        path = _stack_file(str(name_or_path), relative_to, os.getcwd())
        stat = path.stat()
    except OSError:  # gone since, or no working directory: look again, naming the problem
        _stack_file.cache_clear()
        path = _shown(stack_path(name_or_path, relative_to))
        stat = path.stat()
    stack = _parsed_stack(str(path), stat.st_mtime_ns, stat.st_size)
    if not overrides:
        return stack
    data = apply_overrides(stack.model_dump(mode="python"), overrides, str(path))
    for assignment in overrides:
        field, _, value = assignment.partition("=")
        data["sources"][field.strip()] = f"override (--set stack.{field.strip()}={value.strip()})"
    return validate_spec(Stack, data, f"{path} (with --set)")


@functools.lru_cache(maxsize=64)
def _stack_file(name_or_path: str, relative_to: Path | None, cwd: str) -> Path:
    """:func:`stack_path` as shown in messages, memoised per working directory."""
    return _shown(stack_path(name_or_path, relative_to))


@functools.lru_cache(maxsize=32)
def _parsed_stack(path: str, mtime_ns: int, size: int) -> Stack:
    """The validated stack file ``path``, parsed once per version of the file (a sweep binds the
    stack to every platform it builds; the YAML parse was most of that). Callers do not mutate it."""
    raw = load_yaml(Path(path))
    stack = validate_spec(Stack, raw, Path(path))
    _check_sources(raw, Path(path))
    return stack


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it (shorter messages)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _scaled_threads(threads: Threads, factor: float) -> Threads:
    return threads.model_copy(update={"fork_join_us": threads.fork_join_us * factor})


def resolve_stack(stack: Stack, platform_name: str, device: Literal["cpu", "gpu"], clock_ghz: float | None) -> tuple[Dispatch, Software]:
    """The dispatch costs and :class:`Software` of ``stack`` on a platform.

    ``device``: which engine costs apply; ``clock_ghz``: the clock of the core that runs the
    framework and feeds the inputs (none: no scaling). A ``platforms`` entry of the platform's
    name replaces the scaled generic costs.
    """
    engine = stack.cpu if device == "cpu" else stack.gpu
    ref_host = stack.cpu.reference_clock_ghz
    host_factor = (ref_host / clock_ghz) if (ref_host and clock_ghz) else 1.0
    dispatch_factor = (engine.reference_clock_ghz / clock_ghz) if (engine.reference_clock_ghz and clock_ghz) else 1.0
    dispatch = engine.dispatch.scaled(dispatch_factor) if dispatch_factor != 1.0 else engine.dispatch
    serving = stack.serving
    section = f"{device}.dispatch"
    machine = stack.platforms.get(platform_name)
    if machine is not None and machine.dispatch is not None:
        dispatch, section = machine.dispatch, f"platforms.{platform_name}.dispatch"
    if machine is not None and machine.serving is not None:
        serving = machine.serving
    feed = stack.feed.model_copy(
        update={"blob_us": stack.feed.blob_us * host_factor, "element_ns": stack.feed.element_ns * host_factor}
    )
    software = Software(
        stack=stack.name,
        feed=feed,
        inputs=stack.inputs,
        gemm=_scaled_threads(stack.gemm, host_factor),
        embedding_threads=stack.embedding_threads,
        serving=serving,
        sources={"dispatch": section, "clock_factor": f"{host_factor:.4g}"},
    )
    return dispatch, software


def stack_source(stack: Stack, path: str) -> str:
    """``stack NAME: <source>`` for a field of the stack (how a platform reports its borrowed costs)."""
    return f"stack {stack.name}: {stack.source_of(path)}"


def require_known(name: str, where: str) -> None:
    """Fail early with one line when ``name`` is neither a shipped stack nor a file."""
    if name not in list_stacks() and not Path(name).is_file():
        raise SpecError(f"{where}: unknown stack '{name}' (known: {', '.join(list_stacks())})")
