"""ZeroSSL's ``success:false`` answers: the documented code table and the exception carrying one.

Errors come back with HTTP 200 like the real API; only the rate limit and injected faults use
other statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

ERROR_TYPES: Final[Mapping[int, str]] = {
    0: "domain_control_validation_failed",
    101: "invalid_access_key",
    102: "inactive_user",
    103: "invalid_api_function",
    104: "route_not_found",
    110: "invalid_request_body",
    111: "internal_server_error",
    115: "invalid_json_request",
    116: "invalid_json_request_param",
    2803: "certificate_not_found",
    2807: "invalid_certificate_validity",
    2808: "invalid_certificate_domain",
    2809: "wildcard_domains_not_allowed_in_multidomain_certificate",
    2811: "duplicate_domains_in_array",
    2812: "missing_certificate_domains",
    2813: "cannot_replace_certificate_other_replacement_in_draft",
    2815: "original_certificate_not_active",
    2816: "cannot_find_original_certificate",
    2817: "certificate_limit_reached",
    2818: "invalid_certificate_csr",
    28181: "invalid_certificate_csr_for_non_wildcard",
    28182: "invalid_certificate_csr_for_wildcard",
    2819: "missing_certificate_csr",
    2823: "failed_validating_certificate",
    2824: "missing_validation_emails",
    2825: "missing_validation_email",
    2827: "invalid_validation_method",
    2828: "missing_validation_method",
    2829: "incorrect_certificate_validation_type",
    2830: "certificate_not_eligible",
    2832: "certificate_not_issued",
    2833: "certificate_cannot_be_cancelled",
    2834: "failed_cancelling_certificate",
    2835: "certificate_cannot_be_deleted",
    2836: "csr_cn_is_invalid",
    2837: "failed_resending_email",
    2838: "failed_getting_validation_status",
    2840: "invalid_caa_records_detected",
    2842: "replacement_needs_same_common_name",
    2843: "ipv6_is_not_yet_supported",
    2860: "certificate_not_downloadable",
    2877: "certificate_unsupported_top_level_domain",
    2880: "invalid_san",
    2906: "revocation_failed",
    2907: "certificate_not_in_revocable_state",
}


class ApiError(Exception):
    """One ZeroSSL error answer. ``info`` is the emulator's explanation (real answers carry
    ``"info": null`` at most); ``type_`` overrides the documented type for observed mismatches."""

    def __init__(
        self,
        code: int,
        info: str | None = None,
        *,
        details: Mapping[str, object] | None = None,
        type_: str | None = None,
    ) -> None:
        self.code = code
        self.type = type_ or ERROR_TYPES[code]
        self.info = info
        self.details = details
        super().__init__(f"{code} {self.type}" + (f": {info}" if info else ""))

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "type": self.type, "info": self.info}
        if self.details is not None:
            error["details"] = dict(self.details)
        return {"success": False, "error": error}
