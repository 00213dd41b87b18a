"""Checks every DAG in dags/ should pass before it ships: it imports without errors,
it has tags, and its tasks retry at least twice. Run them with `airlock pytest`
(also run by `airlock deploy --pytest`)."""

import os

import pytest
from airflow.models import DagBag

DAGS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "dags")
MIN_RETRIES = 2


def load_dags():
    return DagBag(dag_folder=DAGS_DIR, include_examples=False)


BAG = load_dags()


def test_no_import_errors():
    problems = {os.path.relpath(path, DAGS_DIR): error for path, error in BAG.import_errors.items()}
    assert not problems, f"DAG files that fail to import: {problems}"


@pytest.mark.parametrize("dag_id", sorted(BAG.dag_ids))
def test_dag_has_tags(dag_id):
    assert BAG.dags[dag_id].tags, f"{dag_id} has no tags"


@pytest.mark.parametrize("dag_id", sorted(BAG.dag_ids))
def test_dag_retries(dag_id):
    retries = BAG.dags[dag_id].default_args.get("retries", 0)
    assert retries >= MIN_RETRIES, f"{dag_id} retries {retries} time(s), fewer than {MIN_RETRIES}"
