"""Lint warnings for valid patterns that probably do not mean what their author thinks."""

from __future__ import annotations

import pytest

from tests.unit.patterns_cases import CIS
from trailwatchd.errors import PatternSyntaxError
from trailwatchd.patterns import LintWarning, compile_pattern, lint_pattern


def _codes(pattern: str) -> list[tuple[str, int]]:
    return [(w.code, w.position) for w in lint_pattern(pattern)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # ne-optional-field: != skips records without the field (DataBiosphere/azul#5884)
        ('{ $.additionalEventData.MFAUsed != "Yes" }', [("ne-optional-field", 2)]),
        ('{ $.userIdentity.invokedBy != "cloudfront.amazonaws.com" }', [("ne-optional-field", 2)]),
        ("{ $.errorCode != AccessDenied }", [("ne-optional-field", 2)]),
        ('{ $.requestParameters.bucketName != "b" }', [("ne-optional-field", 2)]),
        ('{ $.custom != "x" }', [("ne-optional-field", 2)]),
        ('{ $.eventType != "AwsServiceEvent" }', []),
        ('{ $.eventName != "ConsoleLogin" }', []),
        ('{ ($.errorCode NOT EXISTS) || ($.errorCode != "AccessDenied") }', []),
        ('{ $.errorCode = "AccessDenied" }', []),
        # eq-boolean: = true / = false never match a JSON boolean
        ("{ $.readOnly = false }", [("eq-boolean", 2)]),
        ('{ $.managementEvent = "true" }', [("eq-boolean", 2)]),
        ("{ $.anything = true }", [("eq-boolean", 2)]),
        ('{ $.anything = "true" }', []),
        ("{ $.userIdentity.sessionContext.attributes.mfaAuthenticated = true }", []),
        ("{ $.readOnly IS FALSE }", []),
        # eq-null
        ("{ $.requestParameters = null }", [("eq-null", 2)]),
        ('{ $.requestParameters = "null" }', []),
        # numeric-string
        ("{ $.eventVersion > 1.05 }", [("numeric-string", 2)]),
        ("{ $.recipientAccountId = 123456789012 }", [("numeric-string", 2)]),
        ('{ $.recipientAccountId = "123456789012" }', []),
        # never-matches
        ('{ $.eventName = "A" && $.eventName = "B" }', [("never-matches", 2)]),
        ("{ $.a NOT EXISTS && $.a = v }", [("never-matches", 2)]),
        ("{ $.a NOT EXISTS && $.a.b = v }", [("never-matches", 2)]),
        ('{ $.a = "x" && $.a.b = v }', [("never-matches", 2)]),
        ("{ $.a IS NULL && $.a = * }", [("never-matches", 2)]),
        ("{ $.a IS TRUE && $.a IS FALSE }", [("never-matches", 2)]),
        ("{ $.a > 5 && $.a < 3 }", [("never-matches", 2)]),
        ("{ $.a > 5 && $.a <= 5 }", [("never-matches", 2)]),
        ('{ $.a = "abc" && $.a > 1 }', [("never-matches", 2)]),
        ('{ $.a = "x" && ($.a = "y" || $.a = "z") }', [("never-matches", 2)]),
        ('{ $.a = "x" && $.a != "x" }', [("ne-optional-field", 15), ("never-matches", 2)]),
        ('{ $.b = 1 || ($.a = "x" && $.a = "y") }', []),
        ('{ ($.a = "x" && $.a = "y") || ($.b = 1 && $.b = 2) }', [("never-matches", 2)]),
        ('{ $.a = "x" && ($.a = "x" || $.a = "z") }', []),
        ("{ $.a >= 5 && $.a <= 5 }", []),
        ('{ $.a = "5" && $.a > 1 }', []),
        ("{ $.a[*] = 1 && $.a[*] = 2 }", []),
        ('{ $.a = "x*" && $.a = "y*" }', []),
    ],
)
def test_lint_table(pattern: str, expected: list[tuple[str, int]]) -> None:
    """Each pitfall gives its stable code at the offending condition; correct patterns give none."""
    assert _codes(pattern) == expected


def test_ne_optional_field_suggests_the_guard() -> None:
    """The != warning spells out the NOT EXISTS guard to use instead."""
    (warning,) = lint_pattern('{ $.userIdentity.invokedBy != "x" }')
    assert '($.userIdentity.invokedBy NOT EXISTS) || ($.userIdentity.invokedBy != "x")' in warning.message


def test_eq_boolean_suggests_is_keyword() -> None:
    """`!= true` means IS FALSE, and the message says so."""
    (warning,) = [w for w in lint_pattern("{ $.readOnly != true }") if w.code == "eq-boolean"]
    assert warning.message.endswith("write $.readOnly IS FALSE")


def test_cis_filters_lint_clean_except_the_mfa_trap() -> None:
    """Of the CIS filters only 3.2's MFAUsed != "Yes" draws a warning, and none is contradictory."""
    flagged = {cis: _codes(text) for cis, text in CIS.items() if _codes(text)}
    assert set(flagged) == {"3.2", "3.2-cis"}
    assert all(code == "ne-optional-field" for codes in flagged.values() for code, _ in codes)


def test_lint_accepts_compiled_patterns_and_rejects_invalid_text() -> None:
    """lint_pattern takes text or a CompiledPattern; invalid text raises the syntax error."""
    compiled = compile_pattern("{ $.readOnly = false }")
    assert lint_pattern(compiled) == lint_pattern(compiled.text)
    assert isinstance(lint_pattern(compiled)[0], LintWarning)
    assert lint_pattern("") == []
    with pytest.raises(PatternSyntaxError):
        lint_pattern("{ $.a == 1 }")
