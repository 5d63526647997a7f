"""Reference generation loops for the speed comparison (bench/bench_generation.py).

(a) ``authors_style``: what the MENAValues authors' code does: one transformers ``generate``
    call per prompt (15 new tokens), the first generated position's softmax read for the
    options' token ids, which are found by decoding the first 1000 vocabulary ids.
(b) ``hf_batched``: the same, batched (left padding), as a fair transformers baseline.

Both read only the first token of every option, so multi-token options (10..36) get wrong
probabilities; they are here for timing, not for results.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class LoopResult:
    seconds: float
    n_prompts: int
    responses: list[str]

    @property
    def prompts_per_second(self) -> float:
        return self.n_prompts / self.seconds


def _option_ids_from_vocab(tokenizer, scale_max: int) -> dict[int, int]:
    """Option -> token id, found by decoding the first 1000 ids (as the authors' code does)."""
    found: dict[int, int] = {}
    for token_id in range(min(1000, len(tokenizer))):
        text = tokenizer.decode([token_id]).strip()
        if text.isdigit() and 1 <= int(text) <= scale_max and int(text) not in found:
            found[int(text)] = token_id
    return found


def _chat_ids(tokenizer, prompt: str) -> list[int]:
    # The same token ids the workflow's generate step sends to its engine.
    from culturalign.generation.cell import chat_prompt_ids

    return chat_prompt_ids(tokenizer, prompt)


def authors_style(
    model, tokenizer, prompts: Sequence[str], scale_maxes: Sequence[int], max_new_tokens: int = 15
) -> LoopResult:
    """One ``generate`` per prompt, first-position softmax over first-token option ids."""
    responses = []
    start = time.perf_counter()
    for prompt, scale_max in zip(prompts, scale_maxes, strict=True):
        ids = torch.tensor([_chat_ids(tokenizer, prompt)])
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        probs = torch.softmax(out.scores[0][0].float(), dim=-1)
        option_ids = _option_ids_from_vocab(tokenizer, scale_max)
        _ = {option: probs[token_id].item() for option, token_id in option_ids.items()}
        responses.append(
            tokenizer.decode(out.sequences[0, ids.shape[1] :], skip_special_tokens=True)
        )
    return LoopResult(time.perf_counter() - start, len(prompts), responses)


def hf_batched(
    model,
    tokenizer,
    prompts: Sequence[str],
    scale_maxes: Sequence[int],
    max_new_tokens: int = 15,
    batch_size: int = 32,
) -> LoopResult:
    """Batched ``generate`` with left padding; same first-position read-out."""
    tokenizer.padding_side = "left"
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    option_ids = _option_ids_from_vocab(tokenizer, max(scale_maxes))
    responses: list[str] = []
    start = time.perf_counter()
    for first in range(0, len(prompts), batch_size):
        chunk = [_chat_ids(tokenizer, p) for p in prompts[first : first + batch_size]]
        width = max(map(len, chunk))
        ids = torch.tensor([[pad_id] * (width - len(c)) + c for c in chunk])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=pad_id,
            )
        probs = torch.softmax(out.scores[0].float(), dim=-1)
        _ = probs[:, list(option_ids.values())]
        responses.extend(
            tokenizer.decode(row[width:], skip_special_tokens=True) for row in out.sequences
        )
    return LoopResult(time.perf_counter() - start, len(prompts), responses)
