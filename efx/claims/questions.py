"""The questions of the assignment ("3 Preliminary"), quoted verbatim, with their context."""

from __future__ import annotations

from efx.claims.model import Question

_GA_CONTEXT = (
    "With gradient accumulation the batch of $n$ samples is split into $m$ sections of $q$ samples; "
    "each section's loss is divided by $m$ and the gradients are summed before one optimizer step."
)
_CKPT_CONTEXT = (
    "Training a chain of $n$ layers stores every activation for the backward pass. "
    'The "memory-poor" strategy keeps no intermediate activation and recomputes from the input; '
    'the "$\\sqrt{n}$" strategy keeps about $\\sqrt{n}$ checkpoints; both are compared with the '
    "default, which stores everything."
)
_LR_CONTEXT = "LoRA trains a low-rank update of a weight matrix; these questions build the linear algebra it rests on."

QUESTIONS: tuple[Question, ...] = (
    Question(
        id="ga-division",
        section="3.1",
        label="",
        text=(
            "Consider a linear model with MSE loss, and mathematically explain why this division "
            "step can yield identical results."
        ),
        context=_GA_CONTEXT,
        page="accumulation.md",
    ),
    Question(
        id="ga-batchnorm",
        section="3.1",
        label="",
        text=(
            "Mathematically explain the batch normalization layer behavior and why gradient "
            "accumulation yields non-identical results in this case."
        ),
        context=_GA_CONTEXT,
        page="accumulation.md",
    ),
    Question(
        id="ckpt-inference",
        section="3.2",
        label="",
        text='Explain why model inference does not have such "memory blow-up" problem.',
        context=_CKPT_CONTEXT,
        page="checkpointing.md",
    ),
    Question(
        id="ckpt-complexity",
        section="3.2",
        label="",
        text=(
            "What are the memory requirement and forward computation steps for the two strategies "
            "in big O notation?"
        ),
        context=_CKPT_CONTEXT
        + " Report memory, total computation, and forward computations per node.",
        page="checkpointing.md",
    ),
    Question(
        id="lr-rank",
        section="3.3",
        label="Q1",
        text="What is matrix rank?",
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
    Question(
        id="lr-svd",
        section="3.3",
        label="Q2",
        text="What are three decomposed matrices by SVD?",
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
    Question(
        id="lr-orthogonal",
        section="3.3",
        label="Q3",
        text="U and V are orthogonal matrices. Why does it imply UU^T = I, VV^T = I?",
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
    Question(
        id="lr-full-rank",
        section="3.3",
        label="Q4",
        text="If a matrix W in R^{n x n} is full rank, what is its rank?",
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
    Question(
        id="lr-image",
        section="3.3",
        label="Q5",
        text=(
            "Suppose a full rank matrix W in R^{n x n} represents an image. After we apply SVD to "
            "this matrix, we modify the singular matrix by only keeping its top-k singular values "
            "and discarding the rest (i.e., set the rest of the singular values to zero). Then, we "
            "reconstruct the image by multiplying U, modified S, and V. What would the "
            "reconstructed image look like? What if you increase the values of k (i.e., keep more "
            "singular values)?"
        ),
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
    Question(
        id="lr-low-rank",
        section="3.3",
        label="Q6",
        text="If a matrix W in R^{n x n} is low rank, what does its singular matrix look like?",
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
    Question(
        id="lr-factors",
        section="3.3",
        label="Q7",
        text=(
            "If the top-k singular values of a matrix W in R^{n x n} are large, and the rest are "
            "near zero, this matrix W exhibits low-rank or near-low-rank behavior. Can you "
            "represent W by two low-rank matrices, A and B? If so, what are those two matrices' "
            "expressions in terms of U, S, and V? Do you think those two matrices are a good "
            "approximation of W (i.e., W ~ AB)?"
        ),
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
    Question(
        id="lr-failure",
        section="3.3",
        label="Q8",
        text=(
            "The above operation is called truncated SVD. Under what situation do you think "
            "truncated SVD fails to make a good approximation? Think about the singular matrix."
        ),
        context=_LR_CONTEXT,
        page="lowrank.md",
    ),
)
