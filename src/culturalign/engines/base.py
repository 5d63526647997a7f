"""The interface every engine implements, and pure helpers for engine output.

An engine does three things over a *list* of requests (so that it can batch):

- ``generate``: greedy continuation of token-id prompts, with the top-k logprobs of the
  first generated positions;
- ``next_token_logprobs``: for token-id prompts, the log-probabilities of given candidate
  token ids at the next position (one forward step, nothing sampled that matters);
- ``next_token_mass``: for token-id prompts, the log of the total probability of a token set
  (or of its complement) at the next position;
- optionally ``tree_logprobs``: both of the above at every node of a prompt's tree of
  continuations at once (one forward pass over the prompt and the tree's tokens, with an
  attention mask that lets each tree token see the prompt and its own ancestors only).

Everything above that (chat templating, exact option scoring, shards) is engine-agnostic and
lives in :mod:`culturalign.scoring.exact` and :mod:`culturalign.generation.cell`. Engines are
found by name through :mod:`culturalign.engines.registry`; this module imports none of them.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from culturalign.errors import ConfigError, CulturalignError


class EngineError(CulturalignError):
    """An engine returned something unusable (e.g. a requested logprob is missing)."""


def common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    """How many leading tokens two token sequences have in common."""
    shared = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        shared += 1
    return shared


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity: a SLURM job's, a pinned test
    worker's), else every CPU."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def cpu_threads(threads: int) -> int:
    """``threads``, but no more than the CPUs this process may use: an OpenMP thread more
    than there are cores to run it spins against the others."""
    return max(1, min(threads, len(usable_cpus())))


@dataclass(frozen=True)
class ModelSpec:
    """One entry of config ``models:`` (already validated by the config schema)."""

    key: str
    path: str
    revision: str | None = None
    engine: str = "vllm"
    device: str = "cpu"
    dtype: str = "auto"
    max_model_len: int | None = None
    chat_template: str | None = None
    tensor_parallel_size: int = 1
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    build: str | None = None
    # API engines (openai, vllm-server)
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    timeout: float = 120.0
    max_retries: int = 5
    price_per_million_input: float | None = None
    price_per_million_output: float | None = None

    @classmethod
    def from_config(cls, key: str, entry: Mapping[str, Any]) -> ModelSpec:
        """Build from ``config["models"][key]``."""
        return cls(
            key=key,
            path=str(entry.get("path") or ""),
            revision=entry.get("revision"),
            engine=entry.get("engine", "vllm"),
            device=entry.get("device", "cpu"),
            dtype=entry.get("dtype", "auto"),
            max_model_len=entry.get("max_model_len"),
            chat_template=entry.get("chat_template"),
            tensor_parallel_size=int(entry.get("tensor_parallel_size", 1)),
            engine_options=dict(entry.get("engine_options") or {}),
            build=entry.get("build"),
            model=entry.get("model"),
            base_url=entry.get("base_url"),
            api_key_env=entry.get("api_key_env"),
            max_concurrency=int(entry.get("max_concurrency", 8)),
            requests_per_minute=entry.get("requests_per_minute"),
            timeout=float(entry.get("timeout", 120.0)),
            max_retries=int(entry.get("max_retries", 5)),
            price_per_million_input=entry.get("price_per_million_input"),
            price_per_million_output=entry.get("price_per_million_output"),
        )

    def chat_template_text(self) -> str | None:
        """The override chat template's text (config ``models.<key>.chat_template``), if any."""
        if not self.chat_template:
            return None
        path = Path(self.chat_template)
        if not path.is_file():
            raise ConfigError(f"models.{self.key}.chat_template: no such file {self.chat_template}")
        return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class GenerationRequest:
    """Generation from a token-id prompt: greedy, or sampled when ``temperature`` > 0 (from
    the full distribution, no top-k or top-p cut, with ``seed``; None = the call's seed).

    ``candidate_ids`` / ``candidate_positions``: optionally, token ids whose logprobs at the
    first ``candidate_positions`` generated positions the caller would like back in
    :attr:`GenerationResult.position_logprobs` (exact option scoring reads the option tree's
    nodes on the greedy path there instead of sending scoring requests). An engine may return
    all, some or none of them; the caller asks for whatever is missing.
    """

    prompt_ids: tuple[int, ...]
    max_tokens: int
    candidate_ids: tuple[int, ...] = ()
    candidate_positions: int = 0
    temperature: float = 0.0
    seed: int | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """One of the top-k tokens at a generated position."""

    token_id: int
    token: str
    logprob: float


