"""The method registry: an explicit table from name to the module that defines the method's spec.

Modules are imported only when a method is asked for, so listing methods or running a graph method
never imports the code (or the heavy dependencies) of the others. A new method is one line here.
"""
from __future__ import annotations

import importlib

from shared.config import ConfigError
from shared.method import MethodSpec

# name -> "module:attribute" of its MethodSpec
METHODS: dict[str, str] = {
    "simclr": "shared.methods.ssl.simclr:SPEC",
    "care": "shared.methods.ssl.care:SPEC",
    "ifm": "shared.methods.ssl.ifm:SPEC",
    "essl": "shared.methods.ssl.essl:SPEC",
    "ncl": "shared.methods.ssl.ncl:SPEC",
    "sae_probe": "shared.methods.ssl.sae_probe:SPEC",
    "nlb": "shared.methods.ssl.nlb:SPEC",  # no-label backdoor poisoning: robustness research
    "disentangled_ssl": "shared.methods.multimodal.disentangled_ssl:SPEC",
    "canonical_map": "shared.methods.embedding.canonical_map:SPEC",
    "debias_vl": "shared.methods.embedding.debias_vl:SPEC",
    "no_pe": "shared.methods.graph.no_pe:SPEC",
    "lappe": "shared.methods.graph.lappe:SPEC",
    "signnet": "shared.methods.graph.signnet:SPEC",
    "basisnet": "shared.methods.graph.basisnet:SPEC",
    "spe": "shared.methods.graph.spe:SPEC",
    "sign_equivariant": "shared.methods.graph.sign_equivariant:SPEC",
    "asen": "shared.methods.graph.asen:SPEC",
    "wl_test": "shared.methods.graph.wl_test:SPEC",  # tool: which pairs 1-WL (and so an MPNN) cannot separate
    "gpt": "shared.methods.llm.gpt:SPEC",  # dense decoder: the large-model family's baseline
    "longppl": "shared.methods.llm.longppl:SPEC",  # tool: the LongPPL evaluator, its key tokens vs ground truth
    "longce": "shared.methods.llm.longce:SPEC",  # cross-entropy weighted by how much long context helps
    "reasoncache": "shared.methods.llm.reasoncache:SPEC",  # frozen GPT + trainable KV prefixes (also icl, lora)
    "sfa": "shared.methods.llm.sfa:SPEC",  # sparse feature attention: top-k q/k coordinates per head
    "seqtopk": "shared.methods.llm.seqtopk:SPEC",  # MoE routed by sequence (TopK: moe.routing=topk)
    "hold": "shared.methods.bench.hold:SPEC",  # scheduler benchmark tool, not a paper's method
}


class UnknownMethodError(ConfigError):
    """The name is not in the registry; the message lists the registered names."""


def method_names() -> list[str]:
    return sorted(METHODS)


def get_method(name: str) -> MethodSpec:
    """The spec of a registered method. Raises UnknownMethodError listing the known names."""
    if name not in METHODS:
        raise UnknownMethodError(f"unknown method {name!r}; registered methods: {', '.join(method_names())}")
    module_name, attr = METHODS[name].split(":")
    spec = getattr(importlib.import_module(module_name), attr)
    if spec.name != name:
        raise ConfigError(f"registry entry {name!r} points at the spec of {spec.name!r}")
    return spec


def list_methods() -> list[MethodSpec]:
    return [get_method(name) for name in method_names()]
