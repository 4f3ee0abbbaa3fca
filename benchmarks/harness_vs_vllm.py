"""Performance benchmark: the harness's offline throughput beside vLLM called directly, side by side in one run.

    .venv/bin/python benchmarks/harness_vs_vllm.py [--profile tiny] [--rounds 3] [--num-prompts N]

Each round runs, in alternating order, (a) `bench run llm_throughput --scenario offline --full` — the whole harness
path: CLI, plan, local executor, entry point, engine layer — and (b) a plain script that imports only vLLM and numpy,
builds `vllm.LLM` with the engine arguments the harness recorded, regenerates the same token ids (and checks their
SHA-256 against the harness's), warms up the same way and times one `generate` call. Both are fresh processes, so
neither inherits the other's warm state. Prints both throughputs per round, the median ratio harness/direct, and
the target (≥ 0.98).
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
TARGET = 0.98

DIRECT = r'''
import json, os, sys, time, hashlib
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
    start = time.perf_counter()
    outs = llm.generate(prompts, sp, use_tqdm=False)
    elapsed = time.perf_counter() - start
    n = sum(len(o.outputs[0].token_ids) for o in outs)
    print("DIRECT_RESULT " + json.dumps({"output_tokens_per_s": n / elapsed, "output_tokens": n}), flush=True)
'''


def run_harness(args: argparse.Namespace, work: Path, index: int) -> dict:
    output = work / f"harness-{index}.json"
    cmd = [str(Path(sys.executable).with_name("bench")), "run", "llm_throughput", "--scenario", "offline", "--full",
           "--profile", args.profile, "--output", str(output), "--results-dir", str(work / "results")]
    if args.num_prompts:
        cmd += ["--num-prompts", str(args.num_prompts)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if not output.exists():
        sys.exit(f"harness run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return json.loads(output.read_text())


def run_direct(result: dict) -> float:
    config = result["config"]
    load = config.get("engine_load", {})
    cfg = {
        "engine": config["engine"],
        "env": {k: v for k, v in load.items() if k.startswith("VLLM_")},
        "seed": config["seed"], "num_prompts": config["num_prompts"], "input_len": config["input_len"],
        "output_len": config["output_len"], "warmup_prompts": config["warmup_prompts"],
        "sha256": config["token_ids"]["sha256"],
    }
    proc = subprocess.run([sys.executable, "-c", DIRECT, json.dumps(cfg)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("DIRECT_RESULT "):
            return json.loads(line.removeprefix("DIRECT_RESULT "))["output_tokens_per_s"]
    sys.exit(f"direct vLLM run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-prompts", type=int, default=None, help="default: the profile's full size")
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory(prefix="harness-vs-vllm-") as tmp:
        work = Path(tmp)
        reference = run_harness(args, work, 0)  # also records the engine arguments and token-id hash
        cfg = reference["config"]
        print(f"model {cfg['model']}  {cfg['num_prompts']} prompts × {cfg['input_len']} in / {cfg['output_len']} out"
              f"  engine {cfg['engine']}", flush=True)
        print(f"{'round':>5}  {'order':<16} {'harness tok/s':>14} {'direct tok/s':>13} {'ratio':>7}", flush=True)
        for index in range(1, args.rounds + 1):
            if index % 2:
                harness = run_harness(args, work, index)["metrics"]["output_tokens_per_s"]
                direct = run_direct(reference)
                order = "harness, direct"
            else:
                direct = run_direct(reference)
                harness = run_harness(args, work, index)["metrics"]["output_tokens_per_s"]
                order = "direct, harness"
            ratios.append(harness / direct)
            print(f"{index:>5}  {order:<16} {harness:>14.1f} {direct:>13.1f} {ratios[-1]:>7.3f}", flush=True)
    median = statistics.median(ratios)
    verdict = "meets" if median >= TARGET else "MISSES"
    print(f"median ratio harness/direct = {median:.3f} over {len(ratios)} rounds — {verdict} the target ≥ {TARGET}")
    return 0 if median >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
