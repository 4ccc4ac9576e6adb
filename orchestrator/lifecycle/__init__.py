"""How a command's run ends: the stop token, the outcome table and the phases of a run."""
