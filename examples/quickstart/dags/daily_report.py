"""Builds a small daily report with a helper from include/."""

from datetime import datetime

from airflow.sdk import dag, task

from include.helpers import summarize


@dag(schedule="@daily", start_date=datetime(2025, 1, 1), catchup=False, tags=["report"])
def daily_report():
    @task
    def numbers() -> list:
        return [3, 1, 2]

    @task
    def report(values: list) -> str:
        return summarize(values)

    report(numbers())


daily_report()
