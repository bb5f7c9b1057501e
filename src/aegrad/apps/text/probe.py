"""Classification from a text run's codes: logistic regression on z against TF-IDF + logistic regression.

Both are fitted on the run's training split and scored on its test split (fortunes: the
category is the label). The codes are standardised first; TF-IDF uses word unigrams and
bigrams and character 2-4-grams (sublinear tf), the usual strong linear text baseline.
The majority class of the training split is the floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aegrad.apps.text.run import TextRun
from aegrad.errors import UserError


@torch.no_grad()
def codes(tr: TextRun, ids: torch.Tensor) -> np.ndarray:
    tr.model.eval()
    return torch.cat([tr.model.encode(b) for b in ids.split(512)]).double().numpy()


def tfidf_accuracy(train: list[str], y_train: np.ndarray, test: list[str], y_test: np.ndarray) -> float:
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    a = hstack([words.fit_transform(train), chars.fit_transform(train)]).tocsr()
    b = hstack([words.transform(test), chars.transform(test)]).tocsr()
    return float(LogisticRegression(max_iter=2000, C=10.0).fit(a, y_train).score(b, y_test))


def probe_text(tr: TextRun) -> dict[str, Any]:
    """Test accuracy of: the majority class, logistic regression on the codes, TF-IDF + logistic regression."""
    d = tr.data
    if d.train_y is None or d.test_y is None:
        raise UserError("this run's data has no labels: train on data.text.corpus=fortunes (categories are labels)")
    y_train, y_test = d.train_y.numpy(), d.test_y.numpy()
    majority = np.bincount(y_train).argmax()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    latent = float(clf.fit(codes(tr, d.train_x), y_train).score(codes(tr, d.test_x), y_test))
    return {
        "run": str(tr.run.path),
        "train_lines": len(y_train),
        "test_lines": len(y_test),
        "classes": int(max(y_train.max(), y_test.max()) + 1),
        "majority_class": float((y_test == majority).mean()),
        "latent_logistic": latent,
        "latent_dims": tr.model.latent,
        "tfidf_logistic": tfidf_accuracy(tr.train_lines, y_train, tr.test_lines, y_test),
    }
