"""The hook Ray runs in every worker process it starts for tunefm (the runtime env's
``worker_process_setup_hook``, by module path): a worker that will train starts
importing Keras at once, in the background (``trainables.training.warm``), so the import
runs while Ray starts and the driver loads the data.

Which workers will train: one started for a job's task or actor; and of the idle workers
the embedded Ray prestarts at ``ray.init``, the first few, one per trial slot, each
having created one of the session's ticket files (``TICKETS_ENV``). Tune's first trials
run in them (``session.trainables_without_env``). A prestarted worker beyond the slots
leaves instead of idling (Ray would hand it to a trial that then imports from the
start). Spilling workers, the feature cache's worker (``WARM_ENV`` "0") and, on a
cluster, the prestarted workers import nothing.
"""
from __future__ import annotations

import os

from orchestrator.raytune import private

HOOK = "orchestrator.raytune.worker.setup"
# "0" in a worker's environment: it never trains (the feature cache's), so it imports nothing.
WARM_ENV = "TUNEFM_WARM_IMPORT"
# "<folder>:<n>" (the embedded Ray's, set by ``session.inherited_worker_env``): the first n
# of the idle workers Ray prestarts import Keras, each having created one of the files
# 0..n-1 there; n is the number of trials that can run at once.
TICKETS_ENV = "TUNEFM_WARM_TICKETS"


def setup() -> None:
    if os.environ.get(WARM_ENV) == "0" or not _will_train():
        return
    from trainables.training import warm

    warm.start()


def _will_train() -> bool:
    role = private.worker_role()
    if role in ("job", "unknown"):
        return True
    if role != "idle":
        return False
    tickets = os.environ.get(TICKETS_ENV, "")
    if take_ticket(tickets):
        return True
    if tickets:
        private.leave_idle_worker("tunefm: an idle worker beyond the trial slots")
    return False


def take_ticket(tickets: str) -> bool:
    """Create the first free ticket file of ``"<folder>:<n>"``; False when all n are
    taken (or the folder is gone: the session ended)."""
    folder, _, count = tickets.rpartition(":")
    if not folder or not count.isdigit():
        return False
    for i in range(int(count)):
        try:
            os.close(os.open(os.path.join(folder, str(i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            continue
        except OSError:
            return False
    return False
