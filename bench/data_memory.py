"""Peak memory of loading the full CIFAR-10 layout: sweepnet's loader against the classic one.

Generates files of the real size (5 training batches of 10000 images + test_batch, pickled
exactly like the originals) into a temporary directory, then loads them in fresh subprocesses
and reads each one's peak RSS. The goal: sweepnet's loader peaks at no more than 2x the size of
the float32 arrays it returns (train + val + test, channels-first).

    .venv/bin/python bench/data_memory.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sweepnet.core.data_utils import load_CIFAR_batch, save_CIFAR_batch

__all__ = ["main"]

_MB = 2**20
_MODES = ("imports only", "classic loader", "sweepnet", "sweepnet + standardize")


def _write_full_cifar(root: Path) -> None:
    rng = np.random.default_rng(0)
    root.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (10000, 3072), dtype=np.uint8)
        save_CIFAR_batch(root / name, data, rng.integers(0, 10, 10000), name)


def _classic(root: Path) -> list[np.ndarray]:
    """The classic notebook path: float64 channels-last batches, concatenated, masked, transposed."""
    batches = [load_CIFAR_batch(root / f"data_batch_{i}") for i in range(1, 6)]
    X, _y = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])  # held: part of the peak
    del batches
    X_test, y_test = load_CIFAR_batch(root / "test_batch")
    X_val, X_train, X_test = X[list(range(49000, 50000))], X[list(range(49000))], X_test[list(range(1000))]
    del X
    mean_image = np.mean(X_train, axis=0)
    X_train -= mean_image
    X_val -= mean_image
    X_test -= mean_image
    return [split.transpose(0, 3, 1, 2).copy() for split in (X_train, X_val, X_test)]


def _sweepnet(root: Path, **preprocessing: bool) -> list[np.ndarray]:
    from sweepnet.data import DataSpec, load_dataset
    from sweepnet.plugins.datasets import sweepnet_register_datasets
    from sweepnet.registry import Registry

    registry = Registry("dataset")
    sweepnet_register_datasets(registry)
    data = load_dataset(DataSpec(name="cifar10", data_dir=root.parent, **preprocessing), registry)
    return [data.X_train, data.X_val, data.X_test]


def _peak_rss() -> int:
    """Peak resident set size of this process, in bytes."""
    # VmHWM belongs to this process's own address space; ru_maxrss can also count the parent's
    # RSS at fork time, which would inflate every figure by the memory of the generator.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _child(mode: str, root: Path) -> None:
    """Run one mode and print its peak RSS and result size as JSON (for the parent)."""
    import sweepnet.data  # the imports every mode pays, measured by "imports only"
    import sweepnet.plugins.datasets  # noqa: F401

    start = time.perf_counter()
    arrays = {
        "imports only": lambda: [],
        "classic loader": lambda: _classic(root),
        "sweepnet": lambda: _sweepnet(root, subtract_mean=True),
        "sweepnet + standardize": lambda: _sweepnet(root, standardize=True),
    }[mode]()
    seconds = time.perf_counter() - start
    peak = _peak_rss()
    dtypes = sorted({str(a.dtype) for a in arrays})
    print(json.dumps({"peak": peak, "result": sum(a.nbytes for a in arrays), "dtypes": dtypes, "seconds": seconds}))


def main() -> None:
    """Generate the files, measure every mode in a fresh process, print the ratios."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "cifar-10-batches-py"
        _write_full_cifar(root)
        results = {}
        for mode in _MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(root)], check=True, capture_output=True, text=True
            )
            results[mode] = json.loads(out.stdout)

    baseline = results["imports only"]["peak"]
    float32_size = 51000 * 3 * 32 * 32 * 4  # the 49000 / 1000 / 1000 splits as float32
    print(f"CIFAR-10 splits 49000/1000/1000 as float32 (N, 3, 32, 32): {float32_size / _MB:.0f} MiB")
    print(f"interpreter + imports: {baseline / _MB:.0f} MiB peak RSS")
    print(f"{'mode':<24}{'peak RSS':>10}{'load peak':>11}{'peak/f32':>10}{'vs classic':>12}{'time':>8}  result")
    for mode in _MODES[1:]:
        r = results[mode]
        print(
            f"{mode:<24}{r['peak'] / _MB:>7.0f} MiB{(r['peak'] - baseline) / _MB:>7.0f} MiB"
            f"{r['peak'] / float32_size:>10.2f}{r['peak'] / results['classic loader']['peak']:>12.2f}"
            f"{r['seconds']:>7.1f}s  {r['result'] / _MB:.0f} MiB {','.join(r['dtypes'])}"
        )
    goal = results["sweepnet"]["peak"] / float32_size
    print(f"goal: sweepnet peak <= 2.00x the float32 arrays -> {goal:.2f}x {'OK' if goal <= 2 else 'MISSED'}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
