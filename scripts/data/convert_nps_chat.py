#!/usr/bin/env python3
"""Real everyday group chat -> public-data/chat/nps_chat.jsonl, for evaluation only

Source: the NPS Chat Corpus, Release 1.0 (Forsyth and Martell 2007; Naval Postgraduate
School), as nltk/nltk_data ships it: packages/corpora/nps_chat.zip, 15 recordings (XML) of
public age-specific chat rooms (teens, 20s, 30s, 40s, adults) on five days of 2006, 10,567
posts, privacy-masked by hand. Its licence: "distributed solely for non-commercial, non-profit
educational and research use". So it is never trained on and never in this repository: the
project reads it here to measure, and commits only message ids and hand labels.

Casual chat of many people at once, the genre of a Discord server's general channel, where
the other real chat of the project is technical (IRC, Slack). Each post but the rooms' own
system lines (class "System": joins, leaves, nick changes) becomes a row {"source", "id",
"text", "room"}; id is "<recording>:<post number>". The corpus writes a user as
"10-19-20sUser7" (recording, room and number); in the text that becomes "@User7", as a chat
mention reads.

Usage: convert_nps_chat.py GITDIR COMMIT [OUTDIR]   (standard library only)
"""

import io
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile

from snapshot import arguments, git_bytes, write_jsonl

PATH = "packages/corpora/nps_chat.zip"
SOURCE = "nltk/nltk_data:" + PATH
RECORDING = re.compile(r"nps_chat/(\d\d-\d\d-\w+?)_\d+posts\.xml$")
MASKED_USER = re.compile(r"\d\d-\d\d-(?:teens|adults|\d\ds)(User\d+)")


def posts(archive: bytes) -> list[dict]:
    rows = []
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        for name in sorted(z.namelist()):
            match = RECORDING.search(name)
            if not match:
                continue
            root = ET.fromstring(z.read(name))
            for n, post in enumerate(root.iter("Post")):
                if post.get("class") == "System":
                    continue
                text = MASKED_USER.sub(r"@\1", (post.text or "").strip())
                if text:
                    room = match.group(1).split("-", 2)[2]
                    rows.append(
                        {
                            "source": SOURCE,
                            "id": f"{match.group(1)}:{n}",
                            "text": text,
                            "room": room,
                        }
                    )
    return rows


def main() -> None:
    gitdir, commit, out = arguments("public-data/chat")
    rows = posts(git_bytes(gitdir, f"{commit}:{PATH}"))
    if not rows:
        sys.exit(f"{PATH}: no chat posts found in the archive")
    os.makedirs(out, exist_ok=True)
    write_jsonl(os.path.join(out, "nps_chat.jsonl"), rows)
    rooms = sorted({r["room"] for r in rows})
    print(f"nps_chat.jsonl: {len(rows)} posts from {len(rooms)} rooms ({', '.join(rooms)})")


if __name__ == "__main__":
    main()
