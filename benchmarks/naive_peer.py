"""The naive peer pipeline, as a user would write it: read the photo, upload it as PNG
with the key, write the answer's bytes to the output. Its own process, like the CLI.
Usage: python naive_peer.py PHOTO OUT ENDPOINT KEY [CHANNELS]   (exit 1 on a failure)"""

import io
import sys

import requests
from PIL import Image

photo, out, endpoint, key = sys.argv[1:5]
fields = {"channels": sys.argv[5]} if len(sys.argv) > 5 else {}
buf = io.BytesIO()
Image.open(photo).save(buf, format="PNG")
answer = requests.post(
    endpoint,
    headers={"Authorization": key},
    data=fields,
    files={"image_file": ("photo.png", buf.getvalue(), "image/png")},
)
if answer.status_code != 200:
    print(f"HTTP {answer.status_code}", file=sys.stderr)
    raise SystemExit(1)
with open(out, "wb") as fh:
    fh.write(answer.content)
