"""Where videos are kept is settings: local disk with nothing set, an S3-compatible bucket with
STORAGE_S3_*, and a half-told bucket refused at start-up with a sentence that says what is
missing (a deployment that silently kept videos on one machine's disk would break the moment a
second machine ran)."""

from __future__ import annotations

import ast

import pytest

from tests.unit.test_settings import PROD_OK, load_settings

FULL = {
    "STORAGE_S3_BUCKET": "taisly-videos",
    "STORAGE_S3_ENDPOINT_URL": "https://minio.example.com:9000",
    "STORAGE_S3_REGION": "eu-central-1",
    "STORAGE_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "STORAGE_S3_SECRET_ACCESS_KEY": "example-secret",
}
DEFAULT = "s.STORAGES['default']"


def storage(env: dict[str, str]) -> dict:
    result = load_settings(env, DEFAULT)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip())


def test_without_a_bucket_videos_stay_on_local_disk():
    assert storage({}) == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert storage(PROD_OK)["BACKEND"] == "django.core.files.storage.FileSystemStorage"


def test_a_bucket_is_private_signed_and_path_style_behind_an_endpoint():
    default = storage({**PROD_OK, **FULL})
    assert default["BACKEND"] == "taisly_dash.storage.VideoStorage"
    options = default["OPTIONS"]
    assert options["bucket_name"] == "taisly-videos"
    assert options["endpoint_url"] == "https://minio.example.com:9000"
    assert options["region_name"] == "eu-central-1"
    assert (options["access_key"], options["secret_key"]) == ("AKIAEXAMPLE", "example-secret")
    # Private: no ACL sent (never public-read), every URL signed and short-lived, no custom
    # domain (which would hand out plain URLs).
    assert options["default_acl"] is None
    assert options["querystring_auth"] is True and options["querystring_expire"] <= 3600
    assert options["custom_domain"] is None
    assert options["addressing_style"] == "path"
    # As on local disk, saving never replaces another object of the same name.
    assert options["file_overwrite"] is False


def test_on_aws_itself_the_addressing_is_left_to_boto3_and_credentials_may_come_from_it():
    options = storage({"STORAGE_S3_BUCKET": "taisly-videos"})["OPTIONS"]
    assert options["endpoint_url"] is None and options["addressing_style"] is None
    assert "access_key" not in options and "secret_key" not in options


def test_the_secret_may_come_from_a_file(tmp_path):
    secret = tmp_path / "s3-secret"
    secret.write_text("from-a-file\n")
    env = {k: v for k, v in FULL.items() if k != "STORAGE_S3_SECRET_ACCESS_KEY"}
    env["STORAGE_S3_SECRET_ACCESS_KEY_FILE"] = str(secret)
    assert storage(env)["OPTIONS"]["secret_key"] == "from-a-file"


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        (
            {"STORAGE_S3_ENDPOINT_URL": "https://minio.example.com"},
            "STORAGE_S3_ENDPOINT_URL set, but STORAGE_S3_BUCKET is not",
        ),
        (
            {"STORAGE_S3_ACCESS_KEY_ID": "a", "STORAGE_S3_SECRET_ACCESS_KEY": "b"},
            "STORAGE_S3_ACCESS_KEY_ID, STORAGE_S3_SECRET_ACCESS_KEY set, but STORAGE_S3_BUCKET",
        ),
        (
            {**FULL, "STORAGE_S3_SECRET_ACCESS_KEY": ""},
            "Set both STORAGE_S3_ACCESS_KEY_ID and STORAGE_S3_SECRET_ACCESS_KEY, or neither",
        ),
        (
            {"STORAGE_S3_BUCKET": "v", "STORAGE_S3_SECRET_ACCESS_KEY": "b"},
            "Set both STORAGE_S3_ACCESS_KEY_ID and STORAGE_S3_SECRET_ACCESS_KEY, or neither",
        ),
        (
            {**FULL, "STORAGE_S3_ENDPOINT_URL": "minio:9000"},
            "STORAGE_S3_ENDPOINT_URL must be an http(s) URL",
        ),
        (
            {**FULL, "STORAGE_S3_ADDRESSING_STYLE": "sideways"},
            "STORAGE_S3_ADDRESSING_STYLE must be path, virtual or auto",
        ),
    ],
)
def test_a_half_configured_bucket_is_refused_with_a_sentence(env, complaint):
    result = load_settings({**PROD_OK, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and complaint in result.stderr
    # The secret is never part of the sentence.
    assert "example-secret" not in result.stderr
