"""An example DAG: two tasks that pass a value along, retried twice on failure."""

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
)
def example_pipeline():
    @task
    def extract() -> dict:
        return {"rows": 3}

    @task
    def load(data: dict) -> None:
        print(f"loaded {data['rows']} rows")

    load(extract())


example_pipeline()
