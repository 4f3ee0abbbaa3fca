"""One-line diagnoses from Kubernetes status dicts (pods, Jobs, events), as a failed result's `error`.

Pure functions: they read the JSON the API server returns and say what went wrong and what to do about it.
`diagnose_pod` returns a Diagnosis with `fatal` set when waiting longer cannot help (or the grace period is over).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

GPU = "nvidia.com/gpu"
IMAGE_PULL_FATAL = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_FATAL = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


@dataclass(frozen=True)
class Diagnosis:
    message: str
    fatal: bool
    kind: str  # unschedulable, image-pull, oom, evicted, deleted, node-lost, deadline, crash, config, create


def _one_line(text: str | None, limit: int = 400) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


def unschedulable_message(scheduler_message: str, pod: dict[str, Any]) -> str:
    """What the scheduler said, led by the cause in the user's terms.

    The scheduler lists a reason per node; nodes that do not match the selector are noise when the matching ones
    failed for another reason (taint, GPUs in use), so the selector is named as the cause only when it is the only one.
    """
    spec = pod.get("spec") or {}
    causes = []
    if f"Insufficient {GPU}" in scheduler_message:
        requested = _requested_gpus(pod)
        causes.append(f"not enough free {GPU} (the pod requests {requested})")
    if "taint" in scheduler_message:
        causes.append("a node taint is not tolerated (add a toleration or choose other nodes)")
    if "Insufficient memory" in scheduler_message or "Insufficient cpu" in scheduler_message:
        causes.append("not enough free cpu/memory for the requests")
    if not causes and "node affinity/selector" in scheduler_message:
        selector = ",".join(f"{k}={v}" for k, v in (spec.get("nodeSelector") or {}).items())
        causes.append(f"no node matches the nodeSelector {selector}" if selector else "no node matches the affinity")
    lead = "; ".join(causes) or "no node can run the pod"
    return f"unschedulable: {lead} — scheduler: {_one_line(scheduler_message)}"


def _requested_gpus(pod: dict[str, Any]) -> str:
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        with contextlib.suppress(TypeError, ValueError):
            total += int(limits.get(GPU, 0))
    return f"{total} {GPU}"


def diagnose_pod(pod: dict[str, Any], waited_s: float, unschedulable_grace_s: float,
                 image_pull_grace_s: float) -> Diagnosis | None:
    """A diagnosis for a pod that cannot (or did not) run its workload; None while it is fine or finished cleanly.

    `waited_s`: how long this pod has been in its current non-running state (for the grace periods).
    """
    status = pod.get("status") or {}
    phase = status.get("phase")
    reason = status.get("reason") or ""
    message = status.get("message") or ""
    if reason == "Evicted":
        return Diagnosis(f"pod evicted by the kubelet: {_one_line(message) or 'node pressure'}", True, "evicted")
    if reason in ("NodeLost", "UnexpectedAdmissionError", "NodeAffinity", "OutOfnvidia.com/gpu"):
        return Diagnosis(f"pod failed on its node ({reason}): {_one_line(message)}", True, "node-lost")
    for cond in _conditions(pod):
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            why = cond.get("reason") or ""
            if why == "DeletionByTaintManager":
                return Diagnosis(f"node lost: the node became unreachable or not ready and its pods were removed "
                                 f"({_one_line(cond.get('message'))})", True, "node-lost")
            if why == "DeletionByPodGC":
                return Diagnosis(f"node lost: the pod's node no longer exists and the pod was garbage-collected "
                                 f"({_one_line(cond.get('message'))})", True, "node-lost")
            if why == "TerminationByKubelet":
                return Diagnosis(f"pod evicted by the kubelet: {_one_line(cond.get('message'))}", True, "evicted")
            if why == "EvictionByEvictionAPI":
                return Diagnosis(f"pod evicted (drain or eviction API): {_one_line(cond.get('message'))}", True,
                                 "evicted")
    for cond in _conditions(pod):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and \
                cond.get("reason") == "Unschedulable":
            text = unschedulable_message(cond.get("message") or "", pod)
            if waited_s >= unschedulable_grace_s:
                return Diagnosis(f"{text} (still pending after {waited_s:.0f} s)", True, "unschedulable")
            return Diagnosis(text, False, "unschedulable")
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        wreason = waiting.get("reason") or ""
        if wreason in IMAGE_PULL_FATAL or wreason == "ErrImagePull":
            text = (f"image pull failed ({wreason}) for {cs.get('image') or 'the image'}: "
                    f"{_one_line(waiting.get('message'), 300)} — check the image name/tag, registry access and "
                    f"pull secrets, or pass --image")
            fatal = wreason in IMAGE_PULL_FATAL or waited_s >= image_pull_grace_s
            return Diagnosis(text, fatal, "image-pull")
        if wreason in CONFIG_FATAL:
            return Diagnosis(f"container could not start ({wreason}): {_one_line(waiting.get('message'))}", True,
                             "config")
        terminated = state.get("terminated") or cs.get("lastState", {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            limit = _memory_limit(pod, cs.get("name"))
            return Diagnosis(f"OOMKilled: the container exceeded its memory limit ({limit}) and was killed "
                             f"(exit code {terminated.get('exitCode', 137)}); raise the memory limit", True, "oom")
    if phase == "Failed":
        return Diagnosis(_failed_message(pod), True, "crash")
    return None


def _memory_limit(pod: dict[str, Any], container: str | None) -> str:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if container is None or c.get("name") == container:
            return ((c.get("resources") or {}).get("limits") or {}).get("memory", "no limit")
    return "no limit"


def _failed_message(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        if term:
            code = term.get("exitCode")
            detail = _one_line(term.get("message")) or term.get("reason") or ""
            return f"workload container exited with code {code}" + (f": {detail}" if detail else "")
    return f"pod failed: {_one_line(status.get('message')) or status.get('reason') or 'no reason given'}"


def diagnose_job(job: dict[str, Any]) -> Diagnosis | None:
    """A diagnosis from the Job's own conditions (deadline exceeded, backoff limit), or its deletion under way."""
    spec = job.get("spec") or {}
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return Diagnosis("the Job was deleted mid-run by someone or something else", True, "deleted")
    for cond in _conditions(job):
        if cond.get("type") not in ("Failed", "FailureTarget") or cond.get("status") != "True":
            continue
        reason = cond.get("reason") or ""
        if reason == "DeadlineExceeded":
            return Diagnosis(f"deadline exceeded: the Job ran longer than activeDeadlineSeconds="
                             f"{spec.get('activeDeadlineSeconds')} and Kubernetes stopped it (raise --timeout)", True,
                             "deadline")
        return Diagnosis(f"Job failed ({reason}): {_one_line(cond.get('message'))}", True, "crash")
    return None


