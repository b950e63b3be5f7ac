"""hemgpu's SegNet in PyTorch: the same model, hemgpu's checkpoints in and out (python/README.md)."""
