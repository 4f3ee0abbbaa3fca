"""Performance benchmark: the harness's offline throughput beside vLLM called directly, side by side in one run.

    .venv/bin/python benchmarks/harness_vs_vllm.py [--profile tiny] [--model DIR] [--engine-arg K=V ...]
                                                   [--rounds 3] [--num-prompts N] [--passes P] [--json FILE]

Each round runs, in alternating order (harness first in odd rounds), (a) `bench run llm_throughput --scenario offline
--full` — the whole harness path: CLI, plan, local executor, entry point, engine layer — and (b) a plain script that
imports only vLLM and numpy, builds `vllm.LLM` with the engine arguments the harness recorded in round 1, regenerates
the same token ids (and checks their SHA-256 against the harness's), warms up the same way and times the same
generation the same number of passes. Both are fresh processes, so neither inherits the other's warm state.

Each process reports the median of its passes; the figure is the median over rounds of harness ÷ direct, printed
beside each side's spread over rounds (range and coefficient of variation) and within its processes (the largest
pass-to-pass spread). Target: ratio ≥ 0.98.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.metrics.repeats import Repeats  # noqa: E402

TARGET = 0.98

DIRECT = r'''
import json, os, sys, time, hashlib, statistics
cfg = json.loads(sys.argv[1])
os.environ.update(cfg["env"])
if __name__ == "__main__":
    import numpy as np
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    llm = LLM(**cfg["engine"])
    tok = llm.get_tokenizer()
    special = set(tok.all_special_ids)
    candidates = np.asarray([i for i in range(tok.vocab_size) if i not in special], dtype=np.int64)
    ids = np.random.default_rng(cfg["seed"]).choice(candidates, size=(cfg["num_prompts"], cfg["input_len"]))
    assert hashlib.sha256(ids.tobytes()).hexdigest() == cfg["sha256"], "token ids differ from the harness's"
    warm = np.random.default_rng(cfg["seed"] + 1).choice(candidates, size=(cfg["warmup_prompts"], cfg["input_len"]))
    sp = SamplingParams(n=1, temperature=1.0, top_p=1.0, ignore_eos=True, max_tokens=cfg["output_len"])
    if len(warm):
        llm.generate([TokensPrompt(prompt_token_ids=p) for p in warm.tolist()], sp, use_tqdm=False)
    prompts = [TokensPrompt(prompt_token_ids=p) for p in ids.tolist()]
    rates = []
    for _ in range(cfg["passes"]):
        start = time.perf_counter()
        outs = llm.generate(prompts, sp, use_tqdm=False)
        elapsed = time.perf_counter() - start
        rates.append(sum(len(o.outputs[0].token_ids) for o in outs) / elapsed)
    print("DIRECT_RESULT " + json.dumps({"output_tokens_per_s": statistics.median(rates), "passes": rates}),
          flush=True)
'''


def run_harness(args: argparse.Namespace, work: Path, index: int) -> dict:
    output = work / f"harness-{index}.json"
    cmd = [sys.executable, "-m", "bench.cli", "run", "llm_throughput", "--scenario", "offline", "--full",
           "--profile", args.profile, "--output", str(output), "--results-dir", str(work / "results")]
    if args.model:
        cmd += ["--model", args.model]
    for item in args.engine_arg or []:
        cmd += ["--engine-arg", item]
    if args.num_prompts:
        cmd += ["--num-prompts", str(args.num_prompts)]
    if args.passes:
        cmd += ["--param", f"passes={args.passes}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if not output.exists():
        sys.exit(f"harness run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return json.loads(output.read_text())


def harness_passes(result: dict) -> list[float]:
    metrics = result["metrics"]
    passes = int(metrics.get("passes", 1))
    if passes == 1:
        return [metrics["output_tokens_per_s"]]
    return [metrics[f"output_tokens_per_s_pass{i}"] for i in range(1, passes + 1)]


def run_direct(reference: dict) -> list[float]:
    config = reference["config"]
    load = config.get("engine_load", {})
    cfg = {
        "engine": config["engine"],
        "env": {k: v for k, v in load.items() if k.startswith("VLLM_")},
        "seed": config["seed"], "num_prompts": config["num_prompts"], "input_len": config["input_len"],
        "output_len": config["output_len"], "warmup_prompts": config["warmup_prompts"],
        "passes": config.get("passes", 1), "sha256": config["token_ids"]["sha256"],
    }
    proc = subprocess.run([sys.executable, "-c", DIRECT, json.dumps(cfg)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("DIRECT_RESULT "):
            return json.loads(line.removeprefix("DIRECT_RESULT "))["passes"]
    sys.exit(f"direct vLLM run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--model", help="model directory (e.g. from `bench build-model --shape llama3.1-8b DIR`)")
    parser.add_argument("--engine-arg", action="append", metavar="KEY=VALUE", help="passed to `bench run`")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-prompts", type=int, default=None, help="default: the profile's full size")
    parser.add_argument("--passes", type=int, default=None, help="timed passes per process (default: the profile's)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    rounds = []
    reference: dict | None = None
    with tempfile.TemporaryDirectory(prefix="harness-vs-vllm-") as tmp:
        work = Path(tmp)
        print(f"{'round':>5}  {'order':<16} {'harness tok/s':>14} {'direct tok/s':>13} {'ratio':>7}", flush=True)
        for index in range(1, args.rounds + 1):
            if index % 2:
                result = run_harness(args, work, index)
                reference = reference or result  # round 1's harness run records the engine arguments and ids
                harness, direct, order = harness_passes(result), run_direct(reference), "harness, direct"
            else:
                assert reference is not None
                direct = run_direct(reference)
                harness, order = harness_passes(run_harness(args, work, index)), "direct, harness"
            h, d = Repeats.of(harness), Repeats.of(direct)
            rounds.append({"round": index, "order": order, "harness": harness, "direct": direct,
                           "ratio": h.median / d.median})
            print(f"{index:>5}  {order:<16} {h.median:>14.1f} {d.median:>13.1f} {h.median / d.median:>7.3f}"
                  + (f"   passes: harness {h.describe()}, direct {d.describe()}" if h.n > 1 else ""), flush=True)
    assert reference is not None
    cfg = reference["config"]
    ratio = statistics.median(r["ratio"] for r in rounds)
    sides = {side: Repeats.of([statistics.median(r[side]) for r in rounds]) for side in ("harness", "direct")}
    within = {side: max(Repeats.of(r[side]).spread_pct for r in rounds) for side in sides}
    print(f"model {cfg['model']}  {cfg['num_prompts']} prompts × {cfg['input_len']} in / {cfg['output_len']} out, "
          f"{cfg.get('passes', 1)} timed pass(es) per process; engine {cfg['engine']}")
    for side, reps in sides.items():
        print(f"{side:>8}: {reps.describe()} output tok/s over {reps.n} processes, CV {reps.cv_pct:.1f}%; "
              f"largest spread between passes of one process {within[side]:.1f}%")
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"median ratio harness/direct = {ratio:.3f} over {len(rounds)} rounds — {verdict} the target ≥ {TARGET}")
    if args.json:
        args.json.write_text(json.dumps({"config": {k: cfg[k] for k in ("model", "num_prompts", "input_len",
                                                                        "output_len", "engine")},
                                         "rounds": rounds, "median_ratio": ratio,
                                         "environment": reference.get("environment")}, indent=2) + "\n")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
