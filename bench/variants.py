"""Variants: a named set of overrides of how a workload runs, the two sides of an overhead comparison.

A variant changes *where and under what* the same workload runs, never what it measures:

    kubernetes  runtime-class=NAME  env=KEY=VALUE  volume=hostPath:/host/path:/mount/path[:rw]
                volume=configMap:NAME:/mount/path  image=REF  node-selector=KEY=VALUE  annotation=KEY=VALUE
                resource=cpu=8 | resource=memory=64Gi
    local       wrapper=COMMAND (a command prefix, e.g. `taskset -c 0`)  env=KEY=VALUE  container[=IMAGE]
    both        name=LABEL (default: baseline / candidate)

On the command line a variant is one or more items (`--candidate runtime-class=xen-gpu --candidate
env=LD_LIBRARY_PATH=/opt/icpt`), each item a preset name (`host`: no overrides; `container`: the local executor runs
the workload inside a podman container, bench/executors/container.py) or KEY=VALUE. In a YAML file (`--compare FILE`)
the same keys are written as a mapping (`runtime_class: xen-gpu`, `env: {K: V}`, `volumes: [...]`), beside `repeats`
and `seed`. Which executor a key applies to is checked by the executor (`Executor.for_variant`); everything else —
unknown keys, malformed values, a candidate identical to its baseline — is a one-line ConfigError here.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

PRESETS = ("host", "container")
ITEM_KEYS = ("name", "runtime-class", "env", "volume", "image", "node-selector", "annotation", "resource", "wrapper",
             "container")
RESOURCE_NAMES = ("cpu", "memory")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VOLUME_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Volume:
    """An extra volume and its mount: a host path (file or directory) or a ConfigMap."""

    kind: str  # "hostPath" | "configMap"
    source: str  # the host path, or the ConfigMap's name
    mount_path: str
    read_only: bool = True

    @property
    def name(self) -> str:
        """A DNS-label volume name derived from the mount path (stable, so manifests diff well)."""
        return ("extra-" + _VOLUME_NAME.sub("-", self.mount_path.lower()).strip("-"))[:63].rstrip("-")

    def describe(self) -> str:
        return f"{self.kind}:{self.source}:{self.mount_path}{'' if self.read_only else ':rw'}"


@dataclass(frozen=True)
class Variant:
    """How one side of a comparison runs. Empty fields leave the run's own settings as they are."""

    name: str = "baseline"
    runtime_class: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()
    image: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, str] = field(default_factory=dict)
    wrapper: tuple[str, ...] = ()
    container: bool = False  # local executor: inside a podman container (image: `image`, or the built default)

    def overrides(self) -> dict[str, Any]:
        """The non-empty overrides, without the name: what makes two variants differ."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "name" and value:
                out[f.name] = dict(value) if isinstance(value, Mapping) else value
        return out

    def same_runtime(self, other: Variant) -> bool:
        return self.overrides() == other.overrides()

    def used_keys(self) -> list[str]:
        """The command-line keys this variant sets (`runtime-class`, `wrapper`, ...), for executor checks."""
        names = {"runtime_class": "runtime-class", "volumes": "volume", "node_selector": "node-selector",
                 "annotations": "annotation", "resources": "resource"}
        return [names.get(k, k) for k in self.overrides()]

    def describe(self) -> str:
        parts = []
        if self.container:
            parts.append(f"container{'=' + self.image if self.image else ''}")
        elif self.image:
            parts.append(f"image={self.image}")
        if self.runtime_class:
            parts.append(f"runtime-class={self.runtime_class}")
        if self.wrapper:
            parts.append(f"wrapper={shlex.join(self.wrapper)}")
        parts += [f"env={k}={v}" for k, v in self.env.items()]
        parts += [f"volume={v.describe()}" for v in self.volumes]
        parts += [f"node-selector={k}={v}" for k, v in self.node_selector.items()]
        parts += [f"annotation={k}={v}" for k, v in self.annotations.items()]
        parts += [f"resource={k}={v}" for k, v in self.resources.items()]
        return f"{self.name}: {' '.join(parts) if parts else 'the run’s own settings'}"

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, **self.overrides()}
        if self.volumes:
            data["volumes"] = [dataclasses.asdict(v) for v in self.volumes]
        if self.wrapper:
            data["wrapper"] = list(self.wrapper)
        return data


def _pair(text: str, key: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"variant item {key}={text!r}: expected {key}=NAME=VALUE, e.g. {key}=FOO=1")
    return name.strip(), value


def parse_volume(text: str) -> Volume:
    """`hostPath:/host/path:/mount/path[:rw|:ro]` or `configMap:NAME:/mount/path`."""
    parts = text.split(":")
    usage = ("volume=hostPath:/host/path:/mount/path[:rw] or volume=configMap:NAME:/mount/path, "
             f"got volume={text!r}")
    if len(parts) not in (3, 4) or parts[0] not in ("hostPath", "configMap"):
        raise ConfigError(f"expected {usage}")
    kind, source, mount = parts[:3]
    mode = parts[3] if len(parts) == 4 else "ro"
    if mode not in ("ro", "rw") or not source or not mount.startswith("/"):
        raise ConfigError(f"expected {usage} (an absolute mount path; mode ro or rw)")
    if kind == "hostPath" and not source.startswith("/"):
        raise ConfigError(f"volume={text!r}: a hostPath source must be an absolute path")
    return Volume(kind, source, mount, read_only=mode == "ro")


def parse_spec(items: Iterable[str], default_name: str) -> Variant:
    """A variant from command-line items (presets and KEY=VALUE); no items → the run's own settings."""
    fields: dict[str, Any] = {"name": default_name, "env": {}, "node_selector": {}, "annotations": {},
                              "resources": {}, "volumes": []}
    for raw in items:
        item = raw.strip()
        if item == "host":  # the run's own settings: nothing to override
            continue
        key, sep, value = item.partition("=")
        if not sep and key == "container":
            fields["container"] = True
            continue
        if key not in ITEM_KEYS or (not sep and key not in PRESETS):
            known = ", ".join(f"{k}=…" for k in ITEM_KEYS if k != "container")
            raise ConfigError(f"unknown variant item {item!r}: use a preset ({', '.join(PRESETS)}) or one of {known}")
        if key == "name":
            fields["name"] = value
        elif key == "runtime-class":
            fields["runtime_class"] = value
        elif key == "image":
            fields["image"] = value
        elif key == "container":
            fields["container"], fields["image"] = True, value
        elif key == "wrapper":
            fields["wrapper"] = tuple(shlex.split(value))
        elif key == "volume":
            fields["volumes"].append(parse_volume(value))
        elif key == "env":
            k, v = _pair(value, key)
            fields["env"][k] = v
        elif key == "node-selector":
            k, v = _pair(value, key)
            fields["node_selector"][k] = v
        elif key == "annotation":
            k, v = _pair(value, key)
            fields["annotations"][k] = v
        else:  # resource
            k, v = _pair(value, key)
            fields["resources"][k] = v
    fields["volumes"] = tuple(fields["volumes"])
    return check(Variant(**fields))


