"""What the peers bench's Python scripts share: the round length from the command line, and how
a rate is measured (three rounds of a third of it, the best kept, as the Rust side does)."""

import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def rate(fn):
    """Calls of `fn(n)` per second, n counting from 0 in each round."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS / 3:
            fn(n)
            n += 1
        best = max(best, n / (time.perf_counter() - start))
    return best
