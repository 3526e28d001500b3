"""Secrets stay out: redaction by name at any depth, and scrubbing of free text."""

from __future__ import annotations

from ansible_collections.slipway.ops.plugins.plugin_utils._audit_redact import REDACTED, Redactor


def test_values_under_secret_names_are_redacted_at_any_depth():
    redactor = Redactor()
    data = {
        "slipway_release": "1.2.3",
        "db_password": "hunter2hunter2",
        "app": {"api_token": ["tok-abcdef"], "replicas": 3, "ratio": 0.5},
        "ansible_become_pass": "rootpw1",
        "list": [{"private_key": "-----BEGIN KEY-----"}],
    }
    assert redactor.redact(data) == {
        "slipway_release": "1.2.3",
        "db_password": REDACTED,
        "app": {"api_token": REDACTED, "replicas": 3, "ratio": "0.5"},
        "ansible_become_pass": REDACTED,
        "list": [{"private_key": REDACTED}],
    }
    assert {"hunter2hunter2", "tok-abcdef", "rootpw1", "-----BEGIN KEY-----"} <= redactor.secrets


def test_remembered_secrets_are_cut_out_of_text():
    redactor = Redactor()
    redactor.redact({"db_password": "hunter2hunter2", "pin": "x", "short_secret": "abc"})
    assert redactor.scrub("login failed for hunter2hunter2") == f"login failed for {REDACTED}"
    # Too short to scrub without mangling ordinary words.
    assert redactor.scrub("abc") == "abc"


def test_values_the_predicate_marks_are_redacted_whatever_their_name():
    redactor = Redactor(is_secret_value=lambda value: value == "vaulted-value")
    assert redactor.redact({"harmless": "vaulted-value"}) == {"harmless": REDACTED}
    assert redactor.scrub("x vaulted-value y") == f"x {REDACTED} y"


def test_the_pattern_is_configurable():
    redactor = Redactor(r"^acme_")
    assert redactor.redact({"acme_x": "s3cretval", "password": "p"}) == {
        "acme_x": REDACTED,
        "password": "p",
    }


def test_long_text_is_shortened():
    assert Redactor().scrub("x" * 2000, limit=10) == "xxxxxxxxxx..."
