"""The Ray cluster a run trains on: what this machine has before Ray starts, whether an
address answers, and running a function where the sweep ran."""
from __future__ import annotations

import os
import socket
from typing import Any, Callable

from orchestrator.raytune import private
from trainables.contract.errors import UserError


def local_gpus() -> int:
    """GPUs on this machine, as Ray itself would detect them (honours CUDA_VISIBLE_DEVICES);
    ``ray.cluster_resources()`` answers only after ``ray.init``."""
    return private.local_accelerators("GPU")


def check_local_gpus(requested: float | None) -> None:
    if requested:
        have = local_gpus()
        if requested > have:
            raise UserError(f"--gpus {requested:g}: this machine has {have} GPU{'s' if have != 1 else ''} "
                            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
                            "ask for at most that many, or run on a cluster with --address")


def check_address(address: str, timeout: float = 3.0) -> None:
    """A ``host:port`` must accept connections: Ray itself would retry for minutes.

    ``auto`` (the cluster this machine belongs to) is left to Ray, which fails fast for
    it. Ray Client (``ray://``) is refused: Tune would then run the driver loop on the
    cluster, away from the run folder this process records into.
    """
    if address.startswith("ray://"):
        raise UserError(f"--address {address}: Ray Client addresses are not supported; run tunefm on a node of "
                        "the cluster with --address auto (or host:6379)")
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address}: expected 'auto' or host:port (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise UserError(f"--address {address}: cannot connect to a Ray cluster "
                        f"({e.strerror or type(e).__name__}); is 'ray start --head' running there?") from None


def run_on_cluster(address: str, function: Callable, args: tuple, gpus: int = 0) -> Any | None:
    """``function(*args)`` as a Ray task on the cluster at ``address`` (one CPU, ``gpus``
    GPUs); None, with a warning, when that cluster is gone (the caller runs it here)."""
    import logging

    import ray

    try:
        check_address(address)
    except UserError as e:
        logging.getLogger("tunefm").warning("%s; evaluating on this machine instead", e)
        return None
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    return ray.get(ray.remote(num_cpus=1, num_gpus=gpus)(function).remote(*args))
