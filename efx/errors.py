"""The library's own exception and warning types, and one way to word an invalid argument.

Every rejected input raises :class:`InvalidArgumentError` with a message that names the
argument, shows its value, states the rule it breaks and suggests the fix.
"""

from __future__ import annotations

import reprlib

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxlist = 8


class EfxError(Exception):
    """Base class of every error efx raises on purpose."""


class InvalidArgumentError(EfxError, ValueError):
    """An argument breaks a documented rule; the message says which rule and the fix."""


class DerivationError(EfxError):
    """A derivation step failed its sympy check: the claim it supports is not proved."""


class EfxWarning(UserWarning):
    """A likely user mistake that efx can still carry out."""


def invalid_argument(name: str, value: object, rule: str, fix: str) -> InvalidArgumentError:
    """Build the error for an argument that breaks a rule.

    Args:
        name: the argument's name as the caller wrote it.
        value: the rejected value; long values are shortened.
        rule: what the value must satisfy, as a sentence fragment.
        fix: what the caller can do instead.

    >>> str(invalid_argument("max_norm", -1.0, "must be positive", "pass a norm > 0"))
    'max_norm=-1.0 is invalid: it must be positive. Fix: pass a norm > 0.'
    """
    return InvalidArgumentError(f"{name}={_short.repr(value)} is invalid: it {rule}. Fix: {fix}.")
