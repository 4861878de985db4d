"""Renders the targets table of bench/RESULTS.md from one bench/all.sh run: the facts the
scenarios recorded (`name value` lines) and their raw output (overload and replica lines).
Every target is listed, met or not (or not measured), with its measured ratio; the last
column says what changed it, from bench/target-notes.txt (`fact<TAB>note` lines, kept by
whoever changes the code behind a figure).
Usage: python3 bench/targets.py FACTS RAW_OUTPUT [NOTES]"""
import os
import re
import sys

facts = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    facts[k] = float(v)
raw = open(sys.argv[2]).read()
notes_file = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "target-notes.txt")
notes = {}
if os.path.exists(notes_file):
    for line in open(notes_file):
        if "\t" in line and not line.startswith("#"):
            k, v = line.rstrip("\n").split("\t", 1)
            notes[k] = v


def row(target, key, ok, fmt, note=""):
    changed = notes.get(key, "")
    if key not in facts:
        return f"| {target} | not measured in this run | - | {changed} |"
    v = facts[key]
    return f"| {target} | {fmt(v)}{note} | {'yes' if ok(v) else 'no'} | {changed} |"


x = lambda v: f"{v:.2f}x"  # noqa: E731
mib = lambda v: f"{v / 1024:.1f} MiB"  # noqa: E731
nx = lambda k: f" (NGINX {facts[k]:.2f}x)" if k in facts else ""  # noqa: E731
rows = [
    row("hot read >= 1.0x NGINX proxy_cache rps (JWT, owner MAC, policy, team limit, metrics, audit to a file)",
        "hot_vs_nginx", lambda v: v >= 1.0, x,
        f" ({facts.get('hot_rps', 0) / 1000:.1f}k vs {facts.get('nginx_hot_rps', 0) / 1000:.1f}k rps); "
        f"CPU per request {facts.get('hot_cpu_vs_nginx', 0):.2f}x NGINX's"),
    row("pass-through >= 1.0x NGINX throughput", "proxy_vs_nginx", lambda v: v >= 1.0, x,
        f"; added over direct p50 +{facts.get('proxy_added_p50_ms', 0):.2f} ms, "
        f"p99 +{facts.get('proxy_added_p99_ms', 0):.2f} ms"),
    row("pass-through CPU per request <= 1.2x NGINX's", "proxy_cpu_vs_nginx", lambda v: v <= 1.2, x),
    row("1 download of 1 GiB >= 0.9x direct", "stream_x1_vs_direct", lambda v: v >= 0.9, x,
        nx("nginx_stream_x1_vs_direct")),
    row("8 concurrent 1 GiB downloads >= 0.9x direct", "stream_x8_vs_direct", lambda v: v >= 0.9, x,
        nx("nginx_stream_x8_vs_direct")),
    row("peak RSS <= 50 MiB with 8 concurrent 1 GiB downloads", "stream_peak_rss_kb",
        lambda v: v <= 50 * 1024, mib),
    row("hot read at 100,000 reports within 15 % of 1 report", "reports_curve", lambda v: v >= 0.85, x,
        nx("nginx_reports_curve") + f"; p99 {facts.get('reports_curve_p99', 0):.2f}x; "
        f"{facts.get('curve_vs_nginx', 0):.2f}x NGINX at 100,000"),
    row("hot read at 10,000 callers within 15 % of 1 caller", "callers_curve", lambda v: v >= 0.85, x,
        f"; p99 {facts.get('callers_curve_p99', 0):.2f}x"),
    row("<= 2 KiB per cached result", "per_result_bytes", lambda v: v <= 2048, lambda v: f"{v:.0f} bytes"),
    row("idle RSS <= 20 MiB", "idle_rss_kb", lambda v: v <= 20 * 1024, mib),
    row("token storm: 1 token request per expiry (15 s, refresh every 4 s)", "storm_token_requests",
        lambda v: v <= 4, lambda v: f"{v:.0f} token requests"),
]
m = re.search(r"^reportgate +upstream429=(\d+).*quiet_served=(\d+)/(\d+)", raw, re.M)
if m:
    ok = m.group(1) == "0" and m.group(2) == m.group(3)
    rows.append(f"| overload: zero upstream 429s, quiet team fully served | upstream 429s {m.group(1)}, "
                f"quiet team {m.group(2)}/{m.group(3)} | {'yes' if ok else 'no'} | {notes.get('overload', '')} |")
m = re.search(r"^reportgate x2 \+ redis +upstream429=(\d+).*quiet_served=(\d+)/(\d+)", raw, re.M)
if m:
    ok = m.group(1) == "0" and m.group(2) == m.group(3)
    rows.append(f"| two replicas, one API client: zero upstream 429s, quiet team fully served | upstream 429s "
                f"{m.group(1)}, quiet team {m.group(2)}/{m.group(3)} | {'yes' if ok else 'no'} | {notes.get('replicas', '')} |")
print("## Targets (computed by bench/targets.py from the run above)")
print()
print("| target | measured | met | what changed it |")
print("| --- | --- | --- | --- |")
print("\n".join(rows))
