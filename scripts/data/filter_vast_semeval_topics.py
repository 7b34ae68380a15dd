#!/usr/bin/env python3
"""Optional: write vast/train_no_semeval_topics.jsonl, dropping VAST training rows whose topic
mentions a SemEval-2016 target (atheism, climate, feminism, abortion, Trump, Clinton/Hillary).
VAST itself is not reserved; this variant is for a stricter zero-shot evaluation on SemEval."""
import json, re, sys
d = sys.argv[1] if len(sys.argv) > 1 else 'public-data/vast'
PAT = re.compile(r'atheis|god\b|relig|climate|global warming|feminis|women.?s rights|abortion|pro.?life|pro.?choice|trump|clinton|hillary', re.I)
kept = dropped = 0
with open(f'{d}/train_no_semeval_topics.jsonl', 'w', encoding='utf-8') as out:
    for ln in open(f'{d}/train.jsonl', encoding='utf-8'):
        r = json.loads(ln)
        if PAT.search(r['topic']): dropped += 1; continue
        out.write(ln); kept += 1
print('kept', kept, 'dropped', dropped)
