"""Check `--engine-arg` keys and values with vLLM's own rules before anything runs.

    python -m bench.engines.vllm_args '{"tensor_parallel_size": 2, "enforce_eager": true}'

prints one JSON line `{"version": ..., "errors": [{"key": ..., "reason": ...}]}`. The caller (`check_engine_args`)
runs it as a subprocess, so the `bench` process never imports vLLM (that takes seconds and a lot of memory).

The checks are vLLM's: a key must be a keyword of `vllm.LLM` or a field of `EngineArgs` (which `LLM` passes its other
keywords to; vLLM's TypeError is the reason), and a value must pass vLLM's command-line parser for that argument
(`EngineArgs.add_cli_args`: types, choices, JSON configs). What only the model can tell (a quantization method the
checkpoint does not have, a tensor-parallel size the GPUs cannot hold) is vLLM's to say when the engine starts; the
workload then fails with vLLM's message.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.engines.vllm_offline import vllm_distribution
from bench.errors import ConfigError

RESULT_PREFIX = "ENGINE_ARGS_CHECK "
# keys the harness owns: the model comes from --model, the rest would break what a workload measures
RESERVED = {"model": "pass the model with --model", "skip_tokenizer_init": "the workloads need the tokenizer"}


def check_engine_args(engine_args: dict[str, Any], python: str | None = None, timeout_s: float = 300) -> str | None:
    """Raise ConfigError naming the first key vLLM rejects, with vLLM's reason. Returns a note when vLLM is not
    installed here (the pod's vLLM will judge them), else None."""
    for key, why in RESERVED.items():
        if key in engine_args:
            raise ConfigError(f"--engine-arg {key}: not allowed ({why})")
    if not engine_args:
        return None
    found = vllm_distribution()
    if found is None:
        return "vLLM is not installed here: engine arguments are checked by the workload's vLLM when it starts"
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run([python or sys.executable, "-m", "bench.engines.vllm_args", json.dumps(engine_args)],
                              capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return f"checking the engine arguments with vLLM took over {timeout_s:.0f} s; skipped"
    verdict = next((json.loads(line[len(RESULT_PREFIX):]) for line in proc.stdout.splitlines()
                    if line.startswith(RESULT_PREFIX)), None)
    if verdict is None:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"could not check the engine arguments with vLLM ({last}); the workload's vLLM will"
    for error in verdict["errors"]:
        key = error["key"]
        shown = f"{key}={_text(engine_args[key])}"
        raise ConfigError(f"--engine-arg {shown}: vLLM {verdict['version']} rejects it: {error['reason']}")
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# ---- the vLLM side (runs in the subprocess) ----------------------------------------------------------------------


def _vllm_errors(engine_args: dict[str, Any]) -> list[dict[str, str]]:
    import dataclasses
    import inspect

    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:  # older vLLM releases
        from vllm.utils import FlexibleArgumentParser  # type: ignore[no-redef,attr-defined]

    llm_keywords = {n for n, p in inspect.signature(LLM.__init__).parameters.items()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY}
    fields = {f.name for f in dataclasses.fields(EngineArgs)}
    parser = EngineArgs.add_cli_args(FlexibleArgumentParser(prog="vllm"))
    actions = {a.dest: a for a in parser._actions}
    errors = []
    for key, value in engine_args.items():
        if key not in llm_keywords | fields:
            try:
                EngineArgs(model="model", **{key: value})
                reason = f"{key} is not an argument of vllm.LLM"
            except TypeError as exc:
                reason = str(exc)
            close = difflib.get_close_matches(key, sorted(llm_keywords | fields), n=3)
            errors.append({"key": key, "reason": reason + (f" (did you mean {', '.join(close)}?)" if close else "")})
            continue
        action = actions.get(key)
        if action is None:  # a keyword of LLM only (chat_template, logits_processors): no parser rule to apply
            continue
        reason = _parser_reason(parser, action, value)
        if reason:
            errors.append({"key": key, "reason": reason})
    return errors


def _parser_reason(parser: Any, action: Any, value: Any) -> str | None:
    """What vLLM's command-line parser says about `--<key> <value>` (None: it accepts it)."""
    option = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
    if action.nargs == 0 or type(action).__name__ == "BooleanOptionalAction":
        if not isinstance(value, bool):
            return f"{option} is a flag: give true or false, not {value!r}"
        if type(action).__name__ == "BooleanOptionalAction":
            argv = [option if value else "--no-" + option[2:]]
        elif value:
            argv = [option]
        else:
            return None
    elif isinstance(value, list) and action.nargs in ("+", "*"):
        argv = [option, *(_text(v) for v in value)]
    else:
        argv = [option, _text(value)]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(argv)
    except SystemExit:
        text = err.getvalue()
        text = text[text.find(": error: ") + len(": error: "):] if ": error: " in text else text
        lines = [line.strip() for line in text.splitlines() if line.strip() and "errors.pydantic.dev" not in line]
        return " ".join(lines) or "rejected by vLLM's argument parser"
    return None


def main(argv: list[str] | None = None) -> int:
    engine_args = json.loads((argv or sys.argv[1:])[0])
    found = vllm_distribution()
    with contextlib.redirect_stdout(sys.stderr):  # vLLM's import-time messages stay off the verdict line
        errors = _vllm_errors(engine_args)
    print(RESULT_PREFIX + json.dumps({"version": found[1] if found else "?", "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