@dataclass(frozen=True)
class GenerationResult:
    """What ``generate`` returns per request.

    ``token_ids`` are the generated ids as the engine returns them (a final end-of-sequence
    token included when generation stopped on it); ``top_logprobs`` holds, for each of the
    first generated positions, the top-k tokens sorted by decreasing logprob.
    ``position_logprobs`` holds, for each of the request's first ``candidate_positions``
    positions, the exact logprobs of those of its ``candidate_ids`` the engine returned
    (``{id: logprob}``; empty when the engine returns none).
    """

    token_ids: tuple[int, ...]
    text: str
    finish_reason: str
    top_logprobs: tuple[tuple[TokenLogprob, ...], ...]
    position_logprobs: tuple[Mapping[int, float], ...] = ()


@dataclass(frozen=True)
class ScoreRequest:
    """Next-token log-probabilities of ``candidate_ids`` after ``prompt_ids``."""

    prompt_ids: tuple[int, ...]
    candidate_ids: tuple[int, ...]


@dataclass(frozen=True)
class MassRequest:
    """log of the summed next-token probability of ``token_ids`` after ``prompt_ids``
    (of every *other* token when ``complement``)."""

    prompt_ids: tuple[int, ...]
    token_ids: frozenset[int]
    complement: bool = False


@dataclass(frozen=True)
class TreeRequest:
    """Next-token log-probabilities at every node of one prompt's tree of continuations.

    A node is a tuple of token ids after ``prompt_ids`` (``()``: the prompt itself).
    ``candidates``: node -> ids whose log-probabilities are wanted there; ``masses``: node ->
    ``(token ids, complement)``, the log of their summed probability there (of every other
    token when ``complement``). Every proper prefix of a node is a node of the tree."""

    prompt_ids: tuple[int, ...]
    candidates: Mapping[tuple[int, ...], tuple[int, ...]]
    masses: Mapping[tuple[int, ...], tuple[frozenset[int], bool]] = field(default_factory=dict)

    def tree_tokens(self) -> list[tuple[int, ...]]:
        """The non-root nodes, each one token after its parent, parents first."""
        nodes = set()
        for node in (*self.candidates, *self.masses):
            nodes.update(node[:depth] for depth in range(1, len(node) + 1))
        return sorted(nodes, key=lambda node: (len(node), node))


@dataclass(frozen=True)
class TreeResult:
    """What :class:`TreeRequest` asked for: ``logprobs`` node -> {id: logprob} and
    ``masses`` node -> log of the summed probability."""

    logprobs: dict[tuple[int, ...], dict[int, float]]
    masses: dict[tuple[int, ...], float]


class BaseEngine(ABC):
    """What every engine has: its model spec, name, version and usage."""

    #: Engine name as recorded in shard metadata (``vllm`` | ``hf`` | ``openai`` | ...).
    name: str = ""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.startup_seconds: float = 0.0
        self.tokenizer: Any = None

    @property
    @abstractmethod
    def version(self) -> str:
        """The engine library's version."""

    def effective_options(self) -> dict[str, Any]:
        """The engine arguments actually used (recorded in shard metadata)."""
        return {}

    def usage(self) -> dict[str, Any]:
        """Requests, tokens, cache hits and cost of this engine's calls (API engines)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model (optional)."""


class Engine(BaseEngine):
    """A model behind token ids: greedy generation and exact next-token logprobs."""

    #: Largest number of candidate ids one ``ScoreRequest`` may carry (None: unlimited).
    max_candidates: int | None = None

    def prefix_cache_tokens(self) -> int | None:
        """Tokens the engine's prefix cache holds at once (None: no such limit to plan for).

        Scoring requests reuse their prompt's keys and values from this cache; a cell whose
        prompts outgrow it is generated and scored in waves that fit
        (:func:`culturalign.generation.cell.cache_waves`)."""
        return None

    def clear_prefix_cache(self) -> None:  # noqa: B027 - only engines with such a cache
        """Forget every cached prompt prefix, as a freshly started engine has none.

        A job of several cells (``generation.jobs: model``) calls this between cells: keys and
        values served from an earlier cell's prompts were computed in another forward pass
        and round differently in float32 (up to 2.9e-6 on the default configuration's cot
        cells, ``bench/results/cross_cell_cpu.json``), so without it a shard would depend on
        which cells ran before it in the same job."""

    @abstractmethod
    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        logprobs: int,
        logprob_positions: int,
        seed: int,
    ) -> list[GenerationResult]:
        """Greedy generation for all requests in one batched call (with a progress bar)."""

    @abstractmethod
    def next_token_logprobs(self, requests: Sequence[ScoreRequest]) -> list[dict[int, float]]:
        """For each request, ``{candidate id: log P(candidate | prompt)}`` (natural log)."""

    def next_token_mass(self, requests: Sequence[MassRequest]) -> list[float]:
        """For each request, ``log sum P(t | prompt)`` over its token set (or complement)."""
        raise EngineError(f"engine {self.name!r} cannot sum next-token probabilities")


