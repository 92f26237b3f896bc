"""OpenBLAS's single-precision GEMM on this machine, the reference for Graft's SgemmBenchmark.

Runs numpy's float32 matmul (numpy links OpenBLAS; set OPENBLAS_NUM_THREADS to the thread count
Graft's benchmark uses) on n×n matrices and prints one JSON line per size with the median GFLOP/s.

    OPENBLAS_NUM_THREADS=2 python3 tools/bench/openblas_sgemm.py 256 512 1024 2048
"""
import json
import statistics
import sys
import time

import numpy as np


def main():
    sizes = [int(s) for s in sys.argv[1:]] or [1024]
    rng = np.random.default_rng(42)
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):   # numpy < 1.26 (Debian's): the BLAS is whatever libblas.so.3 points to
        blas = {"name": "system libblas.so.3"}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), dtype=np.float32)
        flop = 2.0 * n ** 3
        reps = max(3, int(2e10 / flop))
        for _ in range(3):
            np.matmul(a, b, out=c)
        rates = []
        for _ in range(reps):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            rates.append(flop / (time.perf_counter() - t0) / 1e9)
        print(json.dumps({"n": n, "gflops_median": round(statistics.median(rates), 1), "reps": reps,
                          "blas": f'{blas.get("name", "?")} {blas.get("version", "")}'.strip()}))


if __name__ == "__main__":
    main()
