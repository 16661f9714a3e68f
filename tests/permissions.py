"""The role-by-endpoint table: what each role gets from each endpoint, and the routes anyone
may call. ``tests/test_permissions.py`` checks every route against it; the OpenAPI fuzzing
(``tests/test_openapi_fuzz.py``) takes from it who may call what.

Adding an endpoint? Add its row to ``PERMISSIONS``.
"""

from __future__ import annotations

import uuid
from typing import Any

# Routes anyone may call without a token, deliberately.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/healthz"),
    ("GET", "/api/v1/readyz"),
    ("GET", "/api/v1/guidance"),
    ("GET", "/api/v1/guidance/{key}"),
    ("GET", "/api/v1/guidance/{key}/indicators"),
    ("GET", "/api/v1/guidance/schema.json"),
    ("GET", "/api/v1/categories"),
    # Transfer bundles (issue 21): their payload's JSON Schema and the keys that sign them,
    # for any school system to read and check a bundle.
    ("GET", "/api/v1/transfers/schema.json"),
    ("GET", "/.well-known/jwks.json"),
    # A school's published guidance, by URN: for parents' pages and apps, without a token.
    ("GET", "/api/v1/schools/{urn}/guidance"),
    ("GET", "/api/v1/schools/{urn}/guidance/{key}"),
    ("GET", "/api/v1/schools/{urn}/guidance/{key}/indicators"),
    ("GET", "/api/v1/schools/{urn}/guidance/{key}/versions/{version}"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    # The web client's static files (issue 24): the same for everyone, no school's data.
    ("GET", "/app"),
    ("GET", "/app/{path:path}"),
    # Not role-guarded: /metrics is protected by its own token (CONCERNLOG_METRICS_TOKEN)
    # and, in production without one, answers loopback callers only.
    ("GET", "/metrics"),
}

ROLES = ("staff", "deputy_dsl", "dsl", "admin", "mis")
ANY = "any"  # any status that is not 401/403: the caller got through the guard
X = str(uuid.UUID(int=1))  # an id that exists nowhere: guarded routes answer 404 past the guard

