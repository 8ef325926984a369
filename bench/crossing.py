"""Revocations crossing instances: signs N sessions out on instance A (Bearer logout) and
measures how long until instance B refuses each one's access token. Prints
`refused/N max_ms` (refused = B answered 401 within 2 s).

    python3 bench/crossing.py BASE_A BASE_B TOKENS N
"""
import sys
import time
import urllib.error
import urllib.request

base_a, base_b, tokens_file, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tokens = open(tokens_file).read().split()[-count:]


def status(method, url, token):
    request = urllib.request.Request(url, method=method, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


refused, worst = 0, 0.0
for token in tokens:
    assert status("GET", base_b + "/api/me", token) == 200, "B serves the session before the logout"
    assert status("POST", base_a + "/auth/logout", token) == 204, "A signs the session out"
    started = time.monotonic()
    while time.monotonic() - started < 2:
        if status("GET", base_b + "/api/me", token) == 401:
            refused += 1
            break
        time.sleep(0.005)
    worst = max(worst, (time.monotonic() - started) * 1000)
print(f"{refused}/{count} {worst:.0f}")
