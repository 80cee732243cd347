#include "admin/openapi.h"

namespace gh::admin {

namespace {

// Kept as JSON text so that it reads (and diffs) like the document clients get.
constexpr std::string_view kDocument = R"openapi(
{
  "openapi": "3.0.3",
  "info": {
    "title": "gatehouse admin API",
    "version": "0.1.0",
    "description": "The admin listener of a gatehouse gateway (gateway.admin): approvals, access windows, gateway tokens, operations, health and metrics. Every caller is identified by the bearer token it sends: a token from a trusted identity provider or one the gateway issued, verified like a session's. What a caller may do follows roles.admins and roles.auditors; no role approves its own request."
  },
  "servers": [{"url": "https://127.0.0.1:8443", "description": "gateway.admin.listen"}],
  "security": [{"bearer": []}],
  "tags": [
    {"name": "operations", "description": "Health, readiness, metrics, reload, pause and resume"},
    {"name": "reviews", "description": "Approval requests and their reviews"},
    {"name": "access", "description": "Just-in-time access windows"},
    {"name": "tokens", "description": "Gateway-signed short-lived tokens and their keys"}
  ],
  "paths": {
    "/healthz": {
      "get": {
        "tags": ["operations"],
        "summary": "Liveness: the process answers",
        "operationId": "healthz",
        "security": [],
        "responses": {
          "200": {"description": "Alive", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
        }
      }
    },
    "/readyz": {
      "get": {
        "tags": ["operations"],
        "summary": "Readiness: the audit store accepts records, a policy is in force and the listeners accept connections",
        "operationId": "readyz",
        "security": [],
        "responses": {
          "200": {"description": "Ready for traffic", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
          "503": {"description": "Not ready; `not_ready` names the checks that failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}
        }
      }
    },
    "/metrics": {
      "get": {
        "tags": ["operations"],
        "summary": "Prometheus metrics (text exposition format 0.0.4)",
        "description": "Open by default; with `gateway.admin.metrics: token` any verified caller token is required (no role). Counts and latencies only: no identities, statements or secrets.",
        "operationId": "metrics",
        "security": [{}, {"bearer": []}],
        "responses": {
          "200": {"description": "Every gatehouse metric", "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"}
        }
      }
    },
    "/.well-known/jwks.json": {
      "get": {
        "tags": ["tokens"],
        "summary": "The public keys that verify gateway-issued tokens (JWKS)",
        "operationId": "jwks",
        "security": [],
        "responses": {
          "200": {"description": "A JSON Web Key Set", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Jwks"}}}},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/openapi.json": {
      "get": {
        "tags": ["operations"],
        "summary": "This document",
        "operationId": "openapi",
        "security": [],
        "responses": {
          "200": {"description": "The OpenAPI 3.0 description of the admin API", "content": {"application/json": {"schema": {"type": "object"}}}}
        }
      }
    },
    "/v1/reviews": {
      "get": {
        "tags": ["reviews"],
        "summary": "Approval requests the caller may see",
        "description": "Admins and auditors see every request; anyone else the requests they raised and those their groups may approve.",
        "operationId": "listReviews",
        "parameters": [
          {"name": "status", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/RequestStatus"}}
        ],
        "responses": {
          "200": {"description": "The requests", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/ApprovalRequest"}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"}
        }
      }
    },
    "/v1/reviews/{id}": {
      "get": {
        "tags": ["reviews"],
        "summary": "One approval request",
        "operationId": "showReview",
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {
          "200": {"description": "The request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApprovalRequest"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/reviews/{id}/approve": {
      "post": {
        "tags": ["reviews"],
        "summary": "Approve a request",
        "description": "The caller must be in one of the rule's approver groups and must not be the requester; no role lifts this.",
        "operationId": "approveReview",
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReviewBody"}}}},
        "responses": {
          "200": {"description": "The request after the review", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApprovalRequest"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/reviews/{id}/deny": {
      "post": {
        "tags": ["reviews"],
        "summary": "Deny a request (a reason is required)",
        "operationId": "denyReview",
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReviewBody"}}}},
        "responses": {
          "200": {"description": "The request after the review", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApprovalRequest"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/access-requests": {
      "post": {
        "tags": ["access"],
        "summary": "Ask for a just-in-time access window to a connection",
        "description": "Needs an approval rule with `on: connect` that matches the caller and the connection. Asking again while a request is pending returns it (200).",
        "operationId": "requestAccess",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AccessRequestBody"}}}},
        "responses": {
          "201": {"description": "A new request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApprovalRequest"}}}},
          "200": {"description": "The request already pending", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApprovalRequest"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/Error"},
          "429": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/tokens": {
      "post": {
        "tags": ["tokens"],
        "summary": "Issue a gateway token (admins)",
        "operationId": "issueToken",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IssueTokenBody"}}}},
        "responses": {
          "200": {"description": "The token (shown once; the gateway keeps only its hash)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MintedToken"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/tokens/exchange": {
      "post": {
        "tags": ["tokens"],
        "summary": "Trade the identity provider's token presented for a gateway token, never wider in groups or lifetime",
        "operationId": "exchangeToken",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExchangeTokenBody"}}}},
        "responses": {
          "200": {"description": "The token (shown once; the gateway keeps only its hash)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MintedToken"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/keys/rotate": {
      "post": {
        "tags": ["tokens"],
        "summary": "Make a new signing key active (admins); earlier keys keep verifying",
        "operationId": "rotateKey",
        "responses": {
          "200": {"description": "The new key's id", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KeyRotated"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/reload": {
      "post": {
        "tags": ["operations"],
        "summary": "Re-read the policy (admins); a refused reload keeps the policy in force",
        "operationId": "reload",
        "responses": {
          "200": {"$ref": "#/components/responses/ControlDone"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/ControlRefused"}
        }
      }
    },
    "/v1/pause": {
      "post": {
        "tags": ["operations"],
        "summary": "Hold new statements until resume (admins)",
        "operationId": "pause",
        "responses": {
          "200": {"$ref": "#/components/responses/ControlDone"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/ControlRefused"}
        }
      }
    },
    "/v1/resume": {
      "post": {
        "tags": ["operations"],
        "summary": "Admit statements again (admins)",
        "operationId": "resume",
        "responses": {
          "200": {"$ref": "#/components/responses/ControlDone"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/ControlRefused"}
        }
      }
    },
    "/v1/status": {
      "get": {
        "tags": ["operations"],
        "summary": "Policy version, pause state and counters (admins and auditors)",
        "operationId": "status",
        "responses": {
          "200": {"$ref": "#/components/responses/ControlDone"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/sessions": {
      "get": {
        "tags": ["audit"],
        "summary": "Recorded sessions, newest first (auditors and admins: all; others: their own)",
        "operationId": "listSessions",
        "parameters": [
          {"$ref": "#/components/parameters/Identity"},
          {"$ref": "#/components/parameters/Issuer"},
          {"name": "connection", "in": "query", "schema": {"type": "string"}},
          {"name": "group", "in": "query", "schema": {"type": "string"}},
          {"$ref": "#/components/parameters/Since"},
          {"$ref": "#/components/parameters/Until"},
          {"$ref": "#/components/parameters/Limit"}
        ],
        "responses": {
          "200": {"description": "Sessions", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/sessions/{id}": {
      "get": {
        "tags": ["audit"],
        "summary": "One session and its transcript: statements in order with decisions, timings and recorded (masked) results",
        "operationId": "showSession",
        "parameters": [{"name": "id", "in": "path", "required": true, "description": "A session id", "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "The session", "content": {"application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/Session"}, {"type": "object", "properties": {"transcript": {"type": "array", "items": {"$ref": "#/components/schemas/Statement"}}}}]}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/audit/search": {
      "get": {
        "tags": ["audit"],
        "summary": "Recorded statements matching every filter given, newest first",
        "operationId": "searchAudit",
        "parameters": [
          {"$ref": "#/components/parameters/Identity"},
          {"$ref": "#/components/parameters/Issuer"},
          {"name": "group", "in": "query", "schema": {"type": "string"}},
          {"name": "connection", "in": "query", "schema": {"type": "string"}},
          {"name": "table", "in": "query", "description": "schema.table among those it read or wrote", "schema": {"type": "string"}},
          {"name": "kind", "in": "query", "schema": {"type": "string"}},
          {"name": "decision", "in": "query", "schema": {"type": "string", "enum": ["allow", "deny"]}},
          {"name": "rule", "in": "query", "schema": {"type": "string"}},
          {"name": "outcome", "in": "query", "schema": {"type": "string"}},
          {"name": "text", "in": "query", "description": "A piece of the (masked) statement text", "schema": {"type": "string"}},
          {"name": "session", "in": "query", "schema": {"type": "string"}},
          {"$ref": "#/components/parameters/Since"},
          {"$ref": "#/components/parameters/Until"},
          {"$ref": "#/components/parameters/Limit"}
        ],
        "responses": {
          "200": {"description": "Statements", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Statement"}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Error"}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token from an issuer in identity.issuers, or a gateway token (POST /v1/tokens, /v1/tokens/exchange). Verified on every request: signature, issuer, audience, expiry, groups."
      }
    },
    "parameters": {
      "RequestId": {"name": "id", "in": "path", "required": true, "description": "An approval request id (r-…)", "schema": {"type": "string"}},
      "Identity": {"name": "identity", "in": "query", "description": "A subject (others than yourself: auditors and admins only); an identity is the subject at its issuer", "schema": {"type": "string"}},
      "Issuer": {"name": "issuer", "in": "query", "description": "The identity's issuer (`iss`; for an exchanged gateway token, the issuer of the token exchanged). Another than your own: auditors and admins only", "schema": {"type": "string"}},
      "Since": {"name": "since", "in": "query", "description": "RFC 3339 time, or a duration back from now (1h, 7d)", "schema": {"type": "string"}},
      "Until": {"name": "until", "in": "query", "description": "RFC 3339 time, or a duration back from now", "schema": {"type": "string"}},
      "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000000}}
    },
    "responses": {
      "Error": {"description": "Refused; `error` says why", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unauthorized": {"description": "No token, or a token that did not verify", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "ControlDone": {"description": "Done; `output` is what `gatehouse <command>` prints", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ControlResult"}}}},
      "ControlRefused": {"description": "Not done (a reload refused lists every problem)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ControlResult"}}}}
    },
    "schemas": {
      "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}}
      },
      "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}}
      },
      "Check": {
        "type": "object",
        "required": ["ok", "detail"],
        "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}}
      },
      "Readiness": {
        "type": "object",
        "required": ["status", "checks", "not_ready"],
        "properties": {
          "status": {"type": "string", "enum": ["ready", "not ready"]},
          "checks": {
            "type": "object",
            "required": ["audit", "policy", "listeners"],
            "properties": {
              "audit": {"$ref": "#/components/schemas/Check"},
              "policy": {"$ref": "#/components/schemas/Check"},
              "listeners": {"$ref": "#/components/schemas/Check"}
            }
          },
          "not_ready": {"type": "array", "items": {"type": "string", "enum": ["audit", "policy", "listeners"]}}
        }
      },
      "Jwks": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object", "additionalProperties": true}}}
      },
      "RequestStatus": {"type": "string", "enum": ["pending", "approved", "denied", "lapsed", "withdrawn", "used"]},
      "Review": {
        "type": "object",
        "properties": {
          "subject": {"type": "string"},
          "decision": {"type": "string", "enum": ["approve", "deny"]},
          "reason": {"type": "string"},
          "at": {"type": "string", "format": "date-time"}
        }
      },
      "ApprovalRequest": {
        "type": "object",
        "required": ["id", "status", "rule", "kind", "requester", "connection", "approvals"],
        "properties": {
          "id": {"type": "string"},
          "status": {"$ref": "#/components/schemas/RequestStatus"},
          "rule": {"type": "string"},
          "kind": {"type": "string", "enum": ["statement", "connect"]},
          "mode": {"type": "string", "enum": ["wait", "reject"]},
          "requester": {"type": "string"},
          "connection": {"type": "string"},
          "statement": {"type": "string", "description": "As reviewers see it: masked"},
          "session_id": {"type": "string"},
          "reason": {"type": "string"},
          "created_at": {"type": "string", "description": "RFC 3339; empty when unset"},
          "expires_at": {"type": "string", "description": "RFC 3339; empty when unset"},
          "decided_at": {"type": "string", "description": "RFC 3339; empty when undecided"},
          "approvals": {"type": "array", "items": {"type": "string"}, "description": "Subjects who approved"},
          "reviews": {"type": "array", "items": {"$ref": "#/components/schemas/Review"}},
          "approvers": {
            "type": "object",
            "properties": {"groups": {"type": "array", "items": {"type": "string"}}, "count": {"type": "integer"}}
          },
          "grant": {"type": "string", "description": "once, or how long the approval lasts (30m)"},
          "grant_until": {"type": "string"},
          "text_hash": {"type": "string"},
          "params_hash": {"type": "string"},
          "policy_version": {"type": "integer"}
        }
      },
      "ReviewBody": {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Required to deny"}}
      },
      "AccessRequestBody": {
        "type": "object",
        "required": ["connection"],
        "properties": {
          "connection": {"type": "string"},
          "for": {"type": "string", "description": "How long the window should last (1h); the rule's grant when omitted"},
          "reason": {"type": "string"}
        }
      },
      "IssueTokenBody": {
        "type": "object",
        "required": ["subject"],
        "properties": {
          "subject": {"type": "string"},
          "groups": {"type": "array", "items": {"type": "string"}},
          "ttl": {"type": "string", "description": "Lifetime (15m by default), at most identity.gateway_tokens.max_ttl"},
          "connections": {"type": "array", "items": {"type": "string"}, "description": "Connections the token is limited to; all when empty"}
        }
      },
      "ExchangeTokenBody": {
        "type": "object",
        "properties": {
          "groups": {"type": "array", "items": {"type": "string"}, "description": "A subset of the presented token's groups; all when empty"},
          "ttl": {"type": "string", "description": "At most max_ttl and the presented token's remaining life"},
          "connections": {"type": "array", "items": {"type": "string"}}
        }
      },
      "MintedToken": {
        "type": "object",
        "required": ["token", "subject", "expires_at", "kid"],
        "properties": {
          "token": {"type": "string"},
          "subject": {"type": "string"},
          "groups": {"type": "array", "items": {"type": "string"}},
          "connections": {"type": "array", "items": {"type": "string"}},
          "expires_at": {"type": "string", "format": "date-time"},
          "kid": {"type": "string"}
        }
      },
      "KeyRotated": {
        "type": "object",
        "required": ["kid"],
        "properties": {"kid": {"type": "string"}}
      },
      "ControlResult": {
        "type": "object",
        "required": ["ok", "output"],
        "properties": {"ok": {"type": "boolean"}, "output": {"type": "string"}}
      },
      "Session": {
        "type": "object",
        "properties": {
          "id": {"type": "string"}, "replica": {"type": "string"}, "identity": {"type": "string"},
          "groups": {"type": "array", "items": {"type": "string"}}, "issuer": {"type": "string"},
          "client": {"type": "string"}, "tls": {"type": "boolean"}, "listener": {"type": "string"},
          "connection": {"type": "string"}, "protocol": {"type": "string"},
          "user_label": {"type": "string"}, "application_name": {"type": "string"},
          "started_at": {"type": "string"}, "ended_at": {"type": "string"}, "end_reason": {"type": "string"},
          "bytes_from_client": {"type": "integer"}, "bytes_to_client": {"type": "integer"},
          "statements": {"type": "integer"}
        }
      },
      "Statement": {
        "type": "object",
        "properties": {
          "session_id": {"type": "string"}, "identity": {"type": "string"}, "connection": {"type": "string"},
          "seq": {"type": "integer"}, "at": {"type": "string"}, "at_us": {"type": "integer"},
          "duration_us": {"type": "integer"}, "text": {"type": "string"}, "protocol": {"type": "string"},
          "outcome": {"type": "string"}, "command_tag": {"type": "string"}, "rows": {"type": "integer"},
          "kind": {"type": "string"}, "class": {"type": "string"},
          "tables": {"type": "array", "items": {"type": "string"}},
          "functions": {"type": "array", "items": {"type": "string"}},
          "decision": {"type": "string"}, "rule": {"type": "string"}, "policy_version": {"type": "integer"},
          "approval_id": {"type": "string"}, "withheld": {"type": "integer"},
          "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
          "masked": {"type": "object", "additionalProperties": {"type": "integer"}},
          "params": {"type": "array", "description": "An Execute's bound parameters, masked like the text", "items": {"type": "string", "nullable": true}},
          "result": {"type": "object", "description": "The result as the client saw it (masked), when recording keeps results", "properties": {"columns": {"type": "array", "items": {"type": "string"}}, "rows": {"type": "array", "items": {"type": "array", "items": {"type": "string", "nullable": true}}}, "truncated": {"type": "boolean"}, "withheld": {"type": "boolean"}, "not_recorded": {"type": "string"}}}
        }
      }
    }
  }
}
)openapi";

}  // namespace

std::string_view openapi_json() {
  return kDocument;
}

}  // namespace gh::admin
