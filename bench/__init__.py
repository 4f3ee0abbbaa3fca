"""kcloud-mlperf: prove that a GPU Kubernetes cluster is fit for ML inference."""

__version__ = "0.1.0"
