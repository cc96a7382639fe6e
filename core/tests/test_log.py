"""Logs never carry secrets, whatever the caller passes."""

from __future__ import annotations

import json

import pytest
from pellacia.log import configure_logging, get_logger, redact_text

SECRETS = {
    "bearer": "Bearer ya29.a0AfH6SMBsecretsecretsecret",
    "query": "https://x/upload?upload_id=1&upload_token=tok-SECRET-123&access_token=abc-SECRET",
    "telegram": "123456789:AAHsecretsecretsecretsecretsecretsecr",
    "dsn": "postgresql://pellacia:hunter2-SECRET@db.internal/pellacia",
    "proxy": "http://user:proxy-SECRET@127.0.0.1:3128",
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_redact_text_masks_secret_shapes(name: str) -> None:
    masked = redact_text(f"failed: {SECRETS[name]} (retrying)")
    assert "SECRET" not in masked and "secretsecret" not in masked
    assert masked.startswith("failed: ") and masked.endswith(" (retrying)")


def test_json_logs_mask_secret_fields_values_and_exceptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", json=True)
    log = get_logger("test", platform="youtube")
    try:
        raise RuntimeError(f"upload failed for {SECRETS['query']}")
    except RuntimeError as exc:
        log.error(
            "upload failed",
            access_token="plain-access-SECRET",
            headers={"Authorization": SECRETS["bearer"], "Accept": "json"},
            url=SECRETS["query"],
            error=exc,
        )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert "SECRET" not in line and "secretsecret" not in line
    assert event["event"] == "upload failed" and event["platform"] == "youtube"
    assert event["headers"]["Accept"] == "json"
    assert event["access_token"] == "**********"
