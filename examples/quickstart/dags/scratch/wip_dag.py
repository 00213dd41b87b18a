# An unfinished DAG kept out of the image by dags/.airflowignore.
