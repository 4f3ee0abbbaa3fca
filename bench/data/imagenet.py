"""Images for the resnet50 benchmark: ImageNet 2012 validation (a local directory + val_map.txt) or synthetic.

Preprocessing is MLPerf's PyTorch profile (`vision/classification_and_detection/python/dataset.py`,
`pre_process_imagenet_pytorch`): RGB, resize the short side to 256 (bilinear), centre crop 224, to_tensor (÷255),
normalise with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); labels 0..999 from val_map.txt (offset 0).
It is written with PIL and numpy, following torchvision.transforms.functional's arithmetic on PIL images, so it runs
where torchvision does not import.

Synthetic images are the same shape, drawn from numpy's PCG64 with a seed: they exercise the pipeline and time the
model, and carry no labels (no accuracy claim).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import ConfigError

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
SIZE = 224
RESIZE = 256


def preprocess_pytorch(path: Path) -> np.ndarray:
    """One image file → (3, 224, 224) float32, as MLPerf's `pre_process_imagenet_pytorch` (need_transpose=True)."""
    from PIL import Image

    with Image.open(path) as im:
        img = im.convert("RGB")
    w, h = img.size
    # torchvision F.resize(img, 256) on a PIL image: the short side becomes 256, the long side int(256 * long/short)
    if w <= h:
        new_w, new_h = RESIZE, int(RESIZE * h / w)
    else:
        new_w, new_h = int(RESIZE * w / h), RESIZE
    img = img.resize((new_w, new_h), Image.BILINEAR)
    # F.center_crop: top = int(round((h - 224) / 2)), left likewise
    top = round((new_h - SIZE) / 2.0)
    left = round((new_w - SIZE) / 2.0)
    img = img.crop((left, top, left + SIZE, top + SIZE))
    arr = np.asarray(img, dtype=np.float32) / 255.0  # HWC
    arr = (arr - MEAN) / STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)


def synthetic_images(count: int, seed: int = 0, size: int = SIZE) -> np.ndarray:
    """(count, 3, size, size) float32, roughly the value range of normalised images."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, 3, size, size), dtype=np.float32).clip(-2.5, 2.5)


@dataclass
class ImageNetVal:
    """The validation set as MLPerf's reference reads it: `val_map.txt` lines `FILE LABEL`, files under `root`."""

    root: Path
    files: list[str]
    labels: np.ndarray

    @classmethod
    def open(cls, root: str, val_map: str = "", count: int = 0) -> ImageNetVal:
        base = Path(root).expanduser()
        if not base.is_dir():
            raise ConfigError(f"ImageNet directory {root} does not exist: pass dataset=DIR with the validation images")
        map_path = Path(val_map).expanduser() if val_map else base / "val_map.txt"
        if not map_path.is_file():
            raise ConfigError(f"{map_path} does not exist: pass val_map=FILE (lines 'FILE LABEL', MLPerf's format)")
        files, labels = [], []
        for n, line in enumerate(map_path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise ConfigError(f"{map_path}:{n}: expected 'FILE LABEL', got {line!r}")
            files.append(parts[0])
            labels.append(int(parts[1]))
        if count:
            files, labels = files[:count], labels[:count]
        missing = [f for f in files[:50] if not (base / f).is_file()]
        if missing:
            raise ConfigError(f"{len(missing)}+ images listed in {map_path} are missing under {base}, "
                              f"e.g. {missing[0]}")
        return cls(root=base, files=files, labels=np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> np.ndarray:
        return preprocess_pytorch(self.root / self.files[index])
