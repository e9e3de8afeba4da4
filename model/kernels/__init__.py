"""The model's fused operations. `reference` holds the plain PyTorch versions, which define what every
faster implementation must compute (forward and backward)."""
