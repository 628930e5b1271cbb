"""Wrap the ``nn.Linear`` layers of a model in :class:`~efx.lora.LoRALinear`, by name.

Every argument is checked before the model is touched, so a rejected call leaves the model's
modules, weights and ``requires_grad`` flags as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import nn

from efx.errors import invalid_argument
from efx.lora import InitKind, LoRALinear, check_lora_arguments


def wrap_linear_layers(
    model: nn.Module,
    names: Iterable[str] | None,
    r: int,
    alpha: float,
    *,
    dropout: float = 0.0,
    rslora: bool = False,
    init: InitKind = "kaiming",
    generator: torch.Generator | None = None,
    freeze_others: bool = True,
) -> dict[str, LoRALinear]:
    """Replace the named ``nn.Linear`` submodules of ``model`` by LoRA wrappers, in place.

    Names are qualified module names as ``model.named_modules()`` lists them (``"0"``,
    ``"encoder.attn.q_proj"``); ``None`` selects every ``nn.Linear`` of the model. A layer
    registered under several names is wrapped once, and each of its names then points to
    the same wrapper. With ``freeze_others`` every parameter outside the adapters
    (embeddings, norms, unwrapped layers) stops requiring gradients, as LoRA trains only
    ``A`` and ``B``.

    Args:
        model: the model to adapt; it must not be an ``nn.Linear`` itself (wrap that directly).
        names: the layers to wrap, or None for all linear layers.
        r, alpha, dropout, rslora, init, generator: as for :class:`~efx.lora.LoRALinear`.
        freeze_others: set ``requires_grad=False`` on every parameter outside the adapters.

    Returns:
        The new wrappers by the names that were asked for (all names when ``names`` is None).

    Raises:
        InvalidArgumentError: if a name is unknown, names a module that is not an
            ``nn.Linear`` or one wrapped already, or an adapter argument is invalid. The model
            is then unchanged.

    >>> model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> sorted(wrap_linear_layers(model, ["0"], r=2, alpha=4))
    ['0']
    >>> [name for name, p in model.named_parameters() if p.requires_grad]
    ['0.lora_A', '0.lora_B']
    """
    if not isinstance(model, nn.Module):
        raise invalid_argument(
            "model", type(model).__name__, "must be a torch.nn.Module", "pass the model to adapt"
        )
    if isinstance(model, nn.Linear | LoRALinear):
        raise invalid_argument(
            "model",
            type(model).__name__,
            "must contain the linear layers, not be one",
            "wrap a single layer directly with LoRALinear(layer, r, alpha)",
        )
    if not isinstance(freeze_others, bool):
        raise invalid_argument(
            "freeze_others", freeze_others, "must be True or False", "pass a bool"
        )

    modules = dict(model.named_modules(remove_duplicate=False))
    parents: dict[str, nn.Module] = {
        name: m for name, m in modules.items() if isinstance(m, LoRALinear)
    }
    linear_names = [
        name for name, module in modules.items() if isinstance(module, nn.Linear) and name
    ]
    wanted = _resolve_names(names, modules, parents, linear_names)

    # Check every target before changing anything.
    for name in wanted:
        check_lora_arguments(
            modules[name], r, alpha, dropout=dropout, rslora=rslora, init=init, generator=generator
        )

    wrappers: dict[int, LoRALinear] = {}
    for name in wanted:
        layer = cast(nn.Linear, modules[name])
        if id(layer) not in wrappers:
            wrappers[id(layer)] = LoRALinear(
                layer, r, alpha, dropout=dropout, rslora=rslora, init=init, generator=generator
            )
    # Point every name of a wrapped layer at its wrapper, including names that were not listed.
    for name, module in modules.items():
        if name and id(module) in wrappers:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, wrappers[id(module)])

    if freeze_others:
        adapters = {
            id(p) for wrapper in wrappers.values() for p in (wrapper.lora_A, wrapper.lora_B)
        }
        for parameter in model.parameters():
            if id(parameter) not in adapters:
                parameter.requires_grad_(False)
    return {name: wrappers[id(modules[name])] for name in wanted}


def _resolve_names(
    names: Iterable[str] | None,
    modules: dict[str, nn.Module],
    parents: dict[str, nn.Module],
    linear_names: list[str],
) -> list[str]:
    if names is None:
        # Linear layers inside existing wrappers are their frozen bases: leave them alone.
        return [name for name in linear_names if name.rpartition(".")[0] not in parents]
    if isinstance(names, str):
        raise invalid_argument(
            "names", names, "must be a list of module names, not one string", f"pass [{names!r}]"
        )

    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise invalid_argument(
            "names",
            wanted,
            "must name at least one layer",
            "pass module names, or None for all linear layers",
        )
    for name in wanted:
        if not isinstance(name, str) or name not in modules or not name:
            raise invalid_argument(
                "names",
                name,
                "must be the qualified name of a submodule, as model.named_modules() lists it",
                f"pick from the linear layers {linear_names[:8]}",
            )
        if name.rpartition(".")[0] in parents and name.endswith(".base"):
            raise invalid_argument(
                "names",
                name,
                "must not name the frozen base of an existing LoRALinear",
                f"the layer {name.rpartition('.')[0]!r} is wrapped already",
            )
        module = modules[name]
        if isinstance(module, LoRALinear):
            raise invalid_argument(
                "names",
                name,
                "must name an nn.Linear, and this one is wrapped already",
                "leave it out",
            )
        if not isinstance(module, nn.Linear):
            raise invalid_argument(
                "names",
                name,
                f"must name an nn.Linear, but it is a {type(module).__name__}",
                f"pick from the linear layers {linear_names[:8]}",
            )
    return wanted
