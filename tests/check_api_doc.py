#!/usr/bin/env python3
"""check_api_doc.py - docs/api.md names every gRPC method, and only those.

Compares three lists and fails (exit 1, one line per difference) when they
disagree:
  * the methods of every service in include/mds/v1/*.proto;
  * the methods tabled in docs/api.md under each "### ... `mds.v1.S`"
    heading (first column of the tables in that section);
  * the rows of api.md's "Authorization by method" table
    (`S.Method` | `route` | action | resource | rate class), checked
    against the gate's route table in mds/rpc_gate.c: the route exists
    and its action and rate class are the ones documented.

Usage: check_api_doc.py SOURCE_ROOT
"""
import os
import re
import sys


def proto_methods(root):
    out = {}
    pdir = os.path.join(root, "include", "mds", "v1")
    for fn in sorted(os.listdir(pdir)):
        if not fn.endswith(".proto"):
            continue
        svc = None
        with open(os.path.join(pdir, fn), encoding="utf-8") as f:
            for line in f:
                line = line.split("//", 1)[0]
                m = re.match(r"\s*service\s+(\w+)\s*\{", line)
                if m:
                    svc = m.group(1)
                    out.setdefault(svc, set())
                    continue
                m = re.match(r"\s*rpc\s+(\w+)\s*\(", line)
                if m and svc:
                    out[svc].add(m.group(1))
                if re.match(r"^\}", line):
                    svc = None
    return out


def first_cell(line):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if not cells or set(cells[0]) <= set("-: "):
        return None
    m = re.match(r"`(\w+)`", cells[0])
    return (m.group(1), cells) if m else None


def doc_sections(text):
    """Methods per service from the per-service tables."""
    out = {}
    svc = None
    for line in text.splitlines():
        if line.startswith("#"):
            m = re.match(r"#{2,3} .*`mds\.v1\.(\w+)`", line)
            svc = m.group(1) if m else None
            if svc:
                out.setdefault(svc, set())
            continue
        if svc and line.startswith("|"):
            fc = first_cell(line)
            if fc and fc[0] != "method":
                out[svc].add(fc[0])
    return out


def doc_gate_rows(text):
    rows = []
    inside = False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Authorization by method"
            continue
        if inside and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            m = re.match(r"`(\w+)\.(\w+)`", cells[0])
            if m and len(cells) >= 5:
                rows.append((m.group(1), m.group(2), cells[1].strip("`"),
                             cells[2], cells[4]))
    return rows


def gate_routes(root):
    routes = {}
    with open(os.path.join(root, "mds", "rpc_gate.c"), encoding="utf-8") as f:
        src = f.read()
    for m in re.finditer(r'\{\s*"(\w+)",\s*(\w+),\s*MDS_RATE_(\w+),\s*RES_(\w+)', src):
        act = m.group(2)
        act = "authenticated" if act == "ACT_AUTHENTICATED" else \
            act.replace("MDS_ACT_", "").lower().replace("_", "-")
        routes[m.group(1)] = (act, m.group(3).lower())
    return routes


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    with open(os.path.join(root, "docs", "api.md"), encoding="utf-8") as f:
        text = f.read()
    protos = proto_methods(root)
    docs = doc_sections(text)
    routes = gate_routes(root)
    errs = []
    for svc, ms in sorted(protos.items()):
        got = docs.get(svc)
        if got is None:
            errs.append(f"service mds.v1.{svc}: no section in docs/api.md")
            continue
        for m in sorted(ms - got):
            errs.append(f"mds.v1.{svc}/{m}: in the proto, missing from docs/api.md")
        for m in sorted(got - ms):
            errs.append(f"mds.v1.{svc}/{m}: in docs/api.md, not in the proto")
    for svc in sorted(set(docs) - set(protos)):
        errs.append(f"service mds.v1.{svc}: documented, not in any proto")
    seen = set()
    for svc, meth, route, action, cls in doc_gate_rows(text):
        seen.add((svc, meth))
        if meth not in protos.get(svc, ()):
            errs.append(f"authorization table: {svc}.{meth} is not a method")
        r = routes.get(route)
        if r is None:
            errs.append(f"authorization table: {svc}.{meth}: route '{route}' not in rpc_gate.c")
        elif (action, cls) != r:
            errs.append(f"authorization table: {svc}.{meth}: documented {action}/{cls}, "
                        f"rpc_gate.c says {r[0]}/{r[1]}")
    for svc, ms in sorted(protos.items()):
        for m in sorted(ms):
            if (svc, m) not in seen:
                errs.append(f"authorization table: {svc}.{m} missing")
    for e in errs:
        print(e)
    n = sum(len(v) for v in protos.values())
    if errs:
        print(f"{len(errs)} difference(s)")
        return 1
    print(f"docs/api.md: {len(protos)} services, {n} methods, all documented with their gate route")
    return 0


if __name__ == "__main__":
    sys.exit(main())
