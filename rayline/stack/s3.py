"""The S3 side of the stack: the credentials Rayline's own clients use and the artifact bucket."""

from __future__ import annotations

from rayline.settings import Settings


def s3_credentials(settings: Settings) -> dict[str, str]:
    """boto3 client keyword arguments for the configured keys; none means boto3's own chain."""
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        return {
            "aws_access_key_id": settings.aws_access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.aws_secret_access_key.get_secret_value(),
        }
    return {}


def ensure_bucket(settings: Settings) -> None:
    """Create the artifact bucket on the S3 endpoint if it is missing."""
    destination = settings.artifacts_destination
    if not destination.startswith("s3://"):
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = destination.removeprefix("s3://").split("/", 1)[0]
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, **s3_credentials(settings))
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise SystemExit(
                f"S3 bucket {bucket} at {settings.s3_endpoint_url or 'AWS'}: {code or exc}; "
                "check RAYLINE_S3_ENDPOINT_URL, RAYLINE_AWS_ACCESS_KEY_ID and "
                "RAYLINE_AWS_SECRET_ACCESS_KEY"
            ) from None
        s3.create_bucket(Bucket=bucket)
    except (BotoCoreError, OSError) as exc:
        raise SystemExit(
            f"cannot reach the S3 endpoint {settings.s3_endpoint_url or 'AWS'} "
            f"for bucket {bucket}: {exc}"
        ) from None
