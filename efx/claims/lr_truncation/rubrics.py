"""Grader rubrics for lr-image (Q5), lr-factors (Q7) and lr-failure (Q8).

Mistakes marked ``in_submitted`` are errors, imprecisions or missing conditions found in the
submitted answer set; each one names the claim whose check refutes it. Numbers in the
counterexamples are computed here from closed forms or are values that a claim's check asserts.
"""

from __future__ import annotations

import math

from efx.claims.lr_truncation.factors import SMALL_TAIL_EXAMPLE, small_tail_example_error
from efx.claims.model import KeyPoint, Mistake, Rubric

FLAT_EXAMPLE = {"n": 100, "k": 50}
"""An orthogonal 100 x 100 matrix truncated to half its rank, for the lr-failure counterexample."""


def flat_example_error() -> float:
    """Return ``sqrt(1 - k/n)`` for :data:`FLAT_EXAMPLE`: its relative error at every flat spectrum."""
    return math.sqrt(1 - FLAT_EXAMPLE["k"] / FLAT_EXAMPLE["n"])


_TAIL = SMALL_TAIL_EXAMPLE
_PIXEL = (
    r"$W = U \operatorname{diag}(3, 2, 1) U^\top$ with $U = \frac{1}{3}\begin{pmatrix}1&2&2\\2&1&-2\\2&-2&1"
    r"\end{pmatrix}$"
)

IMAGE = Rubric(
    question="lr-image",
    answer=(
        r"Keeping the top $k$ singular values gives $W_k = U_k \Sigma_k V_k^\top = \sum_{i \le k} \sigma_i u_i v_i^\top$, "
        r"a sum of $k$ rank-one images, each a column profile times a row profile (horizontal and vertical bands). "
        r"For small $k$ the picture is a blurred, blocky version of the image: the large-scale brightness pattern "
        r"survives while edges and texture, carried by later singular triplets, are missing. The error is "
        r"$\lVert W - W_k\rVert_F = \sqrt{\sum_{i>k}\sigma_i^2}$ and $\lVert W - W_k\rVert_2 = \sigma_{k+1}$, so as $k$ "
        r"grows the error never increases, the image sharpens, and a full-rank $n \times n$ image is reproduced "
        r"exactly at $k = n$ (not before). How fast it improves depends on how fast the $\sigma_i$ decay; the "
        r"relative error or the PSNR measures it. Single pixels can get worse from one $k$ to the next even though "
        r"the total error falls."
    ),
    key_points=(
        KeyPoint(
            r"$W_k = \sum_{i \le k} \sigma_i u_i v_i^\top$: a rank-$k$ image made of $k$ rank-one layers",
            2,
            ("tsvd.rank-one-stripes", "tsvd.error-closed-form"),
            (
                "$U \\Sigma_k V^\\top$ with the discarded values set to zero",
                "a low-rank approximation of the image",
            ),
        ),
        KeyPoint(
            "Small $k$: blurred and blocky, large-scale structure only, banded at $k = 1$; detail returns as $k$ grows",
            2,
            ("tsvd.rank-one-stripes", "tsvd.sharpness-grows"),
            ("loses edges and fine texture first", "looks like a smooth or low-resolution version"),
        ),
        KeyPoint(
            r"The error in closed form: $\sqrt{\sum_{i>k}\sigma_i^2}$ (Frobenius), $\sigma_{k+1}$ (spectral), or a "
            r"relative error or PSNR derived from them",
            2,
            ("tsvd.error-closed-form",),
            ("the discarded energy $\\sum_{i>k}\\sigma_i^2$",),
        ),
        KeyPoint(
            r"More $k$: the error never increases; exact at $k = n$ for a full-rank image ($k \ge \operatorname{rank} W$ "
            r"in general)",
            2,
            ("tsvd.error-monotone", "tsvd.image-full-rank"),
        ),
        KeyPoint(
            "The speed of improvement depends on how fast the singular values decay",
            1,
            ("tsvd.error-closed-form",),
        ),
    ),
    mistakes=(
        Mistake(
            wrong="The reconstruction 'progressively resembles' the original as k grows, with no measure of how much.",
            why=(
                r"Each step removes exactly $\sigma_{k+1}^2$ from the squared Frobenius error, which can be large or "
                r"negligible; without the closed form the answer cannot say when the image is good enough."
            ),
            claim="tsvd.error-monotone",
            counterexample=rf"For {_PIXEL} the squared errors are $14, 5, 1, 0$ at $k = 0, 1, 2, 3$: steps of $9, 4, 1$.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Leaves out that the full-rank image comes back exactly at k = n.",
            why=(
                r"$W_n = U \Sigma V^\top = W$, while every $k < n$ leaves the error $\sigma_{k+1} \ge \sigma_n > 0$: "
                "the approximation ends in an exact reconstruction, and only there."
            ),
            claim="tsvd.error-monotone",
            counterexample=r"The $512 \times 512$ photograph has rank 512, so its reconstruction is exact at $k = 512$ only.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Describes the result only as 'lower quality' with 'finer details' lost, not what it looks like.",
            why=(
                r"A rank-$k$ image is a sum of $k$ outer products $\sigma_i u_i v_i^\top$: at $k = 1$ every row is a "
                r"multiple of one row, so the picture is horizontal and vertical bands; a small $k$ gives a blocky "
                r"blur in which edges return last."
            ),
            claim="tsvd.rank-one-stripes",
            counterexample=(
                r"Every $2 \times 2$ minor of $W_1$ is zero, so $W_1$ cannot contain a sharp diagonal step: "
                r"the block $\begin{pmatrix}1&0\\1&1\end{pmatrix}$ across such a step has minor 1."
            ),
            in_submitted=True,
        ),
        Mistake(
            wrong="Every pixel gets closer to the original when k increases.",
            why="Only the total squared error is monotone; the error of one entry is a signed sum of the discarded terms.",
            claim="tsvd.pixel-error",
            counterexample=rf"For {_PIXEL}, entry $(1, 2)$ is exact at $k = 1$ and off by $4/9$ at $k = 2$.",
        ),
        Mistake(
            wrong="The photograph is rank-deficient because its numerical rank in float32 is below n.",
            why="The numerical rank compares singular values with a dtype-dependent threshold; the rank is exact.",
            claim="tsvd.image-full-rank",
            counterexample="The camera photograph has rank 512 (elimination modulo a prime), float32 numerical rank below 512.",
        ),
    ),
)

