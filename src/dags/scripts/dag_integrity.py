"""airlock's DAG-integrity check, run inside the image's sandbox.

Loads Airflow's DagBag from the DAG folder given as argv[1] with connections,
variables and secrets stubbed, so that a DAG that reads them at parse time still
loads, and prints one line `AIRLOCK-RESULT: {json}` with the import errors per file.
Works with Airflow 2.x and 3.x.
"""

import json
import os
import sys
import time
from unittest import mock

started = time.time()
dag_folder = sys.argv[1]

# The image's own environment (AIRFLOW_HOME included) is kept; airlock adds only
# what keeps Airflow writable in the sandbox. The DAG folder is the project's.
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = dag_folder


def stub_connection(*args, **kwargs):
    conn_id = kwargs.get("conn_id") or (args[-1] if args else "stub")
    from airflow.models.connection import Connection

    return Connection(conn_id=str(conn_id), conn_type="generic", host="localhost", login="stub", password="stub")


def stub_variable(*args, **kwargs):
    for name in ("default_var", "default"):
        if name in kwargs and kwargs[name] is not None:
            return kwargs[name]
    return "NOT_SET"


targets = [
    ("airflow.hooks.base.BaseHook.get_connection", stub_connection),
    ("airflow.sdk.bases.hook.BaseHook.get_connection", stub_connection),
    ("airflow.models.connection.Connection.get_connection_from_secrets", stub_connection),
    ("airflow.models.variable.Variable.get", stub_variable),
    ("airflow.sdk.definitions.variable.Variable.get", stub_variable),
    ("airflow.sdk.Variable.get", stub_variable),
]
patches = []
for target, replacement in targets:
    try:
        patcher = mock.patch(target, replacement)
        patcher.start()
        patches.append(target)
    except (ImportError, AttributeError):
        pass

imported = time.time()
try:
    from airflow.models.dagbag import DagBag
except ImportError:
    from airflow.models import DagBag

bag = DagBag(dag_folder=dag_folder, include_examples=False)
errors = [{"file": path, "message": str(message)} for path, message in sorted(bag.import_errors.items())]
print(
    "AIRLOCK-RESULT: "
    + json.dumps(
        {
            "dags": sorted(bag.dag_ids),
            "errors": errors,
            "stubbed": patches,
            "import_seconds": imported - started,
            "parse_seconds": time.time() - imported,
        }
    )
)
