"""Claims and rubric for ``ckpt-inference``: why inference has no memory blow-up, and where it does.

Training keeps every layer's input alive until the backward pass reads it, so its memory
grows with depth. With autograd off, nothing is kept for a backward pass and each activation
is freed once the next layer has read it. The claims measure both with :mod:`efx.measure`,
name the switches that really turn saving off, and state the two common cases where memory
still grows: skip connections that stay open and the key-value cache of decoding.
"""

from __future__ import annotations

from efx.claims.model import CheckKind, Claim, KeyPoint, Mistake, Rubric
from efx.proofs import ckpt_inference as proofs

SWEEP_WIDTH = 64
SWEEP_BATCH = 8
SWEEP_DEPTHS = (1, 2, 4, 8, 16, 32, 64)
"""The depth sweep that verify/ measures and the page plots: float32 chains of Linear and ReLU
blocks of this width, on a batch of this size, at each of these depths."""

TORCH_SEEN = "2.13.0"

_CHAIN = (
    r"Let a chain of $L$ blocks act on a batch of $b$ samples stored with $s$ bytes per element: "
    r"block $k$ is a linear layer $z_k = W_k h_{k-1} + \beta_k$ from width $w_{k-1}$ to width $w_k$ "
    r"(a `torch.nn.Linear` module) followed by $h_k = \operatorname{ReLU}(z_k)$ (a `torch.nn.ReLU` "
    r"module), the modules applied in turn as `torch.nn.Sequential` applies them. The parameters "
    r"require gradients, the input $h_0$ does not, and the caller keeps only $h_0$ and the output $h_L$. "
    r"Memory is counted in bytes allocated on the device above the level before the forward pass."
)