# (method, path template, concrete path, body, {role: expected status})
# Statuses: 403 = refused by the guard; ANY = admitted (what follows depends on the data).
# Roles not named in a row's dict are expected to get 403.
# fmt: off
PERMISSIONS: list[tuple[str, str, str, Any, dict[str, int | str]]] = [
    ("GET", "/api/v1/auth/me", "/api/v1/auth/me", None,
     {"staff": 200, "deputy_dsl": 200, "dsl": 200, "admin": 200, "mis": 403}),
    # MFA enrolment: everyone in the table is already enrolled, or unprivileged staff.
    ("POST", "/api/v1/auth/mfa/setup", "/api/v1/auth/mfa/setup", None,
     {"staff": 200, "deputy_dsl": 409, "dsl": 409, "admin": 409, "mis": 403}),
    ("POST", "/api/v1/auth/mfa/verify", "/api/v1/auth/mfa/verify", {"code": "000000"},
     {"staff": 409, "deputy_dsl": 409, "dsl": 409, "admin": 409, "mis": 403}),
    # Own credentials: people, with the current password (wrong here: a 422) and, once
    # enrolled, a current code; MFA reset only once enrolled (staff here are not: 409).
    ("POST", "/api/v1/auth/password", "/api/v1/auth/password",
     {"current_password": "not-the-password", "new_password": "a-fictional-passphrase-of-owls",
      "totp": "000000"},
     {"staff": 422, "deputy_dsl": 422, "dsl": 422, "admin": 422, "mis": 403}),
    ("POST", "/api/v1/auth/mfa/reset", "/api/v1/auth/mfa/reset",
     {"current_password": "not-the-password", "totp": "000000"},
     {"staff": 409, "deputy_dsl": 422, "dsl": 422, "admin": 422, "mis": 403}),
    # Step-up (issue 21): people enrolled in MFA; a wrong code is a 422, not enrolled 409.
    ("POST", "/api/v1/auth/step-up", "/api/v1/auth/step-up", {"totp": "000000"},
     {"staff": 409, "deputy_dsl": 422, "dsl": 422, "admin": 422, "mis": 403}),
    # User administration: admin only.
    ("GET", "/api/v1/users", "/api/v1/users", None, {"admin": 200}),
    ("POST", "/api/v1/users", "/api/v1/users", {"email": "x"}, {"admin": 422}),
    ("GET", "/api/v1/users/{user_id}", "/api/v1/users/{id}", None, {"admin": 404}),
    ("PATCH", "/api/v1/users/{user_id}", "/api/v1/users/{id}", {}, {"admin": 404}),
    ("POST", "/api/v1/users/{user_id}/password", "/api/v1/users/{id}/password",
     {"password": "a-long-enough-fictional-pass"}, {"admin": 404}),
    ("POST", "/api/v1/users/{user_id}/reset-mfa", "/api/v1/users/{id}/reset-mfa", None,
     {"admin": 404}),
    ("GET", "/api/v1/service-accounts", "/api/v1/service-accounts", None, {"admin": 200}),
    ("POST", "/api/v1/service-accounts", "/api/v1/service-accounts", {}, {"admin": 422}),
    ("PATCH", "/api/v1/service-accounts/{account_id}", "/api/v1/service-accounts/{id}",
     {"active": False}, {"admin": 404}),
    # Changes that need a DSL (ADR 0080): admins ask and withdraw, DSLs decide; both read.
    ("GET", "/api/v1/privileged-requests", "/api/v1/privileged-requests", None,
     {"admin": 200, "dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/privileged-requests/{request_id}", "/api/v1/privileged-requests/{id}", None,
     {"admin": 404, "dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/privileged-requests/{request_id}/approve",
     "/api/v1/privileged-requests/{id}/approve", None, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/privileged-requests/{request_id}/reject",
     "/api/v1/privileged-requests/{id}/reject", None, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/privileged-requests/{request_id}/withdraw",
     "/api/v1/privileged-requests/{id}/withdraw", None, {"admin": 404}),
    # -- rows for later routers go below this line --
    # Audit log: DSLs and admin (metadata only, never concern content).
    ("GET", "/api/v1/audit", "/api/v1/audit", None,
     {"dsl": 200, "deputy_dsl": 200, "admin": 200}),
    ("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", None,
     {"dsl": 200, "deputy_dsl": 200, "admin": 200}),
    # Pupils: staff may search to pick a child; the full record is DSL-only; admin and DSLs
    # enter pupils by hand.
    ("GET", "/api/v1/pupils", "/api/v1/pupils?q=zoe", None,
     {"staff": 200, "dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/pupils/{pupil_id}", "/api/v1/pupils/{id}", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/pupils", "/api/v1/pupils", {},
     {"admin": 422, "dsl": 422, "deputy_dsl": 422}),
    ("PATCH", "/api/v1/pupils/{pupil_id}", "/api/v1/pupils/{id}", {},
     {"admin": 404, "dsl": 404, "deputy_dsl": 404}),
    # Concerns: staff and DSLs; admin and MIS never see concern content.
    ("POST", "/api/v1/concerns", "/api/v1/concerns", {},
     {"staff": 422, "dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/concerns", "/api/v1/concerns", None,
     {"staff": 200, "dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", None,
     {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/concerns/{concern_id}/addenda", "/api/v1/concerns/{id}/addenda",
     {"text": "Fictional.", "reason": "Fictional."}, {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    # Attachments and body maps (issue 20, ADR 0105, 0106): whoever may read the concern;
    # a case's, the DSL desk. An upload without its multipart file is refused past the
    # guard (422); the rest find no record (404).
    ("POST", "/api/v1/concerns/{concern_id}/attachments", "/api/v1/concerns/{id}/attachments",
     None, {"staff": ANY, "dsl": ANY, "deputy_dsl": ANY}),
    ("GET", "/api/v1/concerns/{concern_id}/attachments", "/api/v1/concerns/{id}/attachments",
     None, {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/attachments", "/api/v1/cases/{id}/attachments", None,
     {"dsl": ANY, "deputy_dsl": ANY}),
    ("GET", "/api/v1/cases/{case_id}/attachments", "/api/v1/cases/{id}/attachments", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/attachments/{attachment_id}", "/api/v1/attachments/{id}", None,
     {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/concerns/{concern_id}/body-map", "/api/v1/concerns/{id}/body-map",
     {"marks": [{"view": "front", "x": 0.5, "y": 0.5, "kind": "bruise"}]},
     {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/concerns/{concern_id}/body-maps", "/api/v1/concerns/{id}/body-maps", None,
     {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/concerns/{concern_id}/entered-in-error",
     "/api/v1/concerns/{id}/entered-in-error", {"reason": "Fictional."},
     {"dsl": 404, "deputy_dsl": 404}),
    # Retention, legal hold and destruction (issue 21): the DSL desk.
    ("GET", "/api/v1/retention/due", "/api/v1/retention/due", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/retention/settings", "/api/v1/retention/settings", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("PUT", "/api/v1/retention/settings", "/api/v1/retention/settings", {"years": 0},
     {"dsl": 422, "deputy_dsl": 422}),
    ("POST", "/api/v1/pupils/{pupil_id}/legal-hold", "/api/v1/pupils/{id}/legal-hold",
     {"reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/pupils/{pupil_id}/legal-hold/release",
     "/api/v1/pupils/{id}/legal-hold/release", {"reason": "Fictional."},
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/pupils/{pupil_id}/destruction", "/api/v1/pupils/{id}/destruction",
     {"reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    # Append-only: editing or deleting a concern is 405 for every authenticated caller.
    ("PUT", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", {},
     dict.fromkeys(ROLES, 405)),
    ("PATCH", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", {},
     dict.fromkeys(ROLES, 405)),
    ("DELETE", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", None,
     dict.fromkeys(ROLES, 405)),
    # The DSL desk (issue 5): triage, cases, chronology, export, reports. DSLs only.
    ("POST", "/api/v1/concerns/{concern_id}/triage", "/api/v1/concerns/{id}/triage",
     {"status": "acknowledged", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases", "/api/v1/cases", {}, {"dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/cases", "/api/v1/cases", None, {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/cases/{case_id}", "/api/v1/cases/{id}", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/concerns", "/api/v1/cases/{id}/concerns",
     {"concern_ids": [X]}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/actions", "/api/v1/cases/{id}/actions",
     {"type": "discussion", "description": "Fictional.", "occurred_at": "2026-11-27T15:40:00Z"},
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/decisions", "/api/v1/cases/{id}/decisions",
     {"decision": "Fictional.", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/close", "/api/v1/cases/{id}/close",
     {"outcome": "Fictional.", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/reopen", "/api/v1/cases/{id}/reopen",
     {"reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/level", "/api/v1/cases/{id}/level",
     {"level": "monitoring", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    # Issue 18: review dates, reassignment and tasks on cases (DSLs); a member of staff
    # lists and completes the tasks given to them (not found: 404 past the guard); the
    # inbox and the staff list (DSLs).
    ("POST", "/api/v1/cases/{case_id}/review", "/api/v1/cases/{id}/review",
     {"review_on": None, "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/assign", "/api/v1/cases/{id}/assign",
     {"assigned_to": X, "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/tasks", "/api/v1/cases/{id}/tasks",
     {"title": "Fictional.", "assigned_to": X, "due_on": "2199-12-31"},
     {"dsl": 404, "deputy_dsl": 404}),
    # Issue 20: a child's context. The profile and referrals are the DSL desk's alone.
    ("GET", "/api/v1/pupils/{pupil_id}/profile", "/api/v1/pupils/{id}/profile", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("PUT", "/api/v1/pupils/{pupil_id}/profile", "/api/v1/pupils/{id}/profile",
     {"statuses": [], "people": [], "professionals": []}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/profile/history", "/api/v1/pupils/{id}/profile/history",
     None, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/referrals", "/api/v1/cases/{id}/referrals",
     {"agency": "police", "made_at": "2026-11-27T15:40:00Z"}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/cases/{case_id}/referrals", "/api/v1/cases/{id}/referrals", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/referrals/{referral_id}/outcome",
     f"/api/v1/cases/{{id}}/referrals/{X}/outcome", {"outcome": "Fictional."},
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/referral-settings", "/api/v1/referral-settings", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("PUT", "/api/v1/referral-settings", "/api/v1/referral-settings", {},
     {"dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/tasks", "/api/v1/tasks", None,
     {"staff": 200, "dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/tasks/{task_id}", "/api/v1/tasks/{id}", None,
     {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/tasks/{task_id}/complete", "/api/v1/tasks/{id}/complete",
     {"note": "Fictional."}, {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/desk/inbox", "/api/v1/desk/inbox", None, {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/staff", "/api/v1/staff", None, {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/pupils/{pupil_id}/chronology", "/api/v1/pupils/{id}/chronology", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/export", "/api/v1/pupils/{id}/export?format=pdf", None,
     {"dsl": 404, "deputy_dsl": 404}),
    # Subject access exports (issue 21): the DSL desk's.
    ("POST", "/api/v1/pupils/{pupil_id}/subject-access-exports",
     "/api/v1/pupils/{id}/subject-access-exports", {}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/subject-access-exports/{export_id}",
     "/api/v1/pupils/{id}/subject-access-exports/{id}", None, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/subject-access-exports/{export_id}/pdf",
     "/api/v1/pupils/{id}/subject-access-exports/{id}/pdf", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/subject-access-exports/{export_id}/json",
     "/api/v1/pupils/{id}/subject-access-exports/{id}/json", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/reports/indicators", "/api/v1/reports/indicators", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/reports/summary", "/api/v1/reports/summary", None,
     {"dsl": 200, "deputy_dsl": 200}),
    # Alerts (issue 18): the school's settings and dead letters are the DSL desk's; every
    # person chooses their own emails.
    ("GET", "/api/v1/alert-settings", "/api/v1/alert-settings", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("PUT", "/api/v1/alert-settings", "/api/v1/alert-settings", {},
     {"dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/auth/me/alert-preferences", "/api/v1/auth/me/alert-preferences", None,
     {"staff": 200, "dsl": 200, "deputy_dsl": 200, "admin": 200}),
    ("PUT", "/api/v1/auth/me/alert-preferences", "/api/v1/auth/me/alert-preferences", {},
     {"staff": 422, "dsl": 422, "deputy_dsl": 422, "admin": 422}),
    ("GET", "/api/v1/desk/dead-letters", "/api/v1/desk/dead-letters", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/reports/categories", "/api/v1/reports/categories", None,
     {"dsl": 200, "deputy_dsl": 200}),
    # The school's own guidance (issue 19): drafted, read and published by its DSLs.
    ("POST", "/api/v1/guidance-drafts", "/api/v1/guidance-drafts", {},
     {"dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/guidance-drafts", "/api/v1/guidance-drafts", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/guidance-drafts/{draft_id}", "/api/v1/guidance-drafts/{id}", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/guidance-drafts/{draft_id}/publish",
     "/api/v1/guidance-drafts/{id}/publish", None, {"dsl": 404, "deputy_dsl": 404}),
    # The desk's stream (issue 18, point 4): a 422 for a Last-Event-ID that is no number.
    ("GET", "/api/v1/desk/stream", "/api/v1/desk/stream?after=x", None,
     {"dsl": 422, "deputy_dsl": 422}),
    # Webhooks (issue 18, point 3): the DSL desk's.
    ("POST", "/api/v1/webhooks", "/api/v1/webhooks", {}, {"dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/webhooks", "/api/v1/webhooks", None, {"dsl": 200, "deputy_dsl": 200}),
    ("DELETE", "/api/v1/webhooks/{hook_id}", "/api/v1/webhooks/{id}", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/webhooks/{hook_id}/deliveries", "/api/v1/webhooks/{id}/deliveries", None,
     {"dsl": 404, "deputy_dsl": 404}),
    # MIS sync: the school's MIS service account and its admin; nobody else.
    ("PUT", "/api/v1/mis/pupils", "/api/v1/mis/pupils", {}, {"mis": 422, "admin": 422}),
    ("POST", "/api/v1/mis/wonde/students", "/api/v1/mis/wonde/students", {"data": []},
     {"mis": 200, "admin": 200}),
    ("POST", "/api/v1/mis/pupils/leavers", "/api/v1/mis/pupils/leavers", {},
     {"mis": 422, "admin": 422}),
    ("PUT", "/api/v1/mis/staff", "/api/v1/mis/staff", {}, {"mis": 422, "admin": 422}),
    ("POST", "/api/v1/mis/staff/leavers", "/api/v1/mis/staff/leavers", {},
     {"mis": 422, "admin": 422}),
    ("POST", "/api/v1/mis/sync-runs", "/api/v1/mis/sync-runs", {}, {"mis": 422, "admin": 422}),
    ("GET", "/api/v1/mis/sync-runs/{run_id}", "/api/v1/mis/sync-runs/{id}", None,
     {"mis": 404, "admin": 404}),
    ("POST", "/api/v1/mis/sync-runs/{run_id}/complete", "/api/v1/mis/sync-runs/{id}/complete",
     {}, {"mis": 404, "admin": 404}),
    # Transfers (issue 21): the DSL desk of the sending and of the receiving school only;
    # an import is the bundle itself (application/jose: a JSON body is a 415).
    ("POST", "/api/v1/pupils/{pupil_id}/transfers", "/api/v1/pupils/{id}/transfers",
     {"to_school_urn": "700999"}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/transfers", "/api/v1/transfers", None, {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/transfers/incoming", "/api/v1/transfers/incoming", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("POST", "/api/v1/transfers/import", "/api/v1/transfers/import", None,
     {"dsl": 415, "deputy_dsl": 415}),
    # Undocumented: GET of the import's address is a 405 (Allow: POST) for anyone signed
    # in, not GET /transfers/{transfer_id}'s 422.
    ("GET", "/api/v1/transfers/import", "/api/v1/transfers/import", None,
     {"staff": 405, "dsl": 405, "deputy_dsl": 405, "admin": 405, "mis": 405}),
    ("GET", "/api/v1/transfers/{transfer_id}", "/api/v1/transfers/{id}", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/transfers/{transfer_id}/receipt", "/api/v1/transfers/{id}/receipt",
     {"pupil_id": X}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/transfers/{transfer_id}/bundle", "/api/v1/transfers/{id}/bundle", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/school-calendar", "/api/v1/school-calendar", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("PUT", "/api/v1/school-calendar", "/api/v1/school-calendar", {},
     {"dsl": 422, "deputy_dsl": 422}),
    # Patterns (issue 25): flags, the school's rules, entities and links are the DSL
    # desk's; staff, admins and MIS accounts are refused.
    ("GET", "/api/v1/flags", "/api/v1/flags?status=open", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("POST", "/api/v1/flags/{flag_id}/acknowledge", "/api/v1/flags/{id}/acknowledge",
     {"reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pattern-settings", "/api/v1/pattern-settings", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("PUT", "/api/v1/pattern-settings", "/api/v1/pattern-settings", {},
     {"dsl": 422, "deputy_dsl": 422}),
    ("POST", "/api/v1/concerns/{concern_id}/entities", "/api/v1/concerns/{id}/entities",
     {"kind": "person", "label": "Fictional Adult"}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/entities", "/api/v1/cases/{id}/entities",
     {"kind": "vehicle", "label": "AB12 CDE"}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/concerns/{concern_id}/entities", "/api/v1/concerns/{id}/entities", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/cases/{case_id}/entities", "/api/v1/cases/{id}/entities", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/links", "/api/v1/pupils/{id}/links", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/entities", "/api/v1/entities?min_children=3", None,
     {"dsl": 200, "deputy_dsl": 200}),
]
# fmt: on
