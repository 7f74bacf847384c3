"""How a model is made: the request and its config, the family contract and the families, the one trainer, the fine-tune use case.

`request` and `config` load no torch (the CLI, settings and the Train tab read
them cheaply); `trainer`, `finetune` and the families do. This package imports
`models`, never the other way round.
"""
