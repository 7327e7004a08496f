#!/usr/bin/python3
"""Interoperability of Island MDS's signed checkpoints with an independent
implementation of C2SP signed-note / tlog-checkpoint and of RFC 9162's
Merkle tree, written here from the specifications with python3-cryptography.

    /usr/bin/python3 feed_verify_note.py PATH/TO/feed_note_tool

Checks, in both directions:
  * a key written by the C code (PKCS#8 PEM, mode 0600) loads here, and its
    verifier key string has the key id computed here;
  * checkpoints signed by the C code (one key, and two during a rotation)
    verify here, and their root is the RFC 9162 root of the synthetic log
    computed here from the raw leaves;
  * consistency and inclusion proofs made by the C code verify here;
  * notes signed here verify in C; tampered ones, foreign-key ones and
    another origin are rejected by C, and tampered C notes are rejected here.
Exits non-zero with a message on the first failure.
"""
import base64
import hashlib
import os
import stat
import subprocess
import sys
import tempfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)

TOOL = sys.argv[1]
ORIGIN = "island-a.example.org/feed"
EM_DASH = "\u2014"


class Reject(Exception):
    pass


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def tool(*args, stdin=None, ok=True):
    p = subprocess.run([TOOL, *args], input=stdin, capture_output=True,
                       timeout=60)
    if ok and p.returncode != 0:
        fail("%s %s: exit %d: %s" % (TOOL, args, p.returncode,
                                     p.stderr.decode()))
    return p


# ---- RFC 9162 Merkle tree, from section 2.1 ----

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, lh, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, lh
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, root1, root2, proof):
    if m == n:
        return not proof and root1 == root2
    if m == 0 or m > n or not proof:
        return m == 0 and not proof
    if m & (m - 1) == 0:
        proof = [root1] + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


def synthetic_leaves(n):
    return [leaf_hash(b"leaf-%d" % i) for i in range(n)]


# ---- C2SP signed-note and tlog-checkpoint ----

def key_id(name, pub):
    return hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]


def vkey_string(name, pub):
    return "%s+%s+%s" % (name, key_id(name, pub).hex(),
                         base64.b64encode(b"\x01" + pub).decode())


def parse_vkey(s):
    name, hexid, b64 = s.split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if raw[0] != 1 or len(raw) != 33:
        raise Reject("not an ed25519 verifier key")
    if key_id(name, raw[1:]).hex() != hexid:
        raise Reject("key id mismatch")
    return name, bytes.fromhex(hexid), Ed25519PublicKey.from_public_bytes(raw[1:])


def sign_note(text, keys):
    """keys: list of (name, Ed25519PrivateKey)."""
    out = text + "\n"
    for name, k in keys:
        pub = k.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)
        sig = key_id(name, pub) + k.sign(text.encode())
        out += "%s %s %s\n" % (EM_DASH, name, base64.b64encode(sig).decode())
    return out


def open_note(note, vkeys):
    """Return (text, names verified); raise Reject."""
    i = note.rfind("\n\n")
    if i < 0 or not note.endswith("\n"):
        raise Reject("malformed note")
    text, sigs = note[:i + 1], note[i + 2:]
    known = {}
    for s in vkeys:
        name, kid, pub = parse_vkey(s)
        known[(name, kid)] = pub
    ok = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise Reject("malformed signature line")
        name, b64 = line[2:].split(" ")
        raw = base64.b64decode(b64, validate=True)
        pub = known.get((name, raw[:4]))
        if pub is None:
            continue
        try:
            pub.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise Reject("bad signature by %s" % name)
        ok.append(name)
    if not ok:
        raise Reject("no trusted signature")
    return text, ok


def corrupt_last_sig(note):
    """Flip one bit of the last signature, keeping its key id."""
    head, last = note[:-1].rsplit("\n", 1)
    dash, name, b64 = last.split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 1
    return "%s\n%s %s %s\n" % (head, dash, name, base64.b64encode(bytes(raw)).decode())


def parse_checkpoint(text):
    lines = text.split("\n")
    origin, size, root = lines[0], lines[1], lines[2]
    if size != str(int(size)) or int(size) < 0:
        raise Reject("bad size")
    raw = base64.b64decode(root, validate=True)
    if len(raw) != 32:
        raise Reject("bad root")
    return origin, int(size), raw


