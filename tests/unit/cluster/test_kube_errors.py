"""What a Kubernetes API server answers becomes the project's error tree, naming the fields it names.

The Status bodies are the ones kube-apiserver v1.36 sends (recorded from the integration tier's hub).
"""

from __future__ import annotations

import json

import pytest

from m4d.cluster.kube_errors import field_errors, parse_status, retry_after, status_error
from m4d.errors import (
    AlreadyExistsError,
    ConflictError,
    FieldError,
    ForbiddenError,
    GoneError,
    InvalidError,
    M4DError,
    NotFoundError,
    TemporaryError,
    UnauthorizedError,
)

INVALID = {
    "kind": "Status",
    "status": "Failure",
    "message": 'M4DApplication.app.m4d.dev "b" is invalid: [...]',
    "reason": "Invalid",
    "details": {
        "name": "b",
        "causes": [
            {
                "reason": "FieldValueNotSupported",
                "message": 'Unsupported value: "rd": supported values: "read", "write", "copy"',
                "field": "spec.data[0].flow",
            },
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.data[0].requirements"},
        ],
    },
    "code": 422,
}
STRICT = {
    "kind": "Status",
    "status": "Failure",
    "message": 'M4DApplication in version "v1alpha1" cannot be handled as a M4DApplication: strict decoding '
    'error: unknown field "spec.appInfo.zzz", unknown field "spec.purpose"',
    "reason": "BadRequest",
    "code": 400,
}


def test_invalid_names_every_cause() -> None:
    error = status_error(422, INVALID, "M4DApplication ns/b", "hub")
    assert isinstance(error, InvalidError)
    assert error.errors == [
        FieldError("spec.data[0].flow", 'Unsupported value: "rd": supported values: "read", "write", "copy"'),
        FieldError("spec.data[0].requirements", "Required value"),
    ]
    assert "M4DApplication ns/b is invalid on cluster hub" in str(error)


def test_strict_decoding_names_the_unknown_fields() -> None:
    error = status_error(400, STRICT, "M4DApplication ns/b", "hub")
    assert isinstance(error, InvalidError)
    assert error.errors == [
        FieldError("spec.appInfo.zzz", "unknown field"),
        FieldError("spec.purpose", "unknown field"),
    ]


def test_metadata_that_cannot_be_decoded_names_the_field() -> None:
    prefix = 'MemberCluster in version "v1alpha1" cannot be handled as a MemberCluster: json: cannot unmarshal '
    annotations = {
        "reason": "BadRequest",
        "message": prefix + "number into Go struct field ObjectMeta.annotations of type string",
    }
    owner = {"message": prefix + "number into Go struct field OwnerReference.ownerReferences.uid of type types.UID"}
    assert field_errors(annotations) == [FieldError("metadata.annotations", "must be string (got number)")]
    assert field_errors(owner) == [FieldError("metadata.ownerReferences.uid", "must be types.UID (got number)")]


def test_a_bad_request_without_fields_keeps_the_message() -> None:
    status = {"reason": "BadRequest", "message": 'unable to parse requirement: found "=", expected: identifier'}
    assert field_errors(status) == [FieldError("", status["message"])]


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (404, "NotFound", NotFoundError),
        (409, "AlreadyExists", AlreadyExistsError),
        (409, "Conflict", ConflictError),
        (401, "Unauthorized", UnauthorizedError),
        (403, "Forbidden", ForbiddenError),
        (410, "Expired", GoneError),
        (429, "TooManyRequests", TemporaryError),
        (500, "InternalError", TemporaryError),
        (503, "ServiceUnavailable", TemporaryError),
        (413, "RequestEntityTooLarge", InvalidError),
    ],
)
def test_codes_map_to_the_error_tree(code: int, reason: str, expected: type[M4DError]) -> None:
    error = status_error(code, {"reason": reason, "message": "m"}, "MemberCluster eu", "hub")
    assert type(error) is expected
    assert "MemberCluster eu" in str(error) and "hub" in str(error)


def test_an_object_etcd_refuses_as_too_large_is_invalid_not_temporary() -> None:
    message = "rpc error: code = ResourceExhausted desc = trying to send message larger than max (2097842 vs. 2097152)"
    for said in (message, "etcdserver: request is too large"):
        error = status_error(500, {"reason": "InternalError", "message": said}, "MemberCluster eu", "hub")
        assert type(error) is InvalidError
        assert "too large to store" in str(error)


def test_temporary_errors_carry_the_server_delay() -> None:
    error = status_error(429, {"message": "slow down"}, "x", "hub", retry_after("3"))
    assert isinstance(error, TemporaryError) and error.delay == 3.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_bodies_that_are_not_status_objects() -> None:
    assert parse_status(json.dumps(INVALID).encode()) == INVALID
    assert parse_status(b"<html>bad gateway</html>") == {"message": "<html>bad gateway</html>"}
    assert parse_status(b"") == {} and parse_status(None) == {}
    assert parse_status("[1]") == {"message": "[1]"}


def test_apply_patch_that_does_not_fit_the_schema_is_invalid_not_temporary() -> None:
    message = (
        "failed to create typed patch object (apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or "
        "float), got string"
    )
    error = status_error(500, {"message": message}, "Deployment x", "member1")
    assert isinstance(error, InvalidError) and "spec.replicas" in str(error)
