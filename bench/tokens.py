#!/usr/bin/env python3
"""Mint the benchmark's tokens: one HS256 and one EdDSA token per user, and
the JWKS that publishes the Ed25519 key (as Better Auth's jwt() plugin does).

    tokens.py OUT_DIR USERS ISSUER SECRET

Writes OUT_DIR/hs256.txt and OUT_DIR/eddsa.txt (line i: the token of user
bench-i) and OUT_DIR/jwks.json. Tokens are valid for 4 hours.
"""
import base64
import hashlib
import hmac
import json
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def main() -> None:
    out, users, issuer, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    key = Ed25519PrivateKey.generate()
    kid = "bench-ed25519"
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with open(f"{out}/jwks.json", "w") as f:
        json.dump({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64(public),
                             "kid": kid, "alg": "EdDSA"}]}, f)
    now = int(time.time())
    hs_header = part({"alg": "HS256", "typ": "JWT"})
    ed_header = part({"alg": "EdDSA", "kid": kid})
    with open(f"{out}/hs256.txt", "w") as hs, open(f"{out}/eddsa.txt", "w") as ed:
        for u in range(1, users + 1):
            user = f"bench-{u}"
            claims = part({"sub": user, "id": user, "email": f"{user}@example.com",
                           "name": f"Bench {u}", "iat": now, "exp": now + 4 * 3600,
                           "iss": issuer, "aud": issuer})
            signing_input = f"{hs_header}.{claims}".encode()
            mac = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
            hs.write(f"{hs_header}.{claims}.{b64(mac)}\n")
            signing_input = f"{ed_header}.{claims}".encode()
            ed.write(f"{ed_header}.{claims}.{b64(key.sign(signing_input))}\n")


if __name__ == "__main__":
    main()