FACTORS = Rubric(
    question="lr-factors",
    answer=(
        r"Yes. With $W = U\Sigma V^\top$ take $A = U_k \in \mathbb{R}^{n \times k}$ (the first $k$ columns of $U$) and "
        r"$B = \Sigma_k V_k^\top \in \mathbb{R}^{k \times n}$ (the first $k$ rows of $\Sigma V^\top$), or the balanced "
        r"pair $A = U_k\Sigma_k^{1/2}$, $B = \Sigma_k^{1/2}V_k^\top$. Then the matrix product $AB = W_k = "
        r"\sum_{i \le k}\sigma_i u_i v_i^\top$. In torch (0-based): `A = U[:, :k]`, `B = S[:k, None] * Vh[:k, :]`. "
        r"$W = AB$ exactly only when $\sigma_{k+1} = \dots = \sigma_n = 0$; otherwise $W \approx AB$ with "
        r"$\lVert W - AB\rVert_F = \sqrt{\sum_{i>k}\sigma_i^2}$ and $\lVert W - AB\rVert_2 = \sigma_{k+1}$, and by "
        r"Eckart-Young-Mirsky no rank-$k$ matrix is closer. The approximation is good when the relative error "
        r"$\sqrt{\sum_{i>k}\sigma_i^2 / \sum_i\sigma_i^2}$ is small: 'near zero' discarded values $\le \delta$ give at "
        r"most $\sqrt{n-k}\,\delta$, which must be small against $\lVert W\rVert_F$."
    ),
    key_points=(
        KeyPoint(
            r"$A = U_k$ ($n \times k$) and $B = \Sigma_k V_k^\top$ ($k \times n$), or an equivalent split of $\Sigma_k$",
            3,
            ("tsvd.factors",),
            (
                "$A = U_k\\Sigma_k$, $B = V_k^\\top$",
                "$A = U_k\\Sigma_k^{1/2}$, $B = \\Sigma_k^{1/2}V_k^\\top$",
                "`U[:, :k]` and `torch.diag(S[:k]) @ Vh[:k, :]` in 0-based torch",
            ),
        ),
        KeyPoint(
            r"$AB$ is a matrix product equal to $W_k = \sum_{i \le k}\sigma_i u_i v_i^\top$",
            1,
            ("tsvd.factors",),
        ),
        KeyPoint(
            r"$W = AB$ exactly if and only if the discarded singular values are zero ($\operatorname{rank} W \le k$)",
            2,
            ("tsvd.exact-iff-tail-zero",),
        ),
        KeyPoint(
            r"Best possible at rank $k$ (Eckart-Young-Mirsky), with errors $\sqrt{\sum_{i>k}\sigma_i^2}$ and $\sigma_{k+1}$",
            2,
            ("tsvd.eckart-young", "tsvd.error-closed-form"),
        ),
        KeyPoint(
            r"'Good' quantified by the relative error; small discarded values must beat $\sqrt{n-k}$",
            2,
            ("tsvd.small-tail",),
            ("$\\sigma_{k+1}/\\sigma_1$ small together with a small discarded energy share",),
        ),
    ),
    mistakes=(
        Mistake(
            wrong="`A = U[:, 1:k]` (0-based slicing).",
            why=(
                r"In Python and torch this keeps columns $2, \dots, k$: $k - 1$ columns without $u_1$, so even the best "
                r"$B$ leaves the error $\sqrt{\sigma_1^2 + \sum_{i>k}\sigma_i^2}$. The slice for columns $1..k$ is `U[:, :k]`."
            ),
            claim="tsvd.factors",
            counterexample=r"$W = \operatorname{diag}(3, 2, 1)$, $k = 2$: `U[:, 1:2]` gives error $\sqrt{10}$ instead of $1$.",
            in_submitted=True,
        ),
        Mistake(
            wrong=r"`B = Sigma[1:k, :] * V^T` with an elementwise `*`.",
            why=(
                r"$B = \Sigma_k V_k^\top$ is a matrix product (row $i$ of $V^\top$ scaled by $\sigma_i$). `Sigma[1:k, :]` "
                r"is $(k-1) \times n$ and `V^T` is $n \times n$, so the elementwise product does not even have matching "
                r"shapes; on matching shapes it would zero every off-diagonal entry of $V^\top$. The same 0-based slice "
                r"also drops $\sigma_1$."
            ),
            claim="tsvd.factors",
            counterexample=r"With $n = 4$, $k = 3$: a $2 \times 4$ tensor times a $4 \times 4$ tensor elementwise raises a shape error in torch.",
            in_submitted=True,
        ),
        Mistake(
            wrong="'k is the first k columns of the matrix Sigma'.",
            why=(
                r"$k$ is the number of kept singular values, the rank of $AB$ and the inner dimension of $A$ and $B$; "
                r"the kept part of $\Sigma$ is its leading $k \times k$ block $\Sigma_k$."
            ),
            claim="tsvd.factors",
            counterexample=(
                r"$W = \operatorname{diag}(3, 2, 1)$, $k = 2$: $\Sigma_k = \operatorname{diag}(3, 2)$ is $2 \times 2$, "
                r"while the first two columns of $\Sigma$ form a $3 \times 2$ block and the 0-based slice "
                r"`Sigma[1:2, :]` is the single row $(0, 2, 0)$."
            ),
            in_submitted=True,
        ),
        Mistake(
            wrong="W 'can be represented' by A and B when the tail is near zero, without saying when W = AB holds.",
            why=r"$W = AB$ holds only when the discarded values are exactly zero; near-zero values give $W \approx AB$.",
            claim="tsvd.exact-iff-tail-zero",
            counterexample=r"$W = \operatorname{diag}(1, 10^{-3})$, $k = 1$: $AB = \operatorname{diag}(1, 0) \ne W$.",
            in_submitted=True,
        ),
        Mistake(
            wrong="'If the top-k values are significantly larger than the rest, the approximation is often quite good', with no bound.",
            why=(
                r"Quality is the relative error $\sqrt{\sum_{i>k}\sigma_i^2/\sum_i\sigma_i^2}$; many small values add up, "
                r"since $p - k$ values of size $\delta$ contribute $\sqrt{p-k}\,\delta$."
            ),
            claim="tsvd.small-tail",
            counterexample=(
                rf"$p = {_TAIL['p']}$, ${_TAIL['k']}$ values ${_TAIL['head']:g}$ and ${_TAIL['p'] - _TAIL['k']}$ values "
                rf"${_TAIL['tail']:g}$: relative error ${small_tail_example_error():.3f}$ at $k = {_TAIL['k']}$."
            ),
            in_submitted=True,
        ),
        Mistake(
            wrong="Does not say that W_k is the best rank-k approximation.",
            why="Eckart-Young-Mirsky: no matrix of rank at most k has a smaller spectral or Frobenius error, so A B is optimal.",
            claim="tsvd.eckart-young",
            counterexample=r"Any rank-$k$ $X$: $\lVert W - X\rVert_F \ge \sqrt{\sum_{i>k}\sigma_i^2}$; random and projected competitors never beat it.",
            in_submitted=True,
        ),
        Mistake(
            wrong="The question's A is LoRA's A.",
            why="LoRA writes Delta W = B A with B tall (out x r, zero at start) and A wide; the question's tall A sits in LoRA's B position.",
            claim="tsvd.lora-notation",
            counterexample=(
                r"A $768 \times 768$ weight at rank $8$: the question's $A = U_8$ is $768 \times 8$, "
                r"LoRA's $A$ is $8 \times 768$ and its $B$, the tall factor, is $768 \times 8$ and starts at zero."
            ),
        ),
    ),
)

