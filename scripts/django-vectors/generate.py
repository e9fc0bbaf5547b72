"""Writes test/fixtures/django-hashes.json: password hashes made by Django's own hashers,
with the verdicts Django's check_password gives, for src/infra/passwords/django.ts.

Run with Debian's python3 (python3-django 3.2, python3-argon2, python3-bcrypt):
    /usr/bin/python3 scripts/django-vectors/generate.py
Salts are fixed, so the output is the same on every run except the unusable password
(make_password(None) appends 40 random characters).
"""
import base64
import hashlib
import json
import os
import sys
import warnings

import django
from django.conf import settings

H = "django.contrib.auth.hashers."
settings.configure(PASSWORD_HASHERS=[H + "PBKDF2PasswordHasher", H + "PBKDF2SHA1PasswordHasher",
                                     H + "Argon2PasswordHasher", H + "BCryptSHA256PasswordHasher",
                                     H + "BCryptPasswordHasher", "__main__.ScryptPasswordHasher",
                                     H + "SHA1PasswordHasher", H + "MD5PasswordHasher", H + "UnsaltedSHA1PasswordHasher",
                                     H + "UnsaltedMD5PasswordHasher", H + "CryptPasswordHasher"])
django.setup()

import argon2  # noqa: E402
import bcrypt  # noqa: E402
from django.contrib.auth import hashers  # noqa: E402
from django.contrib.auth.hashers import (  # noqa: E402
    Argon2PasswordHasher, BCryptPasswordHasher, BCryptSHA256PasswordHasher, MD5PasswordHasher,
    PBKDF2PasswordHasher, PBKDF2SHA1PasswordHasher, SHA1PasswordHasher, UnsaltedMD5PasswordHasher,
    UnsaltedSHA1PasswordHasher, check_password, make_password, mask_hash,
)
from django.utils.crypto import constant_time_compare  # noqa: E402
from django.utils.translation import gettext_noop as _  # noqa: E402


class BasePasswordHasher(hashers.BasePasswordHasher):
    # Django 3.2's base class plus the one helper Django 4.2's scrypt hasher calls, copied from
    # Django 4.2's BasePasswordHasher._check_encode_args (django/contrib/auth/hashers.py).
    def _check_encode_args(self, password, salt):
        if password is None:
            raise TypeError("password must be provided.")
        if not salt or "$" in salt:
            raise ValueError("salt must be provided and cannot contain $.")


# --- Copied verbatim from Django 4.2, django/contrib/auth/hashers.py (Django 3.2 has no
# scrypt hasher; 4.2's default parallelism is 1, Django 5.1 raised it to 5). ---
class ScryptPasswordHasher(BasePasswordHasher):
    """
    Secure password hashing using the Scrypt algorithm.
    """

    algorithm = "scrypt"
    block_size = 8
    maxmem = 0
    parallelism = 1
    work_factor = 2**14

    def encode(self, password, salt, n=None, r=None, p=None):
        self._check_encode_args(password, salt)
        n = n or self.work_factor
        r = r or self.block_size
        p = p or self.parallelism
        hash_ = hashlib.scrypt(
            password.encode(),
            salt=salt.encode(),
            n=n,
            r=r,
            p=p,
            maxmem=self.maxmem,
            dklen=64,
        )
        hash_ = base64.b64encode(hash_).decode("ascii").strip()
        return "%s$%d$%s$%d$%d$%s" % (self.algorithm, n, salt, r, p, hash_)

    def decode(self, encoded):
        algorithm, work_factor, salt, block_size, parallelism, hash_ = encoded.split(
            "$", 6
        )
        assert algorithm == self.algorithm
        return {
            "algorithm": algorithm,
            "work_factor": int(work_factor),
            "salt": salt,
            "block_size": int(block_size),
            "parallelism": int(parallelism),
            "hash": hash_,
        }

    def verify(self, password, encoded):
        decoded = self.decode(encoded)
        encoded_2 = self.encode(
            password,
            decoded["salt"],
            decoded["work_factor"],
            decoded["block_size"],
            decoded["parallelism"],
        )
        return constant_time_compare(encoded, encoded_2)

    def safe_summary(self, encoded):
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("work factor"): decoded["work_factor"],
            _("block size"): decoded["block_size"],
            _("parallelism"): decoded["parallelism"],
            _("salt"): mask_hash(decoded["salt"]),
            _("hash"): mask_hash(decoded["hash"]),
        }

    def must_update(self, encoded):
        decoded = self.decode(encoded)
        return (
            decoded["work_factor"] != self.work_factor
            or decoded["block_size"] != self.block_size
            or decoded["parallelism"] != self.parallelism
        )

    def harden_runtime(self, password, encoded):
        # The runtime for Scrypt is too complicated to implement a sensible
        # hardening algorithm.
        pass
