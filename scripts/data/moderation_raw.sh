#!/bin/sh
# Lay out the raw public abuse data that `stancebot moderation-data RAW OUT` maps onto the
# moderation guide's categories (docs/model-card.md, Moderation data: the data card), from
# snapshots of the public repositories (bare git directories, one per repository, under
# $MIRROR as <owner>+<name>/repo), each file read at the commit the data card names. Writes
# into RAW (default public-data/moderation/raw); none of it is ever committed.
set -e
M=${MIRROR:?set MIRROR to the folder holding the repository snapshots}
R=${1:-public-data/moderation/raw}
mkdir -p "$R"
get() {  # get OWNER+NAME COMMIT PATH [OUTPUT NAME]
    git --git-dir="$M/$1/repo" show "$2:$3" > "$R/${4:-$(basename "$3")}"
}
get t-davidson+hate-speech-and-offensive-language cb50f7e data/labeled_data.csv davidson.csv
get victoriyayeotobo+NLP-CW1 f92c5a6 olid-training-v1.0.tsv olid-training.tsv
get IBM+MAX-Toxic-Comment-Classifier 8170c0b samples/test_examples.csv jigsaw_ibm_test_examples.csv
for split in train valid test; do
    get amandacurry+convabuse c0a9469 "2_splits/ConvAbuseEMNLP$split.csv"
done
for f in Binary Multi_Label; do
    get intelligence-csd-auth-gr+Ethos-Hate-Speech-Dataset 705258e "ethos/ethos_data/Ethos_Dataset_$f.csv"
done
for f in 01-Psy 02-KatyPerry 03-LMFAO 04-Eminem 05-Shakira; do
    get C0D3-BR3AK3R+HadoopFinalNCU-Project cb2cf49 "data/Youtube$f.csv"
done
for split in train test; do
    get mealieff+hsd-demo 6d4334f "ghc_$split.tsv"
done
