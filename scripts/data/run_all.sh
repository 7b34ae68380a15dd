#!/bin/sh
# Prepare the public data the general stance model trains and is evaluated on (seeds/DATA.md),
# from snapshots of the public repositories named there (bare git directories, one per
# repository, under $MIRROR as <owner>+<name>/repo). Writes under $DATA (default public-data/,
# which git ignores: none of it is ever committed).
set -e
M=${MIRROR:?set MIRROR to the folder holding the repository snapshots}
D=${DATA:-public-data}
S=$(dirname "$0")
python3 "$S/convert_vast.py" "$M/HITSZ-HLT+JointCL/repo" "$M/PQH-hub+GLMCL_stance_detection/repo" "$D/vast"
python3 "$S/filter_vast_semeval_topics.py" "$D/vast"
python3 "$S/convert_semeval2016.py" "$M/BinLiang-NLP+TPDG/repo" "$D/semeval2016"
python3 "$S/convert_stance_extra.py" "$M/unclevikram+anlp-final-project/repo" "$M/nicobari30+argumentativeRelationClaimPolarityDataset/repo/.git" "$D/stance_extra"
python3 "$S/convert_tweet_stance.py" "$M/chuchun8+CKD/repo" c6ec3a92ff7ac3360d2e28c17944bb586d676855 "$D/tweets"
python3 "$S/build_chat_pools.py" "$M/jkkummerfeld+irc-disentanglement/repo" "$M/preethac+Software-related-Slack-Chats-with-Disentangled-Conversations/repo/.git" "$D/chat" 6000 4000
python3 "$S/convert_parallel_hindi.py" "$M/DebanshuCS+Deep_Learning_Seq2Seq/repo" "$M/yash9439+Code-Mixed-Machine-Translation/repo" 7c66c3d72baf08bd9bb973308fd5871b0cfc81e2 "$D/parallel"
python3 "$S/convert_hinglish_mt.py" "$M/yash9439+Code-Mixed-Machine-Translation/repo" 5b7e8f0db58e4c7e4e65162148823ae97f83e2d0 "$D/parallel"
# Real Hinglish tweets with a stance (demonetisation), for figures only: a dev half that may
# choose and a test half scored once per shipped model.
python3 "$S/convert_notebandi.py" "$M/sahilswami96+StanceDetection_CodeMixed/repo/.git" e9ab92cfad6b5e1b96a4de984352a3318efafbf2 "$D/hinglish"
# Real Hindi (Devanagari) Wikipedia sentences: a training half (off-topic examples for
# `stancebot train --chat`) and an evaluation half (read as a side, moderated).
python3 "$S/convert_hindi_wiki.py" "$M/yash9439+Code-Mixed-Machine-Translation/repo" 7c66c3d72baf08bd9bb973308fd5871b0cfc81e2 "$D/hindi"
# Everyday conversation about many subjects (CDLA-Sharing-1.0): the validation splits as
# off-topic chat for training candidates, the test splits for figures only.
python3 "$S/convert_topical_chat.py" "$M/alexa+Topical-Chat/repo" 7c939229cbcf6f55f6977b341a5a2f2fe982d53f "$D/chat"
# Real everyday group chat (public chat rooms, 2006; research use only), for figures only:
# moderated and read as replies, never trained on.
python3 "$S/convert_nps_chat.py" "$M/nltk+nltk_data/repo" 5db857e6f7df11eabb5e5665836db9ec8df07e28 "$D/chat"
# Identity-term bias test sentences (Dixon et al. 2018; English and Hinglish), for figures only:
# civil sentences about each identity term held by the moderation, never trained on.
python3 "$S/convert_bias_madlibs.py" "$M/conversationai+unintended-ml-bias-analysis/repo" 9c7d91aaa53406a362354661a93e07956d95e59a "$D/moderation"
# The two Hindi glossaries the encoder reads are shipped (bot/stance/artifacts/, CC BY-SA);
# these rebuild them byte for byte.
python3 "$S/convert_hindi_lexicon.py" --git-dir "$M/Vuizur+Wiktionary-Dictionaries/repo" --commit be0cfb8d614470bc8b9d9006ddff8b921cd5c2e3
"${PYTHON:-.venv/bin/python}" "$S/build_hinglish_glosses.py" "$M/yash9439+Code-Mixed-Machine-Translation/repo" 7c66c3d72baf08bd9bb973308fd5871b0cfc81e2 "$D"
