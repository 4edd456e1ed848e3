"""Several experiments at once: the wall time of 8 experiments at --parallel 1, 2 and 4.

A generated project of 8 modules, each with an unused import. The scripted agent (the
command runtime, sandboxed as a real agent is) proposes one hypothesis per module, and its
Builder takes a fixed time before it edits (2 s by default, standing in for a model), so
the work is agent-bound as with a real one. Each run is the real CLI from the shell,
`factory ceo --headless --parallel N --cycles 8/N`, on a fresh copy of the project; it
prints the wall time, the ratio to --parallel 1, how many experiments were kept and how many
were measured again on a base another keep had moved. With --ray, the same runs again with
`--executor ray` on a Ray cluster started here (a head and a worker node), and Ray's overhead
per experiment is the difference in wall time over the experiments.

    python benchmarks/parallel.py [--latency 2] [--experiments 8] [--parallel 1 2 4] [--ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import git

from factory_tui.engine.events import read_events
from factory_tui.engine.store import Store

AGENT = Path(__file__).resolve().parents[1] / "tests" / "support" / "scripted_agent.py"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
RUFF = '[tool.ruff.lint]\nselect = ["E4", "E7", "E9", "F"]\n'


def generate(root: Path, modules: int) -> tuple[list[dict[str, object]], dict[str, object]]:
    """The project, committed; and what the Strategist proposes and the Builder does."""
    (root / "calc").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(RUFF)
    (root / "calc" / "__init__.py").write_text("")
    tests = []
    hypotheses, builds = [], {}
    for index in range(modules):
        body = f"def f{index}(x):\n    return x + {index}\n"
        (root / "calc" / f"m{index}.py").write_text(f"import os\n\n\n{body}")
        tests.append(f"from calc.m{index} import f{index}\n\n\ndef test_f{index}():\n")
        tests.append(f"    assert f{index}(1) == {index + 1}\n\n\n")
        title = f"Drop the unused import from calc/m{index}.py"
        hypotheses.append({"title": title, "files": [f"calc/m{index}.py"], "category": "lint"})
        builds[title] = {"files": {f"calc/m{index}.py": body}}
    (root / "tests" / "test_calc.py").write_text("".join(tests).rstrip() + "\n")
    repo = git.Repo.init(root, initial_branch="main")
    repo.git.add("--all")
    with repo.git.custom_environment(**IDENTITY):
        repo.git.commit("-q", "-m", "a generated project")
    config = root / ".factory" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        f'runtime = "command"\n[agents]\ncommand = "{sys.executable} {AGENT} {{role}} '
        '{prompt_file}"\n[run]\nray_env = ["SCRIPTED_HYPOTHESES", "SCRIPTED_BUILDS"]\n'
    )
    return hypotheses, builds


def run(
    template: Path, parallel: int, experiments: int, env: dict[str, str], executor: str
) -> tuple[float, Path]:
    root = Path(tempfile.mkdtemp(prefix=f"factory-parallel-{parallel}-")) / "project"
    shutil.copytree(template, root, symlinks=True)
    cycles = -(-experiments // parallel)
    argv = [sys.executable, "-m", "factory_tui", "ceo", str(root), "--headless", "-q"]
    argv += ["--parallel", str(parallel), "--cycles", str(cycles), "--executor", executor]
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"--parallel {parallel} failed:\n{result.stdout}\n{result.stderr}")
    return wall, root


def measure(
    template: Path, args: argparse.Namespace, env: dict[str, str], executor: str
) -> dict[int, float]:
    walls: dict[int, float] = {}
    for parallel in args.parallel:
        wall, root = run(template, parallel, args.experiments, env, executor)
        store = Store(root)
        done = [store.load_experiment(row.id) for row in store.experiment_rows()[0]]
        kept = sum(e.status == "kept" for e in done)
        replayed = sum(
            "replayed onto it" in getattr(event, "message", "")
            for event in read_events(store.events_path)
        )
        walls[parallel] = wall
        first = walls[args.parallel[0]]
        print(
            f"{executor:>5} --parallel {parallel}: {wall:6.1f} s  {wall / first:4.2f}x of "
            f"--parallel {args.parallel[0]}  ({len(done)} experiments, {kept} kept, "
            f"{replayed} replayed onto a base a keep had moved)"
        )
        shutil.rmtree(root.parent, ignore_errors=True)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=2.0, help="the Builder's seconds")
    parser.add_argument("--experiments", type=int, default=8)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--ray", action="store_true", help="also on a local Ray cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="factory-parallel-") as scratch:
        template = Path(scratch) / "project"
        hypotheses, builds = generate(template, args.experiments)
        for build in builds.values():
            build["sleep"] = args.latency  # type: ignore[index]
        env = dict(os.environ)
        env["SCRIPTED_HYPOTHESES"] = json.dumps(hypotheses)
        env["SCRIPTED_BUILDS"] = json.dumps(builds)
        print(
            f"{args.experiments} experiments, a Builder of {args.latency:g} s, "
            f"{os.cpu_count()} CPU(s)"
        )
        local = measure(template, args, env, "local")
        if args.ray:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.support.ray_cluster import Cluster

            # Short: Ray's socket paths live under it.
            folder = Path(tempfile.mkdtemp(prefix="fray-", dir="/tmp"))
            cluster = Cluster(folder, cpus=max(args.parallel) // 2 or 1)
            try:
                on_ray = measure(template, args, {**env, "RAY_ADDRESS": cluster.address}, "ray")
            finally:
                cluster.stop()
                shutil.rmtree(folder, ignore_errors=True)
            for parallel, wall in on_ray.items():
                overhead = (wall - local[parallel]) / args.experiments
                print(f"Ray's overhead at --parallel {parallel}: {overhead:+.2f} s an experiment")
    print("target: --parallel 4 at most 0.4x of --parallel 1 when the work is agent-bound")


if __name__ == "__main__":
    main()
