"""Training across processes, as `torchrun` starts them (it sets RANK, WORLD_SIZE and the rendezvous).

Every process builds the same model from the same seed, reads the same data and walks the same
batch order; each takes its share of every global batch (rows rank, rank + world, ...), and the
gradients are summed across processes before each step, each process's loss weighted by its share
of what the global batch's loss is a mean over. So every process takes the same step, the one a
single process would take on the whole batch (up to float summation order; dropout draws differ).
The compiled engine's processes instead train their shares on their own weights, which they
average every `train.average_every` examples and at the end of each epoch (model averaging, as
Vowpal Wabbit's AllReduce does). Validation runs whole in every process (the same weights give the
same scores, so early stopping agrees); only rank 0 writes the run folder and shows progress. gloo
on the CPU (sparse gradients allowed), nccl on GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Group:
    rank: int
    world: int

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, rows):
        """This process's rows of a global batch."""
        return rows[self.rank :: self.world]

    def sum(self, value: float) -> float:
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t)

    def sum_all(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def average(self, arrays) -> None:
        """Each numpy array made the mean of its values in every process, in place (the same
        result in every process: all-reduce sums each element in one order)."""
        for a in arrays:
            t = torch.from_numpy(a)  # (a view: the sum lands in the array)
            dist.all_reduce(t)
            t.div_(self.world)

    def gather(self, values) -> list:
        """Every process's int64 array (equal lengths), concatenated in rank order."""
        mine = torch.as_tensor(values, dtype=torch.int64)
        parts = [torch.empty_like(mine) for _ in range(self.world)]
        dist.all_gather(parts, mine)
        return torch.cat(parts).tolist()

    def sum_gradients(self, dense, sparse) -> None:
        """Each parameter's gradient summed over the processes (sparse ones stay sparse)."""
        for p in dense:
            if p.grad is None:  # (every process must take part in every sum)
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
        for p in sparse:
            if p.grad is None:
                p.grad = torch.sparse_coo_tensor(
                    torch.zeros((1, 0), dtype=torch.long), torch.zeros((0, *p.shape[1:])), p.shape
                )
            p.grad = p.grad.coalesce()
            dist.all_reduce(p.grad)


def join(device: torch.device) -> Group | None:
    """The process group torchrun asked for (None when it started one process, or none)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Group(dist.get_rank(), dist.get_world_size())


def leave(group: Group | None) -> None:
    if group is not None and dist.is_initialized():
        dist.destroy_process_group()
