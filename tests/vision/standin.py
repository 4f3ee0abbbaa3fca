"""A test stand-in for TorchRunner (not a network): each stored sample is an image filled with its own QSL index,
and the "prediction" is that value, so a test can check that every response carries the right sample's result.

It keeps TorchRunner's interface (set_store / clear_store / submit / predict / image_size / is_cuda) and is fast
on any CPU, so the LoadGen plumbing tests run in seconds.
"""

from __future__ import annotations

import time

import numpy as np


def index_images(indices, size: int = 4) -> np.ndarray:
    """(N, 3, size, size) float32 images whose every pixel is the sample's QSL index."""
    idx = np.asarray(indices, dtype=np.float32)
    return np.broadcast_to(idx[:, None, None, None], (len(idx), 3, size, size)).copy()


class _Done:
    def __init__(self, out: np.ndarray) -> None:
        self.out = out

    def wait(self) -> np.ndarray:
        return self.out


class StandInRunner:
    is_cuda = False
    image_size = 4

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.store: np.ndarray | None = None
        self.batches: list[int] = []
        self.buckets: list[int] = []

    def set_store(self, samples: np.ndarray) -> None:
        self.store = np.ascontiguousarray(samples, dtype=np.float32)

    def clear_store(self) -> None:
        self.store = None

    def submit(self, slots: np.ndarray) -> _Done:
        assert self.store is not None, "the QSL has not loaded samples"
        if self.delay_s:
            time.sleep(self.delay_s)
        self.batches.append(len(slots))
        return _Done(self.store[slots, 0, 0, 0].astype(np.float32))

    def predict(self, slots: np.ndarray) -> np.ndarray:
        return self.submit(slots).wait()
