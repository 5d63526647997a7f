"""Inference backends behind one small interface (:mod:`culturalign.engines.base`).

Only the generate step imports this package; an engine's libraries (``vllm``,
``transformers``, ``openai``) are imported when :func:`load_engine` starts it, so
``import culturalign.engines`` works without any of them.
"""

from culturalign.engines.base import (
    BaseEngine,
    ChatEngine,
    ChatRequest,
    ChatResult,
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    MassRequest,
    ModelSpec,
    ScoreRequest,
    TokenLogprob,
)
from culturalign.engines.registry import (
    ENGINES,
    builtin_engines,
    engine_class,
    load_engine,
    register_engine,
)

__all__ = [
    "ENGINES",
    "BaseEngine",
    "ChatEngine",
    "ChatRequest",
    "ChatResult",
    "Engine",
    "EngineError",
    "GenerationRequest",
    "GenerationResult",
    "MassRequest",
    "ModelSpec",
    "ScoreRequest",
    "TokenLogprob",
    "builtin_engines",
    "engine_class",
    "load_engine",
    "register_engine",
]
