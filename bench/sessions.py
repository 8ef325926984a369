"""Signs one user in N times in parallel through the OAuth password grant and writes one
access token per line to OUT and the matching refresh tokens to OUT.refresh (N sessions).

    python3 bench/sessions.py BASE_URL N OUT [USERNAME]
"""
import json
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

base, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
username = sys.argv[4] if len(sys.argv) > 4 else "bench"
PASSWORD = "a bench passphrase 42"


def post(path, body, form=False):
    data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    request = urllib.request.Request(base + path, data, {"Content-Type": kind})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


try:
    post("/auth/signup", {"username": username, "email": f"{username}@example.com", "password": PASSWORD})
except urllib.error.HTTPError:
    pass  # already there


def login(_):
    answer = post("/oauth/token", {"grant_type": "password", "username": username, "password": PASSWORD}, form=True)
    return answer["access_token"], answer["refresh_token"]


with ThreadPoolExecutor(16) as pool:
    pairs = list(pool.map(login, range(count)))
with open(out, "w") as f:
    f.write("".join(access + "\n" for access, _ in pairs))
with open(out + ".refresh", "w") as f:
    f.write("".join(refresh + "\n" for _, refresh in pairs))
print(f"{len(pairs)} sessions")
