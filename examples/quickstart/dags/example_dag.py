"""An example DAG: two tasks that pass a value along."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule="@daily", start_date=datetime(2025, 1, 1), catchup=False, tags=["example"])
def example_pipeline():
    @task
    def extract() -> dict:
        return {"rows": 3}

    @task
    def load(data: dict) -> None:
        print(f"loaded {data['rows']} rows")

    load(extract())


example_pipeline()
