"""Training service: the demand model, its metrics, and the (optionally distributed) loop.

Submodules are imported explicitly by their users: `metrics` needs only numpy/pandas, while
`model`, `distributed` and `loop` import torch, which must never load at CLI import time.
"""
