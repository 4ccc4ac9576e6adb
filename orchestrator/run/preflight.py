"""Checks that refuse a sweep up front, before any folder is created or Ray started."""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from trainables.contract.errors import UserError
from trainables.contract.keys import RUN_FILE
from orchestrator.spec.sweep import SweepSpec


def check_results_dir(results_dir: str, spec: SweepSpec) -> Path | str:
    """The results folder must be writable, not inside a run, and not another sweep's.
    A URI (s3://, gs://...) must accept a write; it is returned as given."""
    from orchestrator.store.remote import check_writable, is_uri, local_location

    results_dir = local_location(results_dir)
    if is_uri(results_dir):
        check_writable(results_dir)
        return results_dir
    root = Path(results_dir).expanduser().resolve()
    for folder in (root, *root.parents):
        if (folder / RUN_FILE).is_file():
            raise UserError(f"results folder {root} is inside the run folder {folder}; "
                            "give --results the folder that holds sweeps (default: results)")
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"results folder {root} cannot be created: {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UserError(f"results folder {root} is not writable ({e.strerror or e}: {existing})") from None
    sweep_dir = root / spec.name
    if sweep_dir.is_dir():
        mine = Path(spec.source).resolve()
        for run in sorted(sweep_dir.iterdir()):
            if not (run / RUN_FILE).is_file():
                continue
            from orchestrator.store.folder import RunFolder

            try:
                source = RunFolder(run).meta().source
            except UserError:
                continue   # a damaged run of its own: not this check's business
            if source and Path(source).is_file() and Path(source).resolve() != mine:
                raise UserError(f"{sweep_dir} holds runs of another sweep file ({source}); give this sweep "
                                f"another name or use another --results")
    return root


def local_gpus() -> int:
    """GPUs on this machine, as Ray itself would detect them (honours CUDA_VISIBLE_DEVICES).

    Private Ray API, on purpose: ``ray.init(num_gpus=N)`` accepts any N without a word,
    and only Ray's accelerator manager tells, before Ray starts, what it would detect;
    the public ``ray.cluster_resources()`` answers only after ``ray.init``.
    """
    try:
        from ray._private.accelerators import get_accelerator_manager_for_resource

        return int(get_accelerator_manager_for_resource("GPU").get_current_node_num_accelerators())
    except Exception:
        return 0


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
