"""OpenAI-compatible Chat Completions endpoints (OpenAI, Gemini's OpenAI-compatible
endpoint, OpenRouter, vLLM and SGLang servers), through the ``openai`` client.

Each prompt is one user message answered greedily (temperature 0, the configured seed; a
sampled answer: its own temperature and seed, top_p 1) with ``logprobs`` and
``top_logprobs`` (at most 20); option distributions come from those
(:mod:`culturalign.scoring.top_logprobs`), never exactly. An endpoint that rejects or ignores
logprobs gives text answers only; its shard rows say so (``option_probs_source: none``).
See :mod:`culturalign.engines.api_client` for the config keys, retries and the cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from culturalign.engines.api_client import ApiClient
from culturalign.engines.base import ChatEngine, ChatRequest, ChatResult, ModelSpec, Position
from culturalign.engines.registry import register_engine

log = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20
"""The most top logprobs OpenAI's API returns per position."""


def positions_from_choice(choice: dict[str, Any]) -> tuple[Position, ...] | None:
    """Per generated position the token, its logprob and the top alternatives (or None)."""
    logprobs = choice.get("logprobs") or {}
    content = logprobs.get("content")
    if not content:
        return None
    return tuple(
        Position(
            token=str(item.get("token") or ""),
            logprob=float(item.get("logprob") or 0.0),
            top=tuple(
                (str(alt.get("token") or ""), float(alt.get("logprob")))
                for alt in item.get("top_logprobs") or []
                if alt.get("logprob") is not None
            ),
        )
        for item in content
    )


@register_engine("openai")
class OpenAiEngine(ChatEngine):
    """A chat model behind an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int = 1,
        cache_dir: str | Path = "resources/.cache",
        seed: int = 0,
    ) -> None:
        super().__init__(spec)
        started = time.perf_counter()
        self.client = ApiClient(spec, cache_dir)
        self.logprobs_supported = True
        self.startup_seconds = time.perf_counter() - started

    @property
    def version(self) -> str:
        return f"openai-python {self.client.version}"

    def effective_options(self) -> dict[str, Any]:
        return {**self.client.options(), "logprobs_supported": self.logprobs_supported}

    def usage(self) -> dict[str, Any]:
        return self.client.usage.as_dict()

    def _without_logprobs(self, body: dict[str, Any], error: Exception) -> dict[str, Any] | None:
        """Some endpoints reject logprobs (400): ask again for the text alone."""
        if "logprobs" not in body or "logprob" not in str(error).lower():
            return None
        self.logprobs_supported = False
        return {k: v for k, v in body.items() if k not in ("logprobs", "top_logprobs")}

    def chat(
        self, requests: Sequence[ChatRequest], *, logprobs: int, seed: int
    ) -> list[ChatResult]:
        top = min(max(logprobs, 0), MAX_TOP_LOGPROBS)
        bodies = []
        for request in requests:
            body: dict[str, Any] = {
                "messages": [{"role": "user", "content": request.prompt}],
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "seed": seed if request.seed is None else request.seed,
                **({"top_p": 1.0} if request.temperature > 0 else {}),
            }
            if top:
                body.update(logprobs=True, top_logprobs=top)
            bodies.append(body)
        answers = self.client.run("chat", bodies, "chat", fallback=self._without_logprobs)
        results = []
        for answer in answers:
            choice = (answer.get("choices") or [{}])[0]
            usage = answer.get("usage") or {}
            positions = positions_from_choice(choice)
            if positions is None and top:
                self.logprobs_supported = False
            results.append(
                ChatResult(
                    text=str((choice.get("message") or {}).get("content") or ""),
                    finish_reason=str(choice.get("finish_reason")),
                    positions=positions,
                    n_prompt_tokens=usage.get("prompt_tokens"),
                    n_output_tokens=usage.get("completion_tokens"),
                )
            )
        return results

    def close(self) -> None:
        self.client.cache.close()
