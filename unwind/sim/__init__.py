"""Emulator-based sampler: runs a program under unicorn and samples it with exact ground truth."""
