"""Uploads a local directory into an S3-compatible server, the way a user's pipeline would land
telemetry: s3_upload.py ENDPOINT BUCKET PREFIX DIRECTORY (creates the bucket)."""
import pathlib
import sys

import boto3

endpoint, bucket, prefix, directory = sys.argv[1:5]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
)
s3.create_bucket(Bucket=bucket)
root = pathlib.Path(directory)
count = 0
for path in sorted(root.rglob("*")):
    if path.is_file():
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
        count += 1
print(count)