# --- end of the copy ---


def argon2_hasher(type_, t, m, p):
    """Django 3.2's Argon2PasswordHasher with other costs and type. Django <= 3.1 encoded with
    Type.I (argon2i, defaults t=2, m=512, p=2); 3.2 switched to Type.ID (argon2id). Django's
    verify() lets argon2-cffi read the type from the hash, so 3.2 still verifies argon2i."""
    class Hasher(Argon2PasswordHasher):
        time_cost, memory_cost, parallelism = t, m, p

        def params(self):
            params = super().params()
            params.type = type_
            return params
    return Hasher()


def argon2i_without_version(password, salt):
    """argon2i as written by argon2-cffi < 16 (Django 1.10's time): no "v=" segment, which
    means Argon2 version 1.0 (0x10). Today's library writes "v=16"; dropping it is the old form."""
    raw = argon2.low_level.hash_secret(password.encode(), salt.encode(), time_cost=2, memory_cost=512,
                                       parallelism=2, hash_len=16, type=argon2.low_level.Type.I, version=0x10)
    return "argon2" + raw.decode("ascii").replace("$v=16$", "$", 1)


def django_verdict(password, encoded):
    try:
        return check_password(password, encoded), None
    except Exception as e:  # noqa: BLE001 - recorded, Django raising is part of the answer
        return None, type(e).__name__


def vector(algorithm, encoded, password, wrong, note):
    ok, err = django_verdict(password, encoded)
    bad, err2 = django_verdict(wrong, encoded)
    assert err is None and err2 is None, (encoded, err, err2)
    return {"algorithm": algorithm, "encoded": encoded, "password": password, "wrong_password": wrong,
            "django_check_password": ok, "django_check_wrong": bad, "note": note}


ASCII, UNI = "correct horse battery staple", "pässwörd-日本語-🔑"
UNI_WRONG = "pa\u0308sswo\u0308rd-日本語-🔑"  # the same text in NFD: Django does not normalize
LONG = "L" * 72 + "-tail-one"  # 81 bytes: bcrypt sees only the first 72
LONG_WRONG = "L" * 72 + "-tail-two"
LONG_UNI = "a" + "ä" * 40  # 81 bytes; byte 72 is the first byte (C3) of an "ä" (C3 A4)
LONG_UNI_WRONG = "a" + "ä" * 35 + "é" + "ä" * 4  # "é" is C3 A9: the same first 72 bytes
pbkdf2, pbkdf2_sha1 = PBKDF2PasswordHasher(), PBKDF2SHA1PasswordHasher()
bcrypt_sha256, bcrypt_plain = BCryptSHA256PasswordHasher(), BCryptPasswordHasher()
scrypt = ScryptPasswordHasher()
T = argon2.low_level.Type
salt22 = "Fixed0salt1for2tests34"  # 22 characters like Django 3.2's salts


def bsalt(cost, prefix="2b", chars="abcdefghijklmnopqrstuu"):
    return ("$%s$%02d$%s" % (prefix, cost, chars)).encode("ascii")


V = []
for h, name, default_iter in ((pbkdf2, "pbkdf2_sha256", 260000), (pbkdf2_sha1, "pbkdf2_sha1", 260000)):
    V += [
        vector(name, h.encode(ASCII, salt22, 1000), ASCII, ASCII + "!", "ASCII, 1000 iterations"),
        vector(name, h.encode(UNI, salt22, 20000), UNI, UNI_WRONG, "non-ASCII, 20000 iterations"),
        vector(name, h.encode("", salt22, 1000), "", " ", "empty password"),
        vector(name, h.encode(ASCII, "sälz-ünïcode", 1000), ASCII, "Correct horse battery staple",
               "non-ASCII salt (Django never makes one, but encode() accepts it): salt is UTF-8 too"),
        vector(name, h.encode("django-default", salt22, default_iter), "django-default", "django-defaulT",
               "Django 3.2 default: %d iterations" % default_iter),
    ]

