"""Recompute a run's exact option probabilities with a plain transformers forward pass.

    python tools/recheck_option_probs.py results/ [--model DIR] [--rows N] [--json report.json]

For every generations shard under the folder (or one shard), each row's stored
``option_probs`` are recomputed from what the shard recorded: the scored prefix
(``scored_prefix_ids``), each option's label tokens (``option_token_ids``) and the label kind.
The model is loaded with ``AutoModelForCausalLM`` in float32, on the CPU, apart from
culturalign's engines: one pass over the prefix, then one over the options (batched,
right-padded, from the prefix's cache). P(option) is the chain of its label tokens'
probabilities times the end-of-label factor, the summed probability of every token that
does not extend the label (the token sets of ``culturalign.scoring.exact``, which define
the method), normalised over the options. Prints each shard's largest and median
difference; exit status 1 when a difference exceeds ``--tolerance`` (default 1e-4).
``--rows N`` rechecks the first N rows of each shard only.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


def shards(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found = sorted(path for path in root.rglob("*.parquet") if "generations" in path.parts)
    if not found:
        raise SystemExit(f"{root}: no generations shards (*.parquet under a generations/ folder)")
    return found


def model_path(shard: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    metadata = pq.read_schema(shard).metadata or {}
    entry = json.loads(metadata.get(b"culturalign.model", b"{}"))
    path = Path(entry.get("path") or "")
    # a relative path is the workflow's, relative to the checkout that holds results/
    for base in (Path.cwd(), *shard.resolve().parents):
        if path.parts and (base / path / "config.json").exists():
            return base / path
    raise SystemExit(f"{shard}: model {entry.get('path')!r} not found; pass --model DIR")


class Recheck:
    """The model, its tokenizer and the label kinds' continuation sets."""

    def __init__(self, path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from culturalign.scoring.exact import continuation_ids_for

        self.torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
        vocabulary = self.model.config.vocab_size
        self.ends = {}
        for kind in ("number", "letter"):
            extends = torch.zeros(vocabulary, dtype=torch.bool)
            extending = [i for i in continuation_ids_for(tokenizer, kind) if i < vocabulary]
            extends[extending] = True
            self.ends[kind] = ~extends

    def option_probs(self, prefix: list[int], options: list[list[int]], kind: str) -> list[float]:
        torch = self.torch
        ends = self.ends[kind]
        with torch.no_grad():
            first = self.model(torch.tensor([prefix]), use_cache=True)
            root = torch.log_softmax(first.logits[0, -1].double(), dim=-1)
            width = max(len(option) for option in options)
            ids = torch.zeros((len(options), width), dtype=torch.long)
            for row, option in enumerate(options):
                ids[row, : len(option)] = torch.tensor(option)
            cache = first.past_key_values
            cache.batch_repeat_interleave(len(options))
            rest = torch.log_softmax(
                self.model(ids, past_key_values=cache).logits.double(), dim=-1
            )  # padding follows each option's tokens, so it never reaches them
        logprobs = []
        for row, option in enumerate(options):
            total = float(root[option[0]])
            total += sum(float(rest[row, j - 1, option[j]]) for j in range(1, len(option)))
            end = float(rest[row, len(option) - 1][ends].exp().sum())
            logprobs.append(total + math.log(end) if end > 0 else -math.inf)
        top = max(logprobs)
        weights = [math.exp(value - top) for value in logprobs]
        return [weight / math.fsum(weights) for weight in weights]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    found = shards(args.results)
    recheck = Recheck(model_path(found[0], args.model))
    report = {}
    for shard in found:
        frame = pd.read_parquet(shard)
        frame = frame[frame["option_probs"].map(lambda value: value is not None and len(value) > 0)]
        if args.rows:
            frame = frame.head(args.rows)
        differences = []
        for row in frame.itertuples():
            options = [[int(i) for i in ids] for ids in row.option_token_ids]
            ours = recheck.option_probs([int(i) for i in row.scored_prefix_ids], options,
                                        row.label_kind)  # fmt: skip
            stored = [float(entry["prob"]) for entry in row.option_probs]
            differences.append(max(abs(a - b) for a, b in zip(ours, stored, strict=True)))
        name = str(shard.relative_to(args.results) if args.results.is_dir() else shard)
        if not differences:
            continue
        report[name] = {
            "rows": len(differences),
            "max_abs_difference": max(differences),
            "median_abs_difference": statistics.median(differences),
        }
        print(f"{name}: {len(differences)} rows, largest difference {max(differences):.2e}, "
              f"median {statistics.median(differences):.1e}", flush=True)  # fmt: skip
    largest = max((entry["max_abs_difference"] for entry in report.values()), default=0.0)
    print(f"largest difference over {sum(e['rows'] for e in report.values())} rows: {largest:.2e}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    sys.exit(1 if largest > args.tolerance else 0)


if __name__ == "__main__":
    main()
