"""How fast hostile rubric text is refused: YAML alias bombs and oversized documents.

What it measures: the wall time and memory of `agents.engine.rubric.load_rubric`,
the whole of the work the rubric editor's live check (`rubric_check`) and every
rubric save do with the posted text, on:

- alias bombs ("billion laughs") of levels 1 to 9: level N is N+1 lines, each
  an anchored list of nine aliases of the line before; level 8 is the 432-byte
  document that used to cost 4.6 s of CPU and 230 MB per request;
- `[` repeated up to the size cap (the deepest document the cap lets through; PyYAML's
  scanner looks ahead up to 1,024 characters for a possible key and rechecks every open
  level at each token, so this costs about 0.1 s whatever the length, then the depth
  limit stops it);
- a valid rubric padded with comments to just under the 20,000-character cap,
  and one character over it.

Each document is loaded `--repeat` times; it prints the median and worst time,
the growth of the process's peak memory, and what the editor would say.

Goal: the level-8 bomb is refused in under 50 ms (worst of the repeats / 50 ms).
No database, broker or simulator is needed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.engine.rubric import MAX_SOURCE_CHARS, RubricError, load_rubric

GOAL_MS = 50.0

VALID = """floor: 7.5
max_revisions: 2
criteria:
  - key: complete
    description: Every dimension has a finding.
    kind: hard
    weight: 0.5
  - key: actionable
    description: Each finding names the URL to change.
    kind: soft
    weight: 0.5
"""


def bomb(levels: int) -> str:
    """The "billion laughs": level N expands to 9**(N+1) strings (the unit tests use it too)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{n}: &a{n} [{','.join([f'*a{n - 1}'] * 9)}]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def padded(size: int) -> str:
    filler = "# " + "x" * 76 + "\n"
    text = VALID
    while len(text) + len(filler) <= size:
        text += filler
    return text + "#" * (size - len(text))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, text: str, repeat: int) -> float:
    times: list[float] = []
    before = peak_rss_mb()
    verdict = "accepted"
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            load_rubric(text)
            verdict = "accepted"
        except RubricError as exc:
            verdict = "refused: " + str(exc.problems[0])
        times.append((time.perf_counter() - started) * 1000)
    grown = peak_rss_mb() - before
    print(
        f"{name:<28} {len(text):>7,} B  median {statistics.median(times):8.2f} ms  "
        f"worst {max(times):8.2f} ms  peak memory +{grown:.1f} MB  {verdict}"
    )
    return max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"load_rubric on hostile text, {args.repeat} loads each, Python {sys.version.split()[0]}")
    worst_level8 = 0.0
    for levels in range(1, 10):
        worst = measure(f"alias bomb, level {levels}", bomb(levels), args.repeat)
        if levels == 8:
            worst_level8 = worst
    measure("nested [ up to the cap", "[" * MAX_SOURCE_CHARS, args.repeat)
    measure("valid rubric at the cap", padded(MAX_SOURCE_CHARS), args.repeat)
    measure("one character over the cap", padded(MAX_SOURCE_CHARS + 1), args.repeat)
    ratio = worst_level8 / GOAL_MS
    verdict = "met" if ratio < 1 else "NOT met"
    print(
        f"goal: level-8 bomb refused in under {GOAL_MS:.0f} ms; worst {worst_level8:.2f} ms, "
        f"ratio {ratio:.3f} ({verdict})"
    )


if __name__ == "__main__":
    main()
