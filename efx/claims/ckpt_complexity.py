"""Claims and rubric for ``ckpt-complexity``: memory and forward computation of checkpointing strategies.

Every count is an exact count of efx's implementation (:mod:`efx.checkpointing`) under one
stated cost model, proved with sympy where it is a formula and compared with the counters of
a real forward and backward pass in ``verify/``. Claims about torch's own
``torch.utils.checkpoint`` name the torch release they were seen on.
"""

from __future__ import annotations

from efx.checkpointing import MemoryPoor, Segments, TorchSequential, count
from efx.claims.model import CheckKind, Claim, KeyPoint, Mistake, Rubric
from efx.proofs import ckpt_binomial as binomial
from efx.proofs import ckpt_complexity as proofs
from efx.proofs import ckpt_torch as torch_proofs

TORCH_SEEN = "2.13.0"
"""The torch release on which the claims about torch.utils.checkpoint were observed."""

COST_MODEL = (
    r"Cost model: a chain of $n \ge 1$ modules, module $i$ ($1 \le i \le n$) maps state $a_{i-1}$ to $a_i$; "
    r"every forward call of a module costs one unit; every state has unit size; memory is the largest number "
    r"of states held at once for the backward pass (checkpoints, and inputs of modules recorded for backward "
    r"and not yet reversed), the input $a_0$ included. Not counted: the working state being advanced, the "
    r"output $a_n$, gradients, parameters, optimizer state, and buffers a module saves beyond its input. "
    r"A node's *forward computations* are the forward calls of that module during one training step "
    r"(forward and backward pass). "
)

_COUNTED = (
    "Exact integer counts, the same on every dtype and device: the counters of a real forward and backward "
    "pass equal the formula."
)

