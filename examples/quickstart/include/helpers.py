"""Helpers shared by the DAGs."""


def summarize(values: list) -> str:
    return f"{len(values)} values, total {sum(values)}"
