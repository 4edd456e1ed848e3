"""How fast the eval scores a project: cold, warm (cached), and against its slowest part.

For the bundled example and for a generated project of a few hundred modules, prints the
cold evaluation time (every tool runs), the warm time (the same tree again: served from the
cache), and each dimension run alone, so the cold time can be compared with the slowest
single dimension (the dimensions run concurrently; the target is cold <= 1.2x slowest).

    python benchmarks/eval_speed.py [--modules 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from factory_tui.engine.config import EvalConfig
from factory_tui.eval import hygiene, tools
from factory_tui.eval.code_scan import scan_code
from factory_tui.eval.detect import detect
from factory_tui.eval.evaluator import EvalRequest, Evaluator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "inventory"


def generate(root: Path, modules: int) -> None:
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["E4", "E7", "E9", "F"]\n')
    (root / "pkg" / "__init__.py").write_text("")
    for index in range(modules):
        functions = "\n\n".join(
            f"def f{index}_{n}(value):\n    if value > {n}:\n        return value - {n}\n"
            f"    return value + {n}\n"
            for n in range(6)
        )
        (root / "pkg" / f"m{index:04d}.py").write_text(f'"""Module {index}."""\n\n\n{functions}')
        if index % 3 == 0:
            (root / "tests" / f"test_m{index:04d}.py").write_text(
                f"from pkg.m{index:04d} import f{index}_0, f{index}_1\n\n\n"
                f"def test_{index}():\n    assert f{index}_0(5) == 5\n"
                f"    assert f{index}_1(0) == 1\n"
            )


async def dimensions_alone(root: Path) -> dict[str, float]:
    checkout = hygiene.Checkout(
        root=root,
        python=sys.executable,
        kind=detect(root),
        config=EvalConfig(),
        on_line=tools.quiet,
    )
    jobs = {
        "tests+coverage": lambda: hygiene.tests_and_coverage(checkout),
        "lint": lambda: hygiene.lint(checkout, asyncio.to_thread(scan_code, root)),
        "code scan": lambda: asyncio.to_thread(scan_code, root),
        "types": lambda: hygiene.types(checkout, scan_code(root)),
        "config": lambda: asyncio.to_thread(hygiene.config_files, checkout),
    }
    timings = {}
    for name, job in jobs.items():
        started = time.perf_counter()
        await job()
        timings[name] = time.perf_counter() - started
    return timings


async def bench(label: str, root: Path, runs: int) -> None:
    cold, warm = [], []
    for run in range(runs):
        state = root.parent / f"state-{run}"
        evaluator = Evaluator(EvalConfig(), state, sys.executable)
        started = time.perf_counter()
        await evaluator.evaluate(root, "tree", request=EvalRequest())
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        card = await evaluator.evaluate(root, "tree", request=EvalRequest())
        warm.append(time.perf_counter() - started)
        assert card.cached
    alone = await dimensions_alone(root)
    slowest = max(alone, key=alone.get)
    cold_median = statistics.median(cold)
    print(f"{label}: {tools.count_lines(root):,} lines of Python")
    print(f"  cold  median {cold_median:6.2f} s   (runs: {', '.join(f'{c:.2f}' for c in cold)})")
    print(f"  warm  median {statistics.median(warm) * 1000:6.1f} ms  (target: under 50 ms)")
    print("  alone " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in alone.items()))
    print(
        f"  cold / slowest alone ({slowest}) = {cold_median / alone[slowest]:.2f}x "
        f"(target: at most 1.2x)"
    )


async def main_async(modules: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="factory-eval-bench-") as scratch:
        example = Path(scratch) / "example" / "inventory"
        shutil.copytree(EXAMPLE, example)
        await bench("example project", example, runs)
        generated = Path(scratch) / "generated" / "project"
        generate(generated, modules)
        await bench(f"generated project ({modules} modules)", generated, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main_async(args.modules, args.runs))


if __name__ == "__main__":
    main()
