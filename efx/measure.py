"""Measure memory exactly: the peak a function allocates, and the tensors autograd saves for backward.

Two instruments, each with its limits stated where it is defined:

- :func:`peak_memory` runs a function and returns the highest number of bytes allocated
  above the level at its start, and the bytes still allocated when it returned. On CPU it
  replays, in time order, the allocation and free events that
  ``torch.autograd.profiler.profile`` records with ``profile_memory=True``. The CPU
  allocator does not cache, so each event is one storage of its exact size and the peak is
  exact and repeatable. On CUDA it reads the caching allocator's counters
  (``torch.cuda.max_memory_allocated``).
- :func:`saved_for_backward` runs a function under ``torch.autograd.graph.saved_tensors_hooks``
  and records every tensor autograd saves for a backward pass, counting a storage once
  however many saved tensors share it.

Tools rejected because they were wrong for torch tensors on CPU: the process's maximum
resident set size (``resource.getrusage``) was up to twice off, since it counts pages and
never goes down, and ``tracemalloc`` sees only Python's allocator, not torch's.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch._C._profiler import _ExtraFields_Allocation
from torch.autograd.graph import saved_tensors_hooks

from efx.errors import EfxError, invalid_argument

T = TypeVar("T")

__all__ = [
    "MeasurementError",
    "MemoryPeak",
    "SavedForBackward",
    "SavedTensor",
    "peak_memory",
    "saved_for_backward",
]


class MeasurementError(EfxError, RuntimeError):
    """A measurement cannot be taken in the current state (for example, a profiler already runs)."""


@dataclass(frozen=True)
class MemoryPeak:
    """Memory a function allocated on one device, relative to the bytes allocated when it started.

    The level is exact when the function frees no storage that existed before it started.
    Where it does, the devices differ. On CPU such a free is not counted, because the
    profiler never saw that allocation, so the level counts the storages the function
    allocated and has not freed. On CUDA the allocator's counter drops, so the level can go
    below the start.

    Attributes:
        peak_bytes: the highest number of bytes allocated above the starting level while the
            function ran; at least 0.
        end_bytes: the bytes still allocated above the starting level when it returned (what
            its result and anything else it kept alive hold). At least 0 on CPU; negative on
            CUDA when the function freed more older memory than it kept.
        device: the device measured, for example ``'cpu'`` or ``'cuda:0'``.
    """

    peak_bytes: int
    end_bytes: int
    device: str


def _resolve_device(device: torch.device | str) -> torch.device:
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise invalid_argument(
            "device",
            device,
            "must name a torch device",
            "pass torch.device('cpu') or torch.device('cuda')",
        ) from None
    if resolved.type not in ("cpu", "cuda"):
        raise invalid_argument(
            "device",
            device,
            "must be a cpu or cuda device (the only allocators measured)",
            "pass 'cpu' or 'cuda'",
        )
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise invalid_argument(
                "device",
                device,
                "must be available, but torch.cuda.is_available() is False",
                "measure on 'cpu'",
            )
        index = torch.cuda.current_device() if resolved.index is None else resolved.index
        if not 0 <= index < torch.cuda.device_count():
            raise invalid_argument(
                "device",
                device,
                f"must have an index below {torch.cuda.device_count()}",
                "pass an existing device",
            )
        resolved = torch.device("cuda", index)
    return resolved


def peak_memory(fn: Callable[[], T], device: torch.device | str) -> tuple[T, MemoryPeak]:
    """Run ``fn()`` and measure the bytes it allocated on ``device``: the peak and what remains.

    Both numbers are relative to the bytes allocated on the device when ``fn`` starts, so
    tensors created before the call (a model's parameters, its input) do not count. Keep
    the result of ``fn`` alive to see it in ``end_bytes``.

    On CPU the level is the running sum of the allocation (+) and free (-) events that the
    profiler records while ``fn`` runs, in time order, and the peak is its maximum. Each
    event is one storage of its exact byte size, so the result is exact and repeatable. A
    free of a storage allocated before ``fn`` started is skipped (see :class:`MemoryPeak`).
    Limits: allocations that other threads make at the same time are recorded too, and a
    profiler that already runs makes the measurement impossible (it raises).

    On CUDA the peak is ``torch.cuda.max_memory_allocated`` minus the starting level, after
    synchronizing before and after ``fn``. Limits: the caching allocator rounds each block
    up to a multiple of 512 bytes. The first matrix product of a process allocates a cuBLAS
    workspace that stays allocated, so warm up before measuring. The device's peak counter
    is reset, which other code reading it will notice.

    Args:
        fn: the function to run, without arguments (wrap a call in a ``lambda``).
        device: the device whose allocations are measured, ``cpu`` or ``cuda[:index]``.

    Returns:
        ``(fn(), MemoryPeak)``.

    Raises:
        InvalidArgumentError: if ``fn`` is not callable or ``device`` is not an available
            cpu or cuda device.
        MeasurementError: on CPU, if a torch profiler is already running.

    >>> _, peak = peak_memory(lambda: torch.empty(1000, dtype=torch.float32), torch.device("cpu"))
    >>> (peak.peak_bytes, peak.end_bytes)
    (4000, 4000)
    """
    if not callable(fn):
        raise invalid_argument(
            "fn", fn, "must be callable without arguments", "wrap the call: lambda: model(x)"
        )
    resolved = _resolve_device(device)
    if resolved.type == "cuda":
        return _peak_cuda(fn, resolved)
    return _peak_cpu(fn)


def _peak_cpu(fn: Callable[[], T]) -> tuple[T, MemoryPeak]:
    if torch.autograd.profiler._is_profiler_enabled:
        raise MeasurementError(
            "peak_memory on cpu needs the torch profiler, which is already running. "
            "Call peak_memory outside other profiling"
        )
    with torch.autograd.profiler.profile(profile_memory=True) as profiler:
        result = fn()

    # NOTE: the allocation events come from profiler.kineto_results.experimental_event_tree(),
    # seen in torch 2.13. The public event list (profiler.events()) folds the allocations made
    # inside an operator into that operator's net usage, which hides its temporaries.
    results = profiler.kineto_results
    if results is None:
        raise MeasurementError(
            "the torch profiler returned no results, so the allocations are unknown"
        )
    events = sorted(
        _cpu_allocation_events(results.experimental_event_tree()), key=lambda event: event[0]
    )

    # A free is paired with an allocation seen in this run by its address. The profiler also
    # reports frees of storages it saw allocated in an earlier profile, and those would lower
    # the level below the start, so they are skipped like frees of older, unprofiled storages.
    sizes: dict[int, int] = {}
    level = peak = 0
    for _, address, change in events:
        if change > 0:
            sizes[address] = change
            level += change
        elif address in sizes:
            level -= sizes.pop(address)
        peak = max(peak, level)

    return result, MemoryPeak(peak_bytes=peak, end_bytes=level, device="cpu")


def _cpu_allocation_events(roots: list[Any]) -> list[tuple[int, int, int]]:
    """Return ``(start_ns, address, byte change)`` of every cpu allocation and free in a profile tree."""
    events = []
    stack = list(reversed(roots))  # depth-first in recorded order, so equal times keep that order
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        fields = node.extra_fields
        if isinstance(fields, _ExtraFields_Allocation) and fields.device.type == "cpu":
            events.append((int(node.start_time_ns), int(fields.ptr), int(fields.alloc_size)))
    return events


def _peak_cuda(fn: Callable[[], T], device: torch.device) -> tuple[T, MemoryPeak]:
    # NOTE: this path has not run on a GPU yet; its tests in tests/test_measure.py skip without CUDA.
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)

    result = fn()

    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - baseline
    end = torch.cuda.memory_allocated(device) - baseline
    return result, MemoryPeak(peak_bytes=max(peak, 0), end_bytes=end, device=str(device))


@dataclass(frozen=True)
class SavedTensor:
    """One tensor that autograd saved for backward, as the saved-tensor pack hook saw it.

    Attributes:
        shape: the saved tensor's shape.
        dtype: its dtype.
        device: its device, as a string.
        storage_bytes: the size of the whole storage it views, which is what saving keeps alive.
        first_of_storage: True for the first saved tensor seen on its storage. Later tensors
            on the same storage, such as the same tensor saved twice or a view of it, add no
            bytes.
        excluded: True when its storage belongs to a tensor passed as ``exclude``.
    """

    shape: tuple[int, ...]
    dtype: torch.dtype
    device: str
    storage_bytes: int
    first_of_storage: bool
    excluded: bool


@dataclass(frozen=True)
class SavedForBackward:
    """The tensors autograd saved for backward while a function ran.

    Attributes:
        tensors: every saved tensor, in the order autograd saved them.
    """

    tensors: tuple[SavedTensor, ...]

    @property
    def count(self) -> int:
        """Return how many times autograd saved a tensor (shared storages counted each time)."""
        return len(self.tensors)

    @property
    def storages(self) -> int:
        """Return how many distinct storages were saved, excluded ones included."""
        return sum(1 for saved in self.tensors if saved.first_of_storage)

    @property
    def bytes(self) -> int:
        """Return the bytes of the distinct saved storages that are not excluded."""
        return sum(s.storage_bytes for s in self.tensors if s.first_of_storage and not s.excluded)

    @property
    def excluded_bytes(self) -> int:
        """Return the bytes of the distinct saved storages that belong to excluded tensors."""
        return sum(s.storage_bytes for s in self.tensors if s.first_of_storage and s.excluded)


class _SavedRecorder:
    """Pack and unpack hooks that record what is saved and keep no reference to it."""

    def __init__(self, exclude: Iterable[torch.Tensor]) -> None:
        self.records: list[SavedTensor] = []
        self.excluded = {_storage_key(tensor) for tensor in exclude}
        # Weak references to the packed tensors of each storage: while one is alive, the
        # graph still holds that storage, so a saved tensor at the same address shares it. Once
        # all are dead the address may belong to a new storage.
        self.live: dict[tuple[str, int], list[weakref.ref[torch.Tensor]]] = {}

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        key = _storage_key(tensor)
        holders = [ref for ref in self.live.get(key, []) if ref() is not None]
        # Returning a detached alias keeps the saved storage exactly as autograd would, with no
        # reference from the packed value back to the graph (returning the tensor itself would
        # form a cycle through its grad_fn and keep the graph alive).
        packed = tensor.detach()
        holders.append(weakref.ref(packed))
        self.live[key] = holders
        self.records.append(
            SavedTensor(
                shape=tuple(tensor.shape),
                dtype=tensor.dtype,
                device=str(tensor.device),
                storage_bytes=tensor.untyped_storage().nbytes(),
                first_of_storage=len(holders) == 1,
                excluded=key in self.excluded,
            )
        )
        return packed

    @staticmethod
    def unpack(packed: torch.Tensor) -> torch.Tensor:
        return packed


def _storage_key(tensor: torch.Tensor) -> tuple[str, int]:
    return str(tensor.device), tensor.untyped_storage().data_ptr()


def saved_for_backward(
    fn: Callable[[], T], exclude: Iterable[torch.Tensor] = ()
) -> tuple[T, SavedForBackward]:
    """Run ``fn()`` and record every tensor autograd saves for backward while it runs.

    Each time an operation saves a tensor for its backward pass, a pack hook records its
    shape, dtype and storage size and stores a detached alias in its place. The graph so
    keeps exactly what it would keep without the hook, and gradients are unchanged.
    Distinct storages are counted once: the same tensor saved by two operations, or two
    views of one storage, add its bytes once.

    Limits: only what autograd saves is seen. Tensors that Python code keeps alive (a
    list of outputs, a KV cache) are not saved tensors. Inside a region checkpointed with
    ``torch.utils.checkpoint``, the checkpoint's own hooks replace these, so that region's
    saves are not recorded. Only the innermost ``saved_tensors_hooks`` applies, so a
    function that installs its own hooks hides its saves too. Storages are told apart by
    address while the graph holds them; an address freed and reused by a new saved storage
    counts as a new storage.

    Args:
        fn: the function to run, without arguments.
        exclude: tensors whose storages are reported in ``excluded_bytes`` instead of
            ``bytes``, typically ``model.parameters()``, so ``bytes`` counts activations.

    Returns:
        ``(fn(), SavedForBackward)``.

    Raises:
        InvalidArgumentError: if ``fn`` is not callable or ``exclude`` holds a non-tensor.

    >>> w = torch.ones(3, requires_grad=True)
    >>> x = torch.ones(3)
    >>> _, saved = saved_for_backward(lambda: (w * x).sum())  # w's gradient needs x: 3 float32
    >>> (saved.count, saved.bytes)
    (1, 12)
    >>> with torch.no_grad():
    ...     _, saved = saved_for_backward(lambda: (w * x).sum())
    >>> saved.count
    0
    """
    if not callable(fn):
        raise invalid_argument(
            "fn", fn, "must be callable without arguments", "wrap the call: lambda: model(x)"
        )
    exclude = tuple(exclude)
    for position, tensor in enumerate(exclude):
        if not isinstance(tensor, torch.Tensor):
            raise invalid_argument(
                f"exclude[{position}]",
                tensor,
                "must be a torch.Tensor",
                "pass tensors, for example model.parameters()",
            )
    recorder = _SavedRecorder(exclude)
    with saved_tensors_hooks(recorder.pack, recorder.unpack):
        result = fn()
    return result, SavedForBackward(tuple(recorder.records))
