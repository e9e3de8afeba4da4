"""Kernel tests run the real Triton kernels on CPU through the interpreter (TRITON_INTERPRET=1), on small
shapes, against the PyTorch reference; set before triton is imported anywhere in the test process. On a
machine with CUDA the kernels compile for the GPU instead (and the CPU-tensor tests are skipped there)."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
