"""Rayline's benchmarks against the tools users would pick instead; results are JSON."""
