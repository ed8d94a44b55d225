"""Node functions of the toy pipeline in test_dask.py (a module, so Dask workers can import them)."""

from __future__ import annotations

import os


def prepare(n: int) -> list[int]:
    return list(range(n))


def square(numbers: list[int], offset: int) -> dict:
    return {"values": [x * x + offset for x in numbers], "pid": os.getpid()}


def cube(numbers: list[int]) -> dict:
    return {"values": [x ** 3 for x in numbers], "pid": os.getpid()}


def combine(part_1: dict, part_2: dict) -> dict:
    return {"total": sum(part_1["values"]) + sum(part_2["values"]), "pid": os.getpid()}


def fail(numbers: list[int]) -> dict:
    raise ValueError(f"cannot handle {len(numbers)} numbers")
