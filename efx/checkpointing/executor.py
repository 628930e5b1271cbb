"""Run a schedule on tensors: the autograd node behind :class:`~efx.checkpointing.Checkpointed`.

:class:`ChainFunction` is one autograd node for the whole chain. Its forward runs the
schedule's actions up to the first reverse and returns the chain's output. Its backward runs
the remaining actions and returns the gradients of the input and the parameters. Each
recorded run of modules is reversed with ``torch.autograd.grad`` (``torch.utils.checkpoint``
is not used), so efx controls what is replayed and what is kept.

Exactness, in the order a recomputation could break it:

- random numbers are replayed: the generator state is stored with every checkpoint and set
  again when the schedule restarts from it (see :mod:`efx.checkpointing.replay`);
- buffers are updated once per forward pass: a recomputation runs on the buffers as they were
  before the original call and leaves the module's own buffers unchanged (BatchNorm's running
  statistics included);
- where a recomputation reaches a state that is still stored (every segment boundary of
  :class:`~efx.checkpointing.strategies.Segments`), the two tensors are compared and a
  difference raises :class:`RecomputeMismatchError`. Memory-poor and binomial schedules free
  a checkpoint before they could recompute it, so they have nothing to compare against.

On CPU, with the same operations in the same order, the gradients equal those of the plain
chain bit for bit. A parameter shared by modules in different recorded runs gets its
gradient summed in another order, equal only up to rounding.

NOTE: gradients are returned for the parameters of the chain's modules only. A module may use
another module's parameter, but a tensor that no module of the chain registers (a global
captured by a closure) gets no gradient from a checkpointed call, where autograd would give
it one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.autograd.graph import GradientEdge, get_gradient_edge, saved_tensors_hooks

from efx.checkpointing.counters import ChainCounts, Tally, state_bytes, storage_key
from efx.checkpointing.replay import (
    RngState,
    buffer_values,
    call_with_buffers,
    capture_rng,
    restore_rng,
)
from efx.checkpointing.schedule import Action, Op, ScheduleError
from efx.errors import EfxError, invalid_argument

if TYPE_CHECKING:
    from efx.checkpointing.chain import Checkpointed


class RecomputeMismatchError(EfxError, RuntimeError):
    """A recomputed state differs from the state the forward pass stored."""


@dataclass
class _Recording:
    """A live recorded run of modules ``first..stop-1``: its input leaf, its output's graph edge, what it saved.

    The run keeps the edge to its output's ``grad_fn`` rather than the output itself, so the
    output's values are freed as soon as nothing else needs them, as in one backward pass. An
    output without ``grad_fn`` (a module returned its input leaf) is kept as a tensor.
    """

    first: int
    stop: int
    input: torch.Tensor
    edge: GradientEdge | None = None
    leaf_output: torch.Tensor | None = None
    saved: list[tuple[str, int]] = field(default_factory=list)


class Run:
    """One forward and backward pass of a schedule over tensors."""

    def __init__(
        self, owner: Checkpointed, actions: Iterator[Action], parameters: list[nn.Parameter]
    ) -> None:
        self.owner = owner
        self.modules = list(owner.chain)
        self.actions = actions
        self.pending: Action | None = None
        self.calls = [0] * len(self.modules)
        self.before: dict[int, dict[str, torch.Tensor]] = {}
        self.checkpoints: dict[int, torch.Tensor] = {}
        self.rng_at: dict[int, RngState] = {}
        self.recordings: list[_Recording] = []
        self.working: torch.Tensor | None = None
        self.working_index: int | None = None
        self.attached = False
        self.gradient: torch.Tensor | None = None
        # The state whose gradient is known: a_n once the forward phase ends, then the first
        # state of each reversed run.
        self.gradient_at: int | None = None
        self.parameter_grads: dict[nn.Parameter, torch.Tensor] = {}
        # The chain's trainable parameters, in the order the autograd node receives them.
        self.parameters = parameters
        self.states = Tally()
        self.saved = Tally() if owner.track_saved else None
        self.excluded: set[tuple[str, int]] = set()
        self.device = torch.device("cpu")
        self.needs_input_grad = False
        self.done = False

    # The forward phase: every action up to the first reverse.

    def forward_phase(self, x: torch.Tensor, needs_input_grad: bool) -> torch.Tensor:
        self.device = x.device
        self.needs_input_grad = needs_input_grad
        if self.saved is not None:
            self.excluded = {
                storage_key(t) for m in self.modules for t in (*m.parameters(), *m.buffers())
            }
        self.working, self.working_index = x.detach(), 0
        for action in self.actions:
            if action.op is Op.REVERSE:
                self.pending = action
                break
            self._execute(action)
        if self.pending is None or not self.attached or self.working_index != len(self.modules):
            raise ScheduleError(
                f"the schedule of {self.owner.strategy.name} must record the chain's output before its first reverse"
            )
        assert self.working is not None
        self.gradient_at = len(self.modules)
        output = self.working.detach()
        self.working = None  # the recording's edge is enough for the backward pass
        return output

    # The backward phase: the remaining actions, then the gradients in autograd's order.

    def backward_phase(
        self, grad_output: torch.Tensor
    ) -> tuple[torch.Tensor | None, list[torch.Tensor | None]]:
        if self.done:
            raise EfxError(
                "the backward pass of this Checkpointed call already ran; run the forward again "
                "(retain_graph cannot keep a checkpointed chain's graph)"
            )
        self.done = True
        user_rng = capture_rng(self.device) if self.owner.preserve_rng else None
        self.gradient = grad_output

        try:
            assert self.pending is not None
            self._execute(self.pending)
            for action in self.actions:
                self._execute(action)
            if self.recordings or self.checkpoints or self.gradient_at != 0:
                raise ScheduleError(
                    f"the schedule of {self.owner.strategy.name} ends before reversing the chain"
                )
        finally:
            if user_rng is not None:
                restore_rng(user_rng)

        grad_input = self.gradient if self.needs_input_grad else None
        # Popping leaves autograd the only reference, so it can move each gradient into .grad
        # instead of copying it.
        grads = [self.parameter_grads.pop(p, None) for p in self.parameters]
        self.gradient = None
        self.owner._record(self._counts())
        self.checkpoints.clear()
        self.rng_at.clear()
        self.before.clear()
        return grad_input, grads

    def _counts(self) -> ChainCounts:
        cuda = torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else None
        return ChainCounts(
            strategy=self.owner.strategy.name,
            forward_calls=tuple(self.calls),
            peak_stored=self.states.peak_items,
            peak_stored_bytes=self.states.peak,
            peak_saved_bytes=None if self.saved is None else self.saved.peak,
            cuda_max_allocated=cuda,
        )

    # Actions.

    def _execute(self, action: Action) -> None:
        op, index = action
        if not isinstance(op, Op):
            raise ScheduleError(
                f"{action!r} from the schedule of {self.owner.strategy.name}: {op!r} is not an Op"
            )
        if op is Op.ADVANCE or op is Op.TAPE:
            self._call(index, record=op is Op.TAPE)
        elif op is Op.STORE:
            self._store(index)
        elif op is Op.RESTORE:
            self._restore(index)
        elif op is Op.FREE:
            self._free(index)
        elif op is Op.REVERSE:
            self._reverse(index)

    def _store(self, index: int) -> None:
        if self.working_index != index or self.working is None or index in self.checkpoints:
            raise ScheduleError(f"store {index}: the working state is a_{self.working_index}")
        state = self.working.detach()
        self.checkpoints[index] = state
        if self.owner.preserve_rng:
            self.rng_at[index] = capture_rng(self.device)
        self.states.add(index, state_bytes(state))
        if self.saved is not None:
            self.saved.add(storage_key(state), state.untyped_storage().nbytes())

    def _restore(self, index: int) -> None:
        if index not in self.checkpoints:
            raise ScheduleError(f"restore {index}: a_{index} is not a stored checkpoint")
        self.working, self.working_index, self.attached = self.checkpoints[index], index, False
        if self.owner.preserve_rng:
            restore_rng(self.rng_at[index])

    def _free(self, index: int) -> None:
        if index not in self.checkpoints:
            raise ScheduleError(f"free {index}: a_{index} is not a stored checkpoint")
        state = self.checkpoints.pop(index)
        self.rng_at.pop(index, None)
        self.states.remove(index)
        if self.saved is not None:
            self.saved.remove(storage_key(state))

    def _call(self, index: int, record: bool) -> None:
        if self.working is None or self.working_index != index:
            raise ScheduleError(
                f"module {index} needs a_{index} but the working state is a_{self.working_index}"
            )
        module = self.modules[index]
        state = self.working

        if self.calls[index] == 0:
            values = buffer_values(module)
            if values:
                self.before[index] = values
        before = self.before.get(index) if self.calls[index] else None

        def run(inputs: torch.Tensor) -> Any:
            return module(inputs) if before is None else call_with_buffers(module, before, inputs)

        if record:
            recording = self._recording_for(index, state)
            state = recording.input if recording.first == index else state
            hooks: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if self.saved is not None:
                hooks = saved_tensors_hooks(self._packer(recording), _unpack)
            with torch.enable_grad(), hooks:
                output = run(state)
        else:
            with torch.no_grad():
                output = run(state)
        self.calls[index] += 1

        if not isinstance(output, torch.Tensor):
            raise invalid_argument(
                f"modules[{index}]",
                module,
                f"must return one tensor, but returned {type(output).__name__}",
                "wrap the module so that it maps a tensor to a tensor",
            )
        if record:
            recording.stop = index + 1
            if output.requires_grad and output.grad_fn is not None:
                recording.edge, recording.leaf_output = get_gradient_edge(output), None
            else:
                recording.edge, recording.leaf_output = None, output
            self.states.add(index, state_bytes(state))
        self._compare(index + 1, output)
        self.working, self.working_index, self.attached = output, index + 1, record

    def _recording_for(self, index: int, state: torch.Tensor) -> _Recording:
        if self.attached and self.recordings and self.recordings[-1].stop == index:
            return self.recordings[-1]
        leaf = state.detach()
        needs = (
            self.needs_input_grad if index == 0 else leaf.is_floating_point() or leaf.is_complex()
        )
        leaf.requires_grad_(needs)
        recording = _Recording(first=index, stop=index, input=leaf)
        self.recordings.append(recording)
        return recording

    def _packer(self, recording: _Recording) -> Callable[[torch.Tensor], torch.Tensor]:
        saved = self.saved
        assert saved is not None

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            key = storage_key(tensor)
            if key not in self.excluded:
                recording.saved.append(key)
                saved.add(key, tensor.untyped_storage().nbytes())
            # A detached alias keeps the same storage alive with no reference back to the graph.
            return tensor.detach()

        return pack

    def _compare(self, index: int, output: torch.Tensor) -> None:
        stored = self.checkpoints.get(index)
        if stored is None:
            return
        recomputed = output.detach()
        if (
            recomputed.shape == stored.shape
            and recomputed.dtype == stored.dtype
            and torch.equal(recomputed, stored)
        ):
            return
        if recomputed.shape != stored.shape or recomputed.dtype != stored.dtype:
            detail = f"shape {tuple(recomputed.shape)} {recomputed.dtype} instead of {tuple(stored.shape)} {stored.dtype}"
        else:
            difference = (recomputed.double() - stored.double()).abs().max().item()
            detail = f"largest absolute difference {difference:.3g}"
        raise RecomputeMismatchError(
            f"recomputing a_{index} (the output of module {index - 1}, {type(self.modules[index - 1]).__name__}) "
            f"did not reproduce the stored checkpoint: {detail}. A module draws random numbers from "
            "outside torch's default generators, changes state that is not a buffer, or its parameters "
            "changed between forward and backward (an optimizer step before backward). Make the module "
            "deterministic, run backward before changing parameters, or use Segments(check=False), "
            "which does not compare, to accept the difference."
        )

    def _reverse(self, index: int) -> None:
        if not self.recordings or self.recordings[-1].first != index:
            raise ScheduleError(
                f"reverse {index}: the last recorded run does not start at module {index}"
            )
        if self.recordings[-1].stop != self.gradient_at:
            raise ScheduleError(
                f"reverse {index}: the last recorded run ends at a_{self.recordings[-1].stop}, "
                f"but the gradient is known at a_{self.gradient_at}"
            )
        recording = self.recordings.pop()
        self.gradient_at = recording.first
        # None: nothing after this run depends on its output, so no gradient reaches it or
        # the modules before it, and their parameters keep no gradient, as under autograd.
        gradient = self.gradient
        self.gradient = self.working = None

        # Every parameter of the chain, not only those of the run's own modules: a module may
        # use another module's parameter, and autograd returns None for those it does not reach.
        parameters = self.parameters
        inputs: list[torch.Tensor] = [recording.input] if recording.input.requires_grad else []
        inputs += parameters
        grads: Sequence[torch.Tensor | None] = [None] * len(inputs)
        output: GradientEdge | torch.Tensor | None = recording.edge
        if (
            output is None
            and recording.leaf_output is not None
            and recording.leaf_output.requires_grad
        ):
            output = recording.leaf_output
        if gradient is not None and output is not None and inputs:
            grads = torch.autograd.grad(output, inputs, gradient, allow_unused=True)
        del output, gradient
        recording.edge = recording.leaf_output = None

        if recording.input.requires_grad:
            self.gradient, grads = grads[0], grads[1:]
        for parameter, grad in zip(parameters, grads, strict=True):
            if grad is None:
                continue
            previous = self.parameter_grads.get(parameter)
            self.parameter_grads[parameter] = grad if previous is None else previous + grad

        for state in range(recording.first, recording.stop):
            self.states.remove(state)
        if self.saved is not None:
            for key in recording.saved:
                self.saved.remove(key)
        self.working_index, self.attached = None, False


def _unpack(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class ChainFunction(torch.autograd.Function):
    """One autograd node for the whole chain: the schedule's forward part, then its backward part."""

    @staticmethod
    def forward(ctx: Any, run: Run, x: torch.Tensor, *parameters: torch.Tensor) -> torch.Tensor:
        ctx.run = run
        return run.forward_phase(x, needs_input_grad=bool(ctx.needs_input_grad[1]))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_input, grads = ctx.run.backward_phase(grad_output)
        return (None, grad_input, *grads)
