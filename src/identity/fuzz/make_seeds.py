#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_jwt and fuzz_jwks (run from this folder; needs
python3-cryptography). Tokens are signed with the fixed Ed25519 key of fuzz_support.h, so they
verify in the fuzzer; byte 0 of each seed is the target's mode."""
import base64, hashlib, json, os
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, ec

NOW = 1_700_000_000
ISS = "https://idp.fuzz.example/"
GW = "https://gatehouse.fuzz.example/"
seed = bytes((0x5A ^ (i * 7)) & 0xFF for i in range(32))
ed = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
raw_pub = ed.public_key().public_bytes_raw() if hasattr(ed.public_key(), "public_bytes_raw") else None
if raw_pub is None:
    from cryptography.hazmat.primitives import serialization
    raw_pub = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def token(header, claims):
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    p = b64u(json.dumps(claims, separators=(",", ":")).encode())
    sig = ed.sign(f"{h}.{p}".encode())
    return f"{h}.{p}.{b64u(sig)}"

def write(folder, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()[:12]), "wb") as f:
        f.write(data)

good = {"iss": ISS, "sub": "alice", "aud": "gatehouse", "iat": NOW, "exp": NOW + 600, "groups": ["dev", "ops"]}
jwt = "corpus/jwt"
write(jwt, b"\x00" + token({"alg": "EdDSA", "typ": "JWT", "kid": "ed"}, good).encode())
write(jwt, b"\x00" + token({"alg": "EdDSA", "kid": "gw"}, dict(good, iss=GW, gh_connections=["pg"], gh_issued_by="admin", gh_origin_iss=ISS, gh_origin_groups=["dev"])).encode())
write(jwt, b"\x00" + token({"alg": "EdDSA", "kid": "ed"}, dict(good, exp=NOW + 1.5e3, nbf=NOW - 10, aud=["x", "gatehouse"])).encode())
write(jwt, b"\x00" + (b64u(b'{"alg":"none"}') + "." + b64u(json.dumps(good).encode()) + ".").encode())
write(jwt, b"\x00" + (b64u(b'{"alg":"HS256","kid":"ed"}') + "." + b64u(json.dumps(good).encode()) + ".AAAA").encode())
write(jwt, b"\x00" + (b64u(b'{"alg":"ES256","kid":"es"}') + "." + b64u(json.dumps(good).encode()) + "." + b64u(bytes(64))).encode())
for key in (0, 1, 2, 3):
    claims = dict(good, iss=GW) if key == 3 else good
    write(jwt, b"\x01" + bytes([key]) + json.dumps(claims).encode())
write(jwt, b"\x01\x00" + b'{"iss":"https://idp.fuzz.example/","sub":"a","sub":"b","aud":"gatehouse","exp":1700000600}')
write(jwt, b"\x01\x00" + b'{"iss":"https://idp.fuzz.example/","sub":"\\u0061\\ud83d\\ude00","aud":["gatehouse"],"exp":1700000600.9,"iat":1.7e9}')
write(jwt, b"\x02" + os.urandom(48))
write(jwt, b"\x02" + b"subject-with-some-length\x00\x01\x02\x03groupA groupB" + bytes(range(16)))
write(jwt, b"\x03" + b'{"a":{"b":[1,2,{"c":null}]},"a2":"\\u00e9","n":-1.5e300}')
write(jwt, b"\x03" + b'{"a":1,"b":{"a":2,"a":3}}')
write(jwt, b"\x03" + b'[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]')

jwks = "corpus/jwks"
ed_jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw_pub), "kid": "ed", "use": "sig", "alg": "EdDSA"}
def int_b64(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))
r = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
rsa_jwk = {"kty": "RSA", "n": int_b64(r.n), "e": int_b64(r.e), "kid": "rs", "alg": "RS256"}
e = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
ec_jwk = {"kty": "EC", "crv": "P-256", "x": b64u(e.x.to_bytes(32, "big")), "y": b64u(e.y.to_bytes(32, "big")), "kid": "es"}
write(jwks, b"\x00" + json.dumps({"keys": [ed_jwk]}).encode())
write(jwks, b"\x00" + json.dumps({"keys": [rsa_jwk, ec_jwk, dict(ed_jwk, kid="other")]}).encode())
write(jwks, b"\x00" + json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}).encode())
write(jwks, b"\x00" + json.dumps({"keys": [dict(ed_jwk, d=b64u(seed))]}).encode())
write(jwks, b"\x00" + json.dumps({"keys": [dict(ec_jwk, crv="P-384"), dict(ed_jwk, use="enc"), dict(ed_jwk, key_ops=["verify"], kid="k2")]}).encode())
write(jwks, b"\x00" + json.dumps({"keys": [ed_jwk, dict(ed_jwk)]}).encode())
write(jwks, b"\x01" + json.dumps({"issuer": ISS, "jwks_uri": "https://idp.fuzz.example/keys", "authorization_endpoint": "x"}).encode())
write(jwks, b"\x01" + json.dumps({"issuer": "https://attacker.example/" + "x" * 200, "jwks_uri": "https://a/"}).encode())
write(jwks, b"\x01" + b'{"issuer":"https://idp.fuzz.example/","issuer":"https://idp.fuzz.example/","jwks_uri":"https://k/"}')