for t, m, p, pw, wrong, note in (
    (1, 64, 1, ASCII, ASCII + "!", "argon2id, t=1 m=64 p=1"),
    (2, 256, 2, UNI, UNI_WRONG, "argon2id non-ASCII, t=2 m=256 p=2"),
    (1, 64, 1, "", "x", "argon2id empty password"),
):
    V.append(vector("argon2", argon2_hasher(T.ID, t, m, p).encode(pw, salt22), pw, wrong, note))
V.append(vector("argon2", Argon2PasswordHasher().encode("django-default", salt22), "django-default",
                "django-defaulT", "argon2id at Django 3.2 defaults (t=2, m=102400, p=8)"))
for pw, wrong, note in ((ASCII, ASCII + "!", "ASCII"), (UNI, UNI_WRONG, "non-ASCII"), ("", "x", "empty")):
    V.append(vector("argon2", argon2_hasher(T.I, 2, 512, 2).encode(pw, "oldsalt12345"), pw, wrong,
                    "argon2i as Django <= 3.1 wrote it (t=2 m=512 p=2, 12-char salt), " + note))
    V.append(vector("argon2", argon2i_without_version(pw, "oldsalt12345"), pw, wrong,
                    "argon2i without v= (Argon2 1.0, argon2-cffi < 16), " + note))

for h, name in ((bcrypt_sha256, "bcrypt_sha256"), (bcrypt_plain, "bcrypt")):
    V += [
        vector(name, h.encode(ASCII, bsalt(4)), ASCII, ASCII + "!", "ASCII, cost 4"),
        vector(name, h.encode(UNI, bsalt(5)), UNI, UNI_WRONG, "non-ASCII, cost 5"),
        vector(name, h.encode("", bsalt(4)), "", "x", "empty password"),
        vector(name, h.encode(LONG, bsalt(4)), LONG, LONG_WRONG,
               "81-byte password; the wrong one differs only after byte 72"),
        vector(name, h.encode(LONG_UNI, bsalt(4)), LONG_UNI, LONG_UNI_WRONG,
               "81-byte non-ASCII password cut inside a character; the wrong one has the same 72 bytes"),
        vector(name, h.encode(ASCII, bsalt(4, "2a")), ASCII, ASCII + "!", "$2a$ prefix"),
        vector(name, h.encode(ASCII, bsalt(6, "2y", "zyxwvutsrqponmlkjihgfe")), ASCII, ASCII + "!",
               "$2y$ prefix, cost 6"),
        vector(name, h.encode("django-default", bsalt(12)), "django-default", "django-defaulT",
               "Django 3.2 default: cost 12"),
    ]

for n, r, p, pw, wrong, note in (
    (2**10, 8, 1, ASCII, ASCII + "!", "N=2^10 r=8 p=1"),
    (2**12, 4, 2, UNI, UNI_WRONG, "non-ASCII, N=2^12 r=4 p=2"),
    (2**10, 8, 1, "", "x", "empty password"),
    (2**14, 8, 1, "django-default", "django-defaulT", "Django 4.2 default: N=2^14 r=8 p=1"),
    (2**14, 8, 5, "django-5.1", "django-5.2", "Django >= 5.1 default: N=2^14 r=8 p=5"),
):
    V.append(vector("scrypt", scrypt.encode(pw, salt22, n, r, p), pw, wrong, note))

V.append(vector("unusable", make_password(None), "", "anything", "make_password(None): unusable"))
V.append(vector("unusable", "!", "", "!", "the bare unusable prefix"))

