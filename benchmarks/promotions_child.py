"""One seed's curves for ``benchmarks.promotions collect``, in its own process (JSON in, JSON out)."""
from benchmarks.common import child_main
from benchmarks.promotions import collect_child

if __name__ == "__main__":
    child_main(collect_child)
