#!/usr/bin/env bash
# Remove the background of one image through the HTTP API with curl only.
# Usage: examples/remove_background.sh photo.jpg [http://localhost:7860] [remove_background|matte]
# Writes <stem>-nobg.png (or <stem>-matte.png) into the current folder.
set -euo pipefail
image=$1
server=${2:-http://localhost:7860}
endpoint=${3:-remove_background}

# 1. Upload the file; the answer is a JSON list with its path on the server.
uploaded=$(curl -sS --fail -F "files=@${image}" "${server}/gradio_api/upload")
path=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])[0])' "$uploaded")

# 2. Start the job with that file; the answer holds an event id.
payload=$(python3 -c 'import json, sys; print(json.dumps({"data": [{"path": sys.argv[1], "orig_name": sys.argv[2], "meta": {"_type": "gradio.FileData"}}]}))' "$path" "$(basename "$image")")
event=$(curl -sS --fail -H "Content-Type: application/json" -d "$payload" "${server}/gradio_api/call/${endpoint}")
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
