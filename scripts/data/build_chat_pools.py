#!/usr/bin/env python3
"""Build two disjoint off-topic chat pools from DIFFERENT sources.

train_pool.jsonl <- jkkummerfeld/irc-disentanglement  data/train/*.raw.txt   (#ubuntu IRC, Freenode; data CC-BY-4.0)
eval_pool.jsonl  <- preethac/Software-related-Slack-Chats-with-Disentangled-Conversations
                    data/{racket,elmlang,clojurians}/2019/*.xml  (public Slack communities; no data licence stated)
Each line: {"source": "<owner/repo:path>", "id": "<line number or message index>", "text": "..."}
Skips: empty, system lines (joins/parts/nick changes), /me actions, bot accounts, bot commands (!cmd),
attachment/URL-only messages, Slack join/leave notices; dedups exact texts within a pool.
Deterministic random sample (seed 13) of at most N messages per pool.
Usage: build_chat_pools.py IRC_GITDIR SLACK_GITDIR [OUTDIR] [N_TRAIN] [N_EVAL]
"""
import json, os, random, re, subprocess, sys
import xml.etree.ElementTree as ET
irc, slack = sys.argv[1], sys.argv[2]
out = sys.argv[3] if len(sys.argv) > 3 else 'public-data/chat'
n_train = int(sys.argv[4]) if len(sys.argv) > 4 else 6000
n_eval = int(sys.argv[5]) if len(sys.argv) > 5 else 4000
os.makedirs(out, exist_ok=True)
IRC_REPO = 'jkkummerfeld/irc-disentanglement'
SLACK_REPO = 'preethac/Software-related-Slack-Chats-with-Disentangled-Conversations'

def git(gitdir, *a):
    return subprocess.run(['git', '--git-dir', gitdir, *a], check=True, capture_output=True).stdout

BOT_NICKS = {'ubotu', 'ubottu', 'ubot5', 'ubot2', 'ubot3', 'ubot4', 'ubuntu', 'chanserv', 'nickserv',
             'floodbot1', 'floodbot2', 'floodbot3', 'lubotu3', 'slackbot'}
def is_bot(name):
    n = name.lower().strip('@+')
    return n in BOT_NICKS or re.search(r'bot\d*$', n) is not None

URL_ONLY = re.compile(r'^\s*<?(https?://\S+|www\.\S+)>?\s*$')
def keep_text(t):
    t = t.strip()
    if not t or len(t) < 2: return False
    if t.startswith('!'): return False                      # bot command
    if URL_ONLY.match(t): return False                      # link/attachment-only
    if not re.search(r'[A-Za-z]', t): return False          # emoji/punctuation only
    return True

def sample(rows, n, seed=13):
    seen, uniq = set(), []
    for r in rows:
        k = r['text'].lower()
        if k in seen: continue
        seen.add(k); uniq.append(r)
    random.Random(seed).shuffle(uniq)
    return sorted(uniq[:n], key=lambda r: (r['source'], int(r['id']))), len(uniq)

# ---- train pool: #ubuntu IRC
LINE = re.compile(r'^\[\d\d:\d\d\] <([^>]+)> (.*)$')
rows = []
files = [f for f in git(irc, 'ls-tree', '-r', '--name-only', 'HEAD', 'data/train/').decode().split('\n') if f.endswith('.raw.txt')]
for f in files:
    for i, ln in enumerate(git(irc, 'show', 'HEAD:' + f).decode('utf-8', 'replace').splitlines()):
        m = LINE.match(ln)
        if not m: continue                                  # === system lines, * actions
        nick, text = m.group(1), m.group(2)
        if is_bot(nick) or not keep_text(text): continue
        rows.append({'source': f'{IRC_REPO}:{f}', 'id': str(i), 'text': text.strip()})
train, tot = sample(rows, n_train)
print('train_pool candidates', tot, 'written', len(train), 'from', len(files), 'files')

# ---- eval pool: Slack
rows = []
files = [f for f in git(slack, 'ls-tree', '-r', '--name-only', 'HEAD', 'data/').decode().split('\n')
         if f.endswith('.xml') and '/2019/' in f]
for f in files:
    try:
        b = git(slack, 'show', 'HEAD:' + f)
    except subprocess.CalledProcessError:
        print('  missing (>=4MiB, not in snapshot):', f); continue
    root = ET.fromstring(b)
    for i, m in enumerate(root.iter('message')):
        user = (m.findtext('user') or '').strip(); text = (m.findtext('text') or '').strip()
        if is_bot(user) or not keep_text(text): continue
        if re.search(r'has (joined|left) the channel', text): continue
        rows.append({'source': f'{SLACK_REPO}:{f}', 'id': str(i), 'text': text})
ev, tot = sample(rows, n_eval)
print('eval_pool candidates', tot, 'written', len(ev), 'from', files)

# disjointness check (by text)
tt = set(r['text'].lower() for r in train)
ev = [r for r in ev if r['text'].lower() not in tt]
for name, rs in (('train_pool', train), ('eval_pool', ev)):
    with open(os.path.join(out, name + '.jsonl'), 'w', encoding='utf-8') as fh:
        for r in rs: fh.write(json.dumps(r, ensure_ascii=False) + '\n')
    print(name, len(rs))
