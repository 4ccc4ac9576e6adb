"""Running a sweep: the Ray session, the run folder, the recorder, the ledger, progress."""
