"""hemgpu's training settings (TRAIN_SETTINGS of src/train/config.ts), read from settings.json, which
`npm run settings` writes from that table: each field's flag, type, range or choices, default, help,
whether it changes training and its value in checkpoints older than it. The twin keeps no copy."""

from __future__ import annotations

import json
import os
from collections import OrderedDict

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "settings.json"), encoding="utf-8") as _f:
    SETTINGS = [OrderedDict(s) for s in json.load(_f, object_pairs_hook=OrderedDict)["settings"]]

BY_FIELD = OrderedDict((s["field"], s) for s in SETTINGS)
BY_FLAG = OrderedDict((s["flag"], s) for s in SETTINGS)

# (field, CLI flag, changes training, the value a checkpoint written before the field existed
# trained with, or None: required), in checkpoint order.
TRAIN_CONFIG_FIELDS = [(s["field"], s["flag"], s["training"], s.get("absent")) for s in SETTINGS]

# A fresh run's config (hemgpu train's defaults).
DEFAULTS = OrderedDict((s["field"], s["default"]) for s in SETTINGS)


def choices(field: str) -> tuple:
    """A choice setting's values, in hemgpu's order."""
    return tuple(BY_FIELD[field]["choices"])


def flag_type(flag: str):
    """The Python type of a flag's value: int, float or str."""
    s = BY_FLAG[flag]
    if s["kind"] == "number":
        return int if s["range"].get("int") else float
    return str


def flag_help(flag: str) -> str:
    """hemgpu's --help text for a flag: its help, with the choices or the range."""
    s = BY_FLAG[flag]
    if s["kind"] == "choice":
        return s["help"] + ": " + " | ".join(f"{k} ({w})" if w else k for k, w in s["choices"].items())
    if s["kind"] == "number":
        r = s["range"]
        lo = f" {'>' if r.get('minExclusive') else '≥'} {r['min']}" if "min" in r else ""
        hi = f"{' and' if lo else ''} ≤ {r['max']}" if "max" in r else ""
        return f"{s['help']}; {'an integer' if r.get('int') else 'a number'}{lo}{hi}"
    return s["help"]


def problem(flag: str, value) -> "str | None":
    """Why `value` is not a valid value of the flag's setting (its range or choices), or None."""
    s = BY_FLAG[flag]
    if s["kind"] == "choice":
        return None if value in s["choices"] else f"--{flag}: unknown value {value!r}; use {', '.join(s['choices'])}."
    if s["kind"] != "number":
        return None
    r = s["range"]
    ok = (not r.get("int") or float(value).is_integer()) and value == value and abs(value) != float("inf")
    ok = ok and ("min" not in r or (value > r["min"] if r.get("minExclusive") else value >= r["min"])) and ("max" not in r or value <= r["max"])
    return None if ok else f"--{flag}: expected {flag_help(flag).rsplit('; ', 1)[1]}, got {value}."
