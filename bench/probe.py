"""Latency as one user sees it: sequential GET /api/me, one every INTERVAL ms for SECONDS, each
with the next access token of TOKENS (keep-alive, standard library only). Prints `p50 p99` in ms.

    python3 bench/probe.py BASE_URL TOKENS SECONDS [INTERVAL_MS]
"""
import http.client
import sys
import time
import urllib.parse

base, tokens_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
interval = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.005
tokens = open(tokens_file).read().split()
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
samples, failures, i = [], 0, 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    i += 1
    started = time.perf_counter()
    conn.request("GET", "/api/me", headers={"Authorization": "Bearer " + tokens[i % len(tokens)]})
    response = conn.getresponse()
    response.read()
    samples.append((time.perf_counter() - started) * 1000)
    failures += response.status != 200
    time.sleep(interval)
samples.sort()
pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
print(f"{pick(0.50):.2f} {pick(0.99):.2f} {len(samples)} {failures}")
