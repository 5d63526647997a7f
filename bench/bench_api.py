"""Time an API cell against a local vLLM server (requests/s, share of time waiting).

Starts ``vllm serve`` on the CPU with the demo model (tests/vllm_server.py), then runs the
same English persona zero-shot prompts through the two API engines, each with an empty
request cache: ``openai`` (chat completions, top-20 logprobs) and ``vllm-server`` (exact
scoring over HTTP: generation plus one request per option-tree node), at several
``max_concurrency`` settings; and once more with the cache full (no request sent). Writes
``bench/results/api_cpu.json``::

    python bench/bench_api.py --out bench/results/api_cpu.json

Needs the demo model (``snakemake --cores all resources/models/smollm2-135m``) and the
benchmark tables (``results/menavalues/benchmark/``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).parent))


def run_cell(engine_name: str, base_url: str, model_dir: Path, prompts, concurrency: int,
             cache_dir: Path) -> dict:  # fmt: skip
    from culturalign.engines import ModelSpec, load_engine
    from culturalign.generation.cell import run_cell as run

    spec = ModelSpec.from_config(
        f"bench-{engine_name}",
        {"engine": engine_name, "model": "demo", "base_url": base_url, "path": str(model_dir),
         "dtype": "float32", "max_model_len": 2048, "max_concurrency": concurrency},
    )  # fmt: skip
    engine = load_engine(spec, cache_dir=cache_dir)
    started = time.perf_counter()
    frame, _ = run(engine, prompts, reasoning="zero", max_tokens=8, logprobs=20)
    seconds = time.perf_counter() - started
    usage = engine.usage()
    engine.close()
    requests = usage["requests_sent"] + usage["cache_hits"]
    return {
        "engine": engine_name,
        "max_concurrency": concurrency,
        "prompts": len(frame),
        "requests": requests,
        "requests_sent": usage["requests_sent"],
        "cache_hits": usage["cache_hits"],
        "seconds": round(seconds, 2),
        "requests_per_second": round(requests / seconds, 2) if seconds else None,
        "prompts_per_second": round(len(frame) / seconds, 2) if seconds else None,
        # summed request latencies / (wall time x concurrency): how much of the available
        # request slots was spent waiting for the server
        "share_waiting": round(usage["seconds_waiting"] / (seconds * concurrency), 3)
        if seconds and usage["requests_sent"]
        else 0.0,
        "option_probs_sources": frame["option_probs_source"].value_counts().to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "resources/models/smollm2-135m")
    parser.add_argument("--n-prompts", type=int, default=64)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/api_cpu.json")
    args = parser.parse_args()

    from bench_generation import bench_prompts
    from vllm_server import serve

    prompts = bench_prompts(
        args.n_prompts,
        REPO / "results/menavalues/benchmark/questions.parquet",
        REPO / "results/menavalues/benchmark/human.parquet",
    )
    runs = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        serve(args.model, Path(scratch) / "server.log") as base_url,
    ):
        for engine in ("openai", "vllm-server"):
            for concurrency in args.concurrency:
                cache = Path(scratch) / f"cache-{engine}-{concurrency}"
                runs.append(run_cell(engine, base_url, args.model, prompts, concurrency, cache))
                print(json.dumps(runs[-1]), flush=True)
            cached = run_cell(engine, base_url, args.model, prompts, args.concurrency[-1], cache)
            runs.append({**cached, "note": "the same cell again: every answer from the cache"})
            print(json.dumps(runs[-1]), flush=True)
    result = {
        "what": "one English persona zero-shot cell of the demo model through a local vLLM "
        "server on this machine's CPU (2 cores shared by server and client)",
        "model": str(args.model.name),
        "platform": platform.platform(),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
