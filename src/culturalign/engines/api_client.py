"""What the API engines share: the ``openai`` client, concurrency and rate limits, the
request cache, clear errors and usage accounting.

Config of an API model (``models.<key>``): ``model`` (the served name), ``base_url``,
``api_key_env`` (the *name* of the environment variable holding the key; the key itself is
never in config, logs, shards, reports or the cache), ``max_concurrency``,
``requests_per_minute``, ``timeout`` (seconds), ``max_retries`` (429, 5xx and timeouts are
retried by the ``openai`` client with exponential backoff, honouring ``Retry-After``) and
optionally ``price_per_million_input`` / ``price_per_million_output``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from culturalign.engines.base import EngineError, ModelSpec
from culturalign.engines.request_cache import RequestCache
from culturalign.errors import ConfigError

log = logging.getLogger(__name__)

NO_KEY = "EMPTY"
"""The key sent when ``api_key_env`` is not set (vLLM and SGLang servers accept any)."""


@dataclass
class Usage:
    """Counts over one engine's life (one generate job, one cell)."""

    requests_sent: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0
    seconds_waiting: float = 0.0
    wall_seconds: float = 0.0
    cost: float | None = None
    price_per_million_input: float | None = None
    price_per_million_output: float | None = None

    def add(self, response: dict[str, Any], cached: bool) -> None:
        usage = response.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        if cached:
            self.cache_hits += 1
            self.cached_input_tokens += tokens_in
            self.cached_output_tokens += tokens_out
            return
        self.requests_sent += 1
        self.input_tokens += tokens_in
        self.output_tokens += tokens_out
        if self.price_per_million_input is not None or self.price_per_million_output is not None:
            self.cost = (self.cost or 0.0) + (
                tokens_in * (self.price_per_million_input or 0.0)
                + tokens_out * (self.price_per_million_output or 0.0)
            ) / 1e6

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds_waiting"] = round(self.seconds_waiting, 3)
        out["wall_seconds"] = round(self.wall_seconds, 3)
        if out["cost"] is not None:
            out["cost"] = round(out["cost"], 6)
        return out


def api_key(spec: ModelSpec) -> str:
    """The key from ``$api_key_env`` (or :data:`NO_KEY`); a missing variable is an error."""
    if not spec.api_key_env:
        return NO_KEY
    value = os.environ.get(spec.api_key_env)
    if not value:
        raise ConfigError(
            f"config key models.{spec.key}.api_key_env: the environment variable "
            f"{spec.api_key_env} is not set (export it before running; the key is never "
            "written to any file)"
        )
    return value


