"""Counters and random-state replay of efx.checkpointing that mutation testing found
unpinned: byte peaks, the tally behind them, storage keys, and the CUDA branches, which a
CPU-only build checks through recording stand-ins for torch.cuda's functions.

See docs/mutation.md for how mutants are made and which ones are left as equivalent.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from efx.checkpointing import (
    Binomial,
    Checkpointed,
    MemoryPoor,
    Segments,
    StoreAll,
    count,
)
from efx.checkpointing.counters import Tally, storage_key
from efx.checkpointing.executor import Run
from efx.checkpointing.replay import RngState, capture_rng, restore_rng

F64 = torch.float64


def _two_linear() -> nn.Sequential:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).to(F64)


def test_peak_bytes_are_peak_states_times_state_size():
    # Every state of a chain of equal widths has one size, so the byte peak is the
    # state peak times that size.
    torch.manual_seed(14)
    chain = nn.Sequential(*[nn.Linear(4, 4) for _ in range(6)]).to(F64)
    x = torch.randn(2, 4, dtype=F64)
    state = 2 * 4 * 8

    for strategy in (StoreAll(), MemoryPoor(), Segments(3), Binomial(2)):
        model = Checkpointed(copy.deepcopy(chain), strategy)
        model(x).sum().backward()
        counts = model.last_counts
        assert counts.peak_stored_bytes == counts.peak_stored * state, strategy
        assert counts.peak_stored == count(strategy.schedule(6)).peak_stored, strategy


def test_tally_total_after_remove():
    tally = Tally()
    tally.add("a", 10)
    tally.add("b", 20)
    tally.add("b", 20)  # a second reference to b adds nothing

    tally.remove("b")
    assert tally.total == 30
    tally.remove("b")
    assert tally.total == 10
    tally.add("c", 15)

    assert tally.total == 25
    assert tally.peak == 30
    assert tally.peak_items == 2


def test_checkpointed_empty_batch_holds_no_bytes():
    model = Checkpointed(_two_linear(), MemoryPoor(), track_saved=True)
    x = torch.zeros(0, 3, dtype=F64, requires_grad=True)

    model(x).sum().backward()

    assert model.last_counts.peak_stored_bytes == 0
    assert model.last_counts.peak_saved_bytes == 0


def test_storage_key_tells_devices_apart():
    # An empty CPU storage and a meta storage both have data pointer 0.
    cpu = torch.empty(0)
    meta = torch.empty(0, device="meta")

    assert cpu.untyped_storage().data_ptr() == meta.untyped_storage().data_ptr()
    assert storage_key(cpu) != storage_key(meta)


def test_capture_rng_reads_device_generator(monkeypatch):
    # A CPU-only build cannot run the CUDA branch, so torch.cuda's getter is replaced by one
    # that records its argument; torch.device("cuda", 1) is only a description.
    marker = torch.arange(4, dtype=torch.uint8)
    requested = []

    def get_rng_state(device):
        requested.append(device)
        return marker

    monkeypatch.setattr(torch.cuda, "get_rng_state", get_rng_state)
    device = torch.device("cuda", 1)

    state = capture_rng(device)

    assert requested == [device]
    assert state.cuda is marker
    assert state.device == device
    assert torch.equal(state.cpu, torch.get_rng_state())
    assert capture_rng(torch.device("cpu")).device == torch.device("cpu")
    assert capture_rng(torch.device("cpu")).cuda is None


def test_restore_rng_sets_device_generator(monkeypatch):
    received = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda *args: received.append(args))
    cuda_state = torch.arange(4, dtype=torch.uint8)
    device = torch.device("cuda", 1)

    restore_rng(RngState(cpu=torch.get_rng_state(), cuda=cuda_state, device=device))

    assert len(received) == 1
    assert received[0][0] is cuda_state
    assert received[0][1] == device


def test_counts_read_cuda_peak_of_input_device(monkeypatch):
    # The CUDA branch of the counters, on a CPU-only build: the run's device is set by hand
    # and torch.cuda's reader is replaced by one that records its argument.
    requested = []

    def max_memory_allocated(device):
        requested.append(device)
        return 1234

    monkeypatch.setattr(torch.cuda, "max_memory_allocated", max_memory_allocated)
    model = Checkpointed(_two_linear(), MemoryPoor())
    run = Run(model, iter([]), model.trainable_parameters())
    run.device = torch.device("cuda", 1)

    counts = run._counts()

    assert requested == [torch.device("cuda", 1)]
    assert counts.cuda_max_allocated == 1234
