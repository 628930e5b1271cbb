"""Symbolic derivations, one module per topic, built on :mod:`efx.proofs.derivation`."""
