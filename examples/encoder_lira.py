"""EncoderLiRA: a released encoder's alignment calibrated by reference encoders.

A SimCLR encoder (small CNN) is trained 600 epochs on 32 digits.  Four reference
encoders train on random halves of 64 other digits (the attacker's pool).  Every
record's alignment -- the cosine between the embeddings of two augmented views,
8 pairs -- on the target is compared with its distribution on the reference
encoders (offline LiRA).  Printed: ROC AUC and TPR at 1% FPR on 32 members
against 128 non-members, and how many of the 10 most memorised records
(SSLMem's score) are members.  About a minute and a half on a 2-core CPU.
"""

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

import privlearn as pl
from privlearn.metrics import tpr_at_fpr

torch.set_num_threads(1)
images = pl.datasets.load("digits").images
images = images[np.random.RandomState(0).permutation(len(images))]
members, outside, pool = images[:32], images[200:328], images[600:664]


def recipe():
    return pl.SimCLR(backbone="cnn", max_epochs=600, batch_size=32, lr=2e-3,
                     random_state=0)


encoder = recipe().fit(members)
reference = pl.attacks.ReferenceModels(recipe(), n_models=4, random_state=0).fit(pool)

X = np.concatenate([members, outside])
y = np.r_[np.ones(32, int), np.zeros(128, int)]
attack = pl.attacks.EncoderLiRA(encoder, reference=reference, random_state=0).fit(pool)
scores = attack.decision_function(X)
print(f"EncoderLiRA AUC {roc_auc_score(y, scores):.3f}  "
      f"TPR@1%FPR {tpr_at_fpr(y, scores, 0.01):.3f}")
top = np.argsort(-attack.memorization_score(X))[:10]
print(f"members among the 10 most memorised records: {int(y[top].sum())} / 10")
