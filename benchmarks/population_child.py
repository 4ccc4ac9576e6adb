"""One run of ``benchmarks.population`` in its own process (JSON in, JSON out)."""
from benchmarks.common import child_main
from benchmarks.population import child

if __name__ == "__main__":
    child_main(child)
