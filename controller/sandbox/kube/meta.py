"""Object metadata rules shared by every resource: names, labels, timestamps, uids."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any

from .status import Cause

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


_stamp: list[tuple[int, str]] = [(-1, "")]


def now_rfc3339() -> str:
    """Seconds-precision UTC timestamp (``metav1.Time``), formatted once per second."""
    second = int(time.time())
    stamp = _stamp[0]
    if second != stamp[0]:
        stamp = _stamp[0] = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return stamp[1]


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    """``generateName`` + five random characters, like the real server."""
    return prefix + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


def name_causes(name: str, rule: str, field: str = "metadata.name") -> list[Cause]:
    """``subdomain`` (DNS-1123, most kinds), ``label`` (namespaces) or ``path`` (RBAC: any
    string usable as a path segment)."""
    if rule == "path":
        if name in (".", "..") or "/" in name or "%" in name:
            return [
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: \"{name}\": may not be '.' or "
                    "'..' and may not contain '/' or '%'",
                    field,
                )
            ]
        return []
    limit, pattern, what = (
        (63, _DNS1123_LABEL, "RFC 1123 label")
        if rule == "label"
        else (253, _DNS1123_SUBDOMAIN, "RFC 1123 subdomain")
    )
    if len(name) > limit:
        return [
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be no more than {limit} characters',
                field,
            )
        ]
    if not pattern.match(name):
        return [
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character",
                field,
            )
        ]
    return []


def label_key_causes(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    bad = (
        not name
        or len(name) > 63
        or not _LABEL_NAME.match(name)
        or (prefix != "" and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)))
    )
    if bad:
        return [
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{key}": name part must consist of '
                "alphanumeric characters, '-', '_' or '.'",
                field,
            )
        ]
    return []


def metadata_causes(meta: dict[str, Any], *, name_rule: str) -> list[Cause]:
    """Validation of ``metadata`` common to all kinds (name, labels, annotations, finalizers)."""
    causes: list[Cause] = []
    name = meta.get("name")
    if isinstance(name, str):
        causes += name_causes(name, name_rule)
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        return [Cause("FieldValueTypeInvalid", "Invalid value: must be a map", "metadata.labels")]
    for key, value in labels.items():
        causes += label_key_causes(key, "metadata.labels")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {value!r}: a valid label "
                    "must be an empty string or consist of alphanumeric characters, "
                    "'-', '_' or '.'",
                    "metadata.labels",
                )
            )
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) for v in annotations.values()
    ):
        causes.append(
            Cause(
                "FieldValueTypeInvalid",
                "Invalid value: annotation values must be strings",
                "metadata.annotations",
            )
        )
    else:
        for key in annotations:
            causes += label_key_causes(key, "metadata.annotations")
        if sum(len(k) + len(v) for k, v in annotations.items()) > 256 * 1024:
            causes.append(
                Cause(
                    "FieldValueTooLong",
                    "Too long: must have at most 262144 bytes",
                    "metadata.annotations",
                )
            )
    finalizers = meta.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        causes.append(
            Cause(
                "FieldValueTypeInvalid",
                "Invalid value: must be a list of strings",
                "metadata.finalizers",
            )
        )
    owners = meta.get("ownerReferences") or []
    if not isinstance(owners, list):
        causes.append(
            Cause(
                "FieldValueTypeInvalid", "Invalid value: must be a list", "metadata.ownerReferences"
            )
        )
    else:
        for i, ref in enumerate(owners):
            for key in ("apiVersion", "kind", "name", "uid"):
                if not isinstance(ref, dict) or not ref.get(key):
                    causes.append(
                        Cause(
                            "FieldValueRequired",
                            "Required value",
                            f"metadata.ownerReferences[{i}].{key}",
                        )
                    )
    return causes
