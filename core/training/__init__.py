"""Fine-tuning the embedding network in PyTorch (the ``train`` extra).

Nothing outside this package imports torch, so the runtime app starts without it.
"""