FAILURE = Rubric(
    question="lr-failure",
    answer=(
        r"Truncated SVD approximates badly when the singular values do not decay: a flat or slowly decaying spectrum "
        r"with no gap after $\sigma_k$. The relative error $\rho_k = \sqrt{\sum_{i>k}\sigma_i^2 / \sum_i\sigma_i^2}$ is at "
        r"most $\sqrt{1 - k/n}$, with equality exactly when all singular values are equal; then a relative error "
        r"$\epsilon$ needs $k \ge n(1-\epsilon^2)$. An orthogonal matrix is the extreme case: $\rho_k = \sqrt{1-k/n}$ "
        r"and the relative spectral error is 1 for every $k < n$. A slowly decaying spectrum such as $\sigma_i \propto "
        r"1/\sqrt{i}$ is nearly as bad. This is a limit of the rank-$k$ model, not of the algorithm: by "
        r"Eckart-Young-Mirsky no rank-$k$ matrix does better."
    ),
    key_points=(
        KeyPoint(
            "Failure when the singular values are flat or decay slowly (many non-negligible discarded values, no gap)",
            3,
            ("tsvd.flat-bound", "tsvd.slow-decay"),
            ("singular values of similar size", "energy spread over many singular values"),
        ),
        KeyPoint(
            r"Quantified: $\rho_k \le \sqrt{1 - k/n}$, equality if and only if the spectrum is flat",
            3,
            ("tsvd.flat-bound",),
        ),
        KeyPoint(
            r"Orthogonal (or identity) matrix: $\rho_k = \sqrt{1-k/n}$, relative spectral error 1",
            2,
            ("tsvd.orthogonal-worst",),
            ("$W = I$", "$W = cQ$ with $Q$ orthogonal"),
        ),
        KeyPoint(
            "The rank-k model fails, not the algorithm: no rank-k matrix does better (Eckart-Young-Mirsky)",
            2,
            ("tsvd.flat-no-rank-k-helps",),
        ),
    ),
    mistakes=(
        Mistake(
            wrong="'A relatively uniform distribution' of singular values, with no bound on the resulting error.",
            why=r"The flat spectrum is the worst case and its error is known exactly: $\rho_k = \sqrt{1 - k/n}$.",
            claim="tsvd.flat-bound",
            counterexample=(
                rf"An orthogonal ${FLAT_EXAMPLE['n']} \times {FLAT_EXAMPLE['n']}$ matrix at $k = {FLAT_EXAMPLE['k']}$ "
                rf"keeps a relative error of ${flat_example_error():.3f}$."
            ),
            in_submitted=True,
        ),
        Mistake(
            wrong="Failure only 'when truncating to a small k'.",
            why=r"With a flat spectrum a relative error $\epsilon$ needs $k \ge n(1-\epsilon^2)$: even large $k$ fails.",
            claim="tsvd.flat-bound",
            counterexample=r"Relative error $0.1$ on a flat spectrum needs $k \ge 0.99\,n$.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Presents the poor result as a weakness of truncated SVD that a better method might fix.",
            why="Eckart-Young-Mirsky: every rank-k matrix has at least the truncation's error, so the model, not the method, fails.",
            claim="tsvd.flat-no-rank-k-helps",
            counterexample=r"Factors fitted by alternating least squares to an orthogonal matrix also stop at $\sqrt{1-k/n}$.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Truncated SVD fails for full-rank matrices.",
            why="Rank is not the issue; the decay of the singular values is. A full-rank matrix with fast decay compresses well.",
            claim="tsvd.image-full-rank",
            counterexample="The camera photograph has rank 512, yet its rank-20 truncation keeps more than 98% of its squared Frobenius norm.",
        ),
    ),
)

RUBRICS: tuple[Rubric, ...] = (IMAGE, FACTORS, FAILURE)