_BYTES_ARITHMETIC = (
    "Byte counts are integers. On CPU they are measured exactly (the CPU allocator does not cache, "
    "and efx.measure replays the profiler's allocation events). On CUDA the caching allocator rounds "
    "each block up to a multiple of 512 bytes, so lower bounds use the raw sizes and upper bounds the "
    "rounded ones. No floating-point rounding is involved."
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="infer.grad-saves-activations",
        question="ckpt-inference",
        title="Training keeps one activation per layer until the backward pass",
        statement=(
            _CHAIN
            + r" For a linear layer $y = W x$ and any differentiable loss $\ell$ with $g = \partial \ell / "
            r"\partial y$, the weight gradient is $\nabla_W \ell = g\, x^\top$, so the backward pass needs "
            r"the layer's input $x$, and autograd keeps it from the forward pass. In grad mode, after the "
            r"forward pass and before any backward pass, the chain holds at least $b s \sum_{k=1}^{L} w_k$ "
            r"bytes: every block's activation $h_k$ stays alive as a tensor autograd saved. With equal "
            r"widths $w$ this is $L b w s$, linear in the depth $L$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY, CheckKind.MEASURED),
        arithmetic=_BYTES_ARITHMETIC + " The gradient identity is exact in real arithmetic.",
        derivations=(proofs.weight_gradient_needs_input,),
    ),
    Claim(
        id="infer.no-grad-bounded",
        question="ckpt-inference",
        title="With autograd off, activations are freed as soon as they are consumed",
        statement=(
            _CHAIN
            + r" Under `torch.no_grad()` or `torch.inference_mode()`, autograd saves no tensor for backward "
            r"(the saved-tensor pack hook is never called), so each activation is freed as soon as the "
            r"next module has read it. The peak is then at most the largest input-plus-output size of one "
            r"module, the linear layer's $b s (w_{k-1} + w_k)$ or the ReLU's $2 b s w_k$: "
            r"$\text{peak} \le b s \max_{1 \le k \le L} \max(w_{k-1} + w_k,\, 2 w_k) \le 2 b s "
            r"\max_{0 \le k \le L} w_k$, a bound that does not depend on the depth $L$. It also assumes that, as measured, "
            r"`Linear` and `ReLU` allocate nothing besides their outputs."
        ),
        checks=(CheckKind.PROPERTY, CheckKind.MEASURED),
        arithmetic=_BYTES_ARITHMETIC,
    ),
    Claim(
        id="infer.eval-still-saves",
        question="ckpt-inference",
        title="model.eval() changes layers, not autograd",
        statement=(
            r"`module.eval()` sets `training = False` on a module and its children: `Dropout` becomes the "
            r"identity and `BatchNorm` normalises with its running statistics instead of the batch's. It does "
            r"not stop autograd from recording. For a chain of $L$ blocks Linear $\to$ BatchNorm1d $\to$ ReLU "
            r"$\to$ Dropout from width $w_{k-1}$ to $w_k$, with parameters that require gradients, run on a "
            r"batch of $b \ge 2$ samples in eval mode with grad mode on, the output requires grad, autograd "
            r"saves tensors, and after the forward pass the chain holds at least $b s \sum_{k=1}^{L} w_k$ "
            r"bytes, as in training."
        ),
        checks=(CheckKind.TORCH_BEHAVIOUR, CheckKind.MEASURED),
        arithmetic=_BYTES_ARITHMETIC,
        torch_seen=TORCH_SEEN,
    ),
    Claim(
        id="infer.modes-differ",
        question="ckpt-inference",
        title="torch.no_grad and torch.inference_mode: same saving, different results",
        statement=(
            r"Inside either `torch.no_grad()` or `torch.inference_mode()`, operations record no graph: "
            r"results have `requires_grad == False` and no `grad_fn`, and nothing is saved for backward, "
            r"even when an input requires grad. They differ in the tensors they return and in what can "
            r"re-enable recording. Results of `no_grad` are ordinary tensors: after the block they can be "
            r"updated in place and saved for backward by a later graph, and `torch.enable_grad()` inside "
            r"`no_grad` turns recording back on. Results of `inference_mode` are inference tensors "
            r"(`is_inference()` is True): outside inference mode, an operation that would save one for "
            r"backward raises `RuntimeError`, so does an in-place update of one, and `clone()` returns a "
            r"normal tensor that can be used instead. `torch.enable_grad()` inside `inference_mode` does "
            r"not turn recording back on."
        ),
        checks=(CheckKind.TORCH_BEHAVIOUR,),
        arithmetic="No arithmetic: the claim is about which operations record, save and raise.",
        torch_seen=TORCH_SEEN,
    ),
    Claim(
        id="infer.open-skips-grow",
        question="ckpt-inference",
        title="Open skip connections keep their sources alive",
        statement=(
            r"A skip connection keeps its source activation alive until the operation that consumes it runs, "
            r"even under `torch.no_grad()`. Take $d$ blocks $f_k(h) = \operatorname{ReLU}(W_k h + \beta_k)$ of "
            r"width $w$ on a batch of $b$ samples, $s$ bytes per element, run under `torch.no_grad()`. A "
            r"residual chain $h \leftarrow h + f_k(h)$ closes each skip inside its block, and its peak stays "
            r"at most $3 b w s$ (the block's input, $f_k(h)$ and their sum) for every $d$. A U-shaped network "
            r"that runs the $d$ blocks down, keeping each output $u_k$ as a skip, then $d$ blocks up, adding "
            r"$u_k$ back in reverse order, holds all $d$ skips at the bottom: its peak is at least "
            r"$d\, b w s$, linear in the number of open skips."
        ),
        checks=(CheckKind.PROPERTY, CheckKind.MEASURED),
        arithmetic=_BYTES_ARITHMETIC,
    ),
    Claim(
        id="infer.kv-cache-size",
        question="ckpt-inference",
        title="The key-value cache of decoding grows with layers and sequence length",
        statement=(
            r"In autoregressive decoding with a key-value cache, each of the $L$ attention layers keeps, for "
            r"each of the $T$ positions processed so far, a key and a value of $H$ heads by $D$ entries. With "
            r"$s$ bytes per element and $B$ sequences, the cache holds exactly $2 B L T H D s$ bytes and grows "
            r"by $2 B L H D s$ bytes per generated token, without a bound in $T$, also under "
            r"`torch.inference_mode()`. In a decoder that keeps only the cache and the current hidden state "
            r"(width $H D$) between tokens, the memory left after $T$ tokens is exactly the cache plus that "
            r"state."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY, CheckKind.MEASURED),
        arithmetic=_BYTES_ARITHMETIC + " The size formula is exact integer arithmetic.",
        derivations=(proofs.kv_cache_bytes,),
    ),
    Claim(
        id="infer.training-state",
        question="ckpt-inference",
        title="Parameters stay in memory in both; gradients scale with parameters, not with activations",
        statement=(
            _CHAIN
            + r" The parameters, $P = \sum_{k=1}^{L} (w_{k-1} + 1) w_k$ entries, take $P s$ bytes in "
            r"inference and in training alike. A backward pass allocates one gradient per parameter, of "
            r"the same shape and dtype, so exactly $P s$ bytes remain after it, whatever the batch size $b$. "
            r"`torch.optim.Adam`'s first step updates the parameters in place (their storages stay) and "
            r"allocates at least $2 P s$ bytes of state, also independent of $b$. The tensors autograd saves for backward, apart from the parameters, are linear in $b$: "
            r"doubling the batch doubles their bytes exactly."
        ),
        checks=(CheckKind.PROPERTY, CheckKind.MEASURED),
        arithmetic=_BYTES_ARITHMETIC,
    ),
)