def main():
    tmp = tempfile.mkdtemp(prefix="feed_interop_")
    k1, k2 = os.path.join(tmp, "k1.pem"), os.path.join(tmp, "k2.pem")

    # Keys written by C.
    v1 = tool("keygen", k1, ORIGIN).stdout.decode().strip()
    v2 = tool("keygen", k2, ORIGIN).stdout.decode().strip()
    if stat.S_IMODE(os.stat(k1).st_mode) != 0o600:
        fail("key file mode is %o, not 600" % os.stat(k1).st_mode)
    with open(k1, "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), password=None)
    pub = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    if vkey_string(ORIGIN, pub) != v1:
        fail("verifier key %s, python computes %s" % (v1, vkey_string(ORIGIN, pub)))

    # Checkpoints signed by C, verified here, at several sizes.
    for size in (0, 1, 2, 7, 8, 1000):
        note = tool("checkpoint", ORIGIN, str(size), k1, ORIGIN).stdout.decode()
        text, who = open_note(note, [v1])
        origin, sz, root = parse_checkpoint(text)
        if origin != ORIGIN or sz != size:
            fail("checkpoint says %s %d" % (origin, sz))
        if root != mth(synthetic_leaves(size)):
            fail("root of size %d differs from python's RFC 9162 root" % size)
        if text != "%s\n%d\n%s\n" % (ORIGIN, size, base64.b64encode(root).decode()):
            fail("checkpoint text is not canonical: %r" % text)
        # Tampering is caught here too (the python verifier can fail).
        bad = note.replace("\n%d\n" % size, "\n%d\n" % (size + 1), 1)
        try:
            open_note(bad, [v1])
            fail("python accepted a tampered note")
        except Reject:
            pass

    # Rotation: two keys of one name dual-sign; each verifies alone.
    note = tool("checkpoint", ORIGIN, "77", k1, ORIGIN, k2, ORIGIN).stdout.decode()
    if open_note(note, [v1])[1] != [ORIGIN] or open_note(note, [v2])[1] != [ORIGIN]:
        fail("dual-signed note does not verify with each key")
    if len(open_note(note, [v1, v2])[1]) != 2:
        fail("dual-signed note lacks a signature")

    # Proofs made by C, verified here.
    leaves = synthetic_leaves(300)
    for m, n in ((1, 2), (3, 7), (4, 8), (6, 8), (100, 257), (255, 256), (1, 300), (299, 300)):
        out = tool("consistency", str(m), str(n)).stdout.decode().split()
        h = [bytes.fromhex(x) for x in out]
        if h[0] != mth(leaves[:m]) or h[1] != mth(leaves[:n]):
            fail("roots %d/%d differ" % (m, n))
        if not verify_consistency(m, n, h[0], h[1], h[2:]):
            fail("consistency proof %d->%d does not verify in python" % (m, n))
        if verify_consistency(m, n, h[0], h[1], h[2:-1]):
            fail("python accepted a truncated consistency proof")
    for i, n in ((0, 1), (0, 8), (5, 8), (2, 3), (99, 257), (299, 300)):
        out = tool("inclusion", str(i), str(n)).stdout.decode().split()
        h = [bytes.fromhex(x) for x in out]
        if h[0] != leaves[i] or not verify_inclusion(i, n, h[0], h[2:], h[1]):
            fail("inclusion proof %d/%d does not verify in python" % (i, n))

    # The reverse: python signs, C verifies.
    pk = Ed25519PrivateKey.generate()
    ppub = pk.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    pv = vkey_string(ORIGIN, ppub)
    root = mth(synthetic_leaves(777))
    text = "%s\n777\n%s\nTimestamp: 1700000000\n" % (ORIGIN, base64.b64encode(root).decode())
    stranger = Ed25519PrivateKey.generate()
    note = sign_note(text, [("witness.example", stranger), (ORIGIN, pk)])
    out = tool("verify", ORIGIN, pv, stdin=note.encode()).stdout.decode().split()
    if out != ["777", root.hex()]:
        fail("C read a python checkpoint as %s" % out)
    # C accepts a C-signed note with the python roster too (mixed roster).
    note_c = tool("checkpoint", ORIGIN, "5", k1, ORIGIN).stdout
    tool("verify", ORIGIN, pv, v1, stdin=note_c)
    # ... and rejects: tampered text, only unknown keys, another origin,
    # a failing signature by a trusted key next to a good one.
    rejects = {
        "tampered": (note.replace("\n777\n", "\n778\n"), [pv]),
        "unknown key": (note, [v1]),
        "other origin": (sign_note(text.replace(ORIGIN, "island-b", 1), [(ORIGIN, pk)]), [pv]),
        "forged trusted": (corrupt_last_sig(sign_note(text, [(ORIGIN, pk), (ORIGIN, priv)])), [pv, v1]),
        "hyphen": (note.replace(EM_DASH, "-"), [pv]),
    }
    for what, (n, roster) in rejects.items():
        p = tool("verify", ORIGIN, *roster, stdin=n.encode(), ok=False)
        if p.returncode != 1:
            fail("C did not reject the %s note (exit %d)" % (what, p.returncode))
    print("feed interop: ok (C->python keys, checkpoints, proofs; python->C notes)")
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
