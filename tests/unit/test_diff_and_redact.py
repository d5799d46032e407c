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
