#!/usr/bin/env python3
"""Latency of sign-in and refresh against a running portcullis (standard library only).

    python3 bench/latency.py http://127.0.0.1:8080 [logins] [refreshes]

Signs a fresh user up, then times sequential logins (bcrypt-bound) and a chain of sequential
body refreshes (each uses the previous one's successor), and prints p50/p90/p99/mean in ms.
It also prints an access token for the throughput run (last line, `TOKEN=...`).
"""
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid


def post(base, path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        payload = response.read()
        cookies = response.headers.get_all("Set-Cookie") or []
    return (time.perf_counter() - started) * 1000, json.loads(payload or b"{}"), cookies


def summary(name, samples):
    samples = sorted(samples)
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(f"{name:<10} n={len(samples):<5} p50={pick(0.50):7.2f} ms  p90={pick(0.90):7.2f} ms  "
          f"p99={pick(0.99):7.2f} ms  mean={statistics.mean(samples):7.2f} ms")


def main():
    base = sys.argv[1].rstrip("/")
    logins = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    refreshes = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    name = "bench" + uuid.uuid4().hex[:10]
    password = "a long benchmark passphrase 42"
    post(base, "/auth/signup", {"username": name, "email": f"{name}@example.com", "password": password})

    login_ms, cookies = [], []
    for _ in range(logins):
        ms, body, cookies = post(base, "/auth/login", {"username": name, "password": password})
        login_ms.append(ms)
    refresh = next(c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("refresh_token="))

    refresh_ms = []
    for _ in range(refreshes):
        ms, body, _ = post(base, "/auth/refresh", {"refresh_token": refresh})
        refresh = body["refresh_token"]
        refresh_ms.append(ms)

    summary("login", login_ms)
    summary("refresh", refresh_ms)
    print(f"TOKEN={body['access_token']}")


if __name__ == "__main__":
    main()
