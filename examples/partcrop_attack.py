"""PartCrop: membership of a released encoder from the responses of image parts.

A SimCLR encoder (small CNN) is trained 600 epochs on 32 images.  PartCrop
crops 128 parts of each image, embeds them and compares every part with the
whole image; a logistic regression reads the distribution of the responses.
Audit mode (``shadow=None``), 4-fold cross-validated ROC AUC on 32 members
against 128 non-members, next to EncoderMI on the same folds.

    python examples/partcrop_attack.py                 # 8×8 digits, ~half a minute
    python examples/partcrop_attack.py fashion-mnist   # 28×28, ~1.5 minutes

On 8×8 digits parts are resized to the image's size (half-size parts would be 4
pixels); on 28×28 Fashion-MNIST (Debian's ``dataset-fashion-mnist``) they keep
their own scale, 14×14, as in the paper -- ``part_size_`` says which.
"""

import sys

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, cross_val_score

import privlearn as pl

torch.set_num_threads(1)
dataset = sys.argv[1] if len(sys.argv) > 1 else "digits"
images = pl.datasets.load(dataset).images[:4000]
images = images[np.random.RandomState(0).permutation(len(images))]
members, outside = images[:32], images[200:328]
encoder = pl.SimCLR(backbone="cnn", max_epochs=600, batch_size=32, lr=2e-3,
                    random_state=0).fit(members)

X = np.concatenate([members, outside])
y = np.r_[np.ones(32, int), np.zeros(128, int)]
cv = StratifiedKFold(4, shuffle=True, random_state=0)
for name, attack in [("PartCrop", pl.attacks.PartCrop(encoder, random_state=0)),
                     ("EncoderMI", pl.attacks.EncoderMembershipInference(encoder,
                                                                          random_state=0))]:
    auc = cross_val_score(attack, X, y, cv=cv, scoring="roc_auc")
    print(f"{name:10s} AUC {auc.mean():.3f} ± {auc.std():.3f} (over folds)")
fitted = pl.attacks.PartCrop(encoder, random_state=0).fit(X, y)
size = ("resized to the image's size" if fitted.part_size_ == "image" else
        f"at their own scale, {fitted.part_size_} of the image's side")
print(f"parts {size}; responses against the whole image's {fitted.feature_source_}")
