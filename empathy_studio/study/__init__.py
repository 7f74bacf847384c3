"""The study's end: from ratings to results a lab can publish.

Agreement between raters (`agreement`), each rater's quality and flags (`quality`),
their qualification and attention checks (`qualification`), disagreements and
their adjudication (`adjudication`), rater models that weigh raters by competence
(`aggregation`), consensus labels with provenance (`consensus`) and versioned
releases (`releases`). Plain Python over the store's rows: no torch, no gradio.
"""