_YAML_KEYS = {"name", "runtime_class", "env", "volumes", "image", "node_selector", "annotations", "resources",
              "wrapper", "container"}


def from_mapping(data: Any, default_name: str, where: str) -> Variant:
    """A variant from a YAML mapping (`--compare FILE`); a preset name alone (`candidate: container`) also works."""
    if data is None:
        return check(Variant(name=default_name))
    if isinstance(data, str):
        return parse_spec([data], default_name)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of variant settings, got {type(data).__name__}")
    unknown = sorted(set(data) - _YAML_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown variant key {unknown[0]!r} (known: {', '.join(sorted(_YAML_KEYS))})")

    def mapping(key: str) -> dict[str, str]:
        value = data.get(key) or {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}.{key}: expected a mapping KEY: VALUE")
        return {str(k): str(v) for k, v in value.items()}

    volumes = []
    for i, vol in enumerate(data.get("volumes") or []):
        if isinstance(vol, str):
            volumes.append(parse_volume(vol))
            continue
        if not isinstance(vol, Mapping) or "mountPath" not in vol or not ({"hostPath", "configMap"} & set(vol)):
            raise ConfigError(f"{where}.volumes[{i}]: expected {{hostPath: /path, mountPath: /path}} or "
                              "{configMap: NAME, mountPath: /path} (readOnly: false for read-write)")
        kind = "hostPath" if "hostPath" in vol else "configMap"
        mode = "ro" if vol.get("readOnly", True) else "rw"
        volumes.append(parse_volume(f"{kind}:{vol[kind]}:{vol['mountPath']}:{mode}"))
    wrapper = data.get("wrapper") or ()
    container = data.get("container", False)
    image = data.get("image")
    if isinstance(container, str):
        container, image = True, container
    return check(Variant(
        name=str(data.get("name") or default_name), runtime_class=data.get("runtime_class"), env=mapping("env"),
        volumes=tuple(volumes), image=image, node_selector=mapping("node_selector"),
        annotations=mapping("annotations"), resources=mapping("resources"),
        wrapper=tuple(shlex.split(wrapper) if isinstance(wrapper, str) else map(str, wrapper)),
        container=bool(container),
    ))


def check(variant: Variant) -> Variant:
    """Values every executor would refuse, as one line each."""
    if not _NAME.match(variant.name):
        raise ConfigError(f"variant name {variant.name!r}: use 1-32 lowercase letters, digits and '-' "
                          "(it labels results, logs and pods)")
    if variant.runtime_class is not None and not _NAME.match(variant.runtime_class):
        raise ConfigError(f"runtime-class={variant.runtime_class!r} is not a valid RuntimeClass name")
    for key in variant.env:
        if not _ENV_NAME.match(key):
            raise ConfigError(f"env={key}=…: {key!r} is not a valid environment variable name")
    for key in variant.resources:
        if key not in RESOURCE_NAMES:
            raise ConfigError(f"resource={key}=…: only {', '.join(RESOURCE_NAMES)} can be overridden "
                              "(nvidia.com/gpu is --gpus, the same on both sides)")
    if variant.image == "":
        raise ConfigError("image= needs a value (an image reference, e.g. image=registry/name:tag)")
    mounts = [v.mount_path for v in variant.volumes]
    if len(set(mounts)) != len(mounts):
        raise ConfigError(f"variant {variant.name}: two volumes mount at the same path")
    return variant


@dataclass(frozen=True)
class Comparison:
    """What an overhead run compares: two variants, how many repeats of each, the seed of the ABBA order."""

    baseline: Variant
    candidate: Variant
    repeats: int | None = None  # None: the size's default (smoke 3, full 10)
    seed: int = 0
    aa: bool = False  # an A/A self-test: the candidate may equal the baseline

    def __post_init__(self) -> None:
        if self.repeats is not None and self.repeats < 2:
            raise ConfigError(f"--repeats {self.repeats}: at least 2 repeats per side are needed to compare "
                              "(3 for an interval at 90%; the defaults are 3 for smoke and 10 for --full)")
        if self.baseline.name == self.candidate.name:
            raise ConfigError(f"baseline and candidate are both named {self.baseline.name!r}: give one a "
                              "different name=…")
        if self.baseline.same_runtime(self.candidate) and not self.aa:
            raise ConfigError(f"the candidate ({self.candidate.describe()}) is identical to the baseline: "
                              "pass --aa for the A/A self-test, or give the candidate something to change")

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline.to_dict(), "candidate": self.candidate.to_dict(),
                "repeats": self.repeats, "seed": self.seed, "aa": self.aa}