_ONE_ACTIVATION = SWEEP_WIDTH * SWEEP_BATCH * 4
_SWEEP_TEXT = (
    f"a chain of {SWEEP_DEPTHS[-1]} blocks of Linear and ReLU of width {SWEEP_WIDTH} on a batch of "
    f"{SWEEP_BATCH} float32 samples, where one activation is {_ONE_ACTIVATION} bytes"
)

RUBRICS: tuple[Rubric, ...] = (
    Rubric(
        question="ckpt-inference",
        answer=(
            "Backpropagation needs the activations of the forward pass: for $y = W x$, "
            "$\\nabla_W \\ell = g x^\\top$ contains the input $x$. In training, autograd therefore keeps "
            "every layer's activation until the backward pass, so memory grows linearly with depth $n$. "
            "Inference runs no backward pass: under `torch.no_grad()` or `torch.inference_mode()` nothing "
            "is saved, and each activation is freed as soon as the next layer has consumed it, so only "
            "about two activations (one layer's input and output, plus its temporaries) are alive at a "
            "time: $O(1)$ in depth instead of $O(n)$. The parameters are in memory in both cases. "
            "`model.eval()` alone does not stop the saving. Memory still grows where activations must "
            "stay alive: open skip connections (U-Net) and the key-value cache of autoregressive "
            "decoding, $2 B L T H D s$ bytes."
        ),
        key_points=(
            KeyPoint(
                text=(
                    "The backward pass needs the forward activations ($\\nabla_W \\ell = g x^\\top$), so "
                    "training keeps one activation per layer until backward: $O(n)$ memory in depth."
                ),
                weight=3,
                claims=("infer.grad-saves-activations",),
                accepted=(
                    "activations are stored for backpropagation / the chain rule",
                    "memory grows linearly with the number of layers during training",
                ),
            ),
            KeyPoint(
                text=(
                    "Without a backward pass nothing is kept: each activation is freed once the next layer "
                    "has consumed it, so the peak is about two activations, $O(1)$ in depth."
                ),
                weight=3,
                claims=("infer.no-grad-bounded",),
                accepted=(
                    "only the current layer's input and output need to be in memory",
                    "intermediate activations can be discarded immediately",
                ),
            ),
            KeyPoint(
                text=(
                    "This needs autograd off (`torch.no_grad()` or `torch.inference_mode()`); "
                    "`model.eval()` alone still saves activations."
                ),
                weight=2,
                claims=("infer.eval-still-saves", "infer.modes-differ"),
                accepted=(
                    "gradient tracking must be disabled",
                    "requires_grad / grad mode off during inference",
                ),
            ),
            KeyPoint(
                text=(
                    "Parameters are in memory in both; gradients and optimizer state scale with the "
                    "parameters, not with batch and depth as the saved activations do."
                ),
                weight=1,
                claims=("infer.training-state",),
            ),
            KeyPoint(
                text=(
                    "Exceptions: open skip connections keep their sources alive, and a KV cache grows as "
                    "$2 B L T H D s$ bytes."
                ),
                weight=1,
                claims=("infer.open-skips-grow", "infer.kv-cache-size"),
                accepted=("long-range skips or caches keep activations alive",),
            ),
        ),
        mistakes=(
            Mistake(
                wrong=(
                    "Inference avoids the blow-up because it does not run multiple forward and backward passes."
                ),
                why=(
                    "Training without checkpointing runs one forward and one backward pass per step, and the "
                    "activations pile up during that single forward pass, before any backward pass runs. "
                    "Extra forward passes come from checkpointing, which adds them to reduce memory."
                ),
                claim="infer.grad-saves-activations",
                counterexample=(
                    f"{_SWEEP_TEXT}: after one forward pass in grad mode at least "
                    f"{SWEEP_DEPTHS[-1]} activations ({SWEEP_DEPTHS[-1] * _ONE_ACTIVATION} bytes) are alive, "
                    f"while under `torch.no_grad()` the peak is at most 2 ({2 * _ONE_ACTIVATION} bytes)."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong=(
                    "Inference saves memory because it does not compute gradients or update parameters."
                ),
                why=(
                    "The parameters are in memory in both cases and an update is applied in place. Parameter "
                    "gradients take exactly the parameters' bytes, whatever the batch size, so they are not "
                    "the blow-up. What grows with depth and batch is the activations kept for backward."
                ),
                claim="infer.training-state",
                counterexample=(
                    "For any chain of Linear and ReLU blocks, the bytes left after a backward pass equal the "
                    "parameters' bytes for batch $b$ and for batch $2b$, while the saved activations double."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong=(
                    "Inference does not store all the activations, so it needs significantly less memory "
                    "(without saying why an activation may be dropped, or how much less)."
                ),
                why=(
                    "The mechanism is that no backward pass will read an activation, so each one is freed as "
                    "soon as the next layer has consumed it. That bounds the peak by one layer's input plus "
                    "output: $O(1)$ in depth against $O(n)$ in training. 'Significantly less' states no bound."
                ),
                claim="infer.no-grad-bounded",
                counterexample=(
                    f"{_SWEEP_TEXT}: under `torch.no_grad()` the peak is at most 2 activations at every depth "
                    f"from {SWEEP_DEPTHS[0]} to {SWEEP_DEPTHS[-1]}."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="Inference has no memory blow-up, in every case (no condition stated).",
                why=(
                    "The bound holds only when autograd is off and every activation is consumed by the next "
                    "layer only. Open skip connections keep their sources alive, and a KV cache grows with "
                    "layers and sequence length."
                ),
                claim="infer.open-skips-grow",
                counterexample=(
                    "A U-shaped network with $d$ open skips under `torch.no_grad()` peaks at $d$ activations or "
                    "more; a decoder's KV cache holds $2 B L T H D s$ bytes after $T$ tokens "
                    "([[infer.kv-cache-size]])."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="Calling `model.eval()` turns off gradient tracking, so it is enough for inference.",
                why=(
                    "`eval()` only switches Dropout and BatchNorm to their inference behaviour; autograd still "
                    "records and saves activations unless `torch.no_grad()` or `torch.inference_mode()` is used."
                ),
                claim="infer.eval-still-saves",
                counterexample=(
                    "A chain of Linear, BatchNorm1d, ReLU and Dropout blocks in eval mode produces an output "
                    "that requires grad, and autograd saves tensors for it."
                ),
            ),
            Mistake(
                wrong="`torch.inference_mode()` is just another name for `torch.no_grad()`.",
                why=(
                    "Both stop recording, but `inference_mode` returns inference tensors, which later autograd "
                    "graphs cannot save and which cannot be updated in place outside inference mode."
                ),
                claim="infer.modes-differ",
                counterexample=(
                    "With `w` requiring grad, `w * t` raises `RuntimeError` for a `t` computed under "
                    "`inference_mode`, and works for a `t` computed under `no_grad`."
                ),
            ),
        ),
    ),
)
