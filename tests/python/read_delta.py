"""Reads a Delta table the way a Fathom user would, and prints what the tests check.

Usage: read_delta.py TABLE_PATH_OR_URI   (s3:// tables use the AWS_* variables, as Fathom does)
Prints one JSON object: the row count seen by deltalake and by DuckDB, the column names, the
partition columns, and every row's (series, ts in microseconds, flag, stage, detector, region).
"""
import json
import os
import sys

import duckdb
from deltalake import DeltaTable

options = {}
if sys.argv[1].startswith("s3://"):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"):
        if name in os.environ:
            options[name] = os.environ[name]
    if "AWS_ENDPOINT" in os.environ:
        options["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT"]
table = DeltaTable(sys.argv[1], storage_options=options)
arrow_table = table.to_pyarrow_table()
dataset = table.to_pyarrow_dataset()
connection = duckdb.connect()
connection.register("anomalies", dataset)
duckdb_count = connection.execute("select count(*) from anomalies").fetchone()[0]
duckdb_dates = connection.execute("select count(distinct date) from anomalies").fetchone()[0]

rows = arrow_table.select(["series", "ts", "flag", "stage", "detector", "region"]).to_pylist()
print(json.dumps({
    "version": table.version(),
    "columns": arrow_table.column_names,
    "partition_columns": table.metadata().partition_columns,
    "count": arrow_table.num_rows,
    "duckdb_count": duckdb_count,
    "duckdb_dates": duckdb_dates,
    "rows": [
        {
            "series": row["series"],
            "ts": int(row["ts"].timestamp() * 1_000_000),
            "flag": row["flag"],
            "stage": row["stage"],
            "detector": row["detector"],
            "region": row["region"],
        }
        for row in rows
    ],
}))
