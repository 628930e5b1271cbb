"""Derivations for the truncated-SVD answers (questions lr-image, lr-factors and lr-failure).

- :mod:`.errors`: closed forms of the truncation error, monotone in k, zero at the rank;
- :mod:`.structure`: rank-one stripes, the factors A and B, when A B = W, growing sharpness;
- :mod:`.optimality`: Eckart-Young-Mirsky, small tails, the flat-spectrum bound;
- :mod:`.randomized`: the randomized SVD's deterministic bound and Gaussian expectation;
- :mod:`.examples`: exact rational examples; :mod:`.photograph`: the photograph and its rank.
"""
