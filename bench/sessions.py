"""Signs one user in N times in parallel and writes one access token per line (N sessions).

    python3 bench/sessions.py BASE_URL N OUT_FILE
"""
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

base, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def post(path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


try:
    post("/auth/signup", {"username": "bench", "email": "bench@example.com", "password": "a bench passphrase 42"})
except urllib.error.HTTPError:
    pass  # already there


def login(_):
    return post("/auth/login", {"username": "bench", "password": "a bench passphrase 42"})["access_token"]


with ThreadPoolExecutor(16) as pool:
    tokens = list(pool.map(login, range(count)))
with open(out, "w") as f:
    f.write("\n".join(tokens) + "\n")
print(f"{len(tokens)} sessions")
