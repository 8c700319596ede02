"""Table of the evaluations run.sh wrote: top-1, many, medium, the predicted share and recall per class."""
import glob
import json
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rows = []
for path in glob.glob(os.path.join(here, "json", "*.json")):
    report = json.load(open(path))
    name, tau = os.path.basename(path)[:-5].rsplit("-tau", 1)
    confusion = np.asarray(report["confusion_matrix"])  # rows: true class, columns: predicted
    predicted = confusion.sum(0) / confusion.sum()
    rows.append((name, float(tau), report, predicted))
rows.sort(key=lambda r: (r[0], r[1]))
counts = rows[0][2]["train_counts"]
names = rows[0][2]["class_names"]
print("training images per class: " + ", ".join(f"{n} {c}" for n, c in zip(names, counts)))
print("| model | tau | top-1 | many | medium | ECE | recall per class (head .. tail) | share of predictions per class (head .. tail) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, tau, report, predicted in rows:
    recall = " ".join(f"{a:.0f}" for a in report["per_class_accuracy"])
    share = " ".join(f"{100 * p:.0f}" for p in predicted)
    print(f"| {name} | {tau:g} | {report['top1']:.2f} | {report['many']:.2f} | {report['medium']:.2f} | "
          f"{report['ece']:.3f} | {recall} | {share} |")
