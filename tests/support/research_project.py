"""A research project: a sentiment rule whose accuracy on a held-out set is the metric.

`data/holdout.jsonl` (the ground truth) and `eval/score.py` (the metric) are the fixed
surfaces: experiments may neither change nor see them. The rule's THRESHOLD starts too high,
so positive sentences with one or two positive words are misread; turning it down helps.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

POSITIVE = [
    "the cinematography was good and moving",
    "a good story with marvelous actors",
    "i love the soundtrack of this one",
    "great pacing and a great cast",
    "the ending was fine and good overall",
    "fun from start to finish really",
    "an excellent debut from the director",
    "good performances in every single scene",
    "i would love to watch it again soon",
    "a great little film about friendship here",
]
NEGATIVE = [
    "the plot was bad and boring",
    "awful dialogue and poor acting",
    "i hate how long it dragged on",
    "a boring film with a bad ending",
    "the sound was poor throughout",
    "it was a film about a town",
    "the cast walked through a long script",
    "nothing happens for two full hours",
    "a bad remake of an awful original",
    "the story went nowhere at all",
]

SENTIMENT = '''\
"""A keyword rule for the sentiment of a short review."""

POSITIVE = {"good", "great", "love", "excellent", "fun", "fine"}
NEGATIVE = {"bad", "awful", "hate", "boring", "poor"}
THRESHOLD = 0.4


def classify(text):
    words = text.lower().split()
    score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    return "positive" if score / max(len(words), 1) > THRESHOLD else "negative"
'''

SCORE = """\
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sentiment import classify  # noqa: E402

cases = [json.loads(line) for line in (ROOT / "data" / "holdout.jsonl").read_text().splitlines()]
failures = []
for case in cases:
    got = classify(case["text"])
    if got != case["label"]:
        failures.append({"text": case["text"], "expected": case["label"], "got": got})
print(json.dumps({"score": 1 - len(failures) / len(cases), "failures": failures}))
"""

TEST = """\
from sentiment import classify


def test_a_review_full_of_praise_is_positive():
    assert classify("good great love") == "positive"
"""


def research_files() -> dict[str, str]:
    holdout = [
        {"text": t, "label": "positive", "confidence": 0.8731 if i == 0 else 0.9}
        for i, t in enumerate(POSITIVE)
    ]
    holdout += [{"text": t, "label": "negative", "confidence": 0.9} for t in NEGATIVE]
    return {
        "pyproject.toml": '[tool.ruff.lint]\nselect = ["E4", "E7", "E9", "F"]\n',
        "sentiment.py": SENTIMENT,
        "eval/score.py": SCORE,
        "data/holdout.jsonl": "\n".join(json.dumps(case) for case in holdout) + "\n",
        "tests/test_sentiment.py": TEST,
    }


def research_config(root: Path, extra: str = "") -> None:
    config = root / ".factory" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[research]\ncommand = "{sys.executable} eval/score.py"\nparse = "json"\n'
        f'fixed = ["data/", "eval/"]\n{extra}',
        encoding="utf-8",
    )
