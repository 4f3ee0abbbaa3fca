"""The ResNet-50 definition, weight loading and MLPerf's PyTorch preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data.imagenet import MEAN, STD, ImageNetVal, preprocess_pytorch, synthetic_images
from bench.errors import ConfigError
from bench.models.resnet50 import ResNet50, TorchRunner, build_resnet50, default_buckets, torchvision_or_none


def test_architecture_is_torchvision_resnet50() -> None:
    model = ResNet50()
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == 25_557_032  # torchvision's resnet50
    assert len(state) == 320
    assert state["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)  # v1.5: stride on the 3×3
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)
    assert state["layer4.0.downsample.0.weight"].shape == (2048, 1024, 1, 1)
    assert state["fc.weight"].shape == (1000, 2048)


def test_same_keys_shapes_and_outputs_as_torchvision() -> None:
    tv = torchvision_or_none()
    if tv is None:
        pytest.skip("torchvision does not import here (CPU torch): checked on the GPU image")
    ref = tv.models.resnet50().eval()
    ours = ResNet50().eval()
    a, b = ref.state_dict(), ours.state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape for k in a)
    ours.load_state_dict(a)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ref(x), ours(x), atol=1e-5)


def test_weights_from_a_local_file_and_random_marking(tmp_path: Path) -> None:
    src = ResNet50()
    path = tmp_path / "rn50.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    loaded = build_resnet50(str(path), log=lambda m: None)
    assert loaded.info["random_weights"] is False and len(loaded.info["weights_sha256"]) == 64
    assert torch.equal(loaded.module.state_dict()["fc.weight"], src.state_dict()["fc.weight"])
    rand = build_resnet50("random", log=lambda m: None)
    assert rand.info["random_weights"] is True and not rand.module.training
    with pytest.raises(ConfigError, match="does not exist"):
        build_resnet50(str(tmp_path / "missing.pth"))


def test_cpu_runner_predicts_store_rows() -> None:
    model = ResNet50().eval()
    runner = TorchRunner(model, "cpu", "fp32", channels_last=True, image_size=32, log=lambda m: None)
    images = synthetic_images(6, seed=1, size=32)
    runner.set_store(images)
    slots = np.array([4, 0, 2])
    preds = runner.predict(slots)
    with torch.no_grad():
        expected = model(torch.from_numpy(images[slots])).argmax(1).float().numpy()
    assert preds.dtype == np.float32 and np.array_equal(preds, expected)
    assert default_buckets(100) == [1, 2, 4, 8, 16, 32, 64, 100]


def test_mlperf_pytorch_preprocessing(tmp_path: Path) -> None:
    from PIL import Image

    rgb = np.zeros((300, 400, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = preprocess_pytorch(tmp_path / "a.png")
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    expected = (np.array([1.0, 0.0, 0.0], dtype=np.float32) - MEAN) / STD
    assert np.allclose(out[:, 112, 112], expected, atol=1e-5)
    (tmp_path / "val_map.txt").write_text("a.png 7\n")
    data = ImageNetVal.open(str(tmp_path))
    assert len(data) == 1 and data.labels.tolist() == [7]
    (tmp_path / "val_map.txt").write_text("a.png seven\n")
    with pytest.raises(ConfigError, match="FILE LABEL"):
        ImageNetVal.open(str(tmp_path))
