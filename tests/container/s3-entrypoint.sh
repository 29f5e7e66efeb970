#!/bin/sh
# SeaweedFS's S3 gateway with MINIO_ROOT_USER / MINIO_ROOT_PASSWORD as its one identity.
set -eu
cat > /tmp/s3.json <<JSON
{"identities": [{"name": "root",
  "credentials": [{"accessKey": "$MINIO_ROOT_USER", "secretKey": "$MINIO_ROOT_PASSWORD"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
exec weed server -dir=/data -master.volumeSizeLimitMB=64 -volume.max=16 -filer \
    -s3 -s3.port=9000 -s3.config=/tmp/s3.json -s3.port.iceberg=0 -s3.port.lance=0 \
    -iam=false -webdav=false -metricsPort=0
