"""The offline Builder's project template: what a new Python project needs on day one.

Packaging metadata with a console script, the package with a working CLI, a passing test,
a README drawn from the spec, CI, and a .gitignore: a project the factory can measure and
improve from its first cycle.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from factory_tui.engine.build import ProjectNames
from factory_tui.engine.spec import parse_spec

GITIGNORE = """\
__pycache__/
*.py[cod]
.venv/
.pytest_cache/
.ruff_cache/
.coverage
dist/
build/
*.egg-info/
"""

CI = """\
name: CI
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install pytest ruff
      - run: ruff check .
      - run: python -m pytest -q
"""


def template(names: ProjectNames, spec_text: str) -> dict[str, str]:
    """Every file of the new project, by path."""
    spec = parse_spec(spec_text)
    package, command = names.package, names.command
    summary = (spec.section("Problem").splitlines() or [spec.title])[0].strip()
    features = spec.bullets("Features")
    feature_list = "\n".join(f"- {f}" for f in features) or "- (to be specified)"
    quoted = summary.replace("\\", "\\\\").replace('"', '\\"')
    return {
        "pyproject.toml": textwrap.dedent(f"""\
            [project]
            name = "{command}"
            version = "0.1.0"
            description = "{quoted}"
            readme = "README.md"
            requires-python = ">=3.11"

            [project.scripts]
            {command} = "{package}.cli:main"

            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [tool.pytest.ini_options]
            testpaths = ["tests"]

            [tool.ruff.lint]
            select = ["E4", "E7", "E9", "F"]
            """),
        f"{package}/__init__.py": f'"""{spec.title}."""\n\n__version__ = "0.1.0"\n',
        f"{package}/cli.py": textwrap.dedent(f'''\
            """The command line of {spec.title}."""

            import argparse
            import logging

            from . import __version__

            log = logging.getLogger(__name__)
            DESCRIPTION = "{quoted}"


            def build_parser() -> argparse.ArgumentParser:
                parser = argparse.ArgumentParser(prog="{command}", description=DESCRIPTION)
                parser.add_argument("--version", action="version", version=__version__)
                return parser


            def main(argv: list[str] | None = None) -> int:
                build_parser().parse_args(argv)
                log.debug("started")
                print(DESCRIPTION)
                return 0


            if __name__ == "__main__":
                raise SystemExit(main())
            '''),
        "tests/test_cli.py": textwrap.dedent(f"""\
            from {package}.cli import DESCRIPTION, main


            def test_main_describes_the_project(capsys):
                assert main([]) == 0
                assert DESCRIPTION in capsys.readouterr().out
            """),
        "README.md": f"# {spec.title}\n\n{summary}\n\n"
        "Status: a scaffold. The features below are the backlog, not built yet.\n\n"
        f"## Features\n\n{feature_list}\n\n"
        f"## Usage\n\n```sh\npip install -e .\n{command} --help\n```\n",
        "docs/SPEC.md": spec_text,
        ".github/workflows/ci.yml": CI,
        ".gitignore": GITIGNORE,
    }


def write_template(folder: Path, names: ProjectNames, spec_text: str) -> list[str]:
    written = []
    for relative, text in template(names, spec_text).items():
        path = folder / relative
        if path.exists():
            continue  # never overwrite what is already there
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(relative)
    return written
