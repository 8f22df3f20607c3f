"""An independent oracle for the strict JSON parser: Python's json module, made as strict as
RFC 8259 by hooks. Reads one base64 document a line on stdin, prints 1 (valid) or 0 a line."""
import base64
import json
import sys
import unicodedata

MAX_DEPTH = 64


class Refused(Exception):
    pass


def no_duplicates(pairs):
    seen = set()
    for key, _ in pairs:
        # Names equal after normalisation collapse in a Unicode-aware reader: refused too.
        norm = unicodedata.normalize("NFC", key)
        if norm in seen:
            raise Refused("duplicate")
        seen.add(norm)
    return dict(pairs)


def refuse_constant(name):
    raise Refused(name)


def depth(value, level=0):
    if isinstance(value, (list, dict)):
        level += 1
        if level > MAX_DEPTH:
            raise Refused("depth")
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            depth(child, level)


def strings(value):
    if isinstance(value, str):
        value.encode("utf-8")  # a lone surrogate from a \u escape cannot be encoded
    elif isinstance(value, dict):
        for k, v in value.items():
            k.encode("utf-8")
            strings(v)
    elif isinstance(value, list):
        for v in value:
            strings(v)


def valid(raw):
    try:
        text = raw.decode("utf-8")  # strict: no invalid UTF-8, no encoded surrogates
        if text.startswith("\ufeff"):
            return False
        value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=refuse_constant)
        depth(value)
        strings(value)
        return True
    except (Refused, ValueError, UnicodeError, RecursionError):
        return False


for line in sys.stdin:
    print(1 if valid(base64.b64decode(line.strip())) else 0)
