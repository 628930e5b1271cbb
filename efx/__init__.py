"""efx: verified reference answers on efficient deep-learning training.

Every factual statement of an answer is a claim (``efx.claims``) with a stable id,
a precise statement and checks: sympy derivations (``efx.proofs``) and Hypothesis
properties (``verify/``). The library also ships the implementations the claims are
about: ``efx.accumulation``, ``efx.checkpointing``, ``efx.lowrank`` and ``efx.lora``.
"""

__version__ = "0.1.0"