def comparison_from_options(baseline: list[str] | None, candidate: list[str] | None, compare_file: Path | None,
                            repeats: int | None, seed: int | None, aa: bool) -> Comparison | None:
    """The comparison the command line asks for (None: none). `--compare FILE` and `--baseline/--candidate` may be
    combined: the command line's items win over the file's variant of the same side, its --repeats over `repeats`."""
    data: dict[str, Any] = {}
    if compare_file is not None:
        data = load_compare_file(compare_file)
    if candidate is None and "candidate" not in data:
        if baseline or repeats is not None or aa:
            raise ConfigError("a comparison needs a candidate: --candidate SPEC (e.g. --candidate container, "
                              "--candidate runtime-class=NAME) or --compare FILE")
        return None
    where = str(compare_file) if compare_file else "--compare"
    base = parse_spec(baseline, "baseline") if baseline else from_mapping(data.get("baseline"), "baseline",
                                                                           f"{where}: baseline")
    cand = parse_spec(candidate, "candidate") if candidate else from_mapping(data.get("candidate"), "candidate",
                                                                             f"{where}: candidate")
    file_repeats = data.get("repeats")
    if file_repeats is not None and (isinstance(file_repeats, bool) or not isinstance(file_repeats, int)):
        raise ConfigError(f"{where}: repeats must be an integer, got {file_repeats!r}")
    return Comparison(base, cand, repeats if repeats is not None else file_repeats,
                      seed if seed is not None else int(data.get("seed", 0)), aa or bool(data.get("aa", False)))


def load_compare_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--compare {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--compare {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"--compare {path}: expected a mapping with baseline, candidate, repeats, seed")
    unknown = sorted(set(data) - {"baseline", "candidate", "repeats", "seed", "aa"})
    if unknown:
        raise ConfigError(f"--compare {path}: unknown key {unknown[0]!r} (known: baseline, candidate, repeats, "
                          "seed, aa)")
    return dict(data)
