"""Authlib (PyPI) against a running quickstart: RFC 8414 metadata validated with Authlib's
own rules, then the client-credentials grant, introspection and revocation at the discovered
endpoints, and a call to a protected API with the token; RFC 9728 metadata followed from a
401's challenge.

    python authlib_client.py [BASE_URL]        (default http://127.0.0.1:3000)

Exits non-zero on the first failure, printing what failed.
"""

import sys
from importlib.metadata import version

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
print(f"Authlib {version('Authlib')} against {base}")


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


# 1. RFC 8414 discovery and Authlib's validation of every member it knows.
url = get_well_known_url(base, external=True)
response = requests.get(url, timeout=5)
check(response.status_code == 200, f"GET {url}: {response.status_code}")
metadata = AuthorizationServerMetadata(response.json())
try:
    metadata.validate()
except ValueError as e:
    check(False, f"AuthorizationServerMetadata.validate(): {e}")
check(True, "AuthorizationServerMetadata.validate()")
check(metadata["issuer"] == base, f"issuer {metadata['issuer']}")

# 2. Client credentials at the discovered token endpoint, both client authentication methods.
for method in metadata.token_endpoint_auth_methods_supported:
    session = OAuth2Session(
        "demo-app",
        "demo-app-secret",
        scope="orders:read",
        token_endpoint_auth_method=method,
    )
    token = session.fetch_token(
        metadata["token_endpoint"], grant_type="client_credentials"
    )
    check(token["token_type"].lower() == "bearer", f"client_credentials ({method})")

# 3. The token works on a protected API.
r = session.get(f"{base}/whoami", timeout=5)
check(r.status_code == 200, f"GET /whoami with the token: {r.status_code}")

# 4. Introspection and revocation at the discovered endpoints.
access = token["access_token"]
r = session.introspect_token(metadata["introspection_endpoint"], token=access)
check(r.status_code == 200 and r.json()["active"] is True, "introspection: active")
r = session.revoke_token(metadata["revocation_endpoint"], token=access)
check(r.status_code == 200, f"revocation: {r.status_code}")
r = session.introspect_token(metadata["introspection_endpoint"], token=access)
check(r.json()["active"] is False, "introspection after revocation: inactive")

# 5. RFC 9728: a 401 names the resource metadata, which names this authorization server.
r = requests.get(f"{base}/whoami", timeout=5)
challenge = r.headers.get("www-authenticate", "")
check(r.status_code == 401 and "resource_metadata=" in challenge, f"401 challenge: {challenge}")
prm_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
prm = requests.get(prm_url, timeout=5).json()
check(prm["authorization_servers"] == [metadata["issuer"]], f"resource metadata {prm}")

print("Authlib: all checks passed")
