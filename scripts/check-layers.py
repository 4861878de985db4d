#!/usr/bin/env python3
"""Checks that imports inside src/ go one way.

Reads every `crate::…`, `super::…` and child-module path in src/**/*.rs (tests and
`#[cfg(test)]` modules excluded: a unit test may reach anywhere), resolves each to the file that
defines it, and fails when
  * two top-level modules import each other, directly or through others (a cycle), or
  * a top-level module imports one listed above it in LAYERS (the documented direction).
Modules missing from LAYERS are only held to the no-cycle rule.
Usage: scripts/check-layers.py [--graph]   (--graph prints the module edges)
"""
import re
import sys
from pathlib import Path

# Bottom-up: a module may import only modules listed before it (docs/architecture.md).
LAYERS = [
    "secret", "problem", "clock", "hex", "domain", "wire", "otlp", "request_id", "simulator",
    "error", "http", "metrics", "telemetry", "shared", "auth", "audit", "limits", "cache",
    "upstream", "state", "callbacks", "routes", "config", "startup", "sandbox", "client",
]
ROOT_FILES = {"lib", "main", "cli", "proptests"}  # the crate's façade, the binary (and its command line), unit-test helpers

SRC = Path(__file__).resolve().parent.parent / "src"
PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M | re.S)


def module_path(f: Path):
    rel = f.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def resolve(parts):
    """The file defining the longest prefix of `parts`."""
    for n in range(len(parts), 0, -1):
        base = SRC.joinpath(*parts[:n])
        for cand in (base.with_suffix(".rs"), base / "mod.rs"):
            if cand.is_file():
                return cand
    return None


def strip_tests(text):
    """Drops `#[cfg(test)]` items (a `mod tests { … }` block or a single line)."""
    out, i = [], 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = j + len("#[cfg(test)]")
        brace, semi = text.find("{", k), text.find(";", k)
        if semi >= 0 and (brace < 0 or semi < brace):
            i = semi + 1
            continue
        depth, p = 0, brace
        while p < len(text):
            if text[p] == "{":
                depth += 1
            elif text[p] == "}":
                depth -= 1
                if depth == 0:
                    break
            p += 1
        i = p + 1


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand_use(tree):
    """`a::{b, c::{d}}` -> ["a::b", "a::c::d"] (enough for the paths we resolve)."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)::\{(.*)\}$", tree)
    if not m:
        return [tree]
    head, body = m.groups()
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    return [p for it in items if it for p in expand_use(f"{head}::{it}")]


def edges_of(f: Path):
    me = module_path(f)
    text = strip_comments(strip_tests(f.read_text()))
    children = {m.group(1) for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M)}
    paths = []
    for m in USE_RE.finditer(text):
        for p in expand_use(m.group(1)):
            first = p.split("::")[0]
            if first in children:  # `pub use child::X` re-exports a child
                paths.append(me + p.split("::"))
    for m in PATH_RE.finditer(text):
        kind, rest = m.group(1), m.group(2).split("::")[1:]
        if kind == "crate":
            paths.append(rest)
        elif kind == "self":
            paths.append(me + rest)
        else:  # super: relative to the parent module (repeatable)
            base = me[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
            paths.append(base + rest)
    out = set()
    for p in paths:
        target = resolve(p) if p else None
        if target and target != f:
            out.add(target)
    return out


def top(f: Path):
    return module_path(f)[0] if module_path(f) else "lib"


def main():
    files = [f for f in SRC.rglob("*.rs") if f.stem != "proptests"]
    graph = {f: edges_of(f) for f in files}
    mods = {}
    why = {}
    for f, ts in graph.items():
        a = top(f)
        if a in ROOT_FILES:
            continue
        for t in ts:
            b = top(t)
            if b != a and b not in ROOT_FILES:
                mods.setdefault(a, set()).add(b)
                why.setdefault((a, b), f"{f.relative_to(SRC)} -> {t.relative_to(SRC)}")
    if "--graph" in sys.argv:
        for a in sorted(mods):
            print(f"{a} -> {', '.join(sorted(mods[a]))}")
    errors = []
    # Layer direction.
    rank = {m: i for i, m in enumerate(LAYERS)}
    for (a, b), w in sorted(why.items()):
        if a in rank and b in rank and rank[b] > rank[a]:
            errors.append(f"upward import {a} -> {b} ({w})")
    # Cycles between top-level modules (Tarjan's strongly connected components).
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in mods.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(mods):
        if v not in index:
            visit(v)
    for comp in sccs:
        detail = "; ".join(why[(a, b)] for a in comp for b in comp if (a, b) in why)
        errors.append(f"import cycle between {', '.join(comp)}: {detail}")
    for e in errors:
        print(e)
    if errors:
        print(f"check-layers: {len(errors)} problem(s)")
        return 1
    print(f"check-layers: {len(files)} files, {len(mods)} modules, imports go one way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
