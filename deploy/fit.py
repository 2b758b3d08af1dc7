"""Will the model fit the GPU? An estimate before any request, and the nearest fixes.

GPU memory = weights + KV cache + runtime overhead (+ the embedding model served
next to it). Ollama keeps a KV cache per parallel slot: OLLAMA_NUM_PARALLEL slots of
OLLAMA_CONTEXT_LENGTH tokens each; sliding-window layers keep only their window.
The overheads are fitted to published figures (docs/deploy.md, tests/deploy/test_deploy_fit.py).

vLLM (engine "vllm") loads the bf16 weights, 2 bytes a parameter, not Ollama's quantised
file, and takes only --gpu-memory-utilization of the GPU; its KV cache must hold
--max-num-seqs sequences of --max-model-len tokens for the batch to fill.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from . import catalog

GIB = 2**30
KV_ENTRY_BYTES = 2  # f16 K and V, Ollama's default cache type
UBATCH_TOKENS = 512  # a sliding layer also holds one micro-batch beyond its window
RUNTIME_OVERHEAD_GIB = 2.0  # CUDA context, compute graph and output buffers
EMBED_RUNNER_GIB = 0.5  # the embedding model runs in its own runner process
CONTEXT_STEPS = (131072, 65536, 32768, 16384, 8192, 4096, 2048)
BF16_BYTES = 2  # what vLLM loads a parameter as by default
DERIVED_BITS = 5.0  # bits a parameter in Ollama's files (catalog: gemma2:9b 4.7, gemma3:27b 5.0)
VLLM_MEMORY_FRACTION = 0.90  # vLLM's --gpu-memory-utilization default


@dataclass(frozen=True)
class FitEstimate:
    model: str
    gpu: str
    slots: int
    context: int
    embed_model: str
    weights_gib: float | None  # None: not in the catalog, so unchecked
    kv_gib: float | None
    embed_gib: float
    gpu_gib: float  # what the engine may use: all of it (Ollama), the utilization's share (vLLM)
    overhead_gib: float = RUNTIME_OVERHEAD_GIB
    engine: str = "ollama"
    memory_fraction: float = 1.0  # vLLM's --gpu-memory-utilization
    weights_derived: bool = False  # vLLM: parameters derived from the Ollama file's size

    @property
    def known(self) -> bool:
        return self.weights_gib is not None and self.kv_gib is not None

    @property
    def total_gib(self) -> float | None:
        if not self.known:
            return None
        return self.weights_gib + self.kv_gib + self.overhead_gib + self.embed_gib

    @property
    def fits(self) -> bool:
        return self.known and self.total_gib <= self.gpu_gib

    def summary(self) -> str:
        if not self.known:
            return (
                f"{self.model} is not in the model catalog, so its GPU memory is unchecked "
                f"({self.gpu} has {self.gpu_gib:.1f} GiB)."
            )
        embed = f" + {self.embed_gib:.1f} GiB {self.embed_model}" if self.embed_gib else ""
        kind = "bf16 weights (derived from the Ollama file)" if self.weights_derived else "bf16 weights"
        share = f" (vLLM's {self.memory_fraction:g} share)" if self.engine == "vllm" else ""
        return (
            f"{self.model} on {self.gpu}: {self.weights_gib:.1f} GiB "
            f"{kind if self.engine == 'vllm' else 'weights'} + "
            f"{self.kv_gib:.1f} GiB KV cache ({self.slots} slot(s) x {self.context:,} tokens) + "
            f"{self.overhead_gib:.1f} GiB runtime{embed} = {self.total_gib:.1f} GiB of "
            f"{self.gpu_gib:.1f} GiB{share}"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "total_gib": self.total_gib, "fits": self.fits}


def kv_bytes_per_slot(kv: catalog.KvShape, context: int) -> float:
    sliding_tokens = min(context, kv.window + UBATCH_TOKENS)
    per_token_widths = kv.sliding_layers * sliding_tokens * kv.sliding_width
    per_token_widths += kv.full_layers * context * kv.full_width
    return 2 * KV_ENTRY_BYTES * per_token_widths  # 2: K and V


def _embed_gib(embed_model: str) -> float:
    spec = catalog.model_spec(embed_model) if embed_model else None
    if spec is None:
        return 0.0
    return spec.weights_gb * 1e9 / GIB + EMBED_RUNNER_GIB


def weights_gib(spec: catalog.ModelSpec, engine: str = "ollama") -> float:
    """What the engine loads: Ollama's file, or vLLM's bf16 parameters (derived if not listed)."""
    if engine != "vllm":
        return spec.weights_gb * 1e9 / GIB
    params = spec.params_b * 1e9 if spec.params_b else spec.weights_gb * 1e9 * 8 / DERIVED_BITS
    return params * BF16_BYTES / GIB


def estimate(
    model: str,
    gpu: str,
    slots: int,
    context: int,
    embed_model: str = catalog.EMBED_MODEL,
    *,
    engine: str = "ollama",
    gpu_memory_utilization: float = VLLM_MEMORY_FRACTION,
) -> FitEstimate:
    """GPU memory for `slots` parallel requests of `context` tokens each, on `engine`."""
    spec = catalog.model_spec(model)
    weights = kv = None
    if spec is not None and spec.kv is not None:
        weights = weights_gib(spec, engine)
        kv = slots * kv_bytes_per_slot(spec.kv, context) / GIB
    fraction = gpu_memory_utilization if engine == "vllm" else 1.0
    return FitEstimate(
        model=model,
        gpu=gpu,
        slots=slots,
        context=context,
        embed_model=embed_model if embed_model else "",
        weights_gib=weights,
        kv_gib=kv,
        embed_gib=_embed_gib(embed_model),
        gpu_gib=catalog.GPU_TYPES[gpu].usable_gib * fraction,
        engine=engine,
        memory_fraction=fraction,
        weights_derived=engine == "vllm" and spec is not None and not spec.params_b,
    )


def _again(est: FitEstimate, **changes: Any) -> FitEstimate:
    args = {
        "model": est.model,
        "gpu": est.gpu,
        "slots": est.slots,
        "context": est.context,
        "embed_model": est.embed_model,
        "engine": est.engine,
        "gpu_memory_utilization": est.memory_fraction if est.engine == "vllm" else VLLM_MEMORY_FRACTION,
        **changes,
    }
    return estimate(**args)


def _fewer_slots(est: FitEstimate) -> str | None:
    for slots in range(est.slots - 1, 0, -1):
        if (new := _again(est, slots=slots)).fits:
            knob = "--max-num-seqs" if est.engine == "vllm" else "OLLAMA_NUM_PARALLEL"
            return f"fewer parallel requests: concurrency and {knob} {slots} ({new.total_gib:.1f} GiB)"
    return None


def _shorter_context(est: FitEstimate) -> str | None:
    for context in CONTEXT_STEPS:
        if context < est.context and (new := _again(est, context=context)).fits:
            return f"a shorter context: {context:,} tokens per request ({new.total_gib:.1f} GiB)"
    return None


def _smaller_model(est: FitEstimate) -> str | None:
    """The most capable lighter model: its own family first, then Gemma 4."""
    spec = catalog.model_spec(est.model)
    if spec is None:
        return None
    heavy = weights_gib(spec, est.engine)
    chat = [s for s in catalog.models().values() if s.kind == "chat"]
    lighter = [s for s in chat if weights_gib(s, est.engine) < heavy]
    lighter.sort(key=lambda s: (s.family != spec.family, s.family != "gemma4", -s.rank))
    for other in lighter:
        if _servable(other.tag, est.engine) and (new := _again(est, model=other.tag)).fits:
            return f"a smaller model: {other.tag} ({new.total_gib:.1f} GiB)"
    return None


def _servable(tag: str, engine: str) -> bool:
    """Ollama: the pinned server can pull it; vLLM: its Hugging Face repository is known."""
    if engine != "vllm":
        return not catalog.version_problems(tag)
    from .vllm import HF_MODELS  # deploy.vllm imports this module

    return tag in HF_MODELS


def _bigger_gpu(est: FitEstimate) -> str | None:
    for name, gpu in catalog.GPU_TYPES.items():
        if gpu.usable_gib > est.gpu_gib and (new := _again(est, gpu=name)).fits:
            return f"a bigger GPU: {name} ({new.total_gib:.1f} of {new.gpu_gib:.1f} GiB)"
    return None


def _without_embedder(est: FitEstimate) -> str | None:
    if est.embed_gib and (new := _again(est, embed_model="")).fits:
        return f"no embedding model in the image ({new.total_gib:.1f} GiB)"
    return None


FIXES = (_fewer_slots, _shorter_context, _smaller_model, _bigger_gpu, _without_embedder)


def fixes(est: FitEstimate) -> list[str]:
    """The nearest changes that make it fit, each with its new total."""
    return [found for fix in FIXES if (found := fix(est))]


def problems(est: FitEstimate) -> list[str]:
    """Empty when it fits (or the model is unchecked, which is a warning instead)."""
    spec = catalog.model_spec(est.model)
    out = []
    if spec is not None and est.context > spec.context:
        out.append(f"{est.model} supports at most {spec.context:,} tokens of context; got {est.context:,}.")
    if est.known and not est.fits:
        out.append(f"Will not fit: {est.summary()}.")
    return out


def warnings(model: str, engine: str = "ollama") -> list[str]:
    if catalog.model_spec(model) is not None:
        return []
    if engine == "vllm":
        return [f"{model} is not in the model catalog: its GPU memory is unchecked."]
    return [
        f"{model} is not in the model catalog: its GPU memory and the Ollama version it "
        f"needs are unchecked (the image runs ollama/ollama:{catalog.ollama_version()})."
    ]


@cache
def default_model(
    gpu: str = catalog.DEFAULT_GPU,
    slots: int = catalog.DEFAULT_CONCURRENCY,
    context: int = catalog.DEFAULT_CONTEXT,
) -> str:
    """The most capable Gemma 4 the pinned server can pull that fits `gpu` (docs/decisions.md)."""
    gemma4 = sorted((s for s in catalog.models().values() if s.family == "gemma4"), key=lambda s: -s.rank)
    for spec in gemma4:
        if not catalog.version_problems(spec.tag) and estimate(spec.tag, gpu, slots, context).fits:
            return spec.tag
    return catalog.NOTEBOOK_MODEL


__all__ = ["FitEstimate", "default_model", "estimate", "fixes", "problems", "warnings"]
