# SPDX-License-Identifier: GPL-3.0-or-later
"""Codecs shared by the cjdns simulator and the tiny admin client.

- bencode as cjdns speaks it (tolerant decoder, padded replies),
- cjdns base32 and public keys (key -> fc00::/8 address),
- the admin authentication hash.

Everything here follows /work/shared/cjdns/README.md (observed behaviour of
cjdroute v21.1). Python 3.11 standard library only.
"""

import hashlib
import ipaddress
import os
import time

__all__ = [
    "BencodeError", "bdecode", "bencode", "bencode_padded",
    "b32encode", "b32decode", "key_bytes_to_address", "address_of_key",
    "KeyError_", "parse_key", "key_to_string", "generate_key", "format_ip6_full",
    "cookie_now", "sign_request",
]


# --------------------------------------------------------------------------
# bencode
# --------------------------------------------------------------------------

class BencodeError(ValueError):
    """The bytes are not (exactly one) bencoded value."""


# Deep nesting cannot occur in a 512-byte request anyway; the cap keeps the
# recursive decoder far away from Python's recursion limit.
_MAX_DEPTH = 64


def _decode_at(data, pos, depth):
    if depth > _MAX_DEPTH:
        raise BencodeError("nested too deeply")
    if pos >= len(data):
        raise BencodeError("unexpected end")
    c = data[pos]
    if c == 0x69:  # 'i'
        end = data.find(b"e", pos + 1)
        if end < 0:
            raise BencodeError("unterminated integer")
        text = data[pos + 1:end]
        if not text or not text.lstrip(b"-").isdigit() or text.count(b"-") > 1 \
                or (b"-" in text and not text.startswith(b"-")):
            raise BencodeError("bad integer")
        return int(text), end + 1
    if c == 0x6C:  # 'l'
        out = []
        pos += 1
        while True:
            if pos >= len(data):
                raise BencodeError("unterminated list")
            if data[pos] == 0x65:  # 'e'
                return out, pos + 1
            item, pos = _decode_at(data, pos, depth + 1)
            out.append(item)
    if c == 0x64:  # 'd'
        out = {}
        pos += 1
        while True:
            if pos >= len(data):
                raise BencodeError("unterminated dict")
            if data[pos] == 0x65:
                return out, pos + 1
            key, pos = _decode_at(data, pos, depth + 1)
            if not isinstance(key, bytes):
                raise BencodeError("dict key is not a string")
            val, pos = _decode_at(data, pos, depth + 1)
            out[key] = val
    if 0x30 <= c <= 0x39:
        # A string. cjdns pads the first length of a reply with zeros
        # ("d000001:q4:ponge"), so leading zeros must be accepted.
        colon = data.find(b":", pos)
        if colon < 0:
            raise BencodeError("unterminated string length")
        digits = data[pos:colon]
        if not digits.isdigit():
            raise BencodeError("bad string length")
        n = int(digits)
        start = colon + 1
        if start + n > len(data):
            raise BencodeError("string runs past the end")
        return data[start:start + n], start + n
    raise BencodeError("unexpected byte 0x%02x" % c)


def bdecode(data):
    """Decode exactly one bencoded value; trailing bytes are an error.

    Strings come back as bytes, dict keys as bytes."""
    value, pos = _decode_at(bytes(data), 0, 0)
    if pos != len(data):
        raise BencodeError("trailing bytes")
    return value


def _encode_into(obj, out):
    if isinstance(obj, bool):
        raise TypeError("bool is not bencodable")
    if isinstance(obj, int):
        out += b"i%de" % obj
    elif isinstance(obj, (bytes, bytearray)):
        out += b"%d:" % len(obj)
        out += obj
    elif isinstance(obj, str):
        _encode_into(obj.encode(), out)
    elif isinstance(obj, (list, tuple)):
        out += b"l"
        for item in obj:
            _encode_into(item, out)
        out += b"e"
    elif isinstance(obj, dict):
        out += b"d"
        items = [(k.encode() if isinstance(k, str) else bytes(k), v) for k, v in obj.items()]
        items.sort(key=lambda kv: kv[0])  # cjdns replies have sorted keys
        for k, v in items:
            _encode_into(k, out)
            _encode_into(v, out)
        out += b"e"
    else:
        raise TypeError("cannot bencode %r" % type(obj))


def bencode(obj):
    """Canonical bencode (sorted keys, no padding)."""
    out = bytearray()
    _encode_into(obj, out)
    return bytes(out)


def bencode_padded(d):
    """Encode a top-level reply dict the way cjdroute does.

    cjdns serialises replies back to front and then aligns the start of the
    message to 8 bytes by zero-padding the FIRST string length of the
    top-level dict: "d1:q4:ponge" (11 bytes) goes out as "d000001:q4:ponge"
    (16 bytes). Every reply in the captures is a multiple of 8 bytes except
    the hand-made "Request too big." one.
    """
    raw = bencode(d)
    pad = (-len(raw)) % 8
    if pad == 0 or not d:
        return raw
    return raw[:1] + b"0" * pad + raw[1:]


