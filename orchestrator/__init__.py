"""tunefm orchestrator: sweep files, Ray Tune wiring, the Parquet store and the CLI.

Nothing here imports TensorFlow or starts Ray at import time.
"""
