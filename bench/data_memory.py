"""Peak memory of loading data: CIFAR-10 against the classic loader, and a 1.25 GB synthetic set.

Part 1 generates CIFAR-10 files of the real size (5 training batches of 10000 images +
test_batch, pickled exactly like the originals) into a temporary directory, then loads them in
fresh subprocesses and reads each one's peak RSS. The goal: sweepnet's loader peaks at no more
than 2x the size of the float32 arrays it returns (train + val + test, channels-first).

Part 2 (issue 14: one copy of the data on the driver) takes a synthetic set of 1.25 GB generated
as float64 (125,000 samples x 1,250 features) through ``sweepnet validate`` and through the
driver of ``run_sweep``, each in a fresh subprocess, against baselines run in that same process
(``/proc/self/clear_refs`` resets the peak between them): the former generator (a float64 draw
cast with a copy), and the former hand-off (the driver keeping its own copy beside the object
store's). Goals: ``validate`` peaks below 1.25x the set; the driver holds it once after
``ray.put`` (below 1.25x), half the former hand-off.

    .venv/bin/python bench/data_memory.py            # both parts
    .venv/bin/python bench/data_memory.py synthetic  # part 2 only
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

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
    print(_machine())
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


# --------------------------------------------------------------------------- part 2: synthetic set

_SYNTHETIC = {"num_training": 120_000, "num_validation": 2_500, "num_test": 2_500, "input_shape": [1_250]}
_SYNTHETIC_BYTES = 125_000 * 1_250 * 8  # float64
_SWEEP = f"""\
name: data-memory
data: {{name: synthetic, options: {json.dumps({**_SYNTHETIC, "dtype": "float64"})}}}
model: {{name: softmax, num_iters: 1, batch_size: 100}}
search: {{searcher: random, num_samples: 1}}
tracking: {{enabled: false}}
"""


def _memory() -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` (peak), ``RssAnon`` (private) and ``RssShmem`` (shared: Ray's object
    store as mapped into this process), in bytes."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssShmem"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def _former_generation() -> int:
    """Peak RSS of the former synthetic generator: a float64 draw, then a cast that copies it."""
    _reset_peak()
    X = np.random.default_rng(0).standard_normal((125_000, *_SYNTHETIC["input_shape"]))
    X = X.astype(np.float64)
    peak = _memory()["VmHWM"]
    del X
    return peak


def _child_validate(sweep: Path) -> None:
    import contextlib
    import io

    import sweepnet.plugins.datasets  # noqa: F401 (imports paid before either measure)
    from sweepnet.cli import main as sweepnet_main

    baseline = _former_generation()
    _reset_peak()
    with contextlib.redirect_stdout(io.StringIO()):
        status = sweepnet_main(["validate", str(sweep)])
    print(json.dumps({"status": status, "peak": _memory()["VmHWM"], "baseline": baseline}))


def _child_driver(sweep: Path) -> None:
    import ray

    from sweepnet import hookimpl
    from sweepnet.config import load_plan
    from sweepnet.pluginmanager import get_plugin_manager
    from sweepnet.scheduler import run_sweep

    marks: dict[str, dict[str, int]] = {}

    class Probe:
        @hookimpl
        def sweepnet_sweep_prepare(self, sweep):  # the data set is loaded and checked
            marks["loaded"] = _memory()
            _reset_peak()  # from here: the hand-off to the object store

        @hookimpl
        def sweepnet_sweep_start(self, sweep):  # after ray.put, before any trial
            marks["held"] = _memory()

    get_plugin_manager().register(Probe())
    plan = load_plan(sweep)
    run_sweep(plan, max_concurrent=1)
    # The former hand-off, in this process: the driver keeps its copy beside the object store's.
    dataset = plan.load_dataset()
    _reset_peak()
    reference = ray.put(dataset)
    marks["former"] = _memory()
    del dataset, reference
    print(json.dumps(marks))


def synthetic() -> None:
    """Part 2: ``validate`` and the sweep driver on a 1.25 GB float64 synthetic set."""
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "data-memory.yaml"
        sweep.write_text(_SWEEP)
        results = {}
        for mode in ("validate", "driver"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(sweep)], capture_output=True, text=True, cwd=tmp
            )
            if out.returncode != 0:
                raise SystemExit(f"the {mode} child failed:\n{out.stderr[-3000:]}")
            results[mode] = json.loads(out.stdout.splitlines()[-1])
    size = _SYNTHETIC_BYTES
    validate, driver = results["validate"], results["driver"]
    held = driver["held"]["VmRSS"]
    former = driver["former"]["VmRSS"]
    print(f"synthetic set 125000 x 1250 float64: {size / _MB:.0f} MiB (peaks include ~0.1-0.3 GB of imports)")
    print(f"{'measure':<44}{'sweepnet':>12}{'x set':>8}{'baseline':>12}{'x set':>8}{'ratio':>8}")
    rows = [
        ("validate: peak RSS", validate["peak"], validate["baseline"], "former generator (draw + cast)"),
        ("driver: RSS with the data set loaded", driver["loaded"]["VmRSS"], None, ""),
        ("driver: RSS held after ray.put", held, former, "own copy + object store's"),
        ("driver: peak while putting it", driver["held"]["VmHWM"], driver["former"]["VmHWM"], "the same, former"),
    ]
    for name, value, baseline, what in rows:
        line = f"{name:<44}{value / _MB:>8.0f} MiB{value / size:>8.2f}"
        if baseline is not None:
            line += f"{baseline / _MB:>8.0f} MiB{baseline / size:>8.2f}{value / baseline:>8.2f}  {what}"
        print(line)
    print(
        f"  held after ray.put: {driver['held']['RssAnon'] / _MB:.0f} MiB private + "
        f"{driver['held']['RssShmem'] / _MB:.0f} MiB object store (mapped); former: "
        f"{driver['former']['RssAnon'] / _MB:.0f} MiB private + {driver['former']['RssShmem'] / _MB:.0f} MiB"
    )
    for name, value, goal in (("validate peak", validate["peak"], 1.25), ("driver held", held, 1.25)):
        ratio = value / size
        print(f"goal: {name} <= {goal:.2f}x the set -> {ratio:.2f}x {'OK' if ratio <= goal else 'MISSED'}")
    verdict = "OK" if held / former <= 0.6 else "MISSED"
    print(f"goal: driver held <= 0.60x the former hand-off -> {held / former:.2f}x {verdict}")


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = f"{names[0]} x{len(names)}" if names else cpu
    blas = [
        f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')} kernels)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    return f"CPU: {cpu}; BLAS: {', '.join(blas) or 'none found'}"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        children = {"validate": _child_validate, "driver": _child_driver}
        if sys.argv[2] in children:
            children[sys.argv[2]](Path(sys.argv[3]))
        else:
            _child(sys.argv[2], Path(sys.argv[3]))
    elif sys.argv[1:] == ["synthetic"]:
        print(_machine())
        synthetic()
    else:
        main()
        synthetic()