@dataclass(frozen=True)
class ChatRequest:
    """One user message to a chat endpoint, answered greedily, or sampled when
    ``temperature`` > 0 (with ``seed``; None = the call's seed)."""

    prompt: str
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None


@dataclass(frozen=True)
class Position:
    """One generated position of a chat answer: the token, its logprob and the top-k
    alternatives (token text, logprob)."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ChatResult:
    """A chat endpoint's answer: the text, and per generated position the token with its
    top-k alternatives (``positions`` is None when the endpoint returns no logprobs)."""

    text: str
    finish_reason: str
    positions: tuple[Position, ...] | None
    n_prompt_tokens: int | None
    n_output_tokens: int | None


class ChatEngine(BaseEngine):
    """A model behind a chat API: text in, text and top-k logprobs out (no token ids)."""

    @abstractmethod
    def chat(
        self, requests: Sequence[ChatRequest], *, logprobs: int, seed: int
    ) -> list[ChatResult]:
        """Answer every request (concurrently, with its own progress bar)."""


# --- pure helpers for engine output ---------------------------------------------------------


def top_logprobs_from_positions(
    positions: Iterable[Mapping[int, Any]] | None,
    k: int,
    n_positions: int,
    token_text: Callable[[int], str] | None = None,
) -> tuple[tuple[TokenLogprob, ...], ...]:
    """Normalise per-position logprob maps into sorted top-k ``TokenLogprob`` tuples.

    ``positions`` is what vLLM returns in ``CompletionOutput.logprobs``: one mapping per
    generated position from token id to an object with ``logprob`` and ``decoded_token``
    attributes (or a plain float). Only the first ``n_positions`` positions and the ``k``
    most likely tokens of each are kept (vLLM adds the sampled token when it is not in the
    top k; greedy decoding never needs that). ``token_text`` names a kept token whose
    ``decoded_token`` is missing (vLLM without detokenisation).
    """
    if positions is None or k <= 0:
        return ()
    kept: list[tuple[TokenLogprob, ...]] = []
    for index, position in enumerate(positions):
        if index >= n_positions:
            break
        ranked = sorted(
            ((int(token_id), value) for token_id, value in position.items()),
            key=lambda item: (-float(getattr(item[1], "logprob", item[1])), item[0]),
        )[:k]
        entries = []
        for token_id, value in ranked:
            token = getattr(value, "decoded_token", None)
            if token is None:
                token = token_text(token_id) if token_text is not None else ""
            entries.append(TokenLogprob(token_id, token, float(getattr(value, "logprob", value))))
        kept.append(tuple(entries))
    return tuple(kept)


def candidate_logprobs(
    position: Mapping[int, Any], candidate_ids: Iterable[int]
) -> dict[int, float]:
    """Pick the requested candidates' logprobs out of one position's logprob map.

    Raises :class:`EngineError` naming the ids the engine did not return, and on NaN.
    """
    result: dict[int, float] = {}
    missing = []
    for token_id in candidate_ids:
        value = position.get(token_id)
        if value is None:
            missing.append(token_id)
            continue
        logprob = float(getattr(value, "logprob", value))
        if math.isnan(logprob):
            raise EngineError(f"engine returned NaN logprob for token id {token_id}")
        result[token_id] = logprob
    if missing:
        raise EngineError(f"engine did not return logprobs for token id(s) {missing}")
    return result


def log_mass(token_ids: Sequence[int], logprobs: Sequence[float], request: MassRequest) -> float:
    """log of the summed probability of the request's set over a full next-token
    distribution given as parallel ``token_ids`` / ``logprobs`` (natural log).

    A token listed twice counts once (vLLM lists the sampled token a second time).
    """
    import numpy as np

    ids = np.asarray(token_ids, dtype=np.int64)
    values = np.asarray(logprobs, dtype=np.float64)
    ids, first = np.unique(ids, return_index=True)
    values = values[first]
    members = np.fromiter(request.token_ids, dtype=np.int64, count=len(request.token_ids))
    inside = np.isin(ids, members)
    chosen = values[~inside] if request.complement else values[inside]
    if chosen.size == 0:
        return -math.inf
    top = float(chosen.max())
    if top == -math.inf:
        return -math.inf
    return top + math.log(float(np.exp(chosen - top).sum()))


def strip_stop_tokens(token_ids: Sequence[int], stop_ids: Iterable[int]) -> tuple[int, ...]:
    """Drop trailing end-of-sequence / stop ids from generated ids."""
    stops = set(stop_ids)
    end = len(token_ids)
    while end and token_ids[end - 1] in stops:
        end -= 1
    return tuple(token_ids[:end])
