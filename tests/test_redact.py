"""The one redaction every printed, logged, recorded or reported address goes through."""

from __future__ import annotations

import pytest

from pytest_mlci.redact import MASK, redact_text, redact_uri

SECRET = "s3cr3t-PLANTED"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://ana:s3cr3t-PLANTED@mlflow.internal:5000",
         "http://ana:***@mlflow.internal:5000"),
        ("postgresql://mlci:s3cr3t-PLANTED@db:5432/mlci?sslmode=require",
         "postgresql://mlci:***@db:5432/mlci?sslmode=require"),
        ("postgresql+psycopg://mlci:s3cr3t-PLANTED@db/mlci",
         "postgresql+psycopg://mlci:***@db/mlci"),
        # percent-encoded ':', '@', '/' and '%' inside the password
        ("https://ana:s3cr3t-PLANTED%3A%40%2F%25x@host/path",
         "https://ana:***@host/path"),
        # an unencoded '@' in the password (invalid, but users write it)
        ("http://ana:s3cr3t@PLANTED@host:5000/x", "http://ana:***@host:5000/x"),
        # an encoded '@' in the user name: the user is kept
        ("http://ana%40corp.com:s3cr3t-PLANTED@host", "http://ana%40corp.com:***@host"),
        ("redis://:s3cr3t-PLANTED@cache:6379/0", "redis://:***@cache:6379/0"),
        ("http://ana:s3cr3t'PLANTED\"x@host", "http://ana:***@host"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://ana@host:5000/api", "http://ana@host:5000/api"),
    ],
)  # fmt: skip
def test_a_url_password_is_masked_and_the_rest_kept(uri, expected):
    assert redact_uri(uri) == expected


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("host=db port=5432 dbname=mlci user=mlci password=s3cr3t-PLANTED",
         "host=db port=5432 dbname=mlci user=mlci password=***"),
        ("host=db password = 's3cr3t PLANTED \\' x' user=mlci",
         "host=db password = '***' user=mlci"),
        ("password=s3cr3t-PLANTED host=db", "password=*** host=db"),
        ("sslpassword=s3cr3t-PLANTED sslkey=/k", "sslpassword=*** sslkey=/k"),
        ("PGPASSWORD=s3cr3t-PLANTED mlci run", "PGPASSWORD=*** mlci run"),
        ("AWS_SECRET_ACCESS_KEY=s3cr3t-PLANTED", "AWS_SECRET_ACCESS_KEY=***"),
    ],
)  # fmt: skip
def test_libpq_keyword_dsns_and_assignments_hide_the_password(dsn, expected):
    assert redact_text(dsn) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F20240101"
         "&X-Amz-Signature=s3cr3tPLANTED&X-Amz-Security-Token=s3cr3tPLANTED",
         "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=***"
         "&X-Amz-Signature=***&X-Amz-Security-Token=***"),
        ("https://acct.blob.core.windows.net/c/f?sv=2022&sig=s3cr3tPLANTED%3D&se=2030",
         "https://acct.blob.core.windows.net/c/f?sv=2022&sig=***&se=2030"),
        ("https://storage.googleapis.com/b/o?X-Goog-Signature=s3cr3tPLANTED",
         "https://storage.googleapis.com/b/o?X-Goog-Signature=***"),
        ("https://api/x?access_token=s3cr3tPLANTED#frag", "https://api/x?access_token=***#frag"),
        ("https://api/x?api_key=s3cr3tPLANTED;page=2", "https://api/x?api_key=***;page=2"),
        ("postgresql://db/mlci?password=s3cr3tPLANTED&sslmode=require",
         "postgresql://db/mlci?password=***&sslmode=require"),
        ("https://api/x?monkey=banana&page=2", "https://api/x?monkey=banana&page=2"),
    ],
)  # fmt: skip
def test_query_string_tokens_and_signatures_are_masked(uri, expected):
    assert redact_uri(uri) == expected


def test_every_address_in_a_longer_text_is_redacted():
    text = (
        "registry http://ana:s3cr3t-PLANTED@mlflow:5000: API request to "
        "http://ana:s3cr3t-PLANTED@mlflow:5000/api/2.0/x failed; database "
        "'postgresql://mlci:s3cr3t-PLANTED@db/mlci' and "
        "s3://bucket/anchors?X-Amz-Signature=s3cr3t-PLANTED are down\n"
        "  dsn: host=db password=s3cr3t-PLANTED"
    )
    redacted = redact_text(text)
    assert SECRET not in redacted
    assert redacted.count(MASK) == 5
    assert "http://ana:***@mlflow:5000/api/2.0/x" in redacted
    assert "'postgresql://mlci:***@db/mlci'" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "",
        "model conversion @ sqlite:////home/ana/project/.mlci/mlflow.db",
        "registry http://127.0.0.1:5000: cannot connect (Connection refused)",
        "pyproject.toml: key 'gates.roc_auc': must be a comparison string such as '>= 0.8'",
        "rollout: canary of v2 at 25% of traffic (step 2 of 4)",
        "gate key=roc_auc passed; monkey=3; design=1; passed=True; tokens_per_s=40",
        "at 12:30:00 user:ana@example.com approved v3",
        "s3://bucket/path/to/anchor.json",
        "file:///tmp/x@y/model.skops",
        "postgresql://mlci@db.internal:5432/mlci#mlci.ledger",
        # base64 (a signature) whose last characters happen to spell a credential word
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgPWD==\n"
        "AAAAQHNpZ25hdHVyZVRva2Vu+/Token=\n-----END SSH SIGNATURE-----",
    ],
)
def test_text_without_secrets_is_unchanged(text):
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "http://a:b@h?token=x&sig=y",
        "host=db password='p q' sslpassword=z",
        "postgresql://u:p%40@h/d PGPASSWORD=x",
    ],
)
def test_redacting_twice_changes_nothing_more(text):
    once = redact_text(text)
    assert redact_text(once) == once
    assert "p q" not in once
