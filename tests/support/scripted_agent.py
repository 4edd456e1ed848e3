"""A real agent CLI for tests, run by the command runtime: `scripted_agent.py ROLE`.

It answers each role with a valid JSON result. `SCRIPTED_AGENT` changes one role's
behaviour, e.g. `builder=hang` (edit a file, then never finish), `builder=flood` (30,000
lines of output), `builder=garbage` (no JSON),
`builder=crash` (exit 3), `builder=slow` (three seconds, then done), `builder=leak` (also
writes `$SCRIPTED_CONTENT` to leak.py), `strategist=fresh` (a new title every time).
`$SCRIPTED_FILES`, a JSON object of path -> text (null deletes), is what the Builder writes
instead of greet.py. For runs of several experiments at once, `$SCRIPTED_HYPOTHESES` (a
JSON list) is what the Strategist proposes, and `$SCRIPTED_BUILDS` maps a hypothesis title
to `{"files": {...}, "sleep": seconds, "hang": true, "hang_on": node}`: what the Builder does
when its prompt (the file given as the second argument) names that title. `<role>=attack`
runs the attacks `$SCRIPTED_ATTACK` names (`tests/support/attacks.py`, joined with +) before
the role answers as usual. When it hangs it writes its pid to `$SCRIPTED_AGENT_PIDFILE` and
exits on its own once orphaned, so a killed test run leaves nothing behind.
"""

import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

role = sys.argv[1]
prompt = Path(sys.argv[2]).read_text() if len(sys.argv) > 2 else ""
behaviour = dict(
    item.split("=", 1) for item in os.environ.get("SCRIPTED_AGENT", "").split(",") if "=" in item
).get(role, "")


def final(result: dict) -> None:
    print("Done.\n```json\n" + json.dumps(result) + "\n```", flush=True)


def hang() -> None:
    pidfile = os.environ.get("SCRIPTED_AGENT_PIDFILE")
    if pidfile:  # seen from outside only when the agent is not sandboxed
        with contextlib.suppress(OSError):
            Path(pidfile).write_text(str(os.getpid()))
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.05)
    sys.exit(0)


if behaviour == "attack":
    sys.path.insert(0, str(Path(__file__).parent))
    import attacks

    attacks.run(os.environ["SCRIPTED_ATTACK"])

if behaviour == "crash":
    print("something went wrong", flush=True)
    sys.exit(3)
if behaviour == "garbage":
    print("I changed things but forgot the JSON.", flush=True)
    sys.exit(0)

if role == "researcher":
    print("reading the project", flush=True)
    final(
        {
            "summary": "greet.py is missing",
            "findings": [
                {
                    "title": "no greeting",
                    "detail": "add one",
                    "area": "spec",
                    "evidence": "README.md",
                }
            ],
        }
    )
elif role == "strategist" and os.environ.get("SCRIPTED_HYPOTHESES"):
    proposed = json.loads(os.environ["SCRIPTED_HYPOTHESES"])
    final({"hypotheses": [{"rationale": "asked", "expected_gain": 0.1, **h} for h in proposed]})
elif role == "strategist":
    title = "Add a greeting module"
    if behaviour == "fresh":
        title += f" ({uuid.uuid4().hex[:8]})"
    final(
        {
            "hypotheses": [
                {
                    "title": title,
                    "rationale": "the spec asks",
                    "expected_gain": 0.1,
                    "effort": "S",
                    "files": ["greet.py"],
                }
            ]
        }
    )
elif role == "builder" and os.environ.get("SCRIPTED_BUILDS"):
    builds = json.loads(os.environ["SCRIPTED_BUILDS"])
    title, build = next((t, b) for t, b in builds.items() if t in prompt)
    time.sleep(build.get("sleep", 0))
    for name, text in build["files"].items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text)
        print(f"Edit {name}", flush=True)
    # "hang_on": hang only on the Ray node started with that $SCRIPTED_NODE.
    if build.get("hang") or build.get("hang_on", False) == os.environ.get("SCRIPTED_NODE"):
        hang()
    final(
        {
            "summary": f"built {title}",
            "files_changed": list(build["files"]),
            "commit_message": title,
        }
    )
elif role == "builder":
    content = os.environ.get("SCRIPTED_CONTENT")
    if behaviour == "leak" and content:
        Path("leak.py").write_text(content)
    files = json.loads(os.environ.get("SCRIPTED_FILES") or "null") or {
        "greet.py": 'def greet(name):\n    return f"hello {name}"\n'
    }
    for name, text in files.items():
        if text is None:
            Path(name).unlink(missing_ok=True)
        else:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            Path(name).write_text(text)
        print(f"Edit {name}", flush=True)
    if behaviour == "flood":  # far more output than anyone could read
        for number in range(30_000):
            print(f"progress line {number}")
        print("x" * 50_000, flush=True)
    if behaviour == "hang":
        hang()
    if behaviour == "slow":
        time.sleep(3)
    final(
        {
            "summary": os.environ.get("SCRIPTED_SUMMARY", "added greet.py"),
            "files_changed": ["greet.py"],
            "commit_message": "Add a greeting module",
        }
    )
elif role == "reviewer":
    final({"verdict": "approve", "concerns": [], "summary": "fine"})
elif role == "archivist":
    final({"note": "# note\n\ndone", "lessons": []})
elif role == "failure_analyst":
    final({"summary": "no failures", "failures": []})
elif role == "distiller":
    final({"spec": "# Spec", "questions": [], "summary": "a spec"})