# Worked numbers for the rubric, computed here from efx's own schedules, never typed.
_SMALL = 4
_SMALL_CALLS = count(MemoryPoor().schedule(_SMALL)).forward_calls
_LARGE = 1024
_LARGE_SQRT = count(Segments().schedule(_LARGE))
_TORCH_NINE = {k: count(TorchSequential(k).schedule(9)).peak_stored for k in (3, 5)}

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="ckpt.store-all-counts",
        question="ckpt-complexity",
        title="Store-all: one forward call per module, n stored states",
        statement=COST_MODEL
        + (
            r"Store-all (no checkpointing) records every module in the forward pass: each module makes exactly "
            r"1 forward call, $n$ in all, and the backward pass starts with the inputs $a_0, \dots, a_{n-1}$ "
            r"of all $n$ modules held: peak memory $n = \Theta(n)$."
        ),
        checks=(CheckKind.MEASURED,),
        arithmetic=_COUNTED,
    ),
    Claim(
        id="ckpt.memory-poor-compute",
        question="ckpt-complexity",
        title="Memory-poor: module i runs n - i + 1 times, n(n + 1)/2 in all",
        statement=COST_MODEL
        + (
            r"Memory-poor keeps only $a_0$. The forward pass advances to $a_{n-1}$ and records module $n$; to "
            r"reverse each earlier module $j$ it restarts from $a_0$, advances modules $1, \dots, j-1$ and "
            r"records module $j$. Module $i$ then makes $n - i + 1$ forward calls (module 1: $n$, module $n$: "
            r"1), so forward computations per node range from 1 to $n$, and the total is "
            r"$\sum_{i=1}^{n} (n - i + 1) = n(n+1)/2 = \Theta(n^2)$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.MEASURED),
        arithmetic=_COUNTED,
        derivations=(proofs.memory_poor_calls,),
    ),
    Claim(
        id="ckpt.memory-poor-memory",
        question="ckpt-complexity",
        title="Memory-poor holds at most 2 states: O(1) only in the unit-size model",
        statement=COST_MODEL
        + (
            r"Memory-poor holds at most 2 states (the input $a_0$ and the input of the module being "
            r"reversed; 1 when $n = 1$), so its memory is $O(1)$ in $n$. This counts unit-size states only: "
            r"in bytes it is $O(1)$ when every state and every module's saved buffers are bounded "
            r"independently of $n$, and the parameters and their gradients, which every strategy keeps, "
            r"grow as $\Theta(n)$."
        ),
        checks=(CheckKind.MEASURED,),
        arithmetic=_COUNTED,
    ),
    Claim(
        id="ckpt.sqrt-memory",
        question="ckpt-complexity",
        title="sqrt(n): k + ceil(n/k) - 1 states, minimal ceil(2 sqrt(n)) - 1 at k near sqrt(n)",
        statement=COST_MODEL
        + (
            r"With $k$ segments of balanced lengths (they differ by at most one, the longest, "
            r"$\lceil n/k \rceil$ modules, last), efx stores each segment's input and recomputes one segment "
            r"at a time; the last segment is recorded in the forward pass. Peak memory is "
            r"$k + \lceil n/k \rceil - 1$: the $k$ checkpoints plus the recorded inputs of the longest "
            r"segment, whose first is a checkpoint. In the continuous model $n/x + x \ge 2\sqrt{n}$ with "
            r"equality only at $x = \sqrt{n}$, and over integers "
            r"$\min_{k \ge 1} (k + \lceil n/k \rceil) = \lceil 2\sqrt{n} \rceil$, so the sqrt(n) strategy "
            r"(the smallest $k$ reaching that minimum) stores $\lceil 2\sqrt{n} \rceil - 1 = \Theta(\sqrt{n})$ "
            r"states: about $\sqrt{n}$ checkpoints plus $\sqrt{n}$ states of one segment, not $\sqrt{n}$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.MEASURED),
        arithmetic=_COUNTED,
        derivations=(
            proofs.sqrt_memory_continuous,
            proofs.sqrt_memory_integer,
            proofs.sqrt_memory_instances,
        ),
    ),
    Claim(
        id="ckpt.sqrt-compute",
        question="ckpt-complexity",
        title="sqrt(n): 2n - ceil(n/k) forward calls, 1 or 2 per node",
        statement=COST_MODEL
        + (
            r"The segment strategy with $k$ segments makes $2n - L$ forward calls, $L = \lceil n/k \rceil$ the "
            r"length of the last segment: its modules run once, every other module twice, so forward "
            r"computations per node are 1 or 2. For the sqrt(n) choice of $k$, "
            r"$2n - 2\sqrt{n} \le 2n - L \le 2n - 1$: $\Theta(n)$ with constant 2, against $n$ for store-all. "
            r"If each module's forward takes time $\varphi$ and its backward $\beta$, a step takes "
            r"$1 + f(1 - L/n)$ times as long as store-all's, $f = \varphi/(\varphi + \beta)$; with $k$ equal "
            r"segments $1 + f(1 - 1/k)$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.MEASURED),
        arithmetic=_COUNTED + " The time ratio is a model; the benchmark measures it.",
        derivations=(proofs.sqrt_forward_calls, proofs.recompute_time_ratio),
    ),
    Claim(
        id="ckpt.binomial",
        question="ckpt-complexity",
        title="Binomial checkpointing: C(s + r, s) modules with s slots and r repetitions",
        statement=COST_MODEL
        + (
            r"Binomial checkpointing (Revolve) in its own model: $s \ge 1$ slots hold checkpoints and the "
            r"input $a_0$ takes one; a module is recorded alone just before it is reversed; an *advance* is an "
            r"unrecorded forward call and the repetition number $r$ is the largest number of advances of any "
            r"module (the recording is not a repetition). A chain of $n$ modules can be reversed with "
            r"repetition number $r$ if and only if $n \le \beta(s, r) = \binom{s+r}{s}$, so $r$ is the least "
            r"integer with $\binom{s+r}{s} \ge n$. The fewest advances are $t(n, s) = r n - \binom{s+r}{s+1}$ "
            r"and the forward calls $t(n, s) + n$; efx's schedule reaches them and holds at most $s + 1$ "
            r"states. One slot gives memory-poor, $n(n+1)/2$ forward calls."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.MEASURED),
        arithmetic=_COUNTED,
        derivations=(
            binomial.binomial_capacity_rule,
            binomial.binomial_advances_recursion,
            binomial.binomial_one_slot,
            binomial.binomial_instances,
        ),
        references=(
            "A. Griewank, Achieving logarithmic growth of temporal and spatial complexity in reverse automatic "
            "differentiation, Optimization Methods and Software 1 (1992)",
            "A. Griewank and A. Walther, Algorithm 799: revolve, ACM Transactions on Mathematical Software 26 (2000)",
        ),
    ),
    Claim(
        id="ckpt.measured-memory",
        question="ckpt-complexity",
        title="Measured bytes follow the counted states",
        statement=(
            r"Measured on CPU with the torch profiler (`efx.measure.peak_memory`), for a chain of $n$ "
            r"elementwise modules $a_i = w_i a_{i-1}$ (each saves only its input) whose states have $B$ bytes, "
            r"the peak of one forward and backward pass under store-all, memory-poor, sqrt(n) and binomial "
            r"is $B(P + c)$. Here $P$ is the counted peak of stored states, and the offset $c$ lies in $[1, 3]$ "
            r"for $n \in \{4, 16, 64\}$ and states of $2^{15}$ float64 values: one or two activations being "
            r"computed or flowing back as gradients, plus generator states and scalar parameter gradients. "
            r"The measured memory therefore grows like the counts: log-log slopes against $n$ near 1 "
            r"(store-all), 0 (memory-poor, binomial with fixed $s$) and 1/2 (sqrt(n))."
        ),
        checks=(CheckKind.MEASURED,),
        arithmetic=(
            "The profiler's allocation events are exact byte counts on CPU, so the peak is exact and "
            "repeatable; the slopes are fitted to these exact peaks."
        ),
    ),
    Claim(
        id="ckpt.gradients-exact",
        question="ckpt-complexity",
        title="Every strategy gives the gradients of store-all, bit for bit on CPU",
        statement=(
            r"For chains of `Linear` layers with tanh, ReLU or GELU activations (depth, widths and batch drawn), "
            r"in float64 and float32, efx's memory-poor, segment (sqrt(n) or $k$ drawn), and binomial ($s$ drawn) "
            r"strategies give input and parameter gradients bitwise equal to the plain chain's "
            r"`loss.backward()`. A recomputation repeats the same operations on the same values, and each "
            r"recorded run is reversed by the same operations as in the full graph, so this holds wherever the "
            r"kernels are deterministic (CPU; CUDA under `efx.devices.deterministic()`). A parameter shared by "
            r"modules in different recorded runs has its gradient summed in another order: equal up to "
            r"rounding only."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="Bitwise equality of floats, not a tolerance: the same operations in the same order.",
    ),
    Claim(
        id="ckpt.dropout-replay",
        question="ckpt-complexity",
        title="Dropout in a recomputed segment: the random numbers are replayed",
        statement=(
            r"With `Dropout` (rate drawn) inside modules that efx recomputes and the same seed, efx's gradients "
            r"equal the plain chain's bitwise, and the default generator's state after backward equals the "
            r"plain run's; a run with `preserve_rng=False` draws new masks and gives different gradients."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="Bitwise: the same masks and the same operations.",
    ),
    Claim(
        id="ckpt.batchnorm-state",
        question="ckpt-complexity",
        title="BatchNorm in a recomputed segment: buffers updated once",
        statement=(
            r"With `BatchNorm1d` in training mode inside modules that efx recomputes, after one forward and "
            r"backward pass every buffer (`running_mean`, `running_var`, `num_batches_tracked`) and every "
            r"gradient equal the plain chain's bitwise: a recomputation runs on copies of the buffers as they "
            r"were before the original call, so each module's state is updated once per forward pass."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="Bitwise: the same operations on the same values.",
    ),
    Claim(
        id="ckpt.torch-batchnorm-twice",
        question="ckpt-complexity",
        title="torch's checkpoint updates BatchNorm statistics twice",
        statement=(
            r"`torch.utils.checkpoint.checkpoint` (with `use_reentrant` False or True) recomputes a "
            r"`BatchNorm1d(momentum=0.1)` in training mode during backward, and the recomputation updates its "
            r"buffers again: from a zero running mean, one batch of mean 5 leaves a running mean of "
            r"$\mu b(2 - \mu) = 0.95$ after backward instead of the $\mu b = 0.5$ of one update, and "
            r"`num_batches_tracked` is 2."
        ),
        checks=(CheckKind.TORCH_BEHAVIOUR, CheckKind.EXACT_EXAMPLE),
        arithmetic="0.5 and 0.95 are exact in binary up to float32 rounding; the check allows one rounding per update.",
        derivations=(torch_proofs.batchnorm_twice,),
        torch_seen=TORCH_SEEN,
    ),
    Claim(
        id="ckpt.no-grad-input",
        question="ckpt-complexity",
        title="An input without grad: every parameter still gets its gradient",
        statement=(
            r"When the chain's input does not require grad, efx under every strategy gives a gradient to "
            r"exactly the parameters that get one without checkpointing (all trainable parameters), with "
            r"bitwise equal values, and the input gets none."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="Bitwise, as in ckpt.gradients-exact.",
    ),
    Claim(
        id="ckpt.torch-reentrant-no-grad-input",
        question="ckpt-complexity",
        title="torch's reentrant checkpoint loses parameter gradients when the input needs none",
        statement=(
            r"`torch.utils.checkpoint.checkpoint_sequential` with `use_reentrant=True`, on a chain whose input "
            r"does not require grad, leaves every parameter of the checkpointed segments without a gradient "
            r"(`.grad` is None) and warns that none of the inputs require grad; with `use_reentrant=False` all "
            r"parameters get their gradients."
        ),
        checks=(CheckKind.TORCH_BEHAVIOUR,),
        arithmetic="A structural fact (which gradients exist), no floating-point comparison.",
        torch_seen=TORCH_SEEN,
    ),
    Claim(
        id="ckpt.torch-sequential-split",
        question="ckpt-complexity",
        title="torch's checkpoint_sequential: the remainder goes to an unchecked last segment",
        statement=COST_MODEL
        + (
            r"`torch.utils.checkpoint.checkpoint_sequential(functions, segments, input)` gives each of the first "
            r"`segments - 1` segments $\lfloor n / \text{segments} \rfloor$ modules and the rest to the last "
            r"segment, which it never checkpoints: 9 modules in 5 segments are split $[1, 1, 1, 1, 5]$, which "
            r"holds 9 states, more than the 5 of 3 segments $[3, 3, 3]$ and than the 6 of efx's balanced split "
            r"$[1, 2, 2, 2, 2]$. Measured with the profiler, torch's 5-segment run peaks above its 3-segment "
            r"run, and efx with 5 segments below torch with 5."
        ),
        checks=(CheckKind.TORCH_BEHAVIOUR, CheckKind.SYMBOLIC_INSTANCES, CheckKind.MEASURED),
        arithmetic="Integer counts, and exact byte peaks from the profiler on CPU.",
        derivations=(torch_proofs.torch_split_instances,),
        torch_seen=TORCH_SEEN,
    ),
    Claim(
        id="ckpt.recompute-mismatch",
        question="ckpt-complexity",
        title="A segment that does not recompute the same output is rejected",
        statement=(
            r"Under a segment strategy with `check=True` (the default) efx compares each recomputed segment's output with the stored input of "
            r"the next segment. When a module is not reproducible (it draws from Python's `random`, not "
            r"torch's generators) the backward pass raises `RecomputeMismatchError` naming the module, and "
            r"leaves every `.grad`, every buffer and the generator state as they were before the backward "
            r"pass; a reproducible chain never raises."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="The comparison is exact equality of the two tensors.",
    ),
)


RUBRICS: tuple[Rubric, ...] = (
    Rubric(
        question="ckpt-complexity",
        answer=(
            "Cost model: a chain of $n$ modules, one unit per forward call of a module, unit-size activations, "
            "memory = activations kept for the backward pass (parameters, gradients and optimizer state "
            "excluded).\n\n"
            "| strategy | memory | total forward computation | forward computations per node |\n"
            "|---|---|---|---|\n"
            "| store-all (default) | $n$: $\\Theta(n)$ | $n$: $\\Theta(n)$ | 1 |\n"
            "| memory-poor | 2 (input and one more): $O(1)$ | $n(n+1)/2$: $\\Theta(n^2)$ | module $i$ runs "
            "$n - i + 1$ times: 1 to $n$ |\n"
            "| sqrt(n), $k \\approx \\sqrt{n}$ segments | $k + \\lceil n/k \\rceil - 1$, at best "
            "$\\lceil 2\\sqrt{n} \\rceil - 1$: $\\Theta(\\sqrt{n})$ | $2n - \\lceil n/k \\rceil \\le 2n$: "
            "$\\Theta(n)$ | 2, and 1 in the last segment |\n\n"
            "Memory-poor's $O(1)$ needs every module to keep $O(1)$ buffers beyond its input; sqrt(n) costs about "
            "one extra forward pass, roughly a third more time when backward takes twice a forward."
        ),
        key_points=(
            KeyPoint(
                text="States the cost model: unit-cost forward calls, unit-size activations, activation memory only.",
                weight=2,
                claims=("ckpt.store-all-counts", "ckpt.memory-poor-memory"),
                accepted=(
                    "Counts activations kept for backward, not parameters or optimizer state",
                ),
            ),
            KeyPoint(
                text="Store-all: memory $\\Theta(n)$, computation $\\Theta(n)$, one forward per node.",
                weight=2,
                claims=("ckpt.store-all-counts",),
            ),
            KeyPoint(
                text="Memory-poor memory $O(1)$, with the condition that activations and per-module buffers are "
                "$O(1)$ and the input is kept.",
                weight=2,
                claims=("ckpt.memory-poor-memory",),
                accepted=("keeps only the input plus a constant number of activations",),
            ),
            KeyPoint(
                text="Memory-poor computation $n(n+1)/2 = \\Theta(n^2)$; module $i$ runs $n - i + 1$ times (1 to $n$).",
                weight=3,
                claims=("ckpt.memory-poor-compute",),
                accepted=("$\\Theta(n^2)$ with node $i$ recomputed once for every later node",),
            ),
            KeyPoint(
                text="sqrt(n) memory $\\Theta(\\sqrt{n})$: $n/k$ checkpoints plus one segment, minimised near "
                "$k = \\sqrt{n}$ (about $2\\sqrt{n}$).",
                weight=3,
                claims=("ckpt.sqrt-memory",),
                accepted=("$O(\\sqrt{n})$ derived from minimising $n/k + k$",),
            ),
            KeyPoint(
                text="sqrt(n) computation $\\Theta(n)$ with constant 2 (about one extra forward pass); 1 or 2 "
                "forwards per node.",
                weight=3,
                claims=("ckpt.sqrt-compute",),
                accepted=(
                    "$O(n)$ with one extra forward pass, 33% more time when backward costs two forwards",
                ),
            ),
        ),
        mistakes=(
            Mistake(
                wrong="Memory-poor needs $O(1)$ memory, stated without conditions.",
                why=(
                    "$O(1)$ counts unit-size activations kept for backward, beyond which each module may keep only "
                    "$O(1)$ buffers; the input is one of the kept states, and parameters and their gradients grow "
                    "as $\\Theta(n)$ under every strategy."
                ),
                claim="ckpt.memory-poor-memory",
                counterexample=(
                    "A chain of $n$ `Linear(w, w)` layers holds $n(w^2 + w)$ parameters and as many gradient "
                    "entries under memory-poor too: its total memory is $\\Theta(n)$."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong='Forward computations per node "1 to $n$" for memory-poor, with no count per node and no total.',
                why=(
                    "The count is exact: module $i$ runs $n - i + 1$ times (the first module $n$ times, the last "
                    "once), and the total $n(n+1)/2$ is what makes the computation $\\Theta(n^2)$."
                ),
                claim="ckpt.memory-poor-compute",
                counterexample=(
                    f"For $n = {_SMALL}$ the modules run {', '.join(map(str, _SMALL_CALLS))} times: "
                    f"{sum(_SMALL_CALLS)} forward calls."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="sqrt(n) computation $O(n)$, like the default, as if recomputation were free.",
                why=(
                    "It is $2n - \\lceil n/k \\rceil$ forward calls against $n$: one extra forward pass for all "
                    "but the last segment, which costs $1 + f(1 - 1/k)$ times store-all's time."
                ),
                claim="ckpt.sqrt-compute",
                counterexample=(
                    f"For $n = {_LARGE}$: {_LARGE_SQRT.total_forward_calls} forward calls against {_LARGE}."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="A table of $O(\\cdot)$ classes with no cost model: what is counted as memory and as a step.",
                why=(
                    "The classes hold for a chain with unit-cost forwards and unit-size activations, counting "
                    "activation memory only; with parameters counted every strategy needs $\\Theta(n)$ memory."
                ),
                claim="ckpt.store-all-counts",
                counterexample="Store-all and memory-poor both keep all $n$ layers' parameters and gradients.",
                in_submitted=True,
            ),
            Mistake(
                wrong="The sqrt(n) strategy stores $\\sqrt{n}$ activations.",
                why="It stores about $\\sqrt{n}$ checkpoints plus the $\\sqrt{n}$ states of the recomputed segment.",
                claim="ckpt.sqrt-memory",
                counterexample=f"For $n = {_LARGE}$ the best split stores {_LARGE_SQRT.peak_stored} states.",
            ),
            Mistake(
                wrong="More segments in torch's `checkpoint_sequential` always use less memory.",
                why="torch gives the remainder to its last segment, which it never checkpoints.",
                claim="ckpt.torch-sequential-split",
                counterexample=(
                    f"9 modules: 5 segments hold {_TORCH_NINE[5]} states, 3 segments hold {_TORCH_NINE[3]}."
                ),
            ),
            Mistake(
                wrong="Recomputation changes nothing, so BatchNorm and dropout need no care.",
                why=(
                    "A recomputed forward draws new dropout masks unless the generator state is replayed, and "
                    "updates BatchNorm's running statistics again."
                ),
                claim="ckpt.torch-batchnorm-twice",
                counterexample="torch 2.13's checkpoint leaves a running mean of 0.95 where one update gives 0.5.",
            ),
        ),
    ),
)
