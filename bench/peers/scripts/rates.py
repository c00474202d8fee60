"""What the peers bench's Python scripts share: the round length from the command line, and how
a rate is measured (ROUNDS rounds, each a ROUNDS-th of it, the best kept, as the Rust side does)."""

import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 9  # as ROUNDS in bench/peers/src/main.rs


def rate(fn):
    """Calls of `fn(n)` per second, n counting from 0 in each round."""
    best = 0.0
    for _ in range(ROUNDS):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS / ROUNDS:
            fn(n)
            n += 1
        best = max(best, n / (time.perf_counter() - start))
    return best
