"""JSON text as JavaScript's JSON.stringify writes it, for the metadata hemgpu stores as JSON
strings (config, history, optimizer state): no spaces, numbers in JavaScript's shortest form
(1 not 1.0, 1e-8 not 1e-08, 0.000001 not 1e-06). hemgpu parses either form; writing its form
keeps a checkpoint that went through PyTorch unchanged byte-identical, checksums included.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal


def js_number(x: float) -> str:
    """Number.prototype.toString for a double (ECMAScript Number::toString, radix 10)."""
    if isinstance(x, bool):
        raise TypeError("js_number: a bool is not a number")
    if isinstance(x, int):
        x = float(x) if abs(x) >= 2**53 else x
        if isinstance(x, int):
            return str(x)
    if not math.isfinite(x):
        return "null"  # JSON.stringify writes NaN and ±Infinity as null
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip, as JavaScript does; only the layout differs.
    t = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, t.digits)).rstrip("0") or "0"
    k = len(digits)
    n = len(t.digits) + t.exponent  # value = 0.d1d2…dk × 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


def dumps(v) -> str:
    """JSON.stringify(v) for dicts (insertion order), lists, strings, numbers, bools and None."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return js_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + dumps(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(dumps(x) for x in v) + "]"
    raise TypeError(f"jsjson.dumps: cannot write {type(v).__name__}")
