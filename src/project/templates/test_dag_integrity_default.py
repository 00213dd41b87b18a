"""One test per file of the DAG folder: it must import without errors, unless it is
listed in .astro/dag_integrity_exceptions.txt. Connections and variables read while a
DAG file is parsed get stand-in values, so a DAG that needs them still loads.

Run it with `airlock pytest .astro/test_dag_integrity_default.py`.
"""

import os
from unittest import mock

import pytest
from airflow.models import DagBag

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
DAGS_DIR = os.path.join(PROJECT, "dags")
EXCEPTIONS = os.path.join(HERE, "dag_integrity_exceptions.txt")


def stand_in_connection(*args, **kwargs):
    from airflow.models.connection import Connection

    conn_id = kwargs.get("conn_id") or (args[-1] if args else "stand_in")
    return Connection(conn_id=str(conn_id), conn_type="generic")


def stand_in_variable(*args, **kwargs):
    for name in ("default_var", "default"):
        if kwargs.get(name) is not None:
            return kwargs[name]
    return "stand-in value"


def parse_dag_folder():
    patches = []
    for target, replacement in [
        ("airflow.hooks.base.BaseHook.get_connection", stand_in_connection),
        ("airflow.sdk.bases.hook.BaseHook.get_connection", stand_in_connection),
        ("airflow.models.variable.Variable.get", stand_in_variable),
        ("airflow.sdk.Variable.get", stand_in_variable),
    ]:
        try:
            patch = mock.patch(target, replacement)
            patch.start()
            patches.append(patch)
        except (ImportError, AttributeError):
            pass
    try:
        bag = DagBag(dag_folder=DAGS_DIR, include_examples=False)
    finally:
        for patch in patches:
            patch.stop()
    results = {path: str(error) for path, error in bag.import_errors.items()}
    for dag in bag.dags.values():
        results.setdefault(dag.fileloc, "")
    return sorted((os.path.relpath(path, PROJECT), error) for path, error in results.items())


def allowed_failures():
    if not os.path.exists(EXCEPTIONS):
        return set()
    with open(EXCEPTIONS) as f:
        return {line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")}


@pytest.mark.parametrize("path, error", parse_dag_folder())
def test_file_imports(path, error):
    if error and path not in allowed_failures():
        pytest.fail(f"{path} does not import:\n{error}")