# What the Job controller's FailedCreate events say (`Error creating: pods "NAME-" is forbidden: ...`, the admission
# plugins' words) → whether waiting can help, and what to do. Kubernetes plugin/pkg/admission/runtimeclass,
# serviceaccount, resourcequota and staging/src/k8s.io/pod-security-admission.
_CREATE_CAUSES: tuple[tuple[re.Pattern[str], bool, str], ...] = (
    (re.compile(r'RuntimeClass "[^"]*" not found'), True,
     "pass --runtime-class with a RuntimeClass the cluster has (kubectl get runtimeclass)"),
    (re.compile(r'serviceaccount "(?!default")[^"]*" not found'), True,
     "create the ServiceAccount in the namespace, or run with one that exists"),
    (re.compile(r"violates PodSecurity"), True,
     "the namespace's Pod Security level refuses this pod (kubectl get namespace --show-labels)"),
    (re.compile(r"exceeded quota"), False,
     "the namespace's ResourceQuota is used up (kubectl describe resourcequota); free it or request less"),
)


def diagnose_failed_create(events: list[dict[str, Any]], waited_s: float, grace_s: float) -> Diagnosis | None:
    """The Job controller cannot create the pod (FailedCreate warnings on the Job): the admission error, led by
    the cause. Fatal at once when waiting cannot help (an unknown RuntimeClass or ServiceAccount, a Pod Security
    violation), else (quota, a webhook, the namespace's default ServiceAccount not made yet) after `grace_s`."""
    failed = [e for e in events if e.get("reason") == "FailedCreate" and e.get("type") == "Warning"]
    if not failed:
        return None
    latest = max(failed, key=lambda e: (e.get("lastTimestamp") or e.get("eventTime") or "",
                                        (e.get("metadata") or {}).get("resourceVersion") or ""))
    message = _one_line(latest.get("message") or latest.get("note"))
    cause = message.split(" is forbidden: ", 1)[-1].removeprefix("Error creating: ").removeprefix("pod rejected: ")
    fatal, hint = False, "see kubectl describe job"
    for pattern, at_once, what_to_do in _CREATE_CAUSES:
        if pattern.search(message):
            fatal, hint = at_once, what_to_do
            break
    text = f"pod could not be created: {cause} — {hint}"
    if fatal:
        return Diagnosis(text, True, "create")
    if waited_s >= grace_s:
        return Diagnosis(f"{text} (still refused after {waited_s:.0f} s)", True, "create")
    return Diagnosis(text, False, "create")


def pod_deleted_message(pod: dict[str, Any]) -> str:
    node = (pod.get("spec") or {}).get("nodeName") or "no node"
    return (f"pod {(pod.get('metadata') or {}).get('name')} was deleted mid-run (on {node}) by someone or something "
            f"else — kubectl delete, a node drain or a controller; its finished results were kept")


def describe_taint_eviction(node: dict[str, Any]) -> Diagnosis:
    """The taint manager deleted the pod (DisruptionTarget DeletionByTaintManager): its node is lost (not ready or
    unreachable), or it got a NoExecute taint the pod does not tolerate (a drain, maintenance) — the node says which."""
    lost = describe_node_loss(node)
    if lost:
        return Diagnosis(lost, True, "node-lost")
    taints = [f"{t.get('key')}" + (f"={t['value']}" if t.get("value") else "") + ":NoExecute"
              for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
    name = (node.get("metadata") or {}).get("name")
    return Diagnosis(f"pod evicted: node {name} has a NoExecute taint the pod does not tolerate "
                     f"({', '.join(taints) or 'since removed'}) and the taint manager deleted the pod — "
                     f"add a toleration or choose other nodes", True, "evicted")


def describe_node_loss(node: dict[str, Any]) -> str | None:
    """'node lost' when the node's Ready condition is not True (kubelet stopped reporting)."""
    for cond in _conditions(node):
        if cond.get("type") == "Ready" and cond.get("status") != "True":
            return (f"node lost: {(node.get('metadata') or {}).get('name')} is not ready "
                    f"({cond.get('reason') or 'Unknown'}: {_one_line(cond.get('message'))})")
    return None
