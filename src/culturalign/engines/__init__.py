"""Inference backends behind one small interface (see :mod:`culturalign.engines.base`).

Only the generate step imports this package; ``vllm`` and ``transformers`` are imported
lazily by :func:`load_engine`, so ``import culturalign.engines`` works without either.
"""

from culturalign.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    ScoreRequest,
    TokenLogprob,
    load_engine,
)

__all__ = [
    "Engine",
    "EngineError",
    "GenerationRequest",
    "GenerationResult",
    "ModelSpec",
    "ScoreRequest",
    "TokenLogprob",
    "load_engine",
]
