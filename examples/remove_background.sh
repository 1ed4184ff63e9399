#!/usr/bin/env bash
# Remove the background of one image through the HTTP API with curl.
# Usage: examples/remove_background.sh photo.jpg [http://localhost:7860] [endpoint] [option=value ...]
#   endpoint: remove_background (default) or matte
#   options:  any export option by name, e.g. output=color background_color=#ffffff format=jpeg
#             crop=true crop_margin=5 (JSON values: numbers, true/false; anything else is a string)
# Writes the result (photo-nobg.png, photo-nobg.jpg, photo-matte.png, ...) into the current folder.
set -euo pipefail
image=$1
server=${2:-http://localhost:7860}
endpoint=${3:-remove_background}
shift $(($# < 3 ? $# : 3))

# 1. Upload the file; the answer is a JSON list with its path on the server.
uploaded=$(curl -sS --fail -F "files=@${image}" "${server}/gradio_api/upload")

# 2. Start the job with named parameters (the /call/v2 route fills in the defaults).
payload=$(python3 - "$uploaded" "$(basename "$image")" "$@" <<'PY'
import json, sys
path, name, *options = json.loads(sys.argv[1])[0], sys.argv[2], *sys.argv[3:]
body = {"image": {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}}
for option in options:
    key, _, value = option.partition("=")
    try:
        body[key] = json.loads(value)
    except ValueError:
        body[key] = value
print(json.dumps(body))
PY
)
event=$(curl -sS --fail -H "Content-Type: application/json" -d "$payload" "${server}/gradio_api/call/v2/${endpoint}")
event_id=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["event_id"])' "$event")

# 3. Read the result stream: "event: complete" carries the file, "event: error" the reason.
stream=$(curl -sS --fail -N "${server}/gradio_api/call/${endpoint}/${event_id}")
python3 - "$stream" <<'PY' | { read -r url name; curl -sS --fail -o "$name" "$url"; echo "$name"; }
import json, sys
kind = data = None
for line in sys.argv[1].splitlines():
    if line.startswith("event: "):
        kind = line[7:]
    elif line.startswith("data: "):
        data = line[6:]
if kind != "complete":
    reason = json.loads(data) if data and data != "null" else None
    sys.exit(f"error: {reason.get('error') if isinstance(reason, dict) else 'the server gave no reason'}")
result = json.loads(data)[0]
print(result["url"], result["orig_name"])
PY
