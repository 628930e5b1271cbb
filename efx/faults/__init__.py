"""Known faults: wrong implementations of efx's interface that ``pytest verify/`` must catch.

Each module ``efx.faults.<name>`` is an implementation in the sense of ``--impl``: it
defines the names that ``efx.reference`` defines, one or two of them wrong in a way that
people ship, and falls back to efx's own for every other name. So

    pytest verify/ --impl efx.faults.per_micro_batch_mean --claim ga.unequal-sections

runs the claim's properties against the fault, and at least one check fails.
:data:`FAULTS` lists every fault with the claims whose checks catch it;
``tests/test_fault_catalogue.py`` runs each of them and asserts exactly that, and runs the
same checks against ``efx.reference`` as the control.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from efx.errors import invalid_argument


@dataclass(frozen=True)
class Fault:
    """A known fault and the checks that catch it.

    Attributes:
        name: the module under ``efx.faults`` that implements it.
        topic: the topic of the page whose claims catch it.
        replaces: the names of ``efx.reference`` that the module redefines.
        summary: one sentence saying what is wrong.
        claims: the claim ids whose checks catch it.
        files: the files under ``verify/`` that hold those checks (narrows collection).
    """

    name: str
    topic: str
    replaces: tuple[str, ...]
    summary: str
    claims: tuple[str, ...]
    files: tuple[str, ...]

    @property
    def module(self) -> str:
        """The importable module path, the value of ``--impl``."""
        return f"{__name__}.{self.name}"

    def load(self) -> ModuleType:
        """Import and return the fault's module."""
        return importlib.import_module(self.module)

    def pytest_args(self) -> list[str]:
        """Return the arguments of ``pytest`` that run the catching checks against this fault."""
        args = [*self.files, "--impl", self.module]
        for claim_id in self.claims:
            args += ["--claim", claim_id]
        return args


FAULTS: tuple[Fault, ...] = (
    Fault(
        name="per_micro_batch_mean",
        topic="gradient accumulation",
        replaces=("accumulated_gradients",),
        summary="Each micro-batch's mean loss is divided by the number of micro-batches instead of summing losses over the window's count N.",
        claims=("ga.unequal-sections", "ga.token-normaliser"),
        files=("verify/test_accumulation.py",),
    ),
    Fault(
        name="accumulator_micro_batch_mean",
        topic="gradient accumulation",
        replaces=("GradientAccumulator",),
        summary="The accumulator backpropagates each micro-batch's mean loss over the number of micro-batches, so a short last micro-batch is overweighted.",
        claims=("ga.partial-window",),
        files=("verify/test_accumulation_examples.py",),
    ),
    Fault(
        name="clip_each_micro_step",
        topic="gradient accumulation",
        replaces=("GradientAccumulator",),
        summary="The accumulator clips the running gradient after every micro-batch instead of clipping the window's gradient once.",
        claims=("ga.clip-once",),
        files=("verify/test_faults_extra.py",),
    ),
    Fault(
        name="clip_per_tensor",
        topic="gradient accumulation",
        replaces=("clip_accumulated",),
        summary="Each gradient tensor is clipped by its own norm instead of all tensors by their total norm.",
        claims=("ga.clip-once",),
        files=("verify/test_faults_extra.py",),
    ),
    Fault(
        name="dropout_not_replayed",
        topic="gradient checkpointing",
        replaces=("Checkpointed",),
        summary="Recomputation draws new dropout masks because the random generator's state is not restored.",
        claims=("ckpt.dropout-replay",),
        files=("verify/test_checkpointing.py",),
    ),
    Fault(
        name="batchnorm_updated_twice",
        topic="gradient checkpointing",
        replaces=("Checkpointed",),
        summary="Recomputation in training mode updates BatchNorm's running statistics a second time (torch.utils.checkpoint).",
        claims=("ckpt.batchnorm-state",),
        files=("verify/test_checkpointing.py",),
    ),
    Fault(
        name="reentrant_checkpoint",
        topic="gradient checkpointing",
        replaces=("Checkpointed",),
        summary="Reentrant checkpointing of segments whose input needs no gradient leaves their parameters without gradients.",
        claims=("ckpt.no-grad-input",),
        files=("verify/test_checkpointing.py",),
    ),
    Fault(
        name="batchnorm_per_sample",
        topic="gradient accumulation",
        replaces=("batch_norm_train", "batch_norm_backward"),
        summary="BatchNorm is treated as a per-sample layer: every micro-batch is normalised with the whole batch's statistics.",
        claims=("bn.group-dependence", "bn.backward-formula"),
        files=("verify/test_batchnorm_formulas.py",),
    ),
    Fault(
        name="batchnorm_frozen_statistics",
        topic="gradient accumulation",
        replaces=("batch_norm_backward",),
        summary="BatchNorm's backward pass treats the group's mean and variance as constants and drops the centring terms.",
        claims=("bn.backward-formula",),
        files=("verify/test_batchnorm_formulas.py",),
    ),
    Fault(
        name="truncation_drops_sigma1",
        topic="low rank",
        replaces=("truncated_svd", "low_rank_factors"),
        summary="The truncation slices U[:, 1:k+1], reading 1-based indices as 0-based, and drops sigma_1.",
        claims=("tsvd.factors", "tsvd.error-closed-form"),
        files=("verify/test_lr_truncation_factors.py", "verify/test_lr_truncation_image.py"),
    ),
    Fault(
        name="elementwise_product",
        topic="low rank",
        replaces=("low_rank_factors",),
        summary="The factor B = Sigma_k V_k^T is formed with an elementwise product instead of a matrix product.",
        claims=("tsvd.factors",),
        files=("verify/test_lr_truncation_factors.py",),
    ),
    Fault(
        name="svd_signs_fixed_on_u",
        topic="low rank",
        replaces=("truncated_svd", "low_rank_factors"),
        summary="Singular vectors are compared by their signs and flipped on U alone, not jointly with V.",
        claims=("tsvd.error-closed-form", "tsvd.factors"),
        files=("verify/test_lr_truncation_image.py", "verify/test_lr_truncation_factors.py"),
    ),
    Fault(
        name="randomized_no_reorthonormalisation",
        topic="low rank",
        replaces=("randomized_svd",),
        summary="The randomized SVD's power iterations multiply by W W^T with no QR in between, so rounding erases the smaller directions.",
        claims=("tsvd.power-iteration-rounding",),
        files=("verify/test_lr_truncation_randomized.py",),
    ),
    Fault(
        name="rank_without_tolerance",
        topic="low rank",
        replaces=("numerical_rank",),
        summary="The numerical rank counts every computed singular value above 0, so rounding makes rank-deficient matrices full rank.",
        claims=("la.rounding-hides-rank", "la.default-rank-tolerance"),
        files=("verify/test_lr_rank.py",),
    ),
    Fault(
        name="lora_alpha_not_divided",
        topic="LoRA",
        replaces=("LoRALinear",),
        summary="The LoRA update is scaled by alpha instead of alpha / r.",
        claims=("lora.scale",),
        files=("verify/test_lora.py",),
    ),
)
"""Every catalogued fault, in the order of the pages' topics."""


def fault(name: str) -> Fault:
    """Return the catalogued fault called ``name``.

    Raises:
        InvalidArgumentError: if no fault has that name.
    """
    for entry in FAULTS:
        if entry.name == name:
            return entry
    raise invalid_argument(
        "name",
        name,
        f"must name a catalogued fault ({', '.join(f.name for f in FAULTS)})",
        "pick one of efx.faults.FAULTS",
    )


__all__ = ["FAULTS", "Fault", "fault"]
