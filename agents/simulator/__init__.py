"""The simulated Messages API server: plain Python, no Django, part of the product.

`make demo` and the tests point the official anthropic SDK at it; setting a real
API key and base URL talks to Anthropic instead, with no code change.
"""

from __future__ import annotations

from agents.simulator.conversations import Turn
from agents.simulator.server import Simulator, SimulatorConfig

__all__ = ["Simulator", "SimulatorConfig", "Turn"]
