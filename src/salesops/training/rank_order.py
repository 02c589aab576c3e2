"""Which rows a rank trains on in an epoch, and in what order: `DistributedSampler`'s
(shuffle=True, drop_last=False), index for index, as one tensor.

The sampler makes the same permutation but hands it over as a Python list of every row
index (`randperm(...).tolist()`, padded and sliced as lists): at 10M rows that is ~400 MB
and a second of Python per rank and epoch, for a tensor the loop turns it back into.
"""

from __future__ import annotations

import math

import torch


class RankOrder:
    def __init__(self, rows: int, world_size: int, rank: int, seed: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.rows, self.world_size, self.rank, self.seed = rows, world_size, rank, seed
        #: rows per rank and epoch: the set padded (by repeating it) to a multiple of ranks
        self.rank_rows = math.ceil(rows / world_size)

    def epoch(self, epoch: int) -> torch.Tensor:
        """This rank's row indices (int64) for `epoch`, in the order it trains on them."""
        generator = torch.Generator()
        generator.manual_seed(self.seed + epoch)
        order = torch.randperm(self.rows, generator=generator)
        total = self.rank_rows * self.world_size
        if total > self.rows:  # the sampler's padding: the permutation again, from its start
            order = order.repeat(math.ceil(total / self.rows))[:total]
        return order[self.rank:total:self.world_size].clone()
