"""Exact scoring over HTTP: a vLLM server's OpenAI-compatible completions endpoint.

The prompts are rendered and tokenised here (the tokenizer of ``path``, the same weights
the server serves as ``model``) and sent as token ids, so many jobs can share one GPU
server and still get the local engine's exact option probabilities: generation asks for
``return_tokens_as_token_ids`` and ``logprobs``; scoring asks for one next token with
``logprob_token_ids`` (vLLM's extension: the logprobs of exactly those ids). Letter labels'
end factor needs the whole next-token distribution: start the server with
``--max-logprobs -1`` for benchmarks with letter options.
See :mod:`culturalign.engines.api_client` for the config keys, retries and the cache.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from culturalign.engines.api_client import ApiClient
from culturalign.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    MassRequest,
    ModelSpec,
    ScoreRequest,
    candidate_logprobs,
    log_mass,
    top_logprobs_from_positions,
)
from culturalign.engines.registry import register_engine


def _token_id(text: str) -> int:
    """``token_id:123`` (vLLM's ``return_tokens_as_token_ids``) -> 123."""
    if not text.startswith("token_id:"):
        raise EngineError(f"expected a token id from the server, got {text!r}")
    return int(text.removeprefix("token_id:"))


def _positions(choice: dict[str, Any]) -> list[dict[int, float]]:
    logprobs = choice.get("logprobs") or {}
    return [
        {_token_id(token): float(value) for token, value in (top or {}).items()}
        for top in logprobs.get("top_logprobs") or []
    ]


@register_engine("vllm-server")
class VllmServerEngine(Engine):
    """A model served by ``vllm serve``, scored exactly through its completions endpoint."""

    name = "vllm-server"
    max_candidates = 128  # vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS

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
        from transformers import AutoTokenizer

        self.client = ApiClient(spec, cache_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(spec.path, revision=spec.revision)
        self.startup_seconds = time.perf_counter() - started

    @property
    def version(self) -> str:
        return f"openai-python {self.client.version}"

    def effective_options(self) -> dict[str, Any]:
        return {**self.client.options(), "tokenizer": self.spec.path}

    def usage(self) -> dict[str, Any]:
        return self.client.usage.as_dict()

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        logprobs: int,
        logprob_positions: int,
        seed: int,
    ) -> list[GenerationResult]:
        bodies = [
            {
                "prompt": list(request.prompt_ids),
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "seed": seed if request.seed is None else request.seed,
                # a server fills unset fields from the model's generation_config: no cuts
                **({"top_p": 1.0, "top_k": -1} if request.temperature > 0 else {}),
                "logprobs": max(1, logprobs),
                "return_tokens_as_token_ids": True,
                "skip_special_tokens": False,
            }
            for request in requests
        ]
        token_text = functools.lru_cache(maxsize=None)(
            lambda token_id: self.tokenizer.decode([token_id])
        )
        results = []
        for answer in self.client.run("completions", bodies, "generate"):
            choice = (answer.get("choices") or [{}])[0]
            tokens = (choice.get("logprobs") or {}).get("tokens") or []
            token_ids = tuple(_token_id(token) for token in tokens)
            results.append(
                GenerationResult(
                    token_ids=token_ids,
                    text=self.tokenizer.decode(token_ids, skip_special_tokens=True),
                    finish_reason=str(choice.get("finish_reason")),
                    top_logprobs=top_logprobs_from_positions(
                        _positions(choice), logprobs, logprob_positions, token_text
                    ),
                )
            )
        return results

    def next_token_logprobs(self, requests: Sequence[ScoreRequest]) -> list[dict[int, float]]:
        bodies = [
            {
                "prompt": list(request.prompt_ids),
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": len(request.candidate_ids),
                "logprob_token_ids": list(request.candidate_ids),
                "return_tokens_as_token_ids": True,
            }
            for request in requests
        ]
        answers = self.client.run("completions", bodies, "score")
        out = []
        for answer, request in zip(answers, requests, strict=True):
            positions = _positions((answer.get("choices") or [{}])[0])
            if not positions:
                raise EngineError(f"models.{self.spec.key}: the server returned no logprobs")
            out.append(candidate_logprobs(positions[0], request.candidate_ids))
        return out

    def next_token_mass(self, requests: Sequence[MassRequest]) -> list[float]:
        bodies = [
            {
                "prompt": list(request.prompt_ids),
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": -1,
                "return_tokens_as_token_ids": True,
            }
            for request in requests
        ]
        answers = self.client.run("completions", bodies, "end masses")
        out = []
        for answer, request in zip(answers, requests, strict=True):
            positions = _positions((answer.get("choices") or [{}])[0])
            if not positions:
                raise EngineError(
                    f"models.{self.spec.key}: the server returned no logprobs; letter labels "
                    "need the whole next-token distribution (start vllm serve with "
                    "--max-logprobs -1)"
                )
            ids, values = zip(*positions[0].items(), strict=True)
            out.append(log_mass(ids, values, request))
        return out

    def close(self) -> None:
        self.client.cache.close()