UNSUPPORTED = [
    vector("md5", MD5PasswordHasher().encode(ASCII, "md5salt"), ASCII, ASCII + "!", "salted MD5"),
    vector("sha1", SHA1PasswordHasher().encode(ASCII, "sha1salt"), ASCII, ASCII + "!", "salted SHA-1"),
    vector("unsalted_md5", UnsaltedMD5PasswordHasher().encode(ASCII, ""), ASCII, ASCII + "!", "bare MD5 hex"),
    vector("unsalted_md5", "md5$$" + UnsaltedMD5PasswordHasher().encode(ASCII, ""), ASCII, ASCII + "!", "md5$$"),
    vector("unsalted_sha1", UnsaltedSHA1PasswordHasher().encode(ASCII, ""), ASCII, ASCII + "!", "sha1$$"),
]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    UNSUPPORTED.append(vector("crypt", hashers.CryptPasswordHasher().encode(ASCII, "ab"), ASCII,
                              ASCII + "!", "UNIX crypt (DES)"))


def tampered(algorithm, encoded, password, note):
    ok, err = django_verdict(password, encoded)
    return {"algorithm": algorithm, "encoded": encoded, "password": password,
            "django_check_password": ok, "django_raises": err, "note": note}


def flip_last(encoded, alphabet):
    body = encoded.rstrip("=")
    c = body[-1]
    swap = alphabet[(alphabet.index(c) + 16) % len(alphabet)]  # +16: a bit that carries data
    return body[:-1] + swap + encoded[len(body):]


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
BCRYPT64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
pb = pbkdf2.encode(ASCII, salt22, 1000)
pb_head, pb_hash = pb.rsplit("$", 1)
bc = bcrypt_plain.encode(ASCII, bsalt(4))
sc = scrypt.encode(ASCII, salt22, 2**10, 8, 1)
ar = argon2_hasher(T.ID, 1, 64, 1).encode(ASCII, salt22)
TAMPERED = [
    tampered("pbkdf2_sha256", flip_last(pb, B64), ASCII, "hash changed in its last character"),
    tampered("pbkdf2_sha256", pb_head + "$" + base64.b64encode(base64.b64decode(pb_hash)[:16]).decode(),
             ASCII, "hash cut to its first 16 bytes (PBKDF2's output prefix)"),
    tampered("pbkdf2_sha256", pb_head + "$" + pb_hash.rstrip("="), ASCII, "base64 padding removed"),
    tampered("pbkdf2_sha256", pb.replace("$1000$", "$01000$"), ASCII, "iterations with a leading zero"),
    tampered("pbkdf2_sha256", pb.replace("$1000$", "$1e3$"), ASCII, "iterations not an integer"),
    tampered("pbkdf2_sha256", pb.replace("$1000$", "$0$"), ASCII, "zero iterations"),
    tampered("bcrypt", flip_last(bc, BCRYPT64), ASCII, "checksum changed in its last character"),
    tampered("bcrypt", bc[:-1], ASCII, "checksum one character short"),
    tampered("bcrypt", bc.replace("$2b$", "$2x$"), ASCII, "$2x$ prefix"),
    tampered("bcrypt", bc[:35] + "v" + bc[36:], ASCII, "salt's last character has non-zero unused bits"),
    tampered("scrypt", flip_last(sc, B64), ASCII, "hash changed in its last character"),
    tampered("scrypt", sc.replace("$1024$", "$1000$"), ASCII, "N not a power of two"),
    tampered("argon2", flip_last(ar, B64), ASCII, "hash changed in its last character"),
    tampered("argon2", ar.replace("argon2id", "argon2i", 1), ASCII, "argon2id hash relabelled argon2i"),
    tampered("argon2", ar.replace("$v=19$", "$v=16$"), ASCII, "version relabelled 1.0"),
]

GENERATED_BY = ("Django %s (Debian python3-django), argon2-cffi %s, bcrypt %s, Python %s; scrypt vectors by "
                "Django 4.2's ScryptPasswordHasher copied onto 3.2's base class"
                % (django.get_version(), argon2.__version__, bcrypt.__version__, sys.version.split()[0]))
path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../test/fixtures/django-hashes.json"))
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w", encoding="utf-8") as f:
    out = {"generated_by": GENERATED_BY, "vectors": V, "unsupported": UNSUPPORTED, "tampered": TAMPERED}
    f.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
print("wrote %d vectors, %d unsupported, %d tampered to %s" % (len(V), len(UNSUPPORTED), len(TAMPERED), path))
