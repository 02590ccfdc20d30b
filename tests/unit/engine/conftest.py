"""The simulated Messages API, started in-process on a free loopback port."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from agents.engine.grader import GradeJob
from agents.engine.llm import AnthropicModelClient
from agents.engine.rubric import load_rubric
from agents.engine.types import AgentJob, ModelPrice, RetryPolicy
from agents.simulator import Simulator, SimulatorConfig

PRICE = ModelPrice(
    input=Decimal(3), output=Decimal(15), cache_write=Decimal("3.75"), cache_read=Decimal("0.30")
)
# A hard gate and a soft criterion: the grader tests' rubric.
GRADER_RUBRIC = load_rubric(
    """
criteria:
  - {key: gate, description: The report names the site., kind: hard, weight: 0.4}
  - {key: depth, description: Findings are specific., kind: soft, weight: 0.6}
"""
)


def grade_job(grader: str, **overrides) -> GradeJob:
    """A grade of a small audit, played by the simulator's `[sim:grader=NAME]` script."""
    values = {
        "model": "claude-haiku-4-5",
        "price": PRICE,
        "rubric": GRADER_RUBRIC,
        "task": f"Audit the site. [sim:grader={grader}]",
        "output": "# Audit of acmebakery.test\n- Titles repeat.",
        "retry": RetryPolicy(attempts=2, base_backoff=0.01, max_backoff=0.02),
    }
    return GradeJob(**{**values, **overrides})


@pytest.fixture
def simulator():
    with Simulator(SimulatorConfig(seed=7)) as sim:
        yield sim


@pytest.fixture
def model(simulator):
    return AnthropicModelClient(api_key="sk-ant-test-not-a-real-key", base_url=simulator.url)


class ListSink:
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)

    def types(self):
        return [e.type for e in self.events]


@pytest.fixture
def sink():
    return ListSink()


class FakeClock:
    """Monotonic time that only moves when the engine sleeps (or a test says so)."""

    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def make_job(script: str | None = None, **overrides) -> AgentJob:
    system = "You audit websites for an agency."
    if script:
        system += f" [sim:script={script}]"
    job = AgentJob(
        model="claude-sonnet-4-6",
        system=system,
        prompt="Audit https://acmebakery.test for SEO problems.",
        price=PRICE,
        retry=RetryPolicy(attempts=3, base_backoff=0.01, max_backoff=0.05),
    )
    return replace(job, **overrides)
