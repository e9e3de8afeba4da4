"""Compact decoder-only GPT and its Triton-fused kernels. Not built yet."""