class ApiClient:
    """An ``openai.AsyncOpenAI`` client with a cache, a concurrency cap and a rate limit."""

    def __init__(self, spec: ModelSpec, cache_dir: str | Path) -> None:
        import openai

        for key in ("model", "base_url"):
            if not getattr(spec, key):
                raise ConfigError(f"config key models.{spec.key}.{key}: needed by engine "
                                  f"{spec.engine}")  # fmt: skip
        self.spec = spec
        self.openai = openai
        self.key = api_key(spec)
        self.cache = RequestCache(Path(cache_dir) / "requests" / f"{spec.key}.sqlite")
        self.usage = Usage(
            price_per_million_input=spec.price_per_million_input,
            price_per_million_output=spec.price_per_million_output,
        )
        self._interval = 60.0 / spec.requests_per_minute if spec.requests_per_minute else 0.0

    @property
    def version(self) -> str:
        return str(self.openai.__version__)

    def _client(self) -> Any:
        return self.openai.AsyncOpenAI(
            base_url=self.spec.base_url,
            api_key=self.key,
            timeout=self.spec.timeout,
            max_retries=self.spec.max_retries,
        )

    def options(self) -> dict[str, Any]:
        """Provenance of the client (no key)."""
        spec = self.spec
        return {
            "model": spec.model,
            "base_url": spec.base_url,
            "api_key_env": spec.api_key_env,
            "max_concurrency": spec.max_concurrency,
            "requests_per_minute": spec.requests_per_minute,
            "timeout": spec.timeout,
            "max_retries": spec.max_retries,
            "cache": str(self.cache.path),
        }

    def _explain(self, exc: Exception) -> EngineError:
        """A clear message naming the model key for an error the client did not retry."""
        openai, spec = self.openai, self.spec
        where = f"models.{spec.key}"
        if isinstance(exc, openai.AuthenticationError):
            source = f"${spec.api_key_env}" if spec.api_key_env else "no key (api_key_env unset)"
            return EngineError(f"{where}: {spec.base_url} refused the key from {source} (401)")
        if isinstance(exc, openai.PermissionDeniedError):
            return EngineError(f"{where}: {spec.base_url} denies access to {spec.model!r} (403)")
        if isinstance(exc, openai.NotFoundError):
            return EngineError(
                f"{where}.model: {spec.base_url} has no model {spec.model!r} (404); check the "
                "served model name and base_url"
            )
        if isinstance(exc, openai.APIConnectionError):
            return EngineError(f"{where}.base_url: cannot reach {spec.base_url} ({exc})")
        if isinstance(exc, openai.APIStatusError):
            return EngineError(f"{where}: {spec.base_url} answered {exc.status_code}: {exc}")
        return EngineError(f"{where}: request failed ({exc})")

    def run(
        self,
        kind: str,
        bodies: Sequence[dict[str, Any]],
        describe: str = "requests",
        fallback: Callable[[dict[str, Any], Exception], dict[str, Any] | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Send every request body (``kind``: ``chat`` or ``completions``), cached ones not.

        ``fallback(body, error)`` may return a changed body to send instead when the server
        rejects one (e.g. without logprobs); the first other error stops everything.
        """
        started = time.perf_counter()
        try:
            return asyncio.run(self._run_all(kind, list(bodies), describe, fallback))
        finally:
            self.usage.wall_seconds += time.perf_counter() - started

    async def _run_all(self, kind, bodies, describe, fallback) -> list[dict[str, Any]]:
        from tqdm.auto import tqdm

        client = self._client()
        semaphore = asyncio.Semaphore(max(1, self.spec.max_concurrency))
        pace = asyncio.Lock()
        next_start = [0.0]
        progress = tqdm(total=len(bodies), desc=f"{self.spec.key} {describe}")

        async def send(body: dict[str, Any]) -> dict[str, Any]:
            payload = {"endpoint": kind, "base_url": self.spec.base_url,
                       "model": self.spec.model, "body": body}  # fmt: skip
            cached = self.cache.get(payload)
            if cached is not None:
                self.usage.add(cached, cached=True)
                progress.update(1)
                return cached
            async with semaphore:
                if self._interval:
                    async with pace:
                        delay = next_start[0] - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        next_start[0] = time.monotonic() + self._interval
                began = time.perf_counter()
                try:
                    response = await self._create(client, kind, body)
                except self.openai.APIError as exc:
                    changed = fallback(body, exc) if fallback else None
                    if changed is None:
                        raise self._explain(exc) from exc
                    log.warning("%s: %s; sending it again as %s", self.spec.key, exc, changed)
                    response = await self._create(client, kind, changed)
                finally:
                    self.usage.seconds_waiting += time.perf_counter() - began
            data = response.model_dump(mode="json")
            self.cache.put(payload, data)
            self.usage.add(data, cached=False)
            progress.update(1)
            return data

        tasks = [asyncio.ensure_future(send(body)) for body in bodies]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    raise task.exception()
            return [task.result() for task in tasks]
        finally:
            progress.close()
            await client.close()

    async def _create(self, client: Any, kind: str, body: dict[str, Any]) -> Any:
        extra = {k: v for k, v in body.items() if k in _EXTRA_BODY}
        standard = {k: v for k, v in body.items() if k not in _EXTRA_BODY}
        create = client.chat.completions.create if kind == "chat" else client.completions.create
        return await create(model=self.spec.model, extra_body=extra or None, **standard)


_EXTRA_BODY = frozenset(
    {"logprob_token_ids", "return_tokens_as_token_ids", "prompt_logprobs", "skip_special_tokens"}
)
"""vLLM extensions of the OpenAI API, sent in the request's extra body."""
