"""A pytest plugin for a suite run (`-p tests.k8s.token_echo_plugin`): the kubernetes executor's Jobs print the HF
token their container got from the Secret, then run the real entry point (`python -m bench.run`) — so that a test
can hold the run's log, results, manifests and JUnit report to showing it only redacted. Test-only: product code
never loads it."""

from __future__ import annotations

from bench.config import RunGroup
from bench.executors import EXECUTORS
from bench.executors.kubernetes import KubernetesExecutor

ECHO = 'echo "workload sees HF_TOKEN=$HF_TOKEN"\n'


class TokenEchoingExecutor(KubernetesExecutor):
    def script(self, group: RunGroup) -> str:
        return ECHO + super().script(group)


EXECUTORS["kubernetes"] = TokenEchoingExecutor
