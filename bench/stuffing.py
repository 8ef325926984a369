#!/usr/bin/env python3
"""Credential-stuffing simulation against a running portcullis with its default limits.

    python3 bench/stuffing.py http://127.0.0.1:8080 [seconds]

The server must trust 127.0.0.1 as a proxy (TRUSTED_PROXIES=127.0.0.1) so that the
simulation can speak for many client addresses through X-Forwarded-For.
  A. many usernames from one IP: the per-IP limit (burst 5, +1 every 180 s) stops it;
  B. one username from many IPs: the per-account throttle (5 free, then a doubling delay) does.
For each, it reports how many guesses reached a password check (401), how many were refused
(429), and how long it ran. One victim account exists, with a strong password never guessed.
"""
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def attempt(base, username, ip):
    request = urllib.request.Request(
        base + "/auth/login",
        data=json.dumps({"username": username, "password": "guess-" + uuid.uuid4().hex[:8]}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": ip},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def campaign(name, base, seconds, next_target):
    counts, started, n = {}, time.monotonic(), 0
    while time.monotonic() - started < seconds:
        username, ip = next_target(n)
        status = attempt(base, username, ip)
        counts[status] = counts.get(status, 0) + 1
        n += 1
    elapsed = time.monotonic() - started
    print(f"{name}: {n} attempts in {elapsed:.1f} s -> {counts.get(401, 0)} password checks (401), "
          f"{counts.get(429, 0)} refused (429), other: {({k: v for k, v in counts.items() if k not in (401, 429)})}")


def main():
    base = sys.argv[1].rstrip("/")
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    victim = "victim" + uuid.uuid4().hex[:6]
    body = {"username": victim, "email": f"{victim}@example.com", "password": "a strong passphrase nobody guesses"}
    request = urllib.request.Request(base + "/auth/signup", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "X-Forwarded-For": "192.0.2.1"})
    urllib.request.urlopen(request).read()
    campaign("A. 1 IP, many usernames", base, seconds, lambda n: (f"user{n}", "203.0.113.7"))
    campaign("B. 1 username, many IPs ", base, seconds,
             lambda n: (victim, f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"))


if __name__ == "__main__":
    main()
