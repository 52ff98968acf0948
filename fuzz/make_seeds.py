#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (committed; rerun to regenerate).

Needs Python 3 with `cryptography` only for the RS256 and ES256 seeds of jwt_verify. The keys
and secrets are the test-only ones the targets are configured with.
"""

import base64
import hashlib
import hmac
import json
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(secret: bytes, header: dict, claims, raw_payload: bytes = None) -> str:
    payload = raw_payload if raw_payload is not None else json.dumps(claims, separators=(",", ":")).encode()
    message = f"{b64(json.dumps(header, separators=(',', ':')).encode())}.{b64(payload)}"
    sig = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return f"{message}.{b64(sig)}"


def write(target: str, name: str, data) -> None:
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (folder / name).write_bytes(data)


def req(first: str, headers=(), body: str = "") -> str:
    lines = [first] + [f"{k}: {v}" for k, v in headers]
    return "\n".join(lines) + "\n\n" + body


# --- credential_head -------------------------------------------------------------------------
for i, text in enumerate([
    req("GET /", [("authorization", "Bearer abc.DEF-ghi_~+/==")]),
    req("GET /?access_token=tok-123&page=2"),
    req("GET /?access%5Ftoken=tok+with%20space"),
    req("GET /", [("x-api-key", "  key-1  ")]),
    req("GET /", [("x-auth-token", "t2")]),
    req("GET /", [("access_token", "t1")]),
    req("GET /", [("authorization", "Basic YWxpY2U6cGFzczp3b3Jk")]),
    req("GET /", [("authorization", "basic YWxpY2U6cHc")]),
    req("GET /", [("authorization", "Bearer a"), ("authorization", "Bearer b")]),
    req("GET /?access_token=a", [("x-api-key", "b")]),
    req("GET /", [("authorization", "Digest username=x")]),
    req("GET /", [("authorization", "Bearer   spaced")]),
]):
    write("credential_head", f"seed-{i:02}", text)

# --- basic_payload (first byte: padding and spelling of the scheme) -------------------------
for i, data in enumerate([
    b"\x00alice:alice-password",
    b"\x01user:pass:with:colons",
    b"\x02:no-user",
    b"\x03no-colon",
    b"\x04tab\tuser:x",
    "\x05\u00fcn\u00efc\u00f6de:p\u00e4ss".encode(),
    b"\x06alice:",
    b"\x07\xff\xfe:x",
]):
    write("basic_payload", f"seed-{i:02}", data)

# --- layer_request ---------------------------------------------------------------------------
LAYER = b"fuzz-layer-secret-0123456789abcdef"
APP1 = hs256(LAYER, {"alg": "HS256", "typ": "JWT"},
             {"sub": "app-1", "client_id": "app-1", "scope": "orders:read", "exp": 4_000_000_000})
BIAPP = hs256(LAYER, {"alg": "HS256", "typ": "JWT"},
              {"sub": "bi-app", "client_id": "bi-app", "scope": "sudo orders:read", "exp": 4_000_000_000})
KEY = "fuzz-valid-api-key-0001"
SUDO_KEY = "fuzz-sudo-api-key-0002"
FORM = ("content-type", "application/x-www-form-urlencoded")
JSON = ("content-type", "application/json")
for i, text in enumerate([
    req("GET /whoami", [("authorization", f"Bearer {APP1}")]),
    req("GET /api/orders/7", [("authorization", f"Bearer {APP1}")]),
    req("GET /api/reports", [("x-api-key", KEY)]),
    req(f"GET /api/orders?access_token={APP1}&page=1"),
    req("POST /api/orders", [FORM], f"access_token={APP1}&item=1"),
    req("POST /api/orders", [JSON], json.dumps({"access_token": APP1, "item": 1})),
    req("POST /whoami", [("authorization", f"Bearer {APP1}"), JSON], '{"payload":[1,2,3]}'),
    req("GET /whoami?sudo=loginName:alice&tenantCode=acme", [("x-api-key", SUDO_KEY)]),
    req("GET /api/orders?sudo=uid:1002&tenantId=t-beta", [("authorization", f"Bearer {BIAPP}")]),
    req("GET /whoami", [("x-auth-token", APP1), ("x-sudo", "email:bob@EXAMPLE.com")]),
    req("GET /whoami?sudo=uid:1001", [("authorization", f"Bearer {APP1}")]),
    req("GET /whoami?tenantCode=acme", [("x-api-key", KEY)]),
    req("OPTIONS /api/orders", [("origin", "https://app.example"), ("access-control-request-method", "POST")]),
    req("GET /api//orders", [("authorization", f"Bearer {APP1}")]),
    req("GET /api/orders/%2e%2e/reports", [("x-api-key", KEY)]),
    req("GET /whoami", [("authorization", "Basic YWxpY2U6cHc=")]),
    req("POST /whoami", [FORM], "access_token=a&access_token=b"),
    req("GET /whoami"),
    # API keys carried as bearer tokens: refused by default, taken with the opt-in header.
    req("GET /whoami", [("authorization", f"Bearer {KEY}")]),
    req(f"GET /api/reports?access_token={KEY}"),
    req("GET /api/reports", [("authorization", f"Bearer {KEY}"), ("fuzz-accept-bearer-keys", "on")]),
    req("POST /whoami", [FORM, ("fuzz-accept-bearer-keys", "on")], f"access_token={SUDO_KEY}"),
    req("GET /whoami?sudo=loginName:alice&tenantCode=acme", [("x-auth-token", SUDO_KEY), ("fuzz-accept-bearer-keys", "on")]),
    req("GET /whoami?sudo=email:bob%40example.com+&tenantId=t-beta", [("x-api-key", SUDO_KEY)]),
    # Kind traps: client svc-reports holds orders, key owner svc-reports does not.
    req("GET /api/orders", [("x-api-key", KEY)]),
]):
    write("layer_request", f"seed-{i:02}", text)

# --- jwt_verify -------------------------------------------------------------------------------
JWT_SECRET = b"fuzz-jwt-secret-0123456789abcdef"
claims = {"sub": "user-1", "client_id": "app", "scope": "a b", "exp": NOW + 600, "iat": NOW}
seeds = [
    hs256(JWT_SECRET, {"alg": "HS256", "kid": "hs"}, claims),
    hs256(JWT_SECRET, {"alg": "HS256"}, claims),
    hs256(JWT_SECRET, {"alg": "HS256", "kid": "hs"}, dict(claims, exp=NOW - 100)),
    hs256(JWT_SECRET, {"alg": "HS256", "kid": "hs"}, dict(claims, nbf=NOW + 100)),
    hs256(JWT_SECRET, {"alg": "HS256", "kid": "hs"}, dict(claims, exp=NOW + 0.5)),
    hs256(JWT_SECRET, {"alg": "HS256", "kid": "hs"}, dict(claims, sub=42)),
    hs256(JWT_SECRET, {"alg": "HS256", "kid": "hs", "crit": ["x"]}, claims),
    b64(b'{"alg":"none"}') + "." + b64(json.dumps(claims).encode()) + ".",
    # The RS256/HS256 confusion: HMAC with the public key's bytes as the secret.
    hs256((FIXTURES / "test_only_rsa2048_public.pem").read_bytes(), {"alg": "HS256", "kid": "rs"}, claims),
    "not.a.jwt",
    "a.b",
    "....",
]
try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    def signed(header, key_file, sign):
        message = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        key = serialization.load_pem_private_key((FIXTURES / key_file).read_bytes(), password=None)
        return f"{message}.{b64(sign(key, message.encode()))}"

    seeds.append(signed({"alg": "RS256", "kid": "rs"}, "test_only_rsa2048_private_pkcs8.pem",
                        lambda k, m: k.sign(m, padding.PKCS1v15(), hashes.SHA256())))

    def es256(k, m):
        r, s = utils.decode_dss_signature(k.sign(m, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    seeds.append(signed({"alg": "ES256", "kid": "es"}, "test_only_ec_p256_private_pkcs8.pem", es256))
    seeds.append(signed({"alg": "ES256", "kid": "rs"}, "test_only_ec_p256_private_pkcs8.pem", es256))
except ImportError:
    print("cryptography is missing: no RS256/ES256 seeds")
for i, token in enumerate(seeds):
    write("jwt_verify", f"seed-{i:02}", token)

# --- jwt_claims (first byte: the header; the rest: the payload, signed by the target) --------
good = {"iss": "https://issuer.fuzz", "aud": "fuzz-api", "sub": "user-1", "exp": NOW + 600}
for i, (pick, payload) in enumerate([
    (0, good),
    (1, dict(good, aud=["other", "fuzz-api"], scope="a b", act={"sub": "admin"})),
    (0, dict(good, exp=NOW - 31)),
    (0, dict(good, exp=NOW + 0.75, nbf=NOW + 29)),
    (0, dict(good, nbf=NOW + 31)),
    (0, dict(good, sub=7)),
    (0, {k: v for k, v in good.items() if k != "sub"} | {"client_id": "app"}),
    (0, dict(good, iss="https://issuer.fuzz/")),
    (2, good),
    (4, good),
    (6, good),
    (7, dict(good, tenant={"id": "t1", "code": "acme"})),
    (0, dict(good, exp="1900000000")),
    (0, dict(good, exp=1e300)),
]):
    write("jwt_claims", f"seed-{i:02}", bytes([pick]) + json.dumps(payload).encode())
write("jwt_claims", "seed-raw", b"\x00not json at all")

# --- token_endpoint ----------------------------------------------------------------------------
# The target's mounts: /oauth/token (POST only), /api/oauth2/server/tokens (GET on), check at
# /oauth/token/check and /api/oauth2/server/tokens/check, /oauth/token/introspect,
# /oauth/token/revoke (POST only), /api/oauth2/server/tokens/revoke (GET by possession on).
# @JWT@ and @OPAQUE@ become live tokens of fuzz-app and fuzz-opaque.
APP = ("fuzz-app", "fuzz-app-secret-7f3a")
OPAQUE = ("fuzz-opaque", "fuzz-opaque-generated-secret-91c2-0123456789abcdef")
OFF = ("fuzz-off", "fuzz-off-generated-secret-5d0e-0123456789abcdef")


def basic_of(client) -> str:
    return "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()


def body_auth(client) -> str:
    return f"client_id={client[0]}&client_secret={client[1]}"


CC = "grant_type=client_credentials"
for i, text in enumerate([
    req("POST /oauth/token", [FORM], f"{CC}&{body_auth(APP)}"),
    req("POST /oauth/token", [FORM, ("authorization", basic_of(APP))], f"{CC}&scope=orders:read"),
    req("POST /oauth/token", [FORM], f"{CC}&{body_auth(OPAQUE)}"),
    req(f"GET /api/oauth2/server/tokens?{CC}&{body_auth(OPAQUE)}"),
    req(f"GET /oauth/token?{CC}&{body_auth(OPAQUE)}"),
    req("POST /oauth/token", [FORM], f"{CC}&client_id=fuzz-app&client_secret=wrong"),
    req("POST /oauth/token", [FORM], f"{CC}&{body_auth(APP)}&scope=admin"),
    req("POST /oauth/token", [FORM], f"{CC}&{body_auth(APP)}&scope=fuzz-api/.default"),
    req("POST /oauth/token", [FORM], f"{CC}&{body_auth(OFF)}"),
    req("POST /oauth/token", [FORM, ("authorization", basic_of(OPAQUE))], f"{CC}&{body_auth(APP)}"),
    req("POST /oauth/token", [FORM], "grant_type=password&username=a&password=b"),
    req("POST /oauth/token", [FORM], f"{CC}&{CC}"),
    req("POST /oauth/token", [JSON], '{"grant_type":"client_credentials"}'),
    req("GET /oauth/token/check?token=abc"),
    req("GET /api/oauth2/server/tokens/check?token=@JWT@"),
    req("GET /oauth/token/check?token=@OPAQUE@"),
    req("POST /oauth/token/introspect", [FORM, ("authorization", basic_of(APP))],
        "token=made-up&token_type_hint=access_token"),
    req("POST /oauth/token/introspect", [FORM], f"token=@JWT@&{body_auth(OPAQUE)}"),
    req("POST /oauth/token/introspect", [FORM], "token=@OPAQUE@"),
    req("POST /oauth/token/revoke", [FORM, ("authorization", basic_of(APP))], "token=made-up"),
    req("POST /oauth/token/revoke", [FORM], f"token=@OPAQUE@&{body_auth(OPAQUE)}"),
    req("POST /oauth/token/revoke", [FORM], f"token=@JWT@&{body_auth(OPAQUE)}"),
    req("GET /oauth/token/revoke?token=@JWT@"),
    req("GET /api/oauth2/server/tokens/revoke?token=@JWT@"),
    req("GET /api/oauth2/server/tokens/revoke?token=@OPAQUE@&token=x"),
    req("DELETE /oauth/token/check"),
    req("PUT /api/oauth2/server/tokens"),
    req("POST /mounted/anywhere", [FORM], f"{CC}&{body_auth(OPAQUE)}"),
]):
    write("token_endpoint", f"seed-{i:02}", text)

# --- grant_admin (first byte: 0 admin, 1 client app-a, 2 user app-b, 3 key owner svc,
# 4 client app-a acting as user 1001, 5 nobody) -------------------------------------------------
def action(api, kind, who, apply_type, time="2031-01-01T00:00:00Z"):
    return json.dumps({"api_id": api, kind: who, "apply_type": apply_type, "time": time})


def pair(api, kind, who):
    return json.dumps({"api_id": api, kind: who})


for i, (who, text) in enumerate([
    (0, req("POST /authorize/action", [JSON], action("reports", "app_id", "app-a", "APPLY_TYPE_AUTHORIZE"))),
    (0, req("POST /authorize/action", [JSON], action("orders", "app_id", "app-b", "APPLY_TYPE_API_CANCEL_AUTHORIZE"))),
    (0, req("POST /authorize/action", [JSON], action("orders", "user_id", "1001", "APPLY_TYPE_API_CANCEL_AUTHORIZE", "2027-01-20T00:00:00Z"))),
    (0, req("POST /authorize/action", [JSON], action("orders", "key_owner_id", "svc", "APPLY_TYPE_AUTHORIZE"))),
    (0, req("POST /authorize/approve", [JSON], pair("reports", "app_id", "app-c"))),
    (0, req("POST /authorize/approve", [JSON], pair("orders", "app_id", "app-b"))),
    (0, req("POST /authorize/reject", [JSON], pair("reports", "app_id", "app-c"))),
    (0, req("POST /v1/project-1/service/apis/authorize/action", [JSON],
            action("reports", "user_id", "app-b", "APPLY_TYPE_AUTHORIZE", "2032-01-01T00:00:00Z"))),
    (0, req("GET /grants?api_id=orders")),
    (0, req("GET /grants?user_id=app-b")),
    (1, req("GET /grants?app_id=app-a")),
    (1, req("GET /grants?app_id=app-b")),
    (1, req("POST /authorize/action", [JSON], action("orders", "app_id", "app-b", "APPLY_TYPE_APP_CANCEL_AUTHORIZE"))),
    (1, req("POST /authorize/action", [JSON], action("reports", "app_id", "app-a", "APPLY_TYPE_APPLY"))),
    (1, req("POST /authorize/action", [JSON], action("orders", "app_id", "app-a", "APPLY_TYPE_APP_CANCEL_AUTHORIZE"))),
    (2, req("POST /authorize/action", [JSON], action("orders", "app_id", "app-b", "APPLY_TYPE_APP_CANCEL_AUTHORIZE"))),
    (2, req("POST /authorize/action", [JSON], action("reports", "user_id", "app-b", "APPLY_TYPE_APP_CANCEL_AUTHORIZE"))),
    (2, req("GET /grants?app_id=app-b")),
    (2, req("GET /grants?user_id=app-b")),
    (3, req("POST /authorize/action", [JSON], action("reports", "key_owner_id", "svc", "APPLY_TYPE_RENEW", "2032-01-01T00:00:00Z"))),
    (3, req("GET /grants?key_owner_id=svc")),
    (4, req("POST /authorize/action", [JSON], action("orders", "user_id", "1001", "APPLY_TYPE_APP_CANCEL_AUTHORIZE"))),
    (4, req("GET /grants?user_id=1001")),
    (5, req("GET /grants?api_id=orders")),
    (5, req("OPTIONS /authorize/action")),
    (0, req("POST /authorize/action", [JSON], '{"api_id":"orders","app_id":"app-a","user_id":"app-a"}')),
    (0, req("POST /authorize/action", [JSON], '{"api_id":1}')),
]):
    write("grant_admin", f"seed-{i:02}", bytes([who]) + text.encode())

# --- account_admin (first byte: 0 admin, 1 not admin, 2 nobody) ---------------------------------
for i, (who, text) in enumerate([
    (0, req("POST /clients", [JSON], json.dumps({"client_id": "new-app", "scopes": ["a", "b"], "token_format": "opaque"}))),
    (0, req("POST /users", [JSON], json.dumps({"uid": "u-2", "login_name": "zed", "password": "zed-password-123",
                                                "email": "z@example.com", "tenants": [], "scopes": ["a"]}))),
    (0, req("POST /clients/existing-app/rotate-secret")),
    (0, req("POST /clients/existing-app/disable")),
    (0, req("POST /clients/existing-app/enable")),
    (0, req("POST /users/u-existing/disable")),
    (0, req("POST /clients/%65xisting-app/enable")),
    (0, req("GET /clients")),
    (1, req("POST /clients", [JSON], json.dumps({"client_id": "sneaky"}))),
    (1, req("POST /clients/existing-app/disable")),
    (2, req("POST /users", [JSON], "{}")),
    (2, req("OPTIONS /clients")),
    (1, req("OPTIONS /users/u-existing/disable")),
    (0, req("POST /users", [JSON], json.dumps({"uid": "existing-app", "login_name": "clash"}))),
    (0, req("POST /clients", [JSON], json.dumps({"client_id": "u-existing"}))),
    (0, req("POST /users/u-existing/enable")),
    (0, req("GET /users")),
]):
    write("account_admin", f"seed-{i:02}", bytes([who]) + text.encode())

print("seeds written under", HERE / "corpus")
