"""Run one cell: prompts table -> engine -> shard rows + provenance metadata.

Entry point: :func:`run_cell` (an engine from :func:`culturalign.engines.load_engine` and a
prompts table as the build_prompts rule writes it). Steps:

1. render every prompt with the model's chat template (generation prompt added) to token
   ids, identical for every engine;
2. one batched greedy ``generate`` call for the whole cell (top-k logprobs kept for the first
   positions);
3. exact option distributions (:mod:`culturalign.scoring`). ``zero`` cells score the options
   right after the chat template's generation prompt (``answer_position = 'start'``);
   ``cot`` cells after prompt + generated reasoning (stop token removed) + a newline, the
   answer cue and a space (``answer_position = 'after_cue'``);
4. answer parsing and refusal detection on the generated text
   (:mod:`culturalign.parsing`).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign import parsing
from culturalign.engines.base import Engine, GenerationRequest, strip_stop_tokens
from culturalign.errors import ConfigError
from culturalign.prompts import PROMPT_COLUMNS
from culturalign.scoring import (
    END_FACTOR_DEFINITION,
    ScoringItem,
    continuation_token_ids,
    option_token_ids,
    score_with_engine,
)

log = logging.getLogger(__name__)


SHARD_COLUMNS = (
    "question_id",
    "country",
    "prompt_language",
    "prompt",
    "response",
    "answer",
    "refusal",
    "option_probs",
    "scored_prefix_ids",
    "option_token_ids",
    "top_logprobs",
    "n_prompt_tokens",
    "n_output_tokens",
    "answer_position",
    "finish_reason",
)


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


def git_commit(directory: str | Path = ".") -> str | None:
    """The project's git commit (``+dirty`` when the tree has changes), or None."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def check_prompts(prompts: pd.DataFrame, where: str) -> None:
    """Raise naming the table when a column run_cell needs is missing."""
    missing = [column for column in PROMPT_COLUMNS if column not in prompts.columns]
    if missing:
        raise ConfigError(f"{where}: missing column(s) {', '.join(missing)}")


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
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Generate and score every prompt of one cell; returns ``(shard frame, metadata)``.

    ``reasoning`` is ``zero`` or ``cot`` (where the options are scored, see the module
    docstring). The metadata holds sampling parameters, the scoring method and timings
    (``generation_seconds``, ``scoring_seconds``, ``prompts_per_second``); the caller adds
    model, engine and prompt provenance (:func:`shard_metadata`).
    """
    if reasoning not in ("zero", "cot"):
        raise ConfigError(f"reasoning must be zero or cot, got {reasoning!r}")
    check_prompts(prompts, where)
    prompts = prompts.reset_index(drop=True)
    tokenizer = engine.tokenizer
    template = engine.spec.chat_template_text()
    prompt_ids = [chat_prompt_ids(tokenizer, text, template) for text in prompts["prompt"]]
    too_long = [
        index
        for index, ids in enumerate(prompt_ids)
        if engine.spec.max_model_len and len(ids) + max_tokens + 8 > engine.spec.max_model_len
    ]
    if too_long:
        first = prompts.iloc[too_long[0]]
        raise ConfigError(
            f"{where}: {len(too_long)} prompt(s) exceed models.{engine.spec.key}.max_model_len "
            f"({engine.spec.max_model_len}) with max_tokens {max_tokens}, e.g. "
            f"{first['question_id']} / {first['country']}"
        )

    started = time.perf_counter()
    generated = engine.generate(
        [GenerationRequest(tuple(ids), max_tokens) for ids in prompt_ids],
        logprobs=logprobs,
        logprob_positions=logprob_positions,
        seed=seed,
    )
    generation_seconds = time.perf_counter() - started

    stops = stop_token_ids(tokenizer)
    continuation = continuation_token_ids(tokenizer)
    items: list[ScoringItem] = []
    positions: list[str] = []
    option_cache: dict[tuple[str, int, int], tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]]
    option_cache = {}

    def options_after(anchor: str, low: int, high: int):
        key = (anchor, low, high)
        if key not in option_cache:
            option_cache[key] = option_token_ids(tokenizer, range(low, high + 1), anchor)
        return option_cache[key]

    for row, ids, result in zip(
        prompts.itertuples(index=False), prompt_ids, generated, strict=True
    ):
        low, high = int(row.scale_min), int(row.scale_max)
        if reasoning == "zero":
            anchor = tokenizer.decode(ids[-1:])
            anchor_ids, option_ids = options_after(anchor, low, high)
            if list(anchor_ids) == ids[-1:]:
                prefix = tuple(ids)
            else:  # the template's last token does not re-tokenise alone: options as-is
                _, option_ids = options_after("", low, high)
                prefix = tuple(ids)
            positions.append("start")
        else:
            reasoning_ids = strip_stop_tokens(result.token_ids, stops)
            anchor_ids, option_ids = options_after(cue_text(result.text, row.answer_cue), low, high)
            prefix = tuple(ids) + reasoning_ids + anchor_ids
            positions.append("after_cue")
        items.append(ScoringItem(prefix, option_ids))

    started = time.perf_counter()
    distributions = score_with_engine(engine, items, continuation)
    scoring_seconds = time.perf_counter() - started

    records = []
    for row, ids, result, item, probs, position in zip(
        prompts.itertuples(index=False),
        prompt_ids,
        generated,
        items,
        distributions,
        positions,
        strict=True,
    ):
        low, high = int(row.scale_min), int(row.scale_max)
        cue = row.answer_cue if reasoning == "cot" else None
        answer = parsing.parse_answer(result.text, low, high, cue, reasoning=reasoning)
        records.append(
            {
                "question_id": row.question_id,
                "country": None if pd.isna(row.country) else row.country,
                "prompt_language": row.prompt_language,
                "prompt": row.prompt,
                "response": result.text,
                "answer": answer,
                "refusal": bool(parsing.is_refusal(result.text, answer)),
                "option_probs": [
                    {"option": option, "prob": float(prob)}
                    for option, prob in zip(range(low, high + 1), probs, strict=True)
                ],
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
                "answer_position": position,
                "finish_reason": result.finish_reason,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(SHARD_COLUMNS))
    frame["answer"] = frame["answer"].astype("Int64")
    # a string column even when every value is missing (neutral cells), as in the prompts table
    frame["country"] = frame["country"].astype("string")
    busy = generation_seconds + scoring_seconds
    metadata = {
        "sampling": {
            "temperature": 0.0,
            "greedy": True,
            "max_tokens": max_tokens,
            "logprobs": logprobs,
            "logprob_positions": logprob_positions,
            "seed": seed,
        },
        "answer_position": "start" if reasoning == "zero" else "after_cue",
        "answer_position_rule": (
            "zero: options scored right after the chat template's generation prompt"
            if reasoning == "zero"
            else "cot: options scored after prompt + generated reasoning (stop token removed)"
            " + newline + answer_cue + ' '"
        ),
        "scoring_method": END_FACTOR_DEFINITION,
        "continuation_token_count": len(continuation),
        "n_prompts": len(frame),
        "n_score_requests_hint": "one next-token request per node of each option-prefix tree",
        "generation_seconds": round(generation_seconds, 3),
        "scoring_seconds": round(scoring_seconds, 3),
        "prompts_per_second": round(len(frame) / busy, 3) if busy > 0 else None,
    }
    return frame, metadata


def shard_metadata(
    engine: Engine,
    cell: Mapping[str, str],
    prompts_metadata: Mapping[str, Any],
    run_metadata: Mapping[str, Any],
    project_dir: str | Path = ".",
) -> dict[str, Any]:
    """Everything a shard records about its provenance (DESIGN.md: shard metadata)."""
    from culturalign.models import model_revision

    spec = engine.spec
    return {
        "cell": dict(cell),
        "model": {
            "key": spec.key,
            "path": spec.path,
            "revision": model_revision(spec.path, spec.revision),
            "dtype": spec.dtype,
            "device": spec.device,
            "chat_template": spec.chat_template,
        },
        "engine": {
            "name": engine.name,
            "version": engine.version,
            "options": engine.effective_options(),
        },
        "template_hash": prompts_metadata.get("template_hash"),
        "git_commit": git_commit(project_dir),
        "startup_seconds": round(engine.startup_seconds, 3),
        **run_metadata,
    }