# --------------------------------------------------------------------------
# cjdns base32 and keys
# --------------------------------------------------------------------------

B32_ALPHABET = b"0123456789bcdfghjklmnpqrstuvwxyz"
# Decoding table; cjdns maps upper case letters like lower case ones.
_B32_VALUE = {}
for _i, _c in enumerate(B32_ALPHABET):
    _B32_VALUE[_c] = _i
    if 0x61 <= _c <= 0x7A:
        _B32_VALUE[_c - 0x20] = _i


def b32encode(data):
    """cjdns base32: 5 bits per character, least significant bits first."""
    out = bytearray()
    work = 0
    bits = 0
    for byte in data:
        work |= byte << bits
        bits += 8
        while bits >= 5:
            out.append(B32_ALPHABET[work & 31])
            work >>= 5
            bits -= 5
    if bits:
        out.append(B32_ALPHABET[work & 31])
    return bytes(out)


def b32decode(text):
    """Inverse of b32encode; raises ValueError on a bad character or on
    leftover bits that are not zero (as cjdns's Base32_decode does)."""
    out = bytearray()
    work = 0
    bits = 0
    for ch in text:
        v = _B32_VALUE.get(ch)
        if v is None:
            raise ValueError("bad base32 character")
        work |= v << bits
        bits += 5
        if bits >= 8:
            out.append(work & 0xFF)
            work >>= 8
            bits -= 8
    if bits >= 5 or work:
        raise ValueError("leftover bits")
    return bytes(out)


def key_bytes_to_address(key_bytes):
    """The 16-byte cjdns address: first half of sha512(sha512(key))."""
    return hashlib.sha512(hashlib.sha512(key_bytes).digest()).digest()[:16]


class KeyError_(ValueError):
    """A public key was refused; str(exc) is cjdns's exact error string."""


def parse_key(raw, check_address=True):
    """Validate a public key the way cjdns's Key_parse does.

    Returns (key_bytes, address_bytes). Like the real one, anything after the
    first 54 characters is ignored ("<key>.kGARBAGE" is accepted)."""
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) < 52:
        raise KeyError_("key must be 52 characters long")
    if raw[52:54] != b".k":
        raise KeyError_("key must end in .k")
    try:
        key_bytes = b32decode(raw[:52])
    except ValueError:
        raise KeyError_("failed to base-32 decode key") from None
    if len(key_bytes) != 32:
        raise KeyError_("failed to base-32 decode key")
    addr = key_bytes_to_address(key_bytes)
    if check_address and addr[0] != 0xFC:
        raise KeyError_("not a valid cjdns public key")
    return key_bytes, addr


def key_to_string(key_bytes):
    return (b32encode(key_bytes) + b".k").decode()


def address_of_key(key_text):
    """fc00::/8 address (ipaddress.IPv6Address) of a key string."""
    return ipaddress.IPv6Address(parse_key(key_text)[1])


def generate_key():
    """Random 32 bytes whose address starts with 0xfc (about 1 in 256 tries).

    A real key is a curve25519 public key; nothing in the simulator needs the
    private half, so random bytes of the right shape are enough."""
    while True:
        kb = os.urandom(32)
        if key_bytes_to_address(kb)[0] == 0xFC:
            return kb


def format_ip6_full(addr16):
    """fc1e:be5e:fefa:8ce4:f5f4:06f8:3582:2f21 (every group 4 digits), as in
    Core_nodeInfo's myIp6."""
    h = bytes(addr16).hex()
    return ":".join(h[i:i + 4] for i in range(0, 32, 4))


# --------------------------------------------------------------------------
# admin authentication
# --------------------------------------------------------------------------

def cookie_now(now=None):
    """cjdns's admin cookie: floor(unix_ms / 1024), not unix seconds."""
    if now is None:
        now = time.time()
    return int(now * 1000) // 1024


def sign_request(request, password, cookie):
    """Build the bencoded bytes of an authenticated request.

    request: dict with q="auth", aq, args, txid... (no cookie/hash needed).
    H0 = hex sha256(password || cookie); bencode the request with hash=H0;
    then replace H0 by hex sha256 of those bytes."""
    if isinstance(password, str):
        password = password.encode()
    msg = dict(request)
    if isinstance(cookie, int):
        msg["cookie"] = cookie          # an Int cookie works too (captures)
    else:
        cookie = cookie.decode() if isinstance(cookie, bytes) else str(cookie)
        msg["cookie"] = cookie.encode()
    cookie_text = str(int(cookie)).encode()
    h0 = hashlib.sha256(password + cookie_text).hexdigest().encode()
    msg["hash"] = h0
    raw = bencode(msg)
    h = hashlib.sha256(raw).hexdigest().encode()
    return raw.replace(h0, h, 1)
