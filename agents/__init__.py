"""Agents, runs, rubrics, grades and memory; the run engine lives in agents/engine/."""
