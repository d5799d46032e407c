import logging

from offering_sync.connectors.http.redact import RedactingFilter, redact, register_secret
from offering_sync.diff import content_hash, plan_action


def test_hash_ignores_key_order_but_not_values():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_plan():
    assert plan_action(None, False, "h") == "create"
    assert plan_action("h", True, "h") == "unchanged"
    assert plan_action("g", True, "h") == "update"
    assert plan_action(None, True, "h") == "update"


def test_registered_secrets_and_token_shapes_are_masked():
    register_secret("s3cr3t-value-xyz")
    text = redact('url?x=1 Authorization: Bearer abc.def.ghi {"access_token": "tok123456"} '
                  "s3cr3t-value-xyz token: qwertyuiop")
    assert "abc.def.ghi" not in text and "tok123456" not in text
    assert "s3cr3t-value-xyz" not in text and "qwertyuiop" not in text


def test_the_log_filter_redacts_arguments():
    register_secret("another-secret-777")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", ("another-secret-777",),
                               None)
    RedactingFilter().filter(record)
    assert "another-secret-777" not in record.getMessage()


def test_the_content_hash_of_a_payload_never_changes_across_versions():
    # Links store this hash: a new value for the same payload would rewrite every record once.
    from datetime import UTC, datetime
    from decimal import Decimal

    payload = {"b": [1, 2.5, None, True], "a": "é", "d": Decimal("1.10"),
               "t": datetime(2025, 1, 2, tzinfo=UTC), "n": {"z": 1, "y": "x"}}
    assert content_hash(payload) == "6bb094db4e9a41422f3b45046807e0ef"


def test_hashing_the_canonical_text_is_the_content_hash():
    from offering_sync.diff import canonical_json, hash_text

    payload = {"b": 1, "a": ["é", 2]}
    assert canonical_json(payload) == '{"a":["é",2],"b":1}'
    assert hash_text(canonical_json(payload)) == content_hash(payload)


def test_a_secret_is_masked_json_escaped_and_url_encoded_too():
    import json
    import re
    from urllib.parse import quote, quote_plus

    secret = 'tok"en\\HO-LEAK3 ü'
    register_secret(secret)
    forms = [secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             json.dumps(json.dumps(secret))[1:-1], quote(secret, safe=""), quote(secret),
             quote_plus(secret),
             re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe=""))]
    for form in forms:
        text = redact(f"vendor said: {{\"detail\": \"{form}\"}} and more")
        assert form not in text and "***" in text and "and more" in text, form
    assert "LEAK3" not in redact(json.dumps({"body": json.dumps({"token": secret})}))
