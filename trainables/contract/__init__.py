"""What the trial and the driver share: errors, keys, records, statuses, metric modes.

Imported by both trainables/ and orchestrator/, so it imports neither."""
