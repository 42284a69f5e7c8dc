"""Evaluation suite: compare model set-ups on the gold question set (RAGAS and
judge-free metrics), and the NorMedQA and NorQuAD benchmarks."""
