"""How the service spends the host: worker processes and core tokens, resolved from the settings.

Unset, both follow the best measured configuration (BENCHMARKS.md section 9): on a CPU host one
worker process per usable core (affinity and cgroup quota, runtime/cores.py) sharing one core
token per usable core; with CUDA one worker process (each process would hold its own CUDA context
and copy of every model, and one process's batcher makes the larger GPU batches) and no tokens
(a GPU call needs no CPU budget).
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.cores import usable_cores
from runtime.model import CUDA, provider_list
from service.settings import Settings


@dataclass(frozen=True)
class Concurrency:
    workers: int
    cpu_tokens: int | None  # None: no core tokens (CUDA)

    @classmethod
    def plan(cls, settings: Settings) -> Concurrency:
        cuda = provider_list(settings.runtime_options())[0][0] == CUDA
        cores = usable_cores()
        workers = settings.workers or (1 if cuda else cores)
        tokens = None if cuda else settings.cpu_tokens or cores
        return cls(workers, tokens)
